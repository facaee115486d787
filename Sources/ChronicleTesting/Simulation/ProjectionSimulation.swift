public import Chronicle
import Synchronization

/// A deterministic simulation of a projector under the real `ProjectionEngine`: a workload
/// appends through a ``FaultInjectingEventStore``, the engine applies pages to a
/// ``SimulatedProjectionStorage`` in a runner that crashes and restarts, and after every step the
/// simulator checks that the durable read model holds the effect of exactly the events up to
/// its checkpoints (none skipped, none twice, every parked event accounted for), that
/// read-your-writes waits return only once their position is committed, and your own
/// invariants. At the end the faults stop and the projection must catch up, its model equal to
/// a clean replay of the log.
///
/// ```swift
/// let simulation = ProjectionSimulation(initial: [String: Int]()) { balances, event in
///     balances[event.streamID.rawValue, default: 0] += 1
/// } workload: { writer in
///     for _ in 0..<writer.random(in: 1...20) {
///         try await writer.append(writer.event(type: "Deposited"), to: StreamID(category: "account", id: "\(writer.random(in: 1...3))"))
///     }
/// }
/// try await simulation.check(seeds: 0..<100)
/// ```
///
/// A partitioned projection's model must not depend on the order of events of different
/// streams (that order is not kept across partitions), or the final comparison with a replay in
/// log order fails.
public struct ProjectionSimulation<Model: Equatable & Sendable>: SimulationScenario {
    /// The projection's name.
    public var name: String
    /// The model before any event.
    public var initial: Model
    /// The projector: applies one event to the model (throw to fail the event).
    public var apply: @Sendable (inout Model, RecordedEvent) throws -> Void
    /// The workload: appends events through the writer.
    public var workload: @Sendable (SimulationWriter) async throws -> Void
    /// The engine's options (their environment is the simulation's).
    public var options: ProjectionEngine.Options
    /// Draw the page size (1…8) and the failure policy (1…4 tries, then park) from the seed.
    public var randomizesOptions: Bool
    /// Draws more of the options from the seed, after ``randomizesOptions`` (partitions, filter…).
    public var drawOptions: (@Sendable (SimulationContext, inout ProjectionEngine.Options) -> Void)?
    /// The store's faults (`nil`: drawn from the seed, see ``StoreFaults/random(_:allowLostWakeUps:)``).
    public var storeFaults: StoreFaults?
    /// The storage's faults (`nil`: drawn from the seed, see ``StorageFaults/random(_:)``).
    public var storageFaults: StorageFaults?
    /// The chance, after every step, that the runner crashes.
    public var crashProbability: Double
    /// How often the runner also polls the head when the seed loses wake-ups.
    public var pollInterval: Duration
    /// Once the faults are over and the projection has caught up, retry its parked events (the
    /// transient failures then apply). They apply after later events, out of log order, so the
    /// final comparison with a replay in log order needs a model that does not depend on order.
    public var retriesParkedEvents: Bool
    /// The operator's answer to a projection stopped by its failure policy (``FailurePolicy/Exhausted/stop``):
    /// `resume()` after a delay drawn from this range (`nil`: never, so a stop fails the liveness
    /// check). A stopped projection must not park anything, nor move its checkpoint past the event
    /// that stopped it; after `resume()` it goes on from that event.
    public var resumeDelay: ClosedRange<Duration>?
    /// How many blue/green rebuilds (`rebuild()`) the operator starts at random moments while the
    /// workload runs (drawn from this range; `0...0`: none). The serving copy must hold the
    /// invariants after every step, swaps included, and crashes may kill a rebuild half-way.
    public var rebuilds: ClosedRange<Int>
    var modelInvariants: [(name: String, check: @Sendable (Model, [GlobalPosition]) -> String?)] = []
    package var plantedFault: ProjectionEngine.PlantedFault?
    package var splitsCommit = false

    /// Creates a simulation of a projector.
    ///
    /// - Parameters:
    ///   - name: the projection's name.
    ///   - initial: the model before any event.
    ///   - apply: applies one event to the model.
    ///   - workload: appends events through the writer.
    public init(
        name: String = "projection", initial: Model, apply: @escaping @Sendable (inout Model, RecordedEvent) throws -> Void,
        workload: @escaping @Sendable (SimulationWriter) async throws -> Void
    ) {
        self.name = name
        self.initial = initial
        self.apply = apply
        self.workload = workload
        self.options = ProjectionEngine.Options(pageSize: 4, failurePolicy: FailurePolicy(maxAttempts: 3, baseDelay: .milliseconds(50), then: .park), environment: .live)
        self.randomizesOptions = true
        self.crashProbability = 0.005
        self.pollInterval = .seconds(1)
        self.retriesParkedEvents = false
        self.rebuilds = 0...0
    }

