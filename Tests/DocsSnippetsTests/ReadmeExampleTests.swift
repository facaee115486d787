import Chronicle
import ChronicleSQLite
import Foundation
import Testing

/// The README's snippet, run as the program a reader would write (Tests/Tools/DocsReadmeExample).
@Suite struct ReadmeExampleTests {
    /// The tool, built next to the test binary by `swift build --build-tests`.
    static func toolURL() throws -> URL {
        var directories: [URL] = []
        if let executable = Bundle.main.executableURL { directories.append(executable.deletingLastPathComponent()) }
        directories.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for directory in directories {
            let candidate = directory.appendingPathComponent("DocsReadmeExample")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw EventStoreError(.invalidArgument, "DocsReadmeExample not found next to the test binary (looked in \(directories.map(\.path))); run `swift build --build-tests` first.")
    }

    @Test func theReadmeSnippetRunsAndLeavesAStoreWithItsEvent() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        let process = Process()
        process.executableURL = try Self.toolURL()
        process.currentDirectoryURL = directory.url
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaints = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "the README snippet failed: \(complaints)")
        #expect(printed == "1 1\n1 order-42 OrderPlaced\n")

        let store = try SQLiteEventStore(path: directory.path("app.sqlite"), configuration: .init(logger: quietLogger))
        let events = try await store.readStream("order-42")
        #expect(events.map(\.payload) == [Data(#"{"total":42}"#.utf8)])
        try await store.close()
    }
}
