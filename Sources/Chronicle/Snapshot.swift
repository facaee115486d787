public import Foundation

/// An aggregate's state saved at a stream version, so loading reads only the events after it.
public struct Snapshot: Hashable, Sendable {
    /// The aggregate's stream.
    public var streamID: StreamID
    /// The stream version the state includes (the version of the last event folded in).
    public var version: StreamVersion
    /// The global position of that event.
    public var position: GlobalPosition
    /// The state type's schema fingerprint (see ``SnapshottableAggregate/snapshotFingerprint``).
    /// A snapshot whose fingerprint differs from the current one is ignored and replaced.
    public var fingerprint: String
    /// The encoded state.
    public var state: Data

    /// Creates a snapshot.
    public init(streamID: StreamID, version: StreamVersion, position: GlobalPosition, fingerprint: String, state: Data) {
        self.streamID = streamID
        self.version = version
        self.position = position
        self.fingerprint = fingerprint
        self.state = state
    }

    /// Whether `self` should replace `existing` in a store: always, unless `existing` has the
    /// same fingerprint and a higher version (a slower writer must not move a snapshot back).
    public func replaces(_ existing: Snapshot?) -> Bool {
        guard let existing else { return true }
        return existing.fingerprint != fingerprint || existing.version <= version
    }
}

/// Keeps the latest snapshot of each stream. Implemented by ``InMemorySnapshotStore`` and
/// `SQLiteSnapshotStore` (in `ChronicleSQLite`).
public protocol SnapshotStore: Sendable {
    /// The latest snapshot of a stream, or `nil`.
    func snapshot(of stream: StreamID) async throws -> Snapshot?
    /// Saves a snapshot, replacing the stream's previous one when ``Snapshot/replaces(_:)`` says so.
    func save(_ snapshot: Snapshot) async throws
    /// Deletes a stream's snapshot, if any.
    func deleteSnapshot(of stream: StreamID) async throws
}

/// When ``AggregateRepository`` saves a snapshot.
public struct SnapshotPolicy: Sendable, Hashable {
    /// Take a snapshot after a command once this many events have been appended since the
    /// snapshot the command's state was loaded from (or since the stream began); `nil` = never.
    public let interval: Int64?

    /// Never take snapshots.
    public static let never = SnapshotPolicy(interval: nil)

    /// Take a snapshot every `events` events (at the first command that crosses the mark).
    /// An interval below 1 is refused by the repository (``validate()``): its loads and commands
    /// throw ``EventStoreError/Code/invalidArgument``.
    public static func every(_ events: Int64) -> SnapshotPolicy {
        SnapshotPolicy(interval: events)
    }

    /// Throws ``EventStoreError/Code/invalidArgument`` for an interval below 1.
    public func validate() throws(EventStoreError) {
        if let interval, interval < 1 {
            throw EventStoreError(.invalidArgument, "A snapshot interval of \(interval) events is not usable: use .every(n) with n of 1 or more, or .never.")
        }
    }

    private init(interval: Int64?) {
        self.interval = interval
    }
}
