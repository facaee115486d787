import Chronicle
import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// Runs a ``ProcessManager`` (saga): follows the log from its checkpoint and calls
/// ``ProcessManager/react(to:context:)`` for each event, at least once.
///
/// The checkpoint (and the events it parked) live in a small SQLite file of its own. Reactions
/// write to the event store, not to that file, so the checkpoint cannot commit with them: after a
/// crash, the events after the last checkpoint are delivered again, and the process manager's
/// deterministic event ids (``ProcessContext/eventIDs(_:)``) make that harmless. The checkpoint is
/// saved after every event, so at most one event is redelivered.
///
/// A failing reaction is retried per its ``FailurePolicy``, then parked (and the runner goes on)
/// or the runner stops in state ``ProjectionState/failed`` until ``resume()``.
///
/// ```swift
/// let saga = try ProcessManagerRunner(Fulfilment(store: store), path: dir + "/fulfilment.sqlite",
///                                     source: .observing(store), logger: logger)
/// let services = ServiceGroup(services: [readModels, saga, httpServer], logger: logger)
/// ```
public actor ProcessManagerRunner: Service {
    /// The process manager's name.
    public nonisolated let name: String
    nonisolated let manager: any ProcessManager
    nonisolated let source: ProjectionSource
    nonisolated let failurePolicy: FailurePolicy
    nonisolated let pageSize: Int
    nonisolated let sleep: @Sendable (Duration) async throws -> Void
    nonisolated let now: @Sendable () -> Date
    nonisolated let logger: Logger
    nonisolated let database: DatabaseQueue
    nonisolated let checkpoint: ProjectionPositionSignal
    nonisolated let head: ProjectionPositionSignal

    var isRunning = false
    var isCaughtUp = false
    var failed = false
    var lastError: String?
    var parkedCount = 0
    /// The stopped runner waiting for ``resume()``.
    var resumeWaiter: CheckedContinuation<Void, Never>?

    /// Opens (or creates) the runner's checkpoint file at `path`.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/storageFailure`` if the file cannot
    ///   be opened or is not this runner's.
    public init(
        _ manager: some ProcessManager, path: String, source: ProjectionSource, failurePolicy: FailurePolicy = .default,
        pageSize: Int = 100, sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) throws {
        precondition(pageSize >= 1, "pageSize must be at least 1")
        self.name = manager.name
        self.manager = manager
        self.source = source
        self.failurePolicy = failurePolicy
        self.pageSize = pageSize
        self.sleep = sleep
        self.now = now
        var logger = logger
        logger[metadataKey: "process"] = .string(manager.name)
        self.logger = logger
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            database = try DatabaseQueue(path: path, configuration: configuration)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("process-manager-1") { db in
                try db.execute(sql: """
                    CREATE TABLE chronicle_process_checkpoint (
                        name TEXT NOT NULL CONSTRAINT chronicle_process_checkpoint_pk PRIMARY KEY,
                        position INTEGER NOT NULL CONSTRAINT chronicle_process_checkpoint_position CHECK (position >= 0)
                    );
                    CREATE TABLE chronicle_process_parked (
                        position INTEGER NOT NULL CONSTRAINT chronicle_process_parked_pk PRIMARY KEY,
                        event_id TEXT NOT NULL, stream_id TEXT NOT NULL, event_type TEXT NOT NULL,
                        error TEXT NOT NULL, attempts INTEGER NOT NULL, parked_at REAL NOT NULL
                    );
                    """)
            }
            try migrator.migrate(database)
            let (position, parked) = try database.read { db in
                let position = try Int64.fetchOne(db, sql: "SELECT position FROM chronicle_process_checkpoint WHERE name = ?", arguments: [manager.name]) ?? 0
                let parked = try Int.fetchOne(db, sql: "SELECT count(*) FROM chronicle_process_parked") ?? 0
                return (position, parked)
            }
            checkpoint = ProjectionPositionSignal(GlobalPosition(position))
            head = ProjectionPositionSignal(GlobalPosition(position))
            parkedCount = parked
        } catch {
            throw ProjectionError(.storageFailure, "Cannot open the checkpoint file of process manager \(manager.name) at \(path): \(error)", projection: manager.name, underlying: error)
        }
    }

    // MARK: Status

    /// The runner's progress and health, in the shape projections report it.
    public func status() -> ProjectionStatus {
        let position = checkpoint.value
        let state: ProjectionState = failed ? .failed : !isRunning ? .stopped : isCaughtUp ? .running : .catchingUp
        return ProjectionStatus(name: name, state: state, position: position, head: max(head.value, position), parkedCount: parkedCount, lastError: lastError)
    }

    /// Returns once every event up to `position` has been reacted to (or parked).
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/timeout`` after `timeout`.
    public nonisolated func waitUntil(position: GlobalPosition, timeout: Duration) async throws {
        try await checkpoint.wait(until: position, timeout: timeout, projection: name)
    }

    /// The events it gave up on, oldest first.
    public nonisolated func parkedEvents(limit: Int = 100) async throws -> [ParkedEvent] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM chronicle_process_parked ORDER BY position LIMIT ?", arguments: [limit]).map { row in
                ParkedEvent(
                    position: GlobalPosition(row["position"] as Int64),
                    eventID: UUID(uuidString: row["event_id"]) ?? UUID(),
                    streamID: (try? StreamID(row["stream_id"] as String)) ?? StreamID(category: "unknown", id: "stream"),
                    eventType: row["event_type"], partition: 0, error: row["error"], attempts: row["attempts"],
                    parkedAt: Date(timeIntervalSince1970: row["parked_at"])
                )
            }
        }
    }

    // MARK: Running

    /// Follows the log until graceful shutdown or cancellation.
    public func run() async throws {
        guard !isRunning else {
            throw ProjectionError(.invalidConfiguration, "Process manager \(name) is already running.", projection: name)
        }
        isRunning = true
        defer { isRunning = false }
        logger.info("Process manager starting", metadata: ["position": "\(checkpoint.value)"])
        do {
            try await cancelWhenGracefulShutdown {
                try await self.catchUp()
                for await announced in self.source.headUpdates() {
                    self.head.advance(to: announced)
                    if announced > self.checkpoint.value { try await self.catchUp() }
                }
            }
        } catch is CancellationError {
            // Shutdown: the checkpoint names the last event fully reacted to.
        }
        logger.info("Process manager stopped", metadata: ["position": "\(checkpoint.value)"])
    }

    /// Restarts a runner stopped by its failure policy, at the event that failed.
    public func resume() {
        resumeWaiter?.resume()
        resumeWaiter = nil
    }

    /// Suspends until ``resume()`` or cancellation.
    private func waitForResume() async throws {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled { continuation.resume() } else { resumeWaiter = continuation }
            }
        } onCancel: {
            Task { await self.resume() }
        }
        try Task.checkCancellation()
    }

    private func catchUp() async throws {
        isCaughtUp = false
        defer { isCaughtUp = true }
        while true {
            let page = try await source.reader.readAll(after: checkpoint.value, limit: pageSize)
            for event in page {
                try await deliver(event)
                try await save(event.position)
            }
            if page.count < pageSize { return }
        }
    }

    private func deliver(_ event: RecordedEvent) async throws {
        var attempt = 0
        while true {
            attempt += 1
            do {
                try await manager.react(to: event, context: ProcessContext(trigger: event, processName: name))
                return
            } catch let error as CancellationError {
                throw error
            } catch {
                lastError = "\(event.type) at \(event.position): \(error)"
                logger.warning("Reaction failed", metadata: ["position": "\(event.position)", "attempt": "\(attempt)", "error": "\(error)"])
                if attempt < failurePolicy.maxAttempts {
                    try await sleep(failurePolicy.delay(afterAttempt: attempt))
                    continue
                }
                switch failurePolicy.whenExhausted {
                case .park:
                    try await park(event, error: error, attempts: attempt)
                    return
                case .stop:
                    failed = true
                    logger.error("Process manager stopped on a failing event", metadata: ["position": "\(event.position)"])
                    try await waitForResume()
                    failed = false
                    attempt = 0
                }
            }
        }
    }

    private func park(_ event: RecordedEvent, error: any Error, attempts: Int) async throws {
        let parkedAt = now().timeIntervalSince1970
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO chronicle_process_parked (position, event_id, stream_id, event_type, error, attempts, parked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [event.position.value, event.id.uuidString.lowercased(), event.streamID.rawValue, event.type, "\(error)", attempts, parkedAt]
            )
        }
        parkedCount += 1
        logger.error("Event parked", metadata: ["position": "\(event.position)", "error": "\(error)"])
    }

    private func save(_ position: GlobalPosition) async throws {
        let name = self.name
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO chronicle_process_checkpoint (name, position) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET position = excluded.position",
                arguments: [name, position.value]
            )
        }
        checkpoint.advance(to: position)
        head.advance(to: position)
    }
}
