public import Chronicle
import Foundation
import GRDB
import Logging
import Synchronization

/// The embedded event store: one SQLite file in WAL mode, on GRDB.
///
/// - Appends go through one writer connection owned by one writer thread that does **group commit**:
///   appends arriving while a transaction is in flight share the next transaction, each in its
///   own savepoint, so one conflict fails only its own append. Expected versions are checked
///   inside `BEGIN IMMEDIATE`; positions are assigned under the write lock and are gap-free.
/// - Reads use a pool of reader connections and never wait for the writer.
/// - Several processes may open the same file; SQLite's lock serializes their writers (waiting up
///   to ``Configuration/busyTimeout``). ``headUpdates(pollInterval:)`` notices their appends.
///
/// ```swift
/// let store = try SQLiteEventStore(path: "/var/lib/app/events.sqlite")
/// let result = try await store.append([event], to: "order-42", expectedVersion: .noStream)
/// for try await event in store.allEvents(after: .start) { … }
/// try await store.close()
/// ```
///
/// Opening checks the file before writing anything: a file that is not SQLite fails with
/// ``EventStoreError/Code/notADatabase``, so does a SQLite file of another application (its
/// `application_id` differs); a store written by a newer Chronicle fails with
/// ``EventStoreError/Code/unsupportedSchema``; a lock held past the busy timeout fails with
/// ``EventStoreError/Code/databaseBusy``. The schema is described in `SQLiteSchema.swift`.
public final class SQLiteEventStore: EventStore, AppendObservable, Sendable {
    /// The database file.
    public let path: String
    /// The configuration the store was opened with.
    public let configuration: Configuration
    /// Announces the head position after each commit of this store instance.
    public let appendNotifier = AppendNotifier()

    let pool: DatabasePool
    private let writer: SQLiteAppendWriter
    private let counter = GroupCommitCounter()
    private let isClosed = Atomic<Bool>(false)
    let logger: Logger

    /// Opens the store at `path`, creating the file and its schema if needed.
    ///
    /// A rollback journal left by a process killed during the file's very first open (a hot
    /// `-journal`) is rolled back first, as SQLite does, unless the file is another application's.
    ///
    /// A `-wal` left by a process that did not close the store is checked before SQLite replays
    /// it: ``EventStoreError/Code/corruptRecord`` when the `-shm` beside it says it held committed
    /// frames it no longer has (deleted, truncated or replaced: acknowledged appends are lost),
    /// or when it belongs to another database (SQLite would replay it into this file). The message
    /// says what to do; `Docs/Operations.md` ("Failure modes") has the details.
    ///
    /// - Throws: ``EventStoreError`` — ``EventStoreError/Code/notADatabase`` (also for a missing,
    ///   empty or schema-less file when ``Configuration/createIfNeeded`` is off),
    ///   ``EventStoreError/Code/unsupportedSchema``, ``EventStoreError/Code/databaseBusy``,
    ///   ``EventStoreError/Code/readOnly``, ``EventStoreError/Code/diskFull``,
    ///   ``EventStoreError/Code/corruptRecord`` or ``EventStoreError/Code/storageFailure``. Nothing
    ///   is written to the file on any of these.
    public init(path: String, configuration: Configuration = Configuration()) throws(EventStoreError) {
        self.path = path
        self.configuration = configuration
        self.logger = configuration.logger
        pool = try SQLiteStoreOpening.open(path: path, configuration: configuration)
        writer = SQLiteAppendWriter(pool: pool, path: path, configuration: configuration, notifier: appendNotifier, statistics: counter)
        do {
            let head = try pool.read { db in try Int64.fetchOne(db, sql: SQLiteStatements.headPosition) ?? 0 }
            appendNotifier.notify(head: GlobalPosition(head))
        } catch {
            throw SQLiteErrorMapping.map(error, path: path, operation: "Opening the store")
        }
    }

    deinit {
        writer.stopSoon()
        if isOpen { SQLiteWALInspection.unregister(path) }
    }

    /// The schema version this build of Chronicle writes.
    public static var schemaVersion: Int { SQLiteSchema.currentVersion }

    /// The `PRAGMA application_id` that marks a file as a Chronicle event store.
    public static var applicationID: Int32 { SQLiteSchema.applicationID }

    /// What group commit has done since the store opened.
    public var groupCommitStatistics: GroupCommitStatistics { counter.snapshot }

    // MARK: - Writing

    /// Appends to one or more streams atomically (see ``EventWriter/append(_:)``).
    ///
    /// The call may share a transaction with concurrent calls (group commit) but succeeds or fails
    /// on its own.
    public func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        try checkOpen()
        try AppendPlanner.validate(appends)
        if appends.isEmpty { return [] }
        return try await writer.append(appends)
    }

    // MARK: - Maintenance

    /// Copies every committed page from the WAL into the database file and truncates the WAL
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`), for backups or to measure the file's size. SQLite also
    /// checkpoints on its own as the WAL grows; calling this is never required.
    ///
    /// - Returns: `true` if the WAL was fully checkpointed and truncated, `false` if readers
    ///   (of this or another process) still needed older pages; try again later.
    @discardableResult
    public func checkpoint() async throws -> Bool {
        try checkOpen()
        do {
            return try await pool.writeWithoutTransaction { db in
                let row = try Row.fetchOne(db, sql: SQLiteStatements.checkpointTruncate)
                return (row?[0] as Int64?) == 0
            }
        } catch {
            throw SQLiteErrorMapping.map(error, path: path, operation: "Checkpointing the WAL")
        }
    }

    // MARK: - Closing

    /// Refuses new appends and reads (``EventStoreError/Code/closed``), waits for appends in
    /// flight, ends ``appendNotifier``'s sequences and ``headUpdates(pollInterval:)``, and closes
    /// the connections. Calling it again does nothing.
    public func close() async throws {
        guard isClosed.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else { return }
        await writer.stop()
        appendNotifier.finish()
        defer { SQLiteWALInspection.unregister(path) }
        do {
            try pool.close()
        } catch {
            throw SQLiteErrorMapping.map(error, path: path, operation: "Closing the store")
        }
        logger.debug("Closed event store", metadata: ["path": "\(path)"])
    }

    /// Whether ``close()`` was called.
    public var isOpen: Bool { !isClosed.load(ordering: .sequentiallyConsistent) }

    func checkOpen() throws(EventStoreError) {
        if isClosed.load(ordering: .sequentiallyConsistent) { throw Self.closedError(path) }
    }

    static func closedError(_ path: String) -> EventStoreError {
        EventStoreError(.closed, "The event store at \(path) is closed. Nothing was written.")
    }
}
