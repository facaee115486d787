public import Chronicle
public import Foundation
public import Logging
public import PostgresNIO
public import ServiceLifecycle

/// Runs a ``ProcessManager`` (saga) on a ``PostgresEventStore``: follows the log from its
/// checkpoint and calls ``ProcessManager/react(to:context:)`` for each event, at least once.
///
/// The runner is Chronicle's one ``ProjectionEngine`` (catch-up, filters, retries, parking,
/// status, read-your-writes), on ``PostgresProjectionStorage``'s bookkeeping: its checkpoint is a
/// row of the store's `checkpoints` table and its parked events are rows of `dead_letters`, the
/// same shapes as a read model's, under the key `process:NAME`.
/// Reactions write to the event store, not in the checkpoint's transaction: after a crash the
/// events after the last checkpoint are delivered again, and the process manager's deterministic
/// event ids (``ProcessContext/eventIDs(_:)``) make that harmless. The checkpoint moves after every
/// event, so at most one event is redelivered.
///
/// One runner at a time across processes and machines: ``run()`` holds a ``PostgresLease`` named
/// `process.NAME`; other instances stand by and take over when it stops or its process dies.
///
/// ```swift
/// let saga = try PostgresProcessManager(Fulfilment(store: store), store: store,
///                                       leaseConnection: try settings.connectionConfiguration(), logger: logger)
/// let services = ServiceGroup(services: [readModel, saga, httpServer], logger: logger)
/// ```
public actor PostgresProcessManager: Service, ProjectionRunner {
    /// How the runner reads, retries and contends for the lease: the engine's options (page size,
    /// failure policy, partitioning, filter, start, time and waits, read and written through these
    /// too, as in `options.pageSize = 10`) and the process manager's own.
    public struct Options: ProjectionRunnerOptions {
        /// Page size (each reaction still moves the checkpoint on its own), failure policy,
        /// partitioning (each partition in log order, with its own checkpoint), filter, start,
        /// time and waits.
        public var engine: ProjectionEngine.Options
        /// How often a standby re-reads the checkpoint (for status and `waitUntil` in processes
        /// that do not run it).
        public var standbyPollInterval: Duration
        /// How often a standby tries to take the lease.
        public var leaseRetryInterval: Duration
        /// How often the runner checks that it still holds the lease.
        public var leaseHeartbeatInterval: Duration

        /// Creates options; the defaults suit most process managers.
        ///
        /// - Parameters:
        ///   - pageSize: events read per page.
        ///   - failurePolicy: what to do when a reaction throws.
        ///   - partitioning: how the events split by stream between parallel reactions.
        ///   - filter: which events reach the process manager.
        ///   - start: where it starts the first time it runs.
        ///   - standbyPollInterval: how often a standby re-reads the checkpoint.
        ///   - leaseRetryInterval: how often a standby tries to take the lease.
        ///   - leaseHeartbeatInterval: how often the runner checks that it still holds the lease.
        ///   - sleep: waits between retries.
        ///   - now: the clock stamping parked events.
        public init(
            pageSize: Int = 100, failurePolicy: FailurePolicy = .default, partitioning: ProjectionPartitioning = .none, filter: ProjectionFilter = .all,
            start: ProjectionStart = .beginning, standbyPollInterval: Duration = .milliseconds(500),
            leaseRetryInterval: Duration = .seconds(1), leaseHeartbeatInterval: Duration = .seconds(1),
            sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
            now: @escaping @Sendable () -> Date = { Date() }
        ) {
            let engine = ProjectionEngine.Options(
                pageSize: pageSize, failurePolicy: failurePolicy, partitioning: partitioning, filter: filter, start: start, sleep: sleep, now: now
            )
            self.init(
                engine: engine, standbyPollInterval: standbyPollInterval, leaseRetryInterval: leaseRetryInterval, leaseHeartbeatInterval: leaseHeartbeatInterval
            )
        }

        /// Creates options around the engine's.
        ///
        /// - Parameters:
        ///   - engine: page size, failure policy, partitioning, filter, start, time and waits.
        ///   - standbyPollInterval: how often a standby re-reads the checkpoint.
        ///   - leaseRetryInterval: how often a standby tries to take the lease.
        ///   - leaseHeartbeatInterval: how often the runner checks that it still holds the lease.
        public init(
            engine: ProjectionEngine.Options, standbyPollInterval: Duration = .milliseconds(500),
            leaseRetryInterval: Duration = .seconds(1), leaseHeartbeatInterval: Duration = .seconds(1)
        ) {
            self.engine = engine
            self.standbyPollInterval = standbyPollInterval
            self.leaseRetryInterval = leaseRetryInterval
            self.leaseHeartbeatInterval = leaseHeartbeatInterval
        }
    }

    /// The process manager's name.
    public nonisolated let name: String
    /// The engine running the process manager.
    public nonisolated let engine: ProjectionEngine
    nonisolated let options: Options
    nonisolated let logger: Logger
    nonisolated let lease: PostgresLease
    nonisolated let storage: PostgresProcessManagerStorage

    /// Creates the runner of `manager` on `store` (run `store.migrate()` first). Nothing touches
    /// the database until ``run()`` or a status read.
    ///
    /// - Parameters:
    ///   - manager: the process manager to run; its `name` keys its checkpoint, lease and parked events.
    ///   - store: the PostgreSQL store it reads from and appends its commands to.
    ///   - leaseConnection: the configuration of the lease's own connection
    ///     (``PostgresConnectionSettings/connectionConfiguration(applicationName:)``).
    ///   - options: page size, filter, start position, lease and retry timing.
    ///   - logger: where the runner logs its lease changes, retries and parked events.
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/invalidName`` for a name other than 1 to
    ///   100 of `A-Z a-z 0-9 _ - .`; ``ProjectionError/Code/invalidConfiguration`` for a page size
    ///   out of range.
    public init(
        _ manager: some ProcessManager, store: PostgresEventStore, leaseConnection: PostgresConnection.Configuration,
        options: Options = Options(), logger: Logger = Logger(label: "chronicle.postgres.process")
    ) throws {
        let name = manager.name
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
        guard (1...100).contains(name.count), name.allSatisfy({ allowed.contains($0) }) else {
            throw ProjectionError(.invalidName, "Process manager name \(name.debugDescription) is not usable: use 1 to 100 of A-Z a-z 0-9 _ - .", projection: name)
        }
        self.name = name
        self.options = options
        var logger = logger
        logger[metadataKey: "process"] = .string(name)
        self.logger = logger
        let storage = PostgresProcessManagerStorage(manager: manager, store: store)
        self.storage = storage
        self.lease = PostgresLease(
            name: "process.\(name)", schema: store.schema, connection: leaseConnection,
            retryInterval: options.leaseRetryInterval, heartbeatInterval: options.leaseHeartbeatInterval, logger: logger
        )
        self.engine = try ProjectionEngine(
            name: name, storage: storage, source: .postgres(store),
            options: {
                var engine = options.engine
                engine.circuit = { manager.circuit }
                return engine
            }(),
            observer: PostgresProjectionLog.observer(logger)
        )
    }

    // MARK: Status

    /// The runner's progress and health (in a standby, as of its last poll).
    public func status() -> ProjectionStatus {
        engine.status()
    }

    // MARK: Parked events

    // MARK: Running

    /// Runs the process manager until graceful shutdown or cancellation: contends for the lease
    /// (standing by while another instance holds it), catches up from the checkpoint, then
    /// follows the head. When the lease is lost, the work stops and the runner contends again.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/alreadyRunning`` when this instance runs already.
    public func run() async throws {
        var run = PostgresLeasedRun(
            kind: "process manager", name: name, engine: engine, lease: lease, logger: logger, leaseRetryInterval: options.leaseRetryInterval,
            standbyPollInterval: options.standbyPollInterval, sleep: options.sleep
        )
        let engine = self.engine
        run.tookOver = { try await engine.reload() }  // the checkpoint the previous holder left
        try await run.run()
    }

    /// Restarts a runner stopped by its failure policy, at the event that failed.
    public func resume() {
        engine.resume()
    }
}

