import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import Testing

/// The README's snippet, run as the program a reader would write (Tests/Tools/DocsReadmeExample).
@Suite struct ReadmeExampleTests {
    @Test func theReadmeSnippetRunsAndLeavesAStoreWithItsEvent() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        let result = try await ChildProcess.run(try builtProduct("DocsReadmeExample"), currentDirectory: directory.url)
        #expect(result.status == 0, "the README snippet failed: \(result.stderr)")
        #expect(result.stdout == "1 1\n1 order-42 OrderPlaced\n")

        let store = try SQLiteEventStore(path: directory.path("app.sqlite"), configuration: .init(logger: quietLogger))
        let events = try await store.readStream("order-42")
        #expect(events.map(\.payload) == [Data(#"{"total":42}"#.utf8)])
        try await store.close()
    }
}
