public import Foundation
import Synchronization

/// The one projection engine: follows the log from a checkpoint and keeps a projection's
/// storage up to date, for every backend and every kind of consumer.
///
/// It catches up from the checkpoint in pages (``LogSubscription``), then follows the head; each
/// page is filtered (``ProjectionFilter``), split by partition, and handed to the
/// ``ProjectionStorage``, which applies it and moves the checkpoint together. When an event
/// throws, the events before it are committed, the event is retried alone with the
/// ``FailurePolicy``'s backoff, then parked (the engine goes on) or the projection stops in state
/// ``ProjectionState/failed`` until ``resume()``. Storage failures are retried with the same
/// backoff and never park anything. Status, read-your-writes waits, parked-event administration
/// and blue/green rebuilds are the engine's too, so every backend has them.
///
/// Backends wrap it: `SQLiteReadModel`, `SQLiteProcessManager`, `PostgresReadModel`.
///
/// ```swift
/// let engine = try ProjectionEngine(name: "orders", storage: myStorage, source: .observing(store))
/// let running = Task { try await engine.run() }
/// try await engine.waitUntil(position: appended.position, timeout: .seconds(5))
/// print(engine.status())
/// ```
public final class ProjectionEngine: Sendable {
    /// How the engine reads, filters, retries and splits its work.
    public struct Options: Sendable {
        /// Events read per page (1…100,000); a page is applied in one commit.
        public var pageSize: Int
        /// What to do when applying an event throws.
        public var failurePolicy: FailurePolicy
        /// Split the work by stream into independent partitions, each with its own checkpoint.
        public var partitioning: ProjectionPartitioning
        /// Which events reach the projection (the checkpoint moves past the others).
        public var filter: ProjectionFilter
        /// Where a projection that has never run starts.
        public var start: ProjectionStart
        /// Time, waits, randomness and the executor of the tasks the engine starts: ``RuntimeEnvironment/live``
        /// in production, a virtual clock and a seeded scheduler under ChronicleTesting's simulator.
        public var environment: RuntimeEnvironment
        /// A bug planted on purpose, for the simulator's proof that it finds bugs (never set in production).
        package var plantedFault: PlantedFault?
        /// The circuit breaker state ``ProjectionEngine/status()`` reports, for runners that call
        /// an endpoint (an outbound relay); `nil` for the others.
        public var circuit: (@Sendable () -> CircuitStatus?)?
        /// What each page's commit runs inside (a tracing span); `nil`: the commit alone.
        public var pageScope: ProjectionPageScope?

        /// The wait between retries (backoff), when set apart from the ``environment``'s sleep.
        private var backoffSleep: (@Sendable (Duration) async throws -> Void)?

        /// Waits between retries: the ``environment``'s sleep unless set. Setting it changes the
        /// backoff only (`waitUntil` timeouts keep the environment's clock), so a test can inject a
        /// fast one without cutting its waits short.
        public var sleep: @Sendable (Duration) async throws -> Void {
            get { backoffSleep ?? environment.sleep }
            set { backoffSleep = newValue }
        }
        /// The clock stamping parked events and rebuild progress (the ``environment``'s).
        public var now: @Sendable () -> Date {
            get { environment.now }
            set { environment.now = newValue }
        }

        /// Creates options; the defaults suit most projections.
        ///
        /// - Parameters:
        ///   - pageSize: events read per page (1…100,000).
        ///   - failurePolicy: what to do when applying an event throws.
        ///   - partitioning: independent partitions by stream.
        ///   - filter: which events reach the projection.
        ///   - start: where a projection that has never run starts.
        ///   - sleep: the wait between retries (`waitUntil` timeouts use `Task.sleep`).
        ///   - now: the wall clock.
        ///   - circuit: the circuit breaker state status reports, if the runner calls an endpoint.
        public init(
            pageSize: Int = 500, failurePolicy: FailurePolicy = .default, partitioning: ProjectionPartitioning = .none,
            filter: ProjectionFilter = .all, start: ProjectionStart = .beginning,
            sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
            now: @escaping @Sendable () -> Date = { Date() },
            circuit: (@Sendable () -> CircuitStatus?)? = nil
        ) {
            var environment = RuntimeEnvironment.live
            environment.now = now
            self.init(pageSize: pageSize, failurePolicy: failurePolicy, partitioning: partitioning, filter: filter, start: start, environment: environment)
            self.backoffSleep = sleep
            self.circuit = circuit
        }

