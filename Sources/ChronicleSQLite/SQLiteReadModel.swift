import Chronicle
import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Tracing

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
/// ## Topics
/// - Failures: ``SQLiteReadModel/Options/failurePolicy``, ``parkedEvents(after:limit:)``,
///   ``retryParked(at:)``, ``dropParked(at:)``, ``resume()``
/// - Rebuild: ``rebuild()``
/// - Status: ``status()``, ``waitUntil(position:timeout:)``
public actor SQLiteReadModel: Service {
    /// How the runner reads, retries and splits its work.
    public struct Options: Sendable {
        /// Events read (and applied in one transaction) per page.
        public var pageSize: Int
        /// What to do when applying an event throws.
        public var failurePolicy: FailurePolicy
        /// Split the work by stream into independent partitions, each with its own checkpoint.
        public var partitioning: ProjectionPartitioning
        /// Reader connections serving ``SQLiteReadModel/read(_:)``.
        public var readerCount: Int
        /// Waits between retries. Inject a fast one in tests.
        public var sleep: @Sendable (Duration) async throws -> Void
        /// The clock stamping parked events.
        public var now: @Sendable () -> Date
        /// Where each page's `chronicle.projection.page` span goes; `nil` means
        /// `InstrumentationSystem.tracer` (a no-op unless the application bootstraps one).
        public var tracer: (any Tracer)?

        /// Creates options; the defaults suit most projections.
        public init(
            pageSize: Int = 500, failurePolicy: FailurePolicy = .default, partitioning: ProjectionPartitioning = .none,
            readerCount: Int = 4, sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
            now: @escaping @Sendable () -> Date = { Date() }, tracer: (any Tracer)? = nil
        ) {
            self.tracer = tracer
            self.pageSize = pageSize
            self.failurePolicy = failurePolicy
            self.partitioning = partitioning
            self.readerCount = readerCount
            self.sleep = sleep
            self.now = now
        }
    }

    /// The projection's name (the projector's).
    public nonisolated let name: String
    nonisolated let projector: any SQLiteProjector
    nonisolated let source: ProjectionSource
    nonisolated let options: Options
    nonisolated let logger: Logger
    nonisolated let storage: SQLiteReadModelStorage
    /// The checkpoint of the generation serving queries (lowest partition).
    nonisolated let checkpoint: ProjectionPositionSignal
    /// The store head as last seen.
    nonisolated let head: ProjectionPositionSignal

    var isRunning = false
    var caughtUp: [Bool]
    var failure: ProjectionError?
    var lastError: String?
    var rebuildProgress: RebuildProgress?
    var isRebuilding = false
    var resumeContinuation: AsyncStream<Void>.Continuation?

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
        self.name = projector.name
        self.projector = projector
        self.source = source
        self.options = options
        var logger = logger
        logger[metadataKey: "projection"] = .string(projector.name)
        self.logger = logger
        self.storage = try SQLiteReadModelStorage(directory: directory, projector: projector, partitions: options.partitioning.count, readerCount: options.readerCount)
        let current = storage.current
        self.checkpoint = ProjectionPositionSignal(current.minimumPosition)
        self.head = ProjectionPositionSignal(current.positions.max() ?? .start)
        self.caughtUp = Array(repeating: false, count: options.partitioning.count)
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

    // MARK: Status

    /// The projection's progress and health.
    public func status() -> ProjectionStatus {
        let current = storage.current
        let positions = current.positions
        let position = positions.min() ?? .start
        let state: ProjectionState =
            if failure != nil { .failed } else if isRebuilding { .rebuilding } else if !isRunning { .stopped } else if caughtUp.allSatisfy({ $0 }) { .running } else { .catchingUp }
        return ProjectionStatus(
            name: name, state: state, position: position, head: max(head.value, position), partitionCount: positions.count,
            partitionPositions: positions, parkedCount: current.parkedCount, lastError: lastError, rebuild: rebuildProgress
        )
    }

    /// Returns once every event up to `position` has been applied to the model serving queries
    /// (read your writes: pass an append's ``AppendResult/position``). Wakes on checkpoint commits.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/timeout`` if that takes longer than
    ///   `timeout`, ``ProjectionError/Code/failed`` if the projection stopped on a failure first.
    public nonisolated func waitUntil(position: GlobalPosition, timeout: Duration) async throws {
        try await checkpoint.wait(until: position, timeout: timeout, projection: name)
    }

    // MARK: Running

    /// Runs the projection until graceful shutdown or cancellation: catches up from the
    /// checkpoint, then follows the head. A failure under ``FailurePolicy/Exhausted/stop`` puts it
    /// in state ``ProjectionState/failed`` without ending `run()`; ``resume()`` restarts it.
    public func run() async throws {
        guard !isRunning else {
            throw ProjectionError(.invalidConfiguration, "Projection \(name) is already running.", projection: name)
        }
        isRunning = true
        let (resumes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        resumeContinuation = continuation
        defer {
            isRunning = false
            resumeContinuation = nil
            continuation.finish()
        }
        logger.info("Projection starting", metadata: ["position": "\(checkpoint.value)"])
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        await self.followHead()
                        return false
                    }
                    group.addTask {
                        try await self.runPartitions(resumes: resumes)
                        return true
                    }
                    defer { group.cancelAll() }
                    // The partitions decide when the run ends; the head follower may end earlier
                    // (the store finished its notifier) without ending the run.
                    while let partitionsEnded = try await group.next() {
                        if partitionsEnded { return }
                    }
                }
            }
        } catch is CancellationError {
            // Shutdown: every committed page is complete; the page in flight was rolled back.
        }
        logger.info("Projection stopped", metadata: ["position": "\(checkpoint.value)"])
    }

    /// Restarts a projection stopped by its failure policy, from its checkpoint (after the
    /// projector was fixed, or the failing event dealt with).
    public func resume() {
        guard failure != nil else { return }
        resumeContinuation?.yield()
    }

    private nonisolated func followHead() async {
        if let position = try? await source.reader.headPosition() { head.advance(to: position) }
        for await position in source.headUpdates() {
            head.advance(to: position)
        }
    }

    private nonisolated func runPartitions(resumes: AsyncStream<Void>) async throws {
        var resumeRequests = resumes.makeAsyncIterator()
        while true {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for partition in 0..<options.partitioning.count {
                        group.addTask { try await self.follow(partition: partition) }
                    }
                    try await group.waitForAll()
                }
                return
            } catch let error as ProjectionError where error.code == .failed {
                await setFailure(error)
                guard await resumeRequests.next() != nil else { throw CancellationError() }
                await setFailure(nil)
                logger.info("Projection resuming")
            }
        }
    }

    /// One partition's loop: apply pages, then wait for the head to move.
    private nonisolated func follow(partition: Int) async throws {
        var transientFailures = 0
        while true {
            try Task.checkCancellation()
            do {
                let changesSeen = storage.changes.value
                let outcome = try await storage.withCurrent { generation in
                    try await self.step(generation, partition: partition)
                }
                transientFailures = 0
                switch outcome {
                case .caughtUp(let position):
                    await setCaughtUp(partition, true)
                    try await head.wait(until: position.next)
                    await setCaughtUp(partition, false)
                case .progressed:
                    continue
                case .generationReplaced:
                    // Swapped (go on with the new one) or frozen by a finishing rebuild (wait).
                    try await storage.changes.wait(until: changesSeen.next)
                }
            } catch let error as ProjectionError where error.code == .failed {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // Stores may wrap a cancellation in their own error: shutting down is no failure.
                if Task.isCancelled { throw CancellationError() }
                // Reading the store or writing the read model failed (not the projector):
                // back off and try the same page again.
                transientFailures += 1
                let delay = options.failurePolicy.delay(afterAttempt: transientFailures)
                logger.warning("Projection page failed; retrying", metadata: ["error": "\(error)", "retryIn": "\(delay)"])
                await recordError("\(error)")
                try await options.sleep(delay)
            }
        }
    }

    func setCaughtUp(_ partition: Int, _ value: Bool) {
        caughtUp[partition] = value
    }

    func setFailure(_ error: ProjectionError?) {
        failure = error
        if let error {
            lastError = error.description
            checkpoint.fail(error)
            logger.error("Projection stopped by its failure policy", metadata: ["error": "\(error)"])
        } else {
            checkpoint.clearFailure()
        }
    }

    func recordError(_ text: String) {
        lastError = text
    }

    /// Publishes the serving generation's checkpoint to waiters.
    nonisolated func publish(_ generation: ReadModelGeneration) {
        if generation === storage.current {
            checkpoint.advance(to: generation.minimumPosition)
        }
    }
}
