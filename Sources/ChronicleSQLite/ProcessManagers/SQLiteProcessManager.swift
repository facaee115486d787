public import Chronicle
public import Foundation
import GRDB
public import Logging
public import ServiceLifecycle

/// Runs a ``ProcessManager`` (saga): follows the log from its checkpoint and calls
/// ``ProcessManager/react(to:context:)`` for each event, at least once.
///
/// The runner is Chronicle's one ``ProjectionEngine``: the same catch-up, filters, retries,
/// parking, status and read-your-writes as read models, with parked events that can be listed,
/// retried and dropped. Its checkpoint and parked events live in a small SQLite file of its own
/// (the same bookkeeping tables as a read-model file). Reactions write to the event store, not to
/// that file, so the checkpoint cannot commit with them: after a crash, the events after the last
/// checkpoint are delivered again, and the process manager's deterministic event ids
/// (``ProcessContext/eventIDs(_:)``) make that harmless. The checkpoint is saved after every
/// event, so at most one event is redelivered.
///
/// One process at a time runs a process manager: another process running the same file waits
/// as a standby and takes over when the first stops or dies.
///
/// ```swift
/// let saga = try SQLiteProcessManager(Fulfilment(store: store), path: dir + "/fulfilment.sqlite",
///                                     source: .observing(store), logger: logger)
/// let services = ServiceGroup(services: [readModels, saga, httpServer], logger: logger)
/// ```
public actor SQLiteProcessManager: Service, ProjectionRunner {
    /// The process manager's name.
    public nonisolated let name: String
    /// The engine running the process manager.
    public nonisolated let engine: ProjectionEngine
    nonisolated let storage: ProcessManagerStorage
    nonisolated let logger: Logger
    nonisolated let sleep: @Sendable (Duration) async throws -> Void
    nonisolated let standbyPollInterval: Duration

    /// Opens (or creates) the runner's checkpoint file at `path`. A file written by an earlier
    /// Chronicle (tables `chronicle_process_checkpoint`/`chronicle_process_parked`) is upgraded.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/storageFailure`` if the file cannot
    ///   be opened, ``ProjectionError/Code/incompatibleReadModel`` if it is another process
    ///   manager's or a read model's, ``ProjectionError/Code/invalidConfiguration`` for a page
    ///   size out of range.
    ///
    /// - Parameters:
    ///   - manager: the process manager to run; its `name` keys the file's bookkeeping.
    ///   - path: the checkpoint file.
    ///   - source: where it reads the log and hears of new heads.
    ///   - failurePolicy: what to do when a reaction throws.
    ///   - pageSize: events read per page (each reaction still moves the checkpoint on its own).
    ///   - partitioning: how the events split by stream between reactions that run in parallel
    ///     (each partition in log order, with its own checkpoint); fixed for the file's life.
    ///   - filter: which events reach the process manager.
    ///   - start: where it starts the first time it runs.
    ///   - standbyPollInterval: how often a standby re-reads the checkpoint and tries the file lock.
    ///   - sleep: waits between retries. Inject a fast one in tests.
    ///   - now: the clock stamping parked events.
    ///   - logger: where the runner logs its retries and parked events.
    public init(
        _ manager: some ProcessManager, path: String, source: ProjectionSource, failurePolicy: FailurePolicy = .default,
        pageSize: Int = 100, partitioning: ProjectionPartitioning = .none, filter: ProjectionFilter = .all, start: ProjectionStart = .beginning,
        standbyPollInterval: Duration = .milliseconds(500),
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) throws {
        self.name = manager.name
        var logger = logger
        logger[metadataKey: "process"] = .string(manager.name)
        self.logger = logger
        self.sleep = sleep
        self.standbyPollInterval = standbyPollInterval
        let storage = try ProcessManagerStorage(manager: manager, path: path, partitions: partitioning.count)
        self.storage = storage
        let (positions, parked) = try storage.storedProgress()
        self.engine = try ProjectionEngine(
            name: manager.name, storage: storage, source: source,
            options: .init(
                pageSize: pageSize, failurePolicy: failurePolicy, partitioning: partitioning, filter: filter, start: start, sleep: sleep, now: now,
                circuit: { manager.circuit }
            ),
            initialPositions: positions, initialParkedCount: parked, observer: ProjectionLog.observer(logger)
        )
    }

    // MARK: Status

    /// The runner's progress and health, in the shape projections report it.
    public func status() -> ProjectionStatus {
        engine.status()
    }

    // MARK: Parked events

    // MARK: Running

    /// Follows the log until graceful shutdown or cancellation, as the one runner of this process
    /// manager (standing by while another process runs it).
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/alreadyRunning`` when this instance runs already.
    public func run() async throws {
        guard engine.status().state == .stopped else {
            throw ProjectionError(.alreadyRunning, "Process manager \(name) is already running in this process; run it once.", projection: name)
        }
        do {
            try await cancelWhenGracefulShutdown {
                try await self.storage.runLock.acquireStandingBy(
                    for: self.engine, interval: self.standbyPollInterval, sleep: self.sleep, logger: self.logger
                )
                defer { self.storage.runLock.release() }
                try await self.engine.run()
            }
        } catch is CancellationError {
            // Shut down while standing by.
        }
        engine.setStandby(false)
    }

    /// Restarts a runner stopped by its failure policy, at the event that failed.
    public func resume() {
        engine.resume()
    }
}