        /// Creates options that take time, waits and scheduling from `environment`.
        ///
        /// - Parameters:
        ///   - pageSize: events read per page (1…100,000).
        ///   - failurePolicy: what to do when applying an event throws.
        ///   - partitioning: independent partitions by stream.
        ///   - filter: which events reach the projection.
        ///   - start: where a projection that has never run starts.
        ///   - environment: time, waits, randomness and task executor.
        public init(
            pageSize: Int = 500, failurePolicy: FailurePolicy = .default, partitioning: ProjectionPartitioning = .none,
            filter: ProjectionFilter = .all, start: ProjectionStart = .beginning, environment: RuntimeEnvironment
        ) {
            self.pageSize = pageSize
            self.failurePolicy = failurePolicy
            self.partitioning = partitioning
            self.filter = filter
            self.start = start
            self.environment = environment
        }
    }

    /// Bugs the simulator's own tests plant in the engine to measure how many seeds it takes to
    /// find each (Docs/Testing.md). Package access: no user can set one.
    package enum PlantedFault: Sendable, Hashable {
        /// The events before a failing event are committed with the checkpoint *at* the failing
        /// event instead of just before it.
        case offByOneCheckpoint
        /// At the head, the runner waits for a head beyond the highest one announced instead of
        /// beyond its checkpoint: an announcement that came while it read a page is lost.
        case lostWakeUp
        /// A failed event's retry commits the events before it, already committed, again.
        case retryReappliesSucceededEvents
        /// A partition stopped by the stop policy waits for the other partitions to end (they
        /// never do), so the projection is not reported failed and cannot be resumed.
        case stopWaitsForOtherPartitions
    }

    /// What the engine reports as it works, for logs and metrics (its own module has no logger).
    public enum Notice: Sendable {
        /// `run()` started (or a standby took over) at this checkpoint.
        case started(GlobalPosition)
        /// `run()` ended at this checkpoint.
        case stopped(GlobalPosition)
        /// Reading the log or committing a page failed (not the projection's code); retried after the delay.
        case pageFailed(error: String, retryIn: Duration)
        /// Applying an event threw (first failure; retries follow).
        case eventFailed(RecordedEvent, error: String)
        /// An event that had failed was applied on a later try.
        case appliedOnRetry(RecordedEvent, attempts: Int)
        /// An event was parked after `attempts` tries.
        case parked(RecordedEvent, attempts: Int, error: String)
        /// The projection stopped under its failure policy.
        case failed(ProjectionError)
        /// A stopped projection was resumed.
        case resumed
        /// The stored checkpoint was not where this runner expected; it went on from the stored one.
        case checkpointMoved(partition: Int, stored: GlobalPosition?)
        /// A parked event was applied on request and removed.
        case parkedApplied(GlobalPosition)
        /// A parked event was dropped on request.
        case parkedDropped(GlobalPosition)
        /// A rebuild started; it builds a fresh copy up to about this head.
        case rebuildStarted(head: GlobalPosition)
        /// A rebuild swapped its copy in at this checkpoint.
        case rebuildSwapped(GlobalPosition)
        /// A rebuild failed; the serving copy stays.
        case rebuildFailed(String)
    }

    private struct State {
        var running = false
        var standby = false
        var loaded = false
        var caughtUp: [Bool]
        var positions: [GlobalPosition]
        var parkedCount = 0
        var failure: ProjectionError?
        var lastError: String?
        var rebuilding = false
        var rebuild: RebuildProgress?
        var resume: AsyncStream<Void>.Continuation?
    }

    /// The projection's name.
    public let name: String
    /// Where its effects and checkpoints go.
    public let storage: any ProjectionStorage
    /// Where it reads the log and hears of new heads.
    public let source: ProjectionSource
    /// Its options.
    public let options: Options
    private let observer: @Sendable (Notice) -> Void
    private let heads: HeadTracker
    /// The lowest partition checkpoint of the serving copy, for read-your-writes waiters.
    package let checkpoint: PositionSignal
    private let state: Mutex<State>

