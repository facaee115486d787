public import Chronicle
import Synchronization

/// An event store decorator that counts the events read through it, so a test can assert how
/// much of a stream a load touched (for example, that snapshots bound it) without timing.
///
/// ```swift
/// let counting = CountingEventStore(store)
/// let orders = AggregateRepository<Order>(store: counting, snapshots: snapshots)
/// _ = try await orders.load("42")
/// counting.eventsRead  // events read after the snapshot
/// ```
public final class CountingEventStore: EventStore, Sendable {
    /// The decorated store.
    public let base: any EventStore
    private let counts = Mutex(Counts())

    private struct Counts {
        var eventsRead = 0
        var reads = 0
        var appends = 0
    }

    /// Wraps a store.
    public init(_ base: some EventStore) {
        self.base = base
    }

    /// Events returned by every read so far.
    public var eventsRead: Int { counts.withLock { $0.eventsRead } }
    /// Read calls so far (pages).
    public var reads: Int { counts.withLock { $0.reads } }
    /// Append calls so far, failed ones included.
    public var appends: Int { counts.withLock { $0.appends } }

    /// Sets every count back to zero.
    public func reset() { counts.withLock { $0 = Counts() } }

    private func counted(_ events: [RecordedEvent]) -> [RecordedEvent] {
        counts.withLock {
            $0.reads += 1
            $0.eventsRead += events.count
        }
        return events
    }

    /// Reads a stream's events (see ``Chronicle/EventReader/readStream(_:from:direction:limit:)``) (counted).
    public func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        counted(try await base.readStream(stream, from: start, direction: direction, limit: limit))
    }

    /// Reads the global log after a position (see ``Chronicle/EventReader/readAll(after:limit:)``) (counted).
    public func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        counted(try await base.readAll(after: position, limit: limit))
    }

    /// Reads a category's events after a position (see ``Chronicle/EventReader/readCategory(_:after:limit:)``) (counted).
    public func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        counted(try await base.readCategory(category, after: position, limit: limit))
    }

    /// The stream's current version (see ``Chronicle/EventReader/streamVersion(of:)``) (counted).
    public func streamVersion(of stream: StreamID) async throws -> StreamVersion {
        try await base.streamVersion(of: stream)
    }

    /// Lists streams (see ``Chronicle/EventReader/streams(category:after:limit:)``) (counted).
    public func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        try await base.streams(category: category, after: after, limit: limit)
    }

    /// The position of the last event (see ``Chronicle/EventReader/headPosition()``) (counted).
    public func headPosition() async throws -> GlobalPosition {
        try await base.headPosition()
    }

    /// Appends to one or more streams atomically (see ``Chronicle/EventWriter/append(_:)``) (counted).
    public func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        counts.withLock { $0.appends += 1 }
        return try await base.append(appends)
    }
}
