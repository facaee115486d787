/// A snapshot store in memory, for tests. Nothing survives the process.
public actor InMemorySnapshotStore: SnapshotStore {
    private var snapshots: [StreamID: Snapshot] = [:]

    /// Creates an empty store.
    public init() {}

    /// The latest snapshot of a stream, or `nil` (see ``SnapshotStore/snapshot(of:)``).
    public func snapshot(of stream: StreamID) -> Snapshot? { snapshots[stream] }

    /// Saves a snapshot unless the stored one is newer (see ``Snapshot/replaces(_:)``).
    public func save(_ snapshot: Snapshot) {
        if snapshot.replaces(snapshots[snapshot.streamID]) {
            snapshots[snapshot.streamID] = snapshot
        }
    }

    /// Deletes a stream's snapshot, if any.
    public func deleteSnapshot(of stream: StreamID) {
        snapshots[stream] = nil
    }

    /// Every stored snapshot, ordered by stream.
    public var all: [Snapshot] { snapshots.values.sorted { $0.streamID < $1.streamID } }
}