    /// Creates an engine; nothing is read until ``run()``.
    ///
    /// - Parameters:
    ///   - name: the projection's name (status, logs, metrics).
    ///   - storage: where its effects and checkpoints go.
    ///   - source: where it reads the log and hears of new heads.
    ///   - options: partitions, page size, failure policy, start…
    ///   - initialPositions: the checkpoints the storage already reported, if known (status before
    ///     the first run shows them).
    ///   - initialParkedCount: the parked events the storage already holds, for status before the
    ///     first run.
    ///   - observer: receives ``Notice``s (log them); called on the engine's tasks, keep it quick.
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/invalidConfiguration`` for a page size out of range.
    public init(
        name: String, storage: any ProjectionStorage, source: ProjectionSource, options: Options = Options(),
        initialPositions: [GlobalPosition]? = nil, initialParkedCount: Int = 0,
        observer: @escaping @Sendable (Notice) -> Void = { _ in }
    ) throws(ProjectionError) {
        do {
            try LogSubscription.validate(pageSize: options.pageSize)
        } catch {
            throw ProjectionError(.invalidConfiguration, error.message, projection: name)
        }
        self.name = name
        self.storage = storage
        self.source = source
        self.options = options
        self.observer = observer
        self.heads = HeadTracker(source: source, losesWakeUps: options.plantedFault == .lostWakeUp)
        let count = options.partitioning.count
        let positions = initialPositions.flatMap { $0.count == count ? $0 : nil } ?? Array(repeating: .start, count: count)
        self.checkpoint = PositionSignal(positions.min() ?? .start)
        heads.saw(positions.max() ?? .start)
        self.state = Mutex(State(caughtUp: Array(repeating: false, count: count), positions: positions, parkedCount: initialParkedCount))
    }

    // MARK: Status

    /// The projection's progress and health.
    public func status() -> ProjectionStatus {
        let circuit = options.circuit?()
        return state.withLock { state in
            let position = state.positions.min() ?? .start
            let projectionState: ProjectionState =
                if state.failure != nil { .failed } else if state.rebuilding { .rebuilding } else if state.standby { .standby } else if !state.running { .stopped } else if state.caughtUp.allSatisfy({ $0 }) { .running } else { .catchingUp }
            return ProjectionStatus(
                name: name, state: projectionState, position: position, head: max(heads.head, position),
                partitionCount: state.positions.count, partitionPositions: state.positions, parkedCount: state.parkedCount,
                lastError: state.lastError, rebuild: state.rebuild, circuit: circuit
            )
        }
    }

    /// Returns once every event up to `position` has been applied (or parked) in the serving copy
    /// (read your writes: pass an append's ``AppendResult/position``). Wakes on commits, no polling.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/timeout`` after `timeout`,
    ///   ``ProjectionError/Code/failed`` if the projection is stopped by its failure policy.
    public func waitUntil(position: GlobalPosition, timeout: Duration) async throws {
        try await checkpoint.wait(until: position, timeout: timeout, projection: name, sleep: options.environment.sleep)
    }

    /// Marks the projection as waiting for another process that runs it (see the backends' leases).
    public func setStandby(_ standby: Bool) {
        state.withLock { $0.standby = standby }
    }

    /// Reads the checkpoints and parked count from the storage again (after another process ran
    /// the projection, or a swap).
    public func reload() async throws {
        try await readStoredProgress(onlyIfIdle: false)
    }

    /// Reads the checkpoints and parked count from the storage again, for an instance that
    /// stands by while another process runs the projection (its status and `waitUntil` follow
    /// the runner's). Unlike ``reload()``, what it read is dropped when this instance started
    /// running meanwhile: a read from before the run's first commits would move its positions
    /// back under it.
    public func refreshWhileIdle() async throws {
        try await readStoredProgress(onlyIfIdle: true)
    }

    /// Replaces the in-memory positions and parked count with the stored ones; with `onlyIfIdle`,
    /// only if this instance is not running by the time the read returns.
    private func readStoredProgress(onlyIfIdle: Bool) async throws {
        let count = options.partitioning.count
        let stored = try await storage.checkpoints(partitions: count) ?? Array(repeating: .start, count: count)
        let parked = try await storage.parkedCount()
        let applied: Bool = state.withLock { state in
            if onlyIfIdle && state.running { return false }
            state.positions = stored
            state.parkedCount = parked
            return true
        }
        guard applied else { return }
        checkpoint.advance(to: stored.min() ?? .start)
        heads.saw(stored.max() ?? .start)
    }

