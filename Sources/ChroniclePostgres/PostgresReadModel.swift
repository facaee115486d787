public import Chronicle
public import Foundation
public import Logging
public import PostgresNIO
public import ServiceLifecycle
public import Tracing
import ChronicleInstrumentation

/// A projection into PostgreSQL tables, kept up to date by a runner: the query side of CQRS for
/// applications on ``PostgresEventStore``.
///
/// The runner (``run()``, a ServiceLifecycle `Service`) is Chronicle's one ``ProjectionEngine``
/// (catch-up, filters, partitions, retries, parking, status, rebuilds): each page's table writes
/// and its checkpoint commit in one PostgreSQL transaction.
///
/// One runner at a time across processes and machines: ``run()`` holds a ``PostgresLease`` named
/// `projection.NAME` while it runs. Every other instance that runs the model is a standby (state
/// ``ProjectionState/standby``, status refreshed every ``Options/standbyPollInterval``) and takes
/// over within about ``Options/leaseRetryInterval`` after the runner stops or its process dies
/// (the lease's session ends with its connection). A runner that lost its lease but still
/// commits is refused by the checkpoint's compare-and-set. Every instance can ``read(_:)``.
///
/// The projector's tables live in a *generation* (a schema `<store schema>_rmN`); ``rebuild()``
/// fills a new generation from the log while the serving one keeps answering queries, then swaps
/// them in one transaction and drops the old one. Readers see one complete generation or the other.
///
/// ```swift
/// let totals = try PostgresReadModel(OrderTotals(), store: store, leaseConnection: try settings.connectionConfiguration(), logger: logger)
/// let group = ServiceGroup(services: [totals], logger: logger)   // with the client's run()
///
/// let result = try await store.append(event, to: "order-1", expectedVersion: .noStream)
/// try await totals.waitUntil(position: result.position, timeout: .seconds(5))
/// let count = try await totals.read { connection, tables in
///     try await connection.statement("SELECT count(*) FROM \(unescaped: tables("totals"))", logger: connection.logger).decode(Int.self).first { _ in true }
/// }
/// ```
public actor PostgresReadModel: Service, ProjectionRunner {
    /// How the runner reads, retries, splits its work and contends for the lease: the engine's
    /// options (page size, failure policy, partitioning, filter, start, time and waits, read and
    /// written through these too, as in `options.pageSize = 100`) and the read model's own.
    public struct Options: ProjectionRunnerOptions {
        /// Page size, failure policy, partitioning, filter, start, time and waits (a page and its
        /// checkpoint commit in one transaction).
        public var engine: ProjectionEngine.Options
        /// How often a standby re-reads the checkpoints (for ``PostgresReadModel/status()`` and
        /// ``PostgresReadModel/waitUntil(position:timeout:)`` in processes that do not run it).
        public var standbyPollInterval: Duration
        /// How often a standby tries to take the lease.
        public var leaseRetryInterval: Duration
        /// How often the runner checks that it still holds the lease.
        public var leaseHeartbeatInterval: Duration
        /// Where each page's `chronicle.projection.page` span goes; `nil` means
        /// `InstrumentationSystem.tracer` (a no-op unless the application bootstraps one).
        public var tracer: (any Tracer)?

        /// Creates options; the defaults suit most projections.
        ///
        /// - Parameters:
        ///   - pageSize: events read (and applied in one transaction) per page (1…100,000).
        ///   - failurePolicy: what to do when applying an event throws.
        ///   - partitioning: independent partitions by stream, each with its own checkpoint.
        ///   - filter: which events reach the projector (the checkpoint moves past the others).
        ///   - start: where the projection starts the first time it runs (and a rebuild replays from).
        ///   - standbyPollInterval: how often a standby re-reads the checkpoints.
        ///   - leaseRetryInterval: how often a standby tries to take the lease.
        ///   - leaseHeartbeatInterval: how often the runner checks that it still holds the lease.
        ///   - sleep: waits between retries; inject a fast one in tests.
        ///   - now: the clock stamping parked events.
        ///   - tracer: where the page spans go (`nil`: `InstrumentationSystem.tracer`).
        public init(
            pageSize: Int = 500, failurePolicy: FailurePolicy = .default, partitioning: ProjectionPartitioning = .none,
            filter: ProjectionFilter = .all, start: ProjectionStart = .beginning,
            standbyPollInterval: Duration = .milliseconds(500), leaseRetryInterval: Duration = .seconds(1),
            leaseHeartbeatInterval: Duration = .seconds(1),
            sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
            now: @escaping @Sendable () -> Date = { Date() }, tracer: (any Tracer)? = nil
        ) {
            let engine = ProjectionEngine.Options(
                pageSize: pageSize, failurePolicy: failurePolicy, partitioning: partitioning, filter: filter, start: start, sleep: sleep, now: now
            )
            self.init(
                engine: engine, standbyPollInterval: standbyPollInterval, leaseRetryInterval: leaseRetryInterval,
                leaseHeartbeatInterval: leaseHeartbeatInterval, tracer: tracer
            )
        }

        /// Creates options around the engine's.
        ///
        /// - Parameters:
        ///   - engine: page size, failure policy, partitioning, filter, start, time and waits.
        ///   - standbyPollInterval: how often a standby re-reads the checkpoints.
        ///   - leaseRetryInterval: how often a standby tries to take the lease.
        ///   - leaseHeartbeatInterval: how often the runner checks that it still holds the lease.
        ///   - tracer: where the page spans go (`nil`: `InstrumentationSystem.tracer`).
        public init(
            engine: ProjectionEngine.Options, standbyPollInterval: Duration = .milliseconds(500), leaseRetryInterval: Duration = .seconds(1),
            leaseHeartbeatInterval: Duration = .seconds(1), tracer: (any Tracer)? = nil
        ) {
            self.engine = engine
            self.standbyPollInterval = standbyPollInterval
            self.leaseRetryInterval = leaseRetryInterval
            self.leaseHeartbeatInterval = leaseHeartbeatInterval
            self.tracer = tracer
        }

        /// The engine's options with the page span (unless the caller set a scope of its own).
        var engineOptions: ProjectionEngine.Options { engine.withPageSpans(tracer: tracer) }
    }

    /// The projection's name (the projector's).
    public nonisolated let name: String
    nonisolated let options: Options
    nonisolated let logger: Logger
    nonisolated let storage: PostgresReadModelStorage
    nonisolated let lease: PostgresLease
    /// The engine running the projection on the serving generation.
    public nonisolated let engine: ProjectionEngine

    /// Creates the read model of `projector` on `store` (run `store.migrate()` first). Nothing
    /// touches the database until ``run()``, ``prepare()`` or a read.
    ///
    /// - Parameters:
    ///   - projector: the tables, migrations and event handling of the read model.
    ///   - store: the event store it reads, whose database holds its tables.
    ///   - leaseConnection: the configuration of the lease's own connection
    ///     (``PostgresConnectionSettings/connectionConfiguration(applicationName:)``).
    ///   - options: page size, partitions, failure policy, start…
    ///   - logger: receives the engine's notices (failures, parking, lease changes).
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/invalidName`` for a name other than 1 to
    ///   100 of `A-Z a-z 0-9 _ - .`; ``ProjectionError/Code/invalidConfiguration`` for a page size
    ///   out of range or migration versions that do not count 1, 2, 3…
    public init(
        _ projector: some PostgresProjector, store: PostgresEventStore, leaseConnection: PostgresConnection.Configuration,
        options: Options = Options(), logger: Logger = Logger(label: "chronicle.postgres.read-model")
    ) throws {
        let name = projector.name
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
        guard (1...100).contains(name.count), name.allSatisfy({ allowed.contains($0) }) else {
            throw ProjectionError(.invalidName, "Read model name \(name.debugDescription) is not usable: use 1 to 100 of A-Z a-z 0-9 _ - .", projection: name)
        }
        let versions = projector.migrations.map(\.version)
        guard versions == Array(1..<(versions.count + 1)) else {
            throw ProjectionError(.invalidConfiguration, "The migrations of read model \(name) have versions \(versions); number them 1, 2, 3… in order.", projection: name)
        }
        self.name = name
        self.options = options
        var logger = logger
        logger[metadataKey: "projection"] = .string(name)
        self.logger = logger
        let storage = PostgresReadModelStorage(name: name, store: store, projector: projector, partitions: options.partitioning.count)
        self.storage = storage
        self.lease = PostgresLease(
            name: Self.leaseName(name), schema: store.schema, connection: leaseConnection,
            retryInterval: options.leaseRetryInterval, heartbeatInterval: options.leaseHeartbeatInterval, logger: logger
        )
        self.engine = try ProjectionEngine(name: name, storage: storage, source: .postgres(store), options: options.engineOptions, observer: PostgresProjectionLog.observer(logger))
    }

    // MARK: Queries

    /// Creates the tables if needed (the first generation) and runs the projector's new
    /// migrations on the serving generation. ``run()`` and the first read do it; call it to fail
    /// early on a broken migration.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/storageFailure``.
    public nonisolated func prepare() async throws {
        try await storage.prepare()
        try await engine.refreshWhileIdle()  // a running engine's own positions are the truth
    }

    /// Reads the read model in a transaction: `tables` names the serving generation's tables.
    /// Readers always see a complete model: committed pages only, and during a rebuild the old
    /// generation until the new one is swapped in (the swap waits for reads in flight).
    public nonisolated func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, PostgresReadModelTables) async throws -> T) async throws -> T {
        try await storage.read(body)
    }

    // MARK: Status

    /// The projection's progress and health (in a standby, as of its last poll).
    public func status() -> ProjectionStatus {
        engine.status()
    }

    // MARK: Running

    /// Runs the projection until graceful shutdown or cancellation: contends for the lease
    /// (standing by while another instance holds it), catches up from the checkpoint, then
    /// follows the head. When the lease is lost (its connection failed), the work stops and the
    /// model contends again. A failure under ``FailurePolicy/Exhausted/stop`` puts it in state
    /// ``ProjectionState/failed`` without ending `run()`; ``resume()`` restarts it.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/alreadyRunning`` when this instance runs already.
    public func run() async throws {
        var run = PostgresLeasedRun(
            kind: "read model", name: name, engine: engine, lease: lease, logger: logger, leaseRetryInterval: options.leaseRetryInterval,
            standbyPollInterval: options.standbyPollInterval, sleep: options.sleep
        )
        run.prepare = { try await self.prepare() }
        run.tookOver = { try await self.storage.tookOver() }
        run.refresh = { try await self.storage.refresh() }
        try await run.run()
    }

    /// Restarts a projection stopped by its failure policy, from its checkpoint.
    public func resume() {
        engine.resume()
    }

    // MARK: Rebuild

    /// Rebuilds the read model from its start into a new generation while the serving one keeps
    /// answering queries (and, if running, following the log), then swaps the new one in
    /// atomically once it has caught up and drops the old one. Progress shows in
    /// ``ProjectionStatus/rebuild``.
    ///
    /// Only the instance that runs the model rebuilds it; an instance that does not run it
    /// rebuilds only while nobody does (it takes the lease for the rebuild).
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/rebuildInProgress`` if one already runs,
    ///   ``ProjectionError/Code/alreadyRunning`` if another instance runs the model (rebuild it
    ///   there, or stop it first).
    @discardableResult
    public func rebuild() async throws -> RebuildProgress {
        if lease.isHeld { return try await engine.rebuild() }
        let result = try await lease.runIfFree {
            try await self.storage.tookOver()
            try await self.engine.reload()
            return try await self.engine.rebuild()
        }
        guard let result else {
            throw ProjectionError(
                .alreadyRunning, "Read model \(name) is run by another instance; rebuild it there (its API or admin command), or stop it first.",
                projection: name
            )
        }
        return result
    }
}

/// Writes the projection engine's notices to a swift-log `Logger` (the same mapping as
/// ChronicleSQLite's; the core has no swift-log dependency to share it from).
enum PostgresProjectionLog {
    static func observer(_ logger: Logger) -> @Sendable (ProjectionEngine.Notice) -> Void {
        { notice in
            let line = notice.logLine
            let level: Logger.Level =
                switch line.severity {
                case .info: .info
                case .warning: .warning
                case .error: .error
                }
            logger.log(level: level, "\(line.message)", metadata: line.metadata.mapValues { .string($0) })
        }
    }
}