/// A process manager's checkpoint file as the engine's ``ProjectionStorage``: reactions run
/// outside any transaction (they append to the event store), and the checkpoint moves after each.
final class ProcessManagerStorage: SQLiteBookkeeping, Sendable {
    let manager: any ProcessManager
    let database: DatabaseQueue
    let runLock: ProjectionFileLock
    let partitions: Int

    init(manager: any ProcessManager, path: String, partitions: Int = 1) throws {
        self.manager = manager
        self.partitions = partitions
        runLock = ProjectionFileLock(path: path + ".run.lock")
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            // As a read model's file: WAL with synchronous NORMAL. The checkpoint moves after every
            // reaction; in the default rollback-journal mode with FULL each move created, synced
            // (four fdatasyncs) and unlinked a journal, which bounded a relay or saga on a real
            // disk. A crash of the process loses no committed move; a power loss may lose the
            // last ones, and their events are reacted to again (at least once, as after a crash
            // between a reaction and its checkpoint).
            configuration.journalMode = .wal
            configuration.prepareDatabase { db in
                try db.execute(sql: SQLiteProjectionSQL.synchronousNormal)
                try db.execute(sql: SQLiteProjectionSQL.secureDelete)
            }
            database = try DatabaseQueue(path: path, configuration: configuration)
            try database.write { db in
                let legacy = try db.tableExists(SQLiteProjectionSQL.legacyCheckpointTable)
                try SQLiteProjectionSchema.prepare(db, projection: manager.name, partitions: partitions)
                if legacy { try Self.upgradeLegacyTables(db, name: manager.name) }
            }
        } catch let error as ProjectionError {
            throw error
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB {
            throw ProjectionError(.incompatibleReadModel, "\(path) is not a SQLite database.", projection: manager.name, underlying: error)
        } catch {
            throw ProjectionError(.storageFailure, "Cannot open the checkpoint file of process manager \(manager.name) at \(path).", projection: manager.name, underlying: error)
        }
    }

    /// Moves the checkpoint and parked events of a file written before the one engine into the
    /// shared bookkeeping tables, in the transaction that opens it.
    private static func upgradeLegacyTables(_ db: Database, name: String) throws {
        let position = try Int64.fetchOne(db, sql: SQLiteProjectionSQL.selectLegacyCheckpoint, arguments: [name])
        if let position {
            try SQLiteProjectionSchema.initialize(db, partitions: 1, at: .start)
            try db.execute(sql: SQLiteProjectionSQL.setCheckpoint, arguments: [max(0, position), 0])
        }
        try db.execute(sql: SQLiteProjectionSQL.moveLegacyParked)
        try db.execute(sql: SQLiteProjectionSQL.dropLegacyTables)
    }

    func storedProgress() throws -> ([GlobalPosition], Int) {
        do {
            return try database.read { db in
                (try SQLiteProjectionSchema.checkpoints(db, partitions: self.partitions), try DeadLetterTable.count(db))
            }
        } catch {
            throw ProjectionError(.storageFailure, "Cannot read the checkpoint of process manager \(manager.name).", projection: manager.name, underlying: error)
        }
    }

    /// Reacts to each event, saving the checkpoint after each; a failing reaction reports how far
    /// the checkpoint got.
    func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition) async throws {
        let stored = try await database.read { db in try SQLiteProjectionSchema.checkpoints(db, partitions: partition + 1)[partition] }
        try await manager.deliver(events, stored: stored, from: from, to: to) { from, to in
            try await self.save(partition: partition, from: from, to: to)
        }
    }

    private func save(partition: Int, from: GlobalPosition, to: GlobalPosition) async throws {
        try await database.write { db in try SQLiteProjectionSchema.saveCheckpoint(db, partition: partition, from: from, to: to) }
    }

    /// Reacts again, then removes the parked record (at least once: a crash in between reacts
    /// again on the next retry, which the deterministic ids make harmless).
    func applyParked(_ event: RecordedEvent) async throws -> Int {
        do {
            try await manager.react(to: event, context: ProcessContext(trigger: event, processName: manager.name))
        } catch let error as CancellationError {
            throw error
        } catch {
            throw ProjectionApplyFailure(index: 0, error: error)
        }
        return try await database.write { db in
            _ = try DeadLetterTable.remove(db, position: event.position)
            return try DeadLetterTable.count(db)
        }
    }

    var bookkeeping: any DatabaseWriter { database }
    func ensureWritable() throws {}
}