    // MARK: Running

    /// Runs the projection until the task is cancelled: catches up from the checkpoint, then
    /// follows the head. A failure under ``FailurePolicy/Exhausted/stop`` puts it in state
    /// ``ProjectionState/failed`` without ending `run()`; ``resume()`` restarts it at that event.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/alreadyRunning`` when it runs already.
    public func run() async throws {
        let (resumes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let alreadyRunning: Bool = state.withLock { state in
            if state.running { return true }
            state.running = true
            state.standby = false
            state.resume = continuation
            return false
        }
        if alreadyRunning {
            throw ProjectionError(.alreadyRunning, "Projection \(name) is already running in this process; run it once.", projection: name)
        }
        defer {
            state.withLock { state in
                state.running = false
                state.resume = nil
                state.caughtUp = state.caughtUp.map { _ in false }
            }
            continuation.finish()
        }
        var resumeRequests = resumes.makeAsyncIterator()
        do {
            while true {
                do {
                    try await load()
                    break
                } catch let error as ProjectionError where error.code == .checkpointAheadOfLog {
                    // Never skip what a restored log appends next: stop until told to look again.
                    try await stopUntilResumed(error, &resumeRequests)
                }
            }
            observer(.started(checkpoint.value))
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The partitions decide when the run ends; the head follower may end earlier
                // (the store finished its notifier) without ending it.
                group.addTask { await self.heads.follow() }
                defer { group.cancelAll() }
                try await self.runPartitions(resumes: &resumeRequests)
            }
        } catch is CancellationError {
            // Shutdown: every committed page is complete; the one in flight was rolled back.
        } catch let error as ProjectionError where error.code == .closed {
            // The store closed under a running projection: idle until the owner stops us.
            await Self.waitForCancellation()
        }
        observer(.stopped(checkpoint.value))
    }

    /// Restarts a projection stopped by its failure policy, at the event that failed.
    /// The failure is cleared at once, so a `waitUntil` that follows `resume()` waits for the
    /// projection instead of seeing the failure it is recovering from.
    public func resume() {
        let continuation: AsyncStream<Void>.Continuation? = state.withLock { state in
            guard state.failure != nil, let resume = state.resume else { return nil }
            state.failure = nil
            return resume
        }
        guard let continuation else { return }
        checkpoint.clearFailure()
        continuation.yield()
    }

    /// Loads (or initializes) the checkpoints, retrying storage failures with backoff.
    private func load() async throws {
        var failures = 0
        while true {
            try Task.checkCancellation()
            do {
                let count = options.partitioning.count
                if try await storage.checkpoints(partitions: count) == nil {
                    try await storage.initialize(partitions: count, at: try await resolveStart())
                }
                try await reload()
                let head = try await source.reader.headPosition()
                let furthest = state.withLock { $0.positions.max() } ?? .start
                if furthest > head {
                    throw ProjectionError(
                        .checkpointAheadOfLog,
                        "Projection \(name) has applied events up to position \(furthest), but the log it reads ends at \(head): the store was restored from an older backup, or this is another store's projection. It stops so it cannot skip the events appended next; delete its files (or reset its checkpoint) to replay the log, then restart or resume it.",
                        projection: name, position: furthest
                    )
                }
                return
            } catch let error as ProjectionError where error.code == .incompatibleReadModel || error.code == .invalidConfiguration || error.code == .checkpointAheadOfLog {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                failures += 1
                try await backOff(after: failures, error: error)
            }
        }
    }

    private func resolveStart() async throws -> GlobalPosition {
        switch options.start {
        case .beginning: return .start
        case .after(let position): return position
        case .now: return try await source.reader.headPosition()
        }
    }

    /// Puts the projection in state `failed` with `error` until ``resume()`` (or cancellation).
    private func stopUntilResumed(_ error: ProjectionError, _ resumeRequests: inout AsyncStream<Void>.Iterator) async throws {
        state.withLock { state in
            state.failure = error
            state.lastError = error.description
        }
        checkpoint.fail(error)
        observer(.failed(error))
        guard await resumeRequests.next() != nil else { throw CancellationError() }
        state.withLock { $0.failure = nil }
        checkpoint.clearFailure()
        observer(.resumed)
    }

