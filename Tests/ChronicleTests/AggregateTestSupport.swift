import Chronicle
import Foundation
import Synchronization

/// A thread-safe list, for collecting reports from `@Sendable` callbacks.
final class Collected<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])
    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
}

/// A store that lets a competing writer get in first: before each of the first `interference`
/// appends it appends `competing` to the same stream itself, then forwards the append (which
/// then conflicts). It records every expected version it sees.
final class InterferingStore: EventStore, Sendable {
    let base: InMemoryEventStore
    private let state: Mutex<(remaining: Int, expected: [ExpectedVersion])>
    private let competing: @Sendable () -> EventData

    init(_ base: InMemoryEventStore, interference: Int, competing: @escaping @Sendable () -> EventData) {
        self.base = base
        self.state = Mutex((interference, []))
        self.competing = competing
    }

    var expectedVersions: [ExpectedVersion] { state.withLock { $0.expected } }

    func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        let interfere = state.withLock { state in
            state.expected.append(contentsOf: appends.map(\.expectedVersion))
            defer { state.remaining -= 1 }
            return state.remaining > 0
        }
        if interfere {
            try await base.append(competing(), to: appends[0].streamID, expectedVersion: .any)
        }
        return try await base.append(appends)
    }

    func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try await base.readStream(stream, from: start, direction: direction, limit: limit)
    }
    func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await base.readAll(after: position, limit: limit)
    }
    func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await base.readCategory(category, after: position, limit: limit)
    }
    func streamVersion(of stream: StreamID) async throws -> StreamVersion { await base.streamVersion(of: stream) }
    func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        try await base.streams(category: category, after: after, limit: limit)
    }
    func headPosition() async throws -> GlobalPosition { await base.headPosition() }
}

/// A snapshot store whose every operation fails.
struct BrokenSnapshotStore: SnapshotStore {
    struct Broken: Error {}
    func snapshot(of stream: StreamID) async throws -> Snapshot? { throw Broken() }
    func save(_ snapshot: Snapshot) async throws { throw Broken() }
    func deleteSnapshot(of stream: StreamID) async throws { throw Broken() }
}

/// An `ItemAdded` event as raw data, for competing writers.
@Sendable func rawItemAdded(sku: String = "competitor", quantity: Int = 1) -> EventData {
    EventData(type: "ItemAdded", payload: Data(#"{"quantity":\#(quantity),"sku":"\#(sku)"}"#.utf8))
}
