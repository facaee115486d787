public import Chronicle
public import Foundation
public import GRDB
public import Logging
public import ServiceLifecycle
public import Tracing
import ChronicleInstrumentation

/// A projection into SQLite tables, kept up to date by a runner: the asynchronous (query) side
/// of CQRS.
///
/// Each read model owns a SQLite file (its tables, its checkpoints and its dead letters) in
/// `directory`, separate from the event store, so projection writes never block appends. The
/// runner (``run()``, a ServiceLifecycle `Service`) reads the log from the checkpoint in pages,
/// applies each page and commits the new checkpoint **in the same transaction**; once caught up
/// it sleeps until the ``ProjectionSource`` reports a new head.
///
/// ```swift
/// let orders = try SQLiteReadModel(OrderTotals(), directory: "/var/lib/app/read-models",
///                                  source: .observing(store), logger: logger)
/// // run it with the other services
/// let group = ServiceGroup(services: [orders], logger: logger)
/// try await group.run()
///
/// // read your writes
/// let result = try await store.append(event, to: "order-1", expectedVersion: .noStream)
/// try await orders.waitUntil(position: result.position, timeout: .seconds(5))
/// let count = try await orders.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM order_total") }
/// ```
///
/// The runner is Chronicle's one ``ProjectionEngine`` (catch-up, filters, partitions, retries,
/// parking, status, rebuilds) on this read model's files. One process at a time runs a projection:
/// a second process (or a second instance) that runs it waits as a standby, in state
/// ``ProjectionState/standby``, and takes over within ``Options/standbyPollInterval`` after the
/// first stops or dies. Every process can read the model.
///
/// ## Topics
///
/// ### Failures
/// - ``SQLiteReadModel/Options/engine``
/// - ``parkedEvents(after:limit:)``
/// - ``retryParked(at:)``
/// - ``dropParked(at:)``
/// - ``resume()``
///
/// ### Rebuild
/// - ``rebuild()``
///
/// ### Status
/// - ``status()``
/// - ``waitUntil(position:timeout:)``
public actor SQLiteReadModel: Service, ProjectionRunner {
    /// How the runner reads, retries and splits its work: the engine's options (page size, failure
    /// policy, partitioning, filter, start, time and waits, read and written through these too, as
    /// in `options.pageSize = 100`) and the read model's own.
    public struct Options: ProjectionRunnerOptions {
        /// Page size, failure policy, partitioning, filter, start, time and waits (a page and its
        /// checkpoint commit in one transaction).
        public var engine: ProjectionEngine.Options
        /// Reader connections serving ``SQLiteReadModel/read(_:)``.
        public var readerCount: Int
        /// How often a standby (another process runs the projection) checks whether it can take over.
        public var standbyPollInterval: Duration
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
        ///   - readerCount: reader connections serving reads (1…64).
        ///   - standbyPollInterval: how often a standby checks whether it can take over.
        ///   - sleep: waits between retries; inject a fast one in tests.
        ///   - now: the clock stamping parked events.
        ///   - tracer: where the page spans go (`nil`: `InstrumentationSystem.tracer`).
        public init(
            pageSize: Int = 500, failurePolicy: FailurePolicy = .default, partitioning: ProjectionPartitioning = .none,
            filter: ProjectionFilter = .all, start: ProjectionStart = .beginning,
            readerCount: Int = 4, standbyPollInterval: Duration = .milliseconds(500),
            sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
            now: @escaping @Sendable () -> Date = { Date() }, tracer: (any Tracer)? = nil
        ) {
            let engine = ProjectionEngine.Options(
                pageSize: pageSize, failurePolicy: failurePolicy, partitioning: partitioning, filter: filter, start: start, sleep: sleep, now: now
            )
            self.init(engine: engine, readerCount: readerCount, standbyPollInterval: standbyPollInterval, tracer: tracer)
        }

        /// Creates options around the engine's (for example one whose ``Chronicle/ProjectionEngine/Options/environment``
        /// is a simulation's).
        ///
        /// - Parameters:
        ///   - engine: page size, failure policy, partitioning, filter, start, time and waits.
        ///   - readerCount: reader connections serving reads (1…64).
        ///   - standbyPollInterval: how often a standby checks whether it can take over.
        ///   - tracer: where the page spans go (`nil`: `InstrumentationSystem.tracer`).
        public init(engine: ProjectionEngine.Options, readerCount: Int = 4, standbyPollInterval: Duration = .milliseconds(500), tracer: (any Tracer)? = nil) {
            self.engine = engine
            self.readerCount = readerCount
            self.standbyPollInterval = standbyPollInterval
            self.tracer = tracer
        }

        /// The engine's options with the page span (unless the caller set a scope of its own).
        var engineOptions: ProjectionEngine.Options { engine.withPageSpans(tracer: tracer) }
    }

    /// The projection's name (the projector's).
    public nonisolated let name: String
    nonisolated let options: Options
    nonisolated let logger: Logger
    nonisolated let storage: SQLiteReadModelStorage
    /// The engine running the projection on the read model's storage.
    public nonisolated let engine: ProjectionEngine

    /// Opens (or creates) the read model of `projector` in `directory` and runs the projector's
    /// new migrations. Nothing is read from the store until ``run()``.
    ///
    /// - Throws: ``ProjectionError`` — ``ProjectionError/Code/invalidName``,
    ///   ``ProjectionError/Code/invalidConfiguration``, ``ProjectionError/Code/incompatibleReadModel``
    ///   (another projection's file, other partitions), ``ProjectionError/Code/storageFailure``.
    public init(_ projector: some SQLiteProjector, directory: String, source: ProjectionSource, options: Options = Options(), logger: Logger) throws {
        guard (1...100_000).contains(options.pageSize) else {
            throw ProjectionError(.invalidConfiguration, "Page size \(options.pageSize) is out of range; use 1 to 100000.", projection: projector.name)
        }
        guard (1...64).contains(options.readerCount) else {
            throw ProjectionError(.invalidConfiguration, "Reader count \(options.readerCount) is out of range; use 1 to 64.", projection: projector.name)
        }
        self.name = projector.name
        self.options = options
        var logger = logger
        logger[metadataKey: "projection"] = .string(projector.name)
        self.logger = logger
        let storage = try SQLiteReadModelStorage(
            directory: directory, projector: projector, partitions: options.partitioning.count, readerCount: options.readerCount
        )
        self.storage = storage
        let (positions, parked) = try Self.storedProgress(storage.current, partitions: options.partitioning.count, name: projector.name)
        self.engine = try ProjectionEngine(
            name: projector.name, storage: storage, source: source, options: options.engineOptions,
            initialPositions: positions, initialParkedCount: parked, observer: ProjectionLog.observer(logger)
        )
    }

    private static func storedProgress(_ generation: ReadModelGeneration, partitions: Int, name: String) throws -> ([GlobalPosition], Int) {
        do {
            return try generation.pool.read { db in
                (try SQLiteProjectionSchema.checkpoints(db, partitions: partitions), try DeadLetterTable.count(db))
            }
        } catch {
            throw ProjectionError(.storageFailure, "Cannot read the checkpoints of \(name).", projection: name, underlying: error)
        }
    }

    /// The path of the link to the file serving queries (`DIRECTORY/NAME.sqlite`), for tools such as `sqlite3`.
    public nonisolated var path: String {
        (storage.directory as NSString).appendingPathComponent("\(name).sqlite")
    }

    // MARK: Queries

    /// Reads the read model on a reader connection. Reads never wait for the runner's writes, and
    /// always see a complete model: a committed page, and during a rebuild the old model until the
    /// new one is swapped in.
    public nonisolated func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await storage.withCurrent { generation in
            try await generation.pool.read(body)
        }
    }

    /// Copies the serving file's WAL into it and truncates the WAL (`PRAGMA
    /// wal_checkpoint(TRUNCATE)`). Deleted rows are already overwritten in the file (the read
    /// model's connections run with `PRAGMA secure_delete`); after this the WAL holds no older
    /// copy of them either. Call it after the projection applied a ``Chronicle/SubjectForgotten``
    /// event, to prove erasure by scanning the files.
    ///
    /// - Returns: `true` if the WAL was fully checkpointed and truncated, `false` if readers still
    ///   needed older pages (try again).
    @discardableResult
    public nonisolated func checkpoint() async throws -> Bool {
        try await storage.withCurrent { generation in
            try await generation.pool.writeWithoutTransaction { db in
                let row = try Row.fetchOne(db, sql: SQLiteProjectionSQL.checkpointTruncate)
                return (row?[0] as Int64?) == 0
            }
        }
    }

    // MARK: Status

    /// The projection's progress and health.
    public func status() -> ProjectionStatus {
        engine.status()
    }

    // MARK: Running

    /// Runs the projection until graceful shutdown or cancellation: becomes the one runner of the
    /// projection (waiting as a standby while another process runs it), catches up from the
    /// checkpoint, then follows the head. A failure under ``FailurePolicy/Exhausted/stop`` puts it
    /// in state ``ProjectionState/failed`` without ending `run()`; ``resume()`` restarts it.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/alreadyRunning`` when this instance runs already.
    public func run() async throws {
        guard engine.status().state == .stopped else {
            throw ProjectionError(.alreadyRunning, "Projection \(name) is already running in this process; run it once.", projection: name)
        }
        do {
            try await cancelWhenGracefulShutdown {
                try await self.storage.runLock.acquireStandingBy(
                    for: self.engine, interval: self.options.standbyPollInterval, sleep: self.options.sleep, logger: self.logger
                )
                defer { self.storage.runLock.release() }
                try self.storage.tookOver()
                try await self.engine.run()
            }
        } catch is CancellationError {
            // Shut down while standing by.
        }
        engine.setStandby(false)
    }

    /// Restarts a projection stopped by its failure policy, from its checkpoint (after the
    /// projector was fixed, or the failing event dealt with).
    public func resume() {
        engine.resume()
    }

    // MARK: Rebuild

    /// Rebuilds the read model from its start into a fresh file while the current one keeps
    /// serving queries (and, if running, keeps following the log), then swaps the new one in
    /// atomically once it has caught up. Readers see the old complete model or the new complete
    /// one, never a half-built one. Progress shows in ``ProjectionStatus/rebuild``.
    ///
    /// Only the process that runs the projection rebuilds it; a process that does not run it
    /// rebuilds only while no other process does.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/rebuildInProgress`` if one already runs,
    ///   ``ProjectionError/Code/alreadyRunning`` if another process runs the projection (rebuild it
    ///   there, for example through its HTTP API, or stop it first).
    @discardableResult
    public func rebuild() async throws -> RebuildProgress {
        let heldBefore = storage.runLock.isHeld
        if !heldBefore {
            guard try storage.runLock.tryAcquire() else {
                throw ProjectionError(
                    .alreadyRunning,
                    "Projection \(name) is run by another process; rebuild it in that process (its API or admin command), or stop it first.",
                    projection: name
                )
            }
            try storage.tookOver()
        }
        defer { if !heldBefore { storage.runLock.release() } }
        return try await engine.rebuild()
    }
}
