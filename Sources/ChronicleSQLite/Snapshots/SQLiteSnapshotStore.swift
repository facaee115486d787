public import Chronicle
import Foundation
import GRDB
public import Logging
import Synchronization

/// Aggregate snapshots in a SQLite file: the latest snapshot of each stream, one row per stream.
///
/// It may live in the event store's file, sharing its connections
/// (``init(sharingFileOf:logger:)``, its table and migration are its own), or in a file of its
/// own (``init(path:busyTimeout:logger:)``). To open the event store's file by path, open the
/// event store first, so the file is created as a Chronicle store.
///
/// ```swift
/// let store = try SQLiteEventStore(path: dir + "/events.sqlite")
/// let snapshots = try SQLiteSnapshotStore(sharingFileOf: store)
/// let orders = AggregateRepository<Order>(store: store, snapshots: snapshots,
///                                         configuration: .init(snapshotPolicy: .every(200)))
/// ```
///
/// ## Schema
/// Migration `snapshots-1` (recorded by GRDB's migrator in `grdb_migrations`, apart from the
/// event store's `user_version`) creates `chronicle_snapshots(stream_id, version, position,
/// fingerprint, state)`, keyed by stream id. A save replaces the row unless the stored snapshot
/// has the same fingerprint and a higher version (see ``Snapshot/replaces(_:)``), decided in
/// the same statement.
public final class SQLiteSnapshotStore: SnapshotStore, Sendable {
    /// The database file.
    public let path: String
    private let pool: DatabasePool
    private let logger: Logger
    /// Whether ``close()`` closes the pool (not when it is the event store's).
    private let ownsPool: Bool
    private let isClosed = Atomic<Bool>(false)