/// A process manager's bookkeeping as the engine's ``ProjectionStorage``: a
/// ``PostgresProjectionStorage`` with no effects of its own (its checkpoint and dead letters),
/// and reactions run outside its transactions, the checkpoint moving after each.
final class PostgresProcessManagerStorage: ProjectionStorage {
    let manager: any ProcessManager
    let bookkeeping: PostgresProjectionStorage

    init(manager: any ProcessManager, store: PostgresEventStore) {
        self.manager = manager
        self.bookkeeping = PostgresProjectionStorage(consumer: Self.consumer(manager.name), store: store) { _, _ in }
    }

    /// The checkpoint and dead-letter key of process manager `name`: `process:NAME`, which no read
    /// model generation (`NAME.rmN`) and no other validated name can be.
    static func consumer(_ name: String) -> String { "process:\(name)" }

    func checkpoints(partitions: Int) async throws -> [GlobalPosition]? {
        try await bookkeeping.checkpoints(partitions: partitions)
    }

    func initialize(partitions: Int, at position: GlobalPosition) async throws {
        try await bookkeeping.initialize(partitions: partitions, at: position)
    }

    func startPosition() async throws -> GlobalPosition {
        try await bookkeeping.startPosition()
    }

    /// Reacts to each event, moving the checkpoint after each; a failing reaction reports how far
    /// the checkpoint got.
    func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition) async throws {
        let stored = try await bookkeeping.checkpoints(partitions: partition + 1)?[partition] ?? .start
        try await manager.deliver(events, stored: stored, from: from, to: to) { from, to in
            try await self.bookkeeping.advance(partition: partition, from: from, to: to) { _ in }
        }
    }

    func park(_ event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date, from: GlobalPosition) async throws -> Int {
        try await bookkeeping.park(event, partition: partition, error: error, attempts: attempts, at: date, from: from)
    }

    func parkedCount() async throws -> Int {
        try await bookkeeping.parkedCount()
    }

    func parkedEvents(after position: GlobalPosition, limit: Int) async throws -> [ParkedEvent] {
        try await bookkeeping.parkedEvents(after: position, limit: limit)
    }

    func parkedEvent(at position: GlobalPosition) async throws -> ParkedEvent? {
        try await bookkeeping.parkedEvent(at: position)
    }

    /// Reacts again, then removes the dead letter (at least once: a crash in between reacts again
    /// on the next retry, which the deterministic ids make harmless).
    func applyParked(_ event: RecordedEvent) async throws -> Int {
        do {
            try await manager.react(to: event, context: ProcessContext(trigger: event, processName: manager.name))
        } catch let error as CancellationError {
            throw error
        } catch {
            throw ProjectionApplyFailure(index: 0, error: error)
        }
        return try await bookkeeping.applyParked(event)
    }

    func recordParkedFailure(at position: GlobalPosition, error: String, at date: Date) async throws {
        try await bookkeeping.recordParkedFailure(at: position, error: error, at: date)
    }

    func dropParked(at position: GlobalPosition) async throws -> Int? {
        try await bookkeeping.dropParked(at: position)
    }
}