    private func runPartitions(resumes resumeRequests: inout AsyncStream<Void>.Iterator) async throws {
        while true {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for partition in 0..<options.partitioning.count {
                        group.addTask { try await self.follow(partition: partition) }
                    }
                    // `next()`, not `waitForAll()`: the first partition that fails ends the group
                    // (and cancels the others) at once; `waitForAll()` would wait for partitions
                    // that follow the head forever, so a stopped partition never put the
                    // projection in state `failed` (found by the stop-policy simulation).
                    if options.plantedFault == .stopWaitsForOtherPartitions {
                        try await group.waitForAll()
                    } else {
                        while try await group.next() != nil {}
                    }
                }
                return
            } catch let error as ProjectionError where error.code == .failed {
                try await stopUntilResumed(error, &resumeRequests)
            }
        }
    }

    /// One partition: pages from its checkpoint, applied, until cancelled.
    private func follow(partition: Int) async throws {
        var failures = 0
        while true {
            try Task.checkCancellation()
            do {
                let from = state.withLock { $0.positions[partition] }
                let pages = LogSubscription(
                    reader: source.reader, heads: heads, after: from, filter: options.filter, pageSize: options.pageSize,
                    atHead: { [weak self] in self?.setCaughtUp(partition, true) }
                )
                var position = from
                for try await page in pages {
                    setCaughtUp(partition, false)
                    heads.saw(page.through)
                    try await apply(partitionEvents(page.events, partition), partition: partition, from: position, to: page.through, into: storage, serving: true)
                    position = page.through
                    failures = 0
                }
                // The subscription ended: cancelled, or the source closed.
                try Task.checkCancellation()
                throw ProjectionError(.closed, "The store's head updates ended (the store was closed).", projection: name)
            } catch let error as ProjectionError where error.code == .failed || error.code == .closed {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch let conflict as ProjectionCheckpointConflict {
                observer(.checkpointMoved(partition: partition, stored: conflict.stored))
                try await reloadAfterConflict()
            } catch {
                if Task.isCancelled { throw CancellationError() }
                failures += 1
                try await backOff(after: failures, error: error)
            }
        }
    }

    private func reloadAfterConflict() async throws {
        do {
            try await reload()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            try await backOff(after: 1, error: error)
        }
    }

    private func backOff(after failures: Int, error: any Error) async throws {
        let delay = options.failurePolicy.delay(afterAttempt: failures)
        state.withLock { $0.lastError = "\(error)" }
        observer(.pageFailed(error: "\(error)", retryIn: delay))
        try await options.sleep(delay)
    }

    private func setCaughtUp(_ partition: Int, _ value: Bool) {
        state.withLock { $0.caughtUp[partition] = value }
    }

    private func partitionEvents(_ events: [RecordedEvent], _ partition: Int) -> [RecordedEvent] {
        let partitioning = options.partitioning
        return partitioning.count == 1 ? events : events.filter { partitioning.partition(of: $0.streamID) == partition }
    }

    /// Records a committed checkpoint of the serving copy and wakes read-your-writes waiters.
    private func committed(_ position: GlobalPosition, partition: Int, parkedCount: Int? = nil) {
        let minimum: GlobalPosition = state.withLock { state in
            state.positions[partition] = max(state.positions[partition], position)
            if let parkedCount { state.parkedCount = parkedCount }
            return state.positions.min() ?? .start
        }
        checkpoint.advance(to: minimum)
    }

    /// One ``ProjectionStorage/commit(_:partition:from:to:)``, inside the ``Options/pageScope`` if set.
    private func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition, into storage: any ProjectionStorage) async throws {
        guard let scope = options.pageScope else {
            return try await storage.commit(events, partition: partition, from: from, to: to)
        }
        let page = ProjectionPageScope.Page(projection: name, partition: partition, after: from, position: to, eventCount: events.count)
        try await scope.around(page) { try await storage.commit(events, partition: partition, from: from, to: to) }
    }

    /// Commits `events` with the checkpoint moving `from` → `to`; on a failing event, commits the
    /// events before it, retries or parks it (or stops), then commits the rest.
    private func apply(
        _ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition, into storage: any ProjectionStorage, serving: Bool
    ) async throws {
        var from = from
        var remaining = events[...]
        while true {
            guard !remaining.isEmpty || to > from else { return }
            do {
                try await commit(Array(remaining), partition: partition, from: from, to: to, into: storage)
                if serving { committed(to, partition: partition) }
                return
            } catch let failure as ProjectionApplyFailure {
                let failedIndex = remaining.startIndex + failure.index
                guard remaining.indices.contains(failedIndex) else { throw failure.error }
                let failed = remaining[failedIndex]
                let before = GlobalPosition(failed.position.value - 1)
                if let reached = failure.committedThrough {
                    from = reached
                    if serving { committed(reached, partition: partition) }
                }
                let prefix = remaining[..<failedIndex].filter { $0.position > from }
                let prefixEnd = options.plantedFault == .offByOneCheckpoint && !prefix.isEmpty ? failed.position : max(before, from)
                try await apply(prefix, partition: partition, from: from, to: prefixEnd, into: storage, serving: serving)
                from = max(before, from)
                try await retryOrPark(
                    failed, firstError: failure.error, partition: partition, from: from, into: storage, serving: serving,
                    reapplying: options.plantedFault == .retryReappliesSucceededEvents ? prefix : []
                )
                from = failed.position
                remaining = remaining[(failedIndex + 1)...]
            }
        }
    }

    /// Retries `event` alone with backoff; then parks it, or throws ``ProjectionError/Code/failed``.
    private func retryOrPark(
        _ event: RecordedEvent, firstError: any Error, partition: Int, from before: GlobalPosition, into storage: any ProjectionStorage, serving: Bool,
        reapplying planted: [RecordedEvent] = []
    ) async throws {
        let policy = options.failurePolicy
        var attempts = 1
        var lastError = firstError
        observer(.eventFailed(event, error: "\(firstError)"))
        state.withLock { $0.lastError = "Event at position \(event.position) (\(event.type)) failed: \(firstError)" }
        while attempts < policy.maxAttempts {
            try await options.sleep(policy.delay(afterAttempt: attempts))
            attempts += 1
            do {
                try await commit(planted + [event], partition: partition, from: before, to: event.position, into: storage)
                if serving { committed(event.position, partition: partition) }
                observer(.appliedOnRetry(event, attempts: attempts))
                return
            } catch let failure as ProjectionApplyFailure {
                lastError = failure.error
            }
        }
        let description = "\(lastError)"
        switch policy.whenExhausted {
        case .park:
            let count = try await storage.park(event, partition: partition, error: description, attempts: attempts, at: options.now(), from: before)
            if serving { committed(event.position, partition: partition, parkedCount: count) }
            observer(.parked(event, attempts: attempts, error: description))
            state.withLock { $0.lastError = "Event at position \(event.position) (\(event.type)) parked after \(attempts) attempts: \(description)" }
        case .stop:
            throw ProjectionError(
                .failed,
                "Projection \(name) stopped: applying event \(event.id) (\(event.type), \(event.streamID)) at position \(event.position) failed \(attempts) time(s): \(description)",
                projection: name, position: event.position, underlying: lastError
            )
        }
    }

    private static func waitForCancellation() async {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        await withTaskCancellationHandler {
            for await _ in stream {}
        } onCancel: {
            continuation.finish()
        }
    }

    // MARK: Parked events

    /// Lists parked events in position order, `limit` at a time after `position`.
    public func parkedEvents(after position: GlobalPosition = .start, limit: Int = 100) async throws -> [ParkedEvent] {
        guard limit >= 0 else {
            throw ProjectionError(.invalidConfiguration, "A limit of \(limit) is negative.", projection: name)
        }
        return try await storage.parkedEvents(after: position, limit: limit)
    }

    /// Applies the parked event at `position` again (after a fix); on success it is removed, in the
    /// same commit as its effect.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound``, or
    ///   ``ProjectionError/Code/applyFailed`` when it fails again (it stays parked, attempts + 1).
    public func retryParked(at position: GlobalPosition) async throws {
        guard let parked = try await storage.parkedEvent(at: position) else {
            throw ProjectionError(.parkedEventNotFound, "Projection \(name) has no parked event at position \(position).", projection: name, position: position)
        }
        let events = try await source.reader.readAll(after: GlobalPosition(max(0, position.value - 1)), limit: 1)
        guard let event = events.first, event.position == position, event.id == parked.eventID else {
            throw ProjectionError(.parkedEventNotFound, "The event parked at position \(position) is no longer in the store; drop it.", projection: name, position: position)
        }
        do {
            let count = try await storage.applyParked(event)
            state.withLock { $0.parkedCount = count }
            observer(.parkedApplied(position))
        } catch let failure as ProjectionApplyFailure {
            let text = "\(failure.error)"
            try await storage.recordParkedFailure(at: position, error: text, at: options.now())
            throw ProjectionError(.applyFailed, "Parked event at position \(position) failed again: \(text)", projection: name, position: position, underlying: failure.error)
        }
    }

    /// Retries every parked event in position order. Returns the positions still parked.
    @discardableResult
    public func retryAllParked() async throws -> [GlobalPosition] {
        var stillParked: [GlobalPosition] = []
        var after = GlobalPosition.start
        while true {
            let batch = try await parkedEvents(after: after, limit: 100)
            guard let last = batch.last else { return stillParked }
            for parked in batch {
                do {
                    try await retryParked(at: parked.position)
                } catch let error as ProjectionError where error.code == .applyFailed {
                    stillParked.append(parked.position)
                }
            }
            after = last.position
        }
    }

    /// Removes the parked event at `position` for good (its effect is never applied).
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound``.
    public func dropParked(at position: GlobalPosition) async throws {
        guard let remaining = try await storage.dropParked(at: position) else {
            throw ProjectionError(.parkedEventNotFound, "Projection \(name) has no parked event at position \(position).", projection: name, position: position)
        }
        state.withLock { $0.parkedCount = remaining }
        observer(.parkedDropped(position))
    }

    // MARK: Rebuild

    /// Rebuilds the projection from its start into a fresh copy while the serving one keeps
    /// serving (and, if running, following the log), then swaps the copy in atomically once it
    /// has caught up. Readers see the old complete model or the new complete one, never a
    /// half-built one. Progress shows in ``ProjectionStatus/rebuild``.
    ///
    /// If the rebuild fails (an event fails under ``FailurePolicy/Exhausted/stop``, storage fails,
    /// the task is cancelled), the copy is deleted and the serving model stays as it was.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/rebuildInProgress`` if one already
    ///   runs, ``ProjectionError/Code/invalidConfiguration`` if the storage cannot rebuild.
    @discardableResult
    public func rebuild() async throws -> RebuildProgress {
        guard let rebuildable = storage as? any RebuildableProjectionStorage else {
            throw ProjectionError(.invalidConfiguration, "The storage of projection \(name) cannot rebuild beside the serving copy.", projection: name)
        }
        let startedAt = options.now()
        let alreadyRebuilding: Bool = state.withLock { state in
            if state.rebuilding { return true }
            state.rebuilding = true
            return false
        }
        if alreadyRebuilding {
            throw ProjectionError(.rebuildInProgress, "Projection \(name) is already rebuilding.", projection: name)
        }
        defer { state.withLock { $0.rebuilding = false } }
        if let head = try? await source.reader.headPosition() { heads.saw(head) }
        let clockStart = ContinuousClock.now
        state.withLock { $0.rebuild = RebuildProgress(eventsDone: 0, eventsTotal: heads.head.value, eventsPerSecond: 0, startedAt: startedAt) }
        observer(.rebuildStarted(head: heads.head))
        let target = try await rebuildable.makeRebuildTarget()
        let count = options.partitioning.count
        var built: [GlobalPosition] = []
        do {
            let start = try await storage.startPosition()
            try await target.initialize(partitions: count, at: start)
            built = Array(repeating: start, count: count)
            // Chase the serving copy while it goes on; then freeze it, catch up exactly, swap.
            var goal = Array(repeating: max(heads.head, state.withLock { $0.positions.max() } ?? .start), count: count)
            for _ in 0..<20 {
                try await catchUp(target, positions: &built, to: goal, clockStart: clockStart)
                goal = state.withLock { $0.positions }
                let gap = zip(goal, built).map { $0.value - $1.value }.max() ?? 0
                if gap <= Int64(options.pageSize) { break }
            }
            while true {
                let frozen = try await rebuildable.freeze(partitions: count)
                try await catchUp(target, positions: &built, to: frozen, clockStart: clockStart)
                if try await rebuildable.swap(to: target) { break }
            }
        } catch {
            await rebuildable.discard(target)
            state.withLock { $0.lastError = "Rebuild failed: \(error)" }
            observer(.rebuildFailed("\(error)"))
            throw error
        }
        try await reload()
        let done = state.withLock { $0.positions.min() ?? .start }
        updateRebuildProgress(done: done, clockStart: clockStart)
        let progress: RebuildProgress = state.withLock { state in
            state.rebuild?.finishedAt = options.now()
            return state.rebuild!
        }
        observer(.rebuildSwapped(done))
        if status().state == .failed { resume() }
        return progress
    }

    /// Applies pages to `target` until every partition is at or past `goal` (or the head).
    private func catchUp(_ target: any ProjectionStorage, positions: inout [GlobalPosition], to goal: [GlobalPosition], clockStart: ContinuousClock.Instant) async throws {
        for partition in 0..<positions.count where positions[partition] < goal[partition] {
            let pages = LogSubscription(reader: source.reader, heads: nil, after: positions[partition], filter: options.filter, pageSize: options.pageSize, atHead: nil)
            for try await page in pages {
                try Task.checkCancellation()
                try await apply(partitionEvents(page.events, partition), partition: partition, from: positions[partition], to: page.through, into: target, serving: false)
                positions[partition] = page.through
                updateRebuildProgress(done: positions.min() ?? .start, clockStart: clockStart)
                if page.through >= goal[partition] { break }
            }
        }
        updateRebuildProgress(done: positions.min() ?? .start, clockStart: clockStart)
    }

    private func updateRebuildProgress(done: GlobalPosition, clockStart: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - clockStart
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let head = heads.head
        state.withLock { state in
            guard var progress = state.rebuild else { return }
            progress.eventsDone = done.value
            progress.eventsTotal = max(head.value, done.value)
            progress.eventsPerSecond = seconds > 0 ? Double(done.value) / seconds : 0
            state.rebuild = progress
        }
    }
}

