public import Chronicle
import Foundation
import Logging
import PostgresNIO

/// Aggregate snapshots in PostgreSQL, next to a ``PostgresEventStore``: the latest snapshot of
/// each stream, one row per stream in the store's schema (table `snapshots`, created by
/// ``PostgresEventStore/migrate()``).
///
/// ```swift
/// let snapshots = PostgresSnapshotStore(sharingSchemaOf: store)
/// let orders = AggregateRepository<Order>(store: store, snapshots: snapshots,
///                                         configuration: .init(snapshotPolicy: .every(200)))
/// ```
///
/// A save replaces the stored snapshot unless it has the same fingerprint and a higher version
/// (``Snapshot/replaces(_:)``), decided inside the upsert, so concurrent savers in several
/// processes never move a snapshot back.
public final class PostgresSnapshotStore: SnapshotStore {
    private let store: PostgresEventStore

    /// Keeps snapshots in `store`'s schema, through its client. Run `store.migrate()` first.
    public init(sharingSchemaOf store: PostgresEventStore) {
        self.store = store
    }

    /// The latest snapshot of a stream, or `nil` (see ``Chronicle/SnapshotStore/snapshot(of:)``).
    public func snapshot(of stream: StreamID) async throws -> Snapshot? {
        do {
            return try await store.withRows(store.sql.selectSnapshot, [stream.rawValue]) { rows in
                var result: Snapshot?
                for try await (version, position, fingerprint, state) in rows.decode((Int64, Int64, String, ByteBuffer).self) {
                    guard version >= 0, position >= 0 else {
                        throw EventStoreError(.corruptRecord, "The snapshot of \(stream) in schema \(store.schema) has version \(version) and position \(position); the row is damaged.", streamID: stream)
                    }
                    result = Snapshot(streamID: stream, version: StreamVersion(version), position: GlobalPosition(position), fingerprint: fingerprint, state: Data(state.readableBytesView))
                }
                return result
            }
        } catch {
            throw PostgresFailure.map(error, while: "reading the snapshot of \(stream)")
        }
    }

    /// Saves a snapshot unless the stored one is newer (see ``Chronicle/Snapshot/replaces(_:)``).
    public func save(_ snapshot: Snapshot) async throws {
        do {
            try await store.execute(store.sql.upsertSnapshot, [
                snapshot.streamID.rawValue, snapshot.version.value, snapshot.position.value, snapshot.fingerprint, ByteBuffer(bytes: snapshot.state),
            ])
        } catch {
            throw PostgresFailure.map(error, while: "saving the snapshot of \(snapshot.streamID) at version \(snapshot.version)")
        }
    }

    /// Deletes a stream's snapshot, if any.
    public func deleteSnapshot(of stream: StreamID) async throws {
        do {
            try await store.execute(store.sql.deleteSnapshot, [stream.rawValue])
        } catch {
            throw PostgresFailure.map(error, while: "deleting the snapshot of \(stream)")
        }
    }

    /// How many snapshots are stored.
    public func count() async throws -> Int {
        do {
            return Int(try await store.scalar(store.sql.countSnapshots, []) ?? 0)
        } catch {
            throw PostgresFailure.map(error, while: "counting snapshots")
        }
    }
}