    /// Opens (creating if needed) the snapshot table in the SQLite file at `path`.
    ///
    /// - Parameters:
    ///   - path: the SQLite file (the event store's, or one of its own).
    ///   - busyTimeout: how long to wait for another connection's write lock.
    ///   - logger: receives the opening and migration messages.
    /// - Throws: ``EventStoreError`` — ``EventStoreError/Code/notADatabase`` when the file is not
    ///   SQLite, ``EventStoreError/Code/databaseBusy`` or ``EventStoreError/Code/storageFailure``.
    public init(path: String, busyTimeout: Duration = .seconds(5), logger: Logger = Logger(label: "chronicle.sqlite.snapshots")) throws(EventStoreError) {
        self.path = path
        self.logger = logger
        self.ownsPool = true
        var configuration = GRDB.Configuration()
        let (seconds, attoseconds) = busyTimeout.components
        configuration.busyMode = .timeout(Double(seconds) + Double(attoseconds) / 1e18)
        configuration.maximumReaderCount = 2
        configuration.label = "chronicle.sqlite.snapshots"
        // Deleted snapshots (a forgotten subject's decrypted state) are overwritten, not only unlinked.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA secure_delete = ON") }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw Self.map(error, path: path, operation: "Opening the snapshot store")
        }
        do {
            try Self.migrate(pool, logger: logger, path: path)
        } catch {
            try? pool.close()
            throw Self.map(error, path: path, operation: "Migrating the snapshot store")
        }
    }

    /// Keeps snapshots in the event store's own file, through its connections (one writer
    /// connection per file). ``close()`` then leaves the connections to the event store.
    ///
    /// - Throws: ``EventStoreError`` when the snapshot table cannot be created.
    public init(sharingFileOf store: SQLiteEventStore, logger: Logger = Logger(label: "chronicle.sqlite.snapshots")) throws(EventStoreError) {
        self.path = store.path
        self.logger = logger
        self.pool = store.pool
        self.ownsPool = false
        do {
            try Self.migrate(pool, logger: logger, path: path)
        } catch {
            throw Self.map(error, path: path, operation: "Migrating the snapshot store")
        }
    }

    /// The identifiers of the snapshot store's migrations, oldest first.
    public static var migrationIdentifiers: [String] { (1...SQLiteSnapshotSQL.ladder.latest).map { "snapshots-\($0)" } }

    /// The latest snapshot of a stream, or `nil` (see ``Chronicle/SnapshotStore/snapshot(of:)``).
    public func snapshot(of stream: StreamID) async throws -> Snapshot? {
        try checkOpen()
        let stored: (version: Int64, position: Int64, fingerprint: String, state: Data)?
        do {
            stored = try await pool.read { db in
                try Row.fetchOne(db, sql: SQLiteSnapshotSQL.select, arguments: [stream.rawValue]).map { row in
                    (version: row["version"], position: row["position"], fingerprint: row["fingerprint"], state: row["state"])
                }
            }
        } catch {
            throw Self.map(error, path: path, operation: "Reading the snapshot of \(stream)")
        }
        guard let stored else { return nil }
        guard stored.version >= 0, stored.position >= 0 else {
            throw EventStoreError(
                .corruptRecord,
                "The snapshot of \(stream) in \(path) has version \(stored.version) and position \(stored.position); the row is damaged.",
                streamID: stream
            )
        }
        return Snapshot(
            streamID: stream, version: StreamVersion(stored.version), position: GlobalPosition(stored.position),
            fingerprint: stored.fingerprint, state: stored.state
        )
    }

    /// Saves a snapshot unless the stored one is newer (see ``Chronicle/Snapshot/replaces(_:)``).
    public func save(_ snapshot: Snapshot) async throws {
        try checkOpen()
        do {
            try await pool.write { db in
                try db.execute(
                    sql: SQLiteSnapshotSQL.upsert,
                    arguments: [snapshot.streamID.rawValue, snapshot.version.value, snapshot.position.value, snapshot.fingerprint, snapshot.state]
                )
            }
        } catch {
            throw Self.map(error, path: path, operation: "Saving the snapshot of \(snapshot.streamID) at version \(snapshot.version)")
        }
    }

    /// Deletes a stream's snapshot, if any.
    public func deleteSnapshot(of stream: StreamID) async throws {
        try checkOpen()
        do {
            try await pool.write { db in try db.execute(sql: SQLiteSnapshotSQL.delete, arguments: [stream.rawValue]) }
        } catch {
            throw Self.map(error, path: path, operation: "Deleting the snapshot of \(stream)")
        }
    }

    /// Copies the file's WAL into it and truncates the WAL (`PRAGMA wal_checkpoint(TRUNCATE)`), so
    /// that a deleted snapshot (overwritten in the file: `PRAGMA secure_delete`) has no older copy
    /// in the WAL either.
    ///
    /// - Returns: `true` if the WAL was fully checkpointed and truncated, `false` if readers still
    ///   needed older pages (try again).
    @discardableResult
    public func checkpoint() async throws -> Bool {
        try checkOpen()
        do {
            return try await pool.writeWithoutTransaction { db in
                let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                return (row?[0] as Int64?) == 0
            }
        } catch {
            throw Self.map(error, path: path, operation: "Checkpointing the WAL")
        }
    }

    /// How many snapshots are stored.
    public func count() async throws -> Int {
        try checkOpen()
        do {
            return try await pool.read { db in try Int.fetchOne(db, sql: SQLiteSnapshotSQL.count) ?? 0 }
        } catch {
            throw Self.map(error, path: path, operation: "Counting snapshots")
        }
    }

    /// Closes the file's connections; later calls fail with ``EventStoreError/Code/closed``.
    /// A store opened with ``init(sharingFileOf:logger:)`` leaves them to the event store.
    public func close() throws(EventStoreError) {
        isClosed.store(true, ordering: .sequentiallyConsistent)
        guard ownsPool else { return }
        do {
            try pool.close()
        } catch {
            throw Self.map(error, path: path, operation: "Closing the snapshot store")
        }
    }

    private func checkOpen() throws(EventStoreError) {
        if isClosed.load(ordering: .sequentiallyConsistent) {
            throw EventStoreError(.closed, "The snapshot store at \(path) is closed.")
        }
    }

    /// The event store's mapping, plus: misuse of a connection closed under us means closed.
    private static func map(_ error: any Error, path: String, operation: String) -> EventStoreError {
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_MISUSE {
            return EventStoreError(.closed, "\(operation) failed: the database at \(path) is closed.", underlying: error)
        }
        return SQLiteErrorMapping.map(error, path: path, operation: operation)
    }

    /// Applies the missing migrations in one immediate transaction; refuses a table format newer
    /// than this build.
    private static func migrate(_ pool: DatabasePool, logger: Logger, path: String) throws {
        let ladder = SQLiteSnapshotSQL.ladder
        func check(_ applied: Int) throws {
            if applied > ladder.latest {
                throw EventStoreError(.unsupportedSchema, "The snapshots in \(path) have format \(applied); this build understands up to \(ladder.latest). Nothing was written; upgrade Chronicle.")
            }
        }
        // Cheap check first, without the write lock: most opens find the table current.
        let applied = try pool.read { db in try ladder.applied(db) }
        try check(applied)
        if applied == ladder.latest { return }
        try pool.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                let applied = try ladder.applied(db)
                try check(applied)
                try ladder.apply(db, after: applied) { step in
                    logger.info("Migrating snapshot store", metadata: ["path": "\(path)", "to": "\(step)"])
                }
                return .commit
            }
        }
    }
}