extension ProjectionEngine.Notice {
    /// How much a notice matters, for loggers.
    public enum Severity: Sendable {
        /// Progress worth a line (started, stopped, rebuilt).
        case info
        /// Something failed and is being retried, or a runner met another.
        case warning
        /// An event was parked or the projection stopped: someone must look.
        case error
    }

    /// The notice as a log line: severity, message and metadata, the same for every backend.
    public var logLine: (severity: Severity, message: String, metadata: [String: String]) {
        func eventMetadata(_ event: RecordedEvent) -> [String: String] {
            ["position": "\(event.position)", "eventID": "\(event.id)", "eventType": event.type, "stream": "\(event.streamID)"]
        }
        switch self {
        case .started(let position):
            return (.info, "Projection starting", ["position": "\(position)"])
        case .stopped(let position):
            return (.info, "Projection stopped", ["position": "\(position)"])
        case .pageFailed(let error, let retryIn):
            return (.warning, "Projection page failed; retrying", ["error": error, "retryIn": "\(retryIn)"])
        case .eventFailed(let event, let error):
            return (.warning, "Applying an event failed", eventMetadata(event).merging(["error": error]) { $1 })
        case .appliedOnRetry(let event, let attempts):
            return (.info, "Event applied on retry", eventMetadata(event).merging(["attempts": "\(attempts)"]) { $1 })
        case .parked(let event, let attempts, let error):
            return (.error, "Event parked after \(attempts) attempts", eventMetadata(event).merging(["error": error]) { $1 })
        case .failed(let error):
            return (.error, "Projection stopped by its failure policy", ["error": "\(error)"])
        case .resumed:
            return (.info, "Projection resuming", [:])
        case .checkpointMoved(let partition, let stored):
            return (.warning, "The checkpoint moved under this runner; continuing from it", ["partition": "\(partition)", "stored": stored.map { "\($0)" } ?? "unknown"])
        case .parkedApplied(let position):
            return (.info, "Parked event applied on retry", ["position": "\(position)"])
        case .parkedDropped(let position):
            return (.info, "Parked event dropped", ["position": "\(position)"])
        case .rebuildStarted(let head):
            return (.info, "Rebuild started", ["head": "\(head)"])
        case .rebuildSwapped(let position):
            return (.info, "Rebuild swapped in", ["position": "\(position)"])
        case .rebuildFailed(let error):
            return (.error, "Rebuild failed; the current read model stays", ["error": error])
        }
    }
}