    /// Adds an invariant of the durable model, checked after every step.
    ///
    /// - Parameters:
    ///   - name: the invariant's name.
    ///   - check: given the model and the checkpoints, `nil` or what is wrong.
    public mutating func addInvariant(_ name: String, _ check: @escaping @Sendable (_ model: Model, _ checkpoints: [GlobalPosition]) -> String?) {
        modelInvariants.append((name, check))
    }

    /// Runs the scenario for one seed (see ``ChronicleTesting/SimulationScenario``).
    public func run(in context: SimulationContext) async throws {
        let storeFaults = self.storeFaults ?? .random(context, allowLostWakeUps: true)
        let store = FaultInjectingEventStore(context: context, faults: storeFaults)
        let storage = SimulatedProjectionStorage(
            initial: initial, context: context, faults: storageFaults ?? .random(context), splitsCommit: splitsCommit, apply: apply
        )
        // The options anew on the simulation's environment (a `sleep` set on `self.options`
        // would wait in real time).
        var options = ProjectionEngine.Options(
            pageSize: self.options.pageSize, failurePolicy: self.options.failurePolicy, partitioning: self.options.partitioning,
            filter: self.options.filter, start: self.options.start, environment: context.environment
        )
        options.plantedFault = plantedFault
        if randomizesOptions {
            options.pageSize = context.random(in: 1...8)
            options.failurePolicy = FailurePolicy(maxAttempts: context.random(in: 1...4), baseDelay: .milliseconds(Int64(context.random(in: 1...200))), then: .park)
        }
        drawOptions?(context, &options)
        let polls = storeFaults.lostWakeUp > 0
        let source = ProjectionSource.observing(store, pollInterval: polls ? pollInterval : nil, environment: context.environment)
        context.record("options: page \(options.pageSize), tries \(options.failurePolicy.maxAttempts), partitions \(options.partitioning.count), polling \(polls)")

        let engineOptions = options
        let stops = options.failurePolicy.whenExhausted == .stop
        let filter = options.filter
        let partitioning = options.partitioning
        let checked = Locked((writes: -1, events: -1))
        context.addInvariant("exactly-once effects up to the checkpoints") {
            let state = storage.state
            let log = store.committedEvents
            // Only a new write or a newly committed event can break it.
            let unchanged = checked.withLock { checked in
                defer { checked = (state.writes, log.count) }
                return checked == (state.writes, log.count)
            }
            return unchanged ? nil : Self.effectsViolation(state, log: log, filter: filter, partitioning: partitioning)
        }
        if stops {
            context.addInvariant("the stop policy parks nothing") {
                let parked = storage.state.parked
                return parked.isEmpty ? nil : "under the stop policy, the events at \(parked.keys.sorted()) were parked"
            }
        }
        for invariant in modelInvariants {
            let checkedWrites = Locked(-1)
            context.addInvariant(invariant.name) {
                let state = storage.state
                // Only a write can break an invariant of the durable model.
                let unchanged = checkedWrites.withLock { checked in
                    defer { checked = state.writes }
                    return checked == state.writes
                }
                return unchanged ? nil : invariant.check(state.model, state.checkpoints ?? [])
            }
        }

        let engine = CurrentEngine()
        let runner = context.process(named: "runner", crashProbability: crashProbability)
        let (appended, sink) = AsyncStream.makeStream(of: GlobalPosition.self)
        let writer = SimulationWriter(context: context, store: store) { sink.yield($0.position) }
        let name = self.name
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await runner.run { life in
                    let current = try ProjectionEngine(name: name, storage: storage.handle(for: life), source: source, options: engineOptions) { notice in
                        let line = notice.logLine
                        context.record("engine: \(line.message)" + (line.metadata["position"].map { " at \($0)" } ?? ""))
                    }
                    engine.set(current)
                    try await current.run()
                }
            }
            group.addTask {
                // Read your writes: a wait that returns must find its position committed.
                await withTaskGroup(of: Void.self) { checks in
                    for await position in appended {
                        checks.addTask {
                            guard let current = engine.get() else { return }
                            do { try await current.waitUntil(position: position, timeout: .seconds(30)) } catch { return }
                            let committed = storage.state.checkpoints?.min() ?? .start
                            if committed < position {
                                context.fail("read-your-writes", "waitUntil(position: \(position)) returned while the committed checkpoint is \(committed)")
                            }
                        }
                    }
                }
            }
            let operating = Locked(true)
            if resumeDelay != nil || rebuilds.upperBound > 0 {
                let resumeDelay = self.resumeDelay
                let rebuilds = context.random(in: self.rebuilds)
                group.addTask {
                    try await Self.operate(context: context, engine: engine, resumeDelay: resumeDelay, rebuilds: rebuilds) { operating.withLock { $0 } }
                }
            }
            try await workload(writer)
            context.quiesce()
            sink.finish()

