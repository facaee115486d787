import ChronicleHTTP
import ChronicleHTTPTestSupport
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

/// A real SQLite store that counts the head queries the read API makes.
final class HeadCountingReader: EventReader {
    let store: SQLiteEventStore
    private let heads = Atomic<Int>(0)

    init(_ store: SQLiteEventStore) { self.store = store }

    var headQueries: Int { heads.load(ordering: .sequentiallyConsistent) }
    func resetCount() { heads.store(0, ordering: .sequentiallyConsistent) }

    func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try await store.readStream(stream, from: start, direction: direction, limit: limit)
    }
    func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await store.readAll(after: position, limit: limit)
    }
    func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await store.readCategory(category, after: position, limit: limit)
    }
    func streamVersion(of stream: StreamID) async throws -> StreamVersion { try await store.streamVersion(of: stream) }
    func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        try await store.streams(category: category, after: after, limit: limit)
    }
    func headPosition() async throws -> GlobalPosition {
        heads.add(1, ordering: .sequentiallyConsistent)
        return try await store.headPosition()
    }
}

@Suite struct HeadQueryTests {
    /// Each built-in route reads the store's head at most once per request, and its
    /// `Chronicle-Position` is that head.
    @Test(arguments: ["/head", "/all", "/all?type=Noted", "/streams/note-1", "/categories/note/events", "/projections", "/streams"])
    func aBuiltInRouteReadsTheHeadAtMostOnce(_ uri: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try SQLiteEventStore(path: dir.path("events.sqlite"))
        for index in 1...3 {
            try await store.append([EventData(type: "Noted", payload: Data("{\"n\":\(index)}".utf8))], to: StreamID(unchecked: "note-\(index)"), expectedVersion: .any)
        }
        let reader = HeadCountingReader(store)
        let api = try ReadAPI(reader: reader, notifier: store.appendNotifier, projections: CombinedProjectionCatalog([]), configuration: .liveTestClient)
        let app = Application(router: api.makeRouter(), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger)
        try await app.test(.live) { client in
            reader.resetCount()
            let response = try await client.get(uri)
            #expect(response.status == .ok)
            #expect(reader.headQueries <= 1, "\(uri) read the head \(reader.headQueries) times")
            #expect(response.headers[.chroniclePosition] == "3")
        }
        try await store.close()
    }
}
