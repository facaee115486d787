import Chronicle
import Foundation
import GRDB
import Logging

/// Aggregate snapshots in a SQLite file: the latest snapshot of each stream, one row per stream.
///
/// It may share the event store's file (its table and migration are its own) or use a file of its
/// own. When sharing, open the event store first, so the file is created as a Chronicle store.
///
/// ```swift
/// let store = try SQLiteEventStore(path: dir + "/events.sqlite")
/// let snapshots = try SQLiteSnapshotStore(path: dir + "/events.sqlite")
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

    /// Opens (creating if needed) the snapshot table in the SQLite file at `path`.
    ///
    /// - Parameters:
    ///   - busyTimeout: how long to wait for another connection's write lock.
    ///   - logger: receives the opening and migration messages.
    /// - Throws: ``EventStoreError`` — ``EventStoreError/Code/notADatabase`` when the file is not
    ///   SQLite, ``EventStoreError/Code/databaseBusy`` or ``EventStoreError/Code/storageFailure``.
    public init(path: String, busyTimeout: Duration = .seconds(5), logger: Logger = Logger(label: "chronicle.sqlite.snapshots")) throws(EventStoreError) {
        self.path = path
        self.logger = logger
        var configuration = GRDB.Configuration()
        let (seconds, attoseconds) = busyTimeout.components
        configuration.busyMode = .timeout(Double(seconds) + Double(attoseconds) / 1e18)
        configuration.maximumReaderCount = 2
        configuration.label = "chronicle.sqlite.snapshots"
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

    /// The identifiers of the snapshot store's migrations, oldest first.
    public static var migrationIdentifiers: [String] { SnapshotSchema.migrations.map(\.identifier) }

    public func snapshot(of stream: StreamID) async throws -> Snapshot? {
        let stored: (version: Int64, position: Int64, fingerprint: String, state: Data)?
        do {
            stored = try await pool.read { db in
                try Row.fetchOne(db, sql: SnapshotSchema.select, arguments: [stream.rawValue]).map { row in
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

    public func save(_ snapshot: Snapshot) async throws {
        do {
            try await pool.write { db in
                try db.execute(
                    sql: SnapshotSchema.upsert,
                    arguments: [snapshot.streamID.rawValue, snapshot.version.value, snapshot.position.value, snapshot.fingerprint, snapshot.state]
                )
            }
        } catch {
            throw Self.map(error, path: path, operation: "Saving the snapshot of \(snapshot.streamID) at version \(snapshot.version)")
        }
    }

    public func deleteSnapshot(of stream: StreamID) async throws {
        do {
            try await pool.write { db in try db.execute(sql: SnapshotSchema.delete, arguments: [stream.rawValue]) }
        } catch {
            throw Self.map(error, path: path, operation: "Deleting the snapshot of \(stream)")
        }
    }

    /// How many snapshots are stored.
    public func count() async throws -> Int {
        do {
            return try await pool.read { db in try Int.fetchOne(db, sql: SnapshotSchema.count) ?? 0 }
        } catch {
            throw Self.map(error, path: path, operation: "Counting snapshots")
        }
    }

    /// Closes the file's connections. Later calls fail with ``EventStoreError/Code/closed``.
    public func close() throws(EventStoreError) {
        do {
            try pool.close()
        } catch {
            throw Self.map(error, path: path, operation: "Closing the snapshot store")
        }
    }

    private static func migrate(_ pool: DatabasePool, logger: Logger, path: String) throws {
        var migrator = DatabaseMigrator()
        for migration in SnapshotSchema.migrations {
            migrator.registerMigration(migration.identifier) { db in
                logger.info("Migrating snapshot store", metadata: ["path": "\(path)", "migration": "\(migration.identifier)"])
                try db.execute(sql: migration.sql)
            }
        }
        do {
            try migrator.migrate(pool)
        } catch {
            // Another connection may have applied the same migration between our check and our
            // write (the scripts are idempotent); one more pass sees it applied.
            try migrator.migrate(pool)
        }
    }

    private static func map(_ error: any Error, path: String, operation: String) -> EventStoreError {
        if let error = error as? EventStoreError { return error }
        guard let error = error as? DatabaseError else {
            return EventStoreError(.storageFailure, "\(operation) failed on \(path).", underlying: error)
        }
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return EventStoreError(.databaseBusy, "\(operation) failed: \(path) stayed locked past the busy timeout.", underlying: error)
        case .SQLITE_NOTADB:
            return EventStoreError(.notADatabase, "\(path) is not a SQLite database. Check the path; nothing was written.", underlying: error)
        case .SQLITE_CORRUPT:
            return EventStoreError(.corruptRecord, "\(operation) failed: \(path) is damaged.", underlying: error)
        case .SQLITE_MISUSE:
            return EventStoreError(.closed, "\(operation) failed: the snapshot store at \(path) is closed.", underlying: error)
        default:
            return EventStoreError(.storageFailure, "\(operation) failed on \(path): SQLite error \(error.extendedResultCode.rawValue).", underlying: error)
        }
    }
}

/// The snapshot store's SQL, in one place: numbered, append-only migrations and the statements.
enum SnapshotSchema {
    struct Migration {
        let identifier: String
        let sql: String
    }

    /// Append new migrations; never edit a released one.
    static let migrations: [Migration] = [
        Migration(identifier: "snapshots-1", sql: """
            CREATE TABLE IF NOT EXISTS chronicle_snapshots (
                stream_id TEXT NOT NULL CONSTRAINT chronicle_snapshots_pk PRIMARY KEY,
                version INTEGER NOT NULL CONSTRAINT chronicle_snapshots_version_not_negative CHECK (version >= 0),
                position INTEGER NOT NULL CONSTRAINT chronicle_snapshots_position_not_negative CHECK (position >= 0),
                fingerprint TEXT NOT NULL,
                state BLOB NOT NULL
            ) STRICT;
            """),
    ]

    static let select = "SELECT version, position, fingerprint, state FROM chronicle_snapshots WHERE stream_id = ?"
    /// Insert, or replace unless the stored snapshot has the same fingerprint and a higher version.
    static let upsert = """
        INSERT INTO chronicle_snapshots (stream_id, version, position, fingerprint, state) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (stream_id) DO UPDATE SET
            version = excluded.version, position = excluded.position, fingerprint = excluded.fingerprint, state = excluded.state
        WHERE chronicle_snapshots.fingerprint <> excluded.fingerprint OR chronicle_snapshots.version <= excluded.version
        """
    static let delete = "DELETE FROM chronicle_snapshots WHERE stream_id = ?"
    static let count = "SELECT count(*) FROM chronicle_snapshots"
}