            // Faults over: the projection must catch up, and its model equal a clean replay.
            let head = try await store.wrapped.headPosition()
            let deadline = context.now + .seconds(600)
            while (storage.state.checkpoints?.min() ?? .start) < head {
                if context.now > deadline {
                    context.fail("liveness", "with faults over, the projection stayed at \(storage.state.checkpoints ?? []) for 10 virtual minutes; the head is \(head)")
                    operating.withLock { $0 = false }
                    runner.stop()
                    return
                }
                try await context.clock.sleep(for: .milliseconds(100))
            }
            if retriesParkedEvents, let current = engine.get(), !storage.state.parked.isEmpty {
                _ = try? await current.retryAllParked()
            }
            let final = storage.state
            let log = try await store.wrapped.readAll(after: final.start, limit: Int.max)
            var clean = initial
            for event in log where filter.includes(event) && final.parked[event.position] == nil {
                try? apply(&clean, event)
            }
            if clean != final.model {
                context.fail("clean replay", "the read model differs from a clean replay of the log up to its checkpoint: \(final.model) ≠ \(clean)")
            }
            operating.withLock { $0 = false }
            runner.stop()
        }
    }

    /// The operator: every 0.1–2 virtual seconds, resumes a projection its failure policy stopped
    /// (after `resumeDelay`), and starts the `rebuilds` at random moments while the run is active.
    static func operate(
        context: SimulationContext, engine: CurrentEngine, resumeDelay: ClosedRange<Duration>?, rebuilds: Int, while operating: @Sendable () -> Bool
    ) async throws {
        var rebuildsLeft = rebuilds
        while operating() {
            try await context.clock.sleep(for: context.random(in: .milliseconds(100)...(.seconds(2))))
            guard let current = engine.get() else { continue }
            if let resumeDelay, current.status().state == .failed {
                try await context.clock.sleep(for: context.random(in: resumeDelay))
                // The engine of the life running now (the one seen failed may have crashed since).
                if let running = engine.get(), running.status().state == .failed {
                    context.record("operator: resume")
                    running.resume()
                }
            }
            if rebuildsLeft > 0, context.chance(0.2) {
                rebuildsLeft -= 1
                context.record("operator: rebuild")
                do {
                    let progress = try await current.rebuild()
                    context.record("operator: rebuilt through \(progress.eventsDone)")
                } catch {
                    context.record("operator: rebuild failed: \(error)")
                }
            }
        }
    }

    /// The built-in invariant: each event of the log up to a partition's checkpoint has its
    /// effect committed exactly once or is parked, and no later event (nor any filtered out) has.
    static func effectsViolation(
        _ durable: SimulatedProjectionStorage<Model>.Durable, log: [RecordedEvent], filter: ProjectionFilter, partitioning: ProjectionPartitioning
    ) -> String? {
        guard let checkpoints = durable.checkpoints else {
            return durable.effects.isEmpty && durable.parked.isEmpty ? nil : "effects committed before the checkpoints exist"
        }
        if let position = durable.effects.filter({ $0.value > 1 }).keys.min() {
            return "the effect of the event at \(position) was committed \(durable.effects[position]!) times"
        }
        if let position = durable.parked.keys.filter({ durable.effects[$0] != nil }).min() {
            return "the event at \(position) is parked and its effect committed"
        }
        for event in log where event.position > durable.start {
            let partition = partitioning.count == 1 ? 0 : partitioning.partition(of: event.streamID)
            let checkpoint = checkpoints[partition]
            let applied = durable.effects[event.position] ?? 0
            let parked = durable.parked[event.position] != nil
            if !filter.includes(event) {
                if applied > 0 || parked { return "the event at \(event.position) is filtered out but was applied or parked" }
            } else if event.position <= checkpoint {
                if applied == 0 && !parked {
                    return "partition \(partition)'s checkpoint is at \(checkpoint) but the event at \(event.position) was neither applied nor parked (skipped)"
                }
            } else if applied > 0 || parked {
                return "the event at \(event.position) was applied or parked while partition \(partition)'s checkpoint is only at \(checkpoint)"
            }
        }
        return nil
    }
}

/// The engine of the runner's current life.
final class CurrentEngine: Sendable {
    private let engine = Mutex<ProjectionEngine?>(nil)
    func set(_ current: ProjectionEngine) { engine.withLock { $0 = current } }
    func get() -> ProjectionEngine? { engine.withLock { $0 } }
}
