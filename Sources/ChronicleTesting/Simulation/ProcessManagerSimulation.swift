public import Chronicle
package import Foundation
import Synchronization

/// A deterministic simulation of a process manager (saga) under the real `ProjectionEngine`: a
/// workload appends through a ``FaultInjectingEventStore``, the manager reacts in a runner that
/// crashes and restarts (a crash between a reaction's command and its checkpoint included), and
/// after every step the simulator checks that no triggering event caused the same effect twice
/// (two events with the same stream, type and payload caused by one trigger), and that the
/// checkpoint is never past an event the manager has not finished reacting to (or parked).
///
/// The manager is made anew for every life of the runner, with a store that refuses the writes
/// of a dead life.
///
/// ```swift
/// let simulation = ProcessManagerSimulation { store in
///     Shipping(store: store)
/// } workload: { writer in
///     for n in 1...writer.random(in: 1...10) {
///         try await writer.append(writer.event(type: "OrderPaid"), to: StreamID(category: "order", id: "\(n)"))
///     }
/// }
/// try await simulation.check(seeds: 0..<100)
/// ```
public struct ProcessManagerSimulation<Manager: ProcessManager>: SimulationScenario {
    /// Makes the manager for one life of the runner, given the store it may write to.
    public var makeManager: @Sendable (any EventStore) -> Manager
    /// The workload: appends the events the manager reacts to.
    public var workload: @Sendable (SimulationWriter) async throws -> Void
    /// The engine's options (their environment is the simulation's; one partition).
    public var options: ProjectionEngine.Options
    /// Draw the page size (1…8) and the failure policy (1…4 tries, then park) from the seed.
    public var randomizesOptions: Bool
    /// The store's faults (`nil`: drawn from the seed).
    public var storeFaults: StoreFaults?
    /// The storage's faults (`nil`: drawn from the seed); ``StorageFaults/applyFailure`` fails
    /// a reaction before it runs.
    public var storageFaults: StorageFaults?
    /// The chance, after every step, that the runner crashes.
    public var crashProbability: Double
    /// How often the runner also polls the head when the seed loses wake-ups.
    public var pollInterval: Duration

    /// Creates a simulation of a process manager.
    ///
    /// - Parameters:
    ///   - makeManager: makes the manager, given the store it writes to.
    ///   - workload: appends the events it reacts to.
    public init(_ makeManager: @escaping @Sendable (any EventStore) -> Manager, workload: @escaping @Sendable (SimulationWriter) async throws -> Void) {
        self.makeManager = makeManager
        self.workload = workload
        self.options = ProjectionEngine.Options(pageSize: 4, failurePolicy: FailurePolicy(maxAttempts: 3, baseDelay: .milliseconds(50), then: .park), environment: .live)
        self.randomizesOptions = true
        self.crashProbability = 0.005
        self.pollInterval = .seconds(1)
    }

    /// Runs the scenario for one seed (see ``ChronicleTesting/SimulationScenario``).
    public func run(in context: SimulationContext) async throws {
        let storeFaults = self.storeFaults ?? .random(context, allowLostWakeUps: true)
        let store = FaultInjectingEventStore(context: context, faults: storeFaults)
        let storage = SimulatedProcessManagerStorage(context: context, faults: storageFaults ?? .random(context))
        // The options anew on the simulation's environment (a `sleep` set on `self.options`
        // would wait in real time).
        var options = ProjectionEngine.Options(
            pageSize: self.options.pageSize, failurePolicy: self.options.failurePolicy, partitioning: self.options.partitioning,
            filter: self.options.filter, start: self.options.start, environment: context.environment
        )
        options.partitioning = .none
        if randomizesOptions {
            options.pageSize = context.random(in: 1...8)
            options.failurePolicy = FailurePolicy(maxAttempts: context.random(in: 1...4), baseDelay: .milliseconds(Int64(context.random(in: 1...200))), then: .park)
        }
        let polls = storeFaults.lostWakeUp > 0
        let source = ProjectionSource.observing(store, pollInterval: polls ? pollInterval : nil, environment: context.environment)
        context.record("options: page \(options.pageSize), tries \(options.failurePolicy.maxAttempts), polling \(polls)")
        let engineOptions = options

        let filter = options.filter
        let checkedEffects = Locked(-1)
        context.addInvariant("a saga's effects at most once per triggering event") {
            let log = store.committedEvents
            // Only a newly committed event can break it.
            let unchanged = checkedEffects.withLock { checked in
                defer { checked = log.count }
                return checked == log.count
            }
            return unchanged ? nil : Self.duplicateEffect(in: log)
        }
        let checkedReactions = Locked((writes: -1, events: -1))
        context.addInvariant("checkpoint never past an unfinished reaction") {
            let log = store.committedEvents
            let writes = storage.writes
            let unchanged = checkedReactions.withLock { checked in
                defer { checked = (writes, log.count) }
                return checked == (writes, log.count)
            }
            return unchanged ? nil : storage.unfinishedReaction(log: log, filter: filter)
        }

        let runner = context.process(named: "process-manager", crashProbability: crashProbability)
        let makeManager = self.makeManager
        let writer = SimulationWriter(context: context, store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await runner.run { life in
                    let manager = makeManager(LifeBoundEventStore(store: store, life: life))
                    let handle = SimulatedProcessManagerStorage.Handle(storage: storage, life: life, manager: manager)
                    let engine = try ProjectionEngine(name: manager.name, storage: handle, source: source, options: engineOptions)
                    try await engine.run()
                }
            }
            try await workload(writer)
            context.quiesce()
            // Faults over: the manager must catch up with the log, its own effects included.
            let deadline = context.now + .seconds(600)
            while true {
                let head = try await store.wrapped.headPosition()
                if storage.checkpoint >= head { break }
                if context.now > deadline {
                    context.fail("liveness", "with faults over, the process manager stayed at \(storage.checkpoint) for 10 virtual minutes; the head is \(head)")
                    break
                }
                try await context.clock.sleep(for: .milliseconds(100))
            }
            runner.stop()
        }
    }

    /// Two events caused by the same trigger with the same stream, type and payload: an effect
    /// done twice.
    static func duplicateEffect(in log: [RecordedEvent]) -> String? {
        var seen: [SagaEffect: GlobalPosition] = [:]
        for event in log {
            guard let cause = event.metadata.causationID else { continue }
            let effect = SagaEffect(cause: cause, stream: event.streamID, type: event.type, payload: event.payload)
            if let first = seen[effect] {
                return "the events at \(first) and \(event.position) (\(event.type) in \(event.streamID)) are the same effect of one trigger (\(cause))"
            }
            seen[effect] = event.position
        }
        return nil
    }
}

/// One effect of a saga: its trigger, stream, type and payload.
private struct SagaEffect: Hashable {
    let cause: String
    let stream: StreamID
    let type: String
    let payload: Data
}

/// A store that refuses the appends of a dead life of the runner.
private struct LifeBoundEventStore: EventStore {
    let store: FaultInjectingEventStore
    let life: SimulatedIncarnation

    func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        try life.checkAlive()
        return try await store.append(appends)
    }
    func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try await store.readStream(stream, from: start, direction: direction, limit: limit)
    }
    func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await store.readAll(after: position, limit: limit)
    }
    func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await store.readCategory(category, after: position, limit: limit)
    }
    func readEvents(matching query: EventQuery, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await store.readEvents(matching: query, after: position, limit: limit)
    }
    func streamVersion(of stream: StreamID) async throws -> StreamVersion {
        try await store.streamVersion(of: stream)
    }
    func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        try await store.streams(category: category, after: after, limit: limit)
    }
    func headPosition() async throws -> GlobalPosition {
        try await store.headPosition()
    }
}

/// A process manager's durable checkpoints (one per partition) and parked events, in memory; it
/// also keeps the outside world's record of finished reactions, which no crash erases. Shared
/// with the relay's simulation (ChronicleRelayTesting).
package final class SimulatedProcessManagerStorage: Sendable {
    private struct Durable {
        var checkpoints: [GlobalPosition]?
        var start: GlobalPosition = .start
        var parked: [GlobalPosition: ParkedEvent] = [:]
        var finished: [GlobalPosition: Int] = [:]
        var writes = 0
    }
    private let durable = Mutex(Durable())
    private weak let context: SimulationContext?
    private let faults: StorageFaults

    package init(context: SimulationContext, faults: StorageFaults) {
        self.context = context
        self.faults = faults
    }

    /// Each partition's checkpoint (`nil`: never initialized).
    package var checkpoints: [GlobalPosition]? { durable.withLock { $0.checkpoints } }
    /// The lowest partition checkpoint.
    package var checkpoint: GlobalPosition { durable.withLock { $0.checkpoints?.min() ?? .start } }
    /// How many writes changed the durable state.
    package var writes: Int { durable.withLock { $0.writes } }
    /// The parked events, by position.
    package var parked: [GlobalPosition: ParkedEvent] { durable.withLock { $0.parked } }

    /// What is wrong, if anything: a parked event beyond its partition's checkpoint, or a
    /// checkpoint past an event whose reaction never finished nor was parked.
    package func unfinishedReaction(log: [RecordedEvent], filter: ProjectionFilter, partitioning: ProjectionPartitioning = .none) -> String? {
        durable.withLock { durable in
            guard let checkpoints = durable.checkpoints else { return nil }
            func partition(_ stream: StreamID) -> Int { checkpoints.count == 1 ? 0 : partitioning.partition(of: stream) }
            if let parked = durable.parked.values.filter({ $0.position > checkpoints[partition($0.streamID)] }).min(by: { $0.position < $1.position }) {
                return "the event at \(parked.position) is parked beyond its partition's checkpoint \(checkpoints[partition(parked.streamID)])"
            }
            for event in log where event.position > durable.start && filter.includes(event) {
                let checkpoint = checkpoints[partition(event.streamID)]
                if event.position <= checkpoint && durable.finished[event.position] == nil && durable.parked[event.position] == nil {
                    return "the checkpoint is at \(checkpoint) but the reaction to the event at \(event.position) never finished (nor was it parked)"
                }
            }
            return nil
        }
    }

    /// The storage as one life of the runner sees it, running `manager`'s reactions.
    package struct Handle<Manager: ProcessManager>: ProjectionStorage {
        let storage: SimulatedProcessManagerStorage
        let life: SimulatedIncarnation
        let manager: Manager

        package init(storage: SimulatedProcessManagerStorage, life: SimulatedIncarnation, manager: Manager) {
            self.storage = storage
            self.life = life
            self.manager = manager
        }

        private func fault(_ probability: Double, _ what: String) throws {
            if storage.context?.chance(probability) ?? false {
                storage.context?.record("storage: \(what) fails")
                throw SimulatedFault(what)
            }
        }

        private func react(_ event: RecordedEvent) async throws {
            try fault(storage.faults.applyFailure, "reaction to \(event.position)")
            try await manager.react(to: event, context: ProcessContext(trigger: event, processName: manager.name))
            storage.durable.withLock { durable in
                durable.finished[event.position, default: 0] += 1
                durable.writes += 1
            }
        }

        package func checkpoints(partitions: Int) async throws -> [GlobalPosition]? {
            storage.durable.withLock { $0.checkpoints }
        }

        package func initialize(partitions: Int, at position: GlobalPosition) async throws {
            try life.checkAlive()
            storage.durable.withLock { durable in
                if durable.checkpoints == nil {
                    durable.checkpoints = Array(repeating: position, count: partitions)
                    durable.start = position
                    durable.writes += 1
                }
            }
        }

        package func startPosition() async throws -> GlobalPosition {
            storage.durable.withLock { $0.start }
        }

        package func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition) async throws {
            try fault(storage.faults.commitFailure, "commit")
            try life.checkAlive()
            // The engine's one delivery loop for process managers, with this storage's save.
            let recording = Reacting(name: manager.name, react: react)
            let stored = storage.durable.withLock { $0.checkpoints?[partition] } ?? .start
            try await recording.deliver(events, stored: stored, from: from, to: to) { from, to in
                try life.checkAlive()
                try storage.durable.withLock { (durable: inout Durable) throws -> Void in
                    guard durable.checkpoints?[partition] == from else { throw ProjectionCheckpointConflict(stored: durable.checkpoints?[partition]) }
                    durable.checkpoints?[partition] = to
                    durable.writes += 1
                }
            }
            storage.context?.record("process manager: partition \(partition) \(from)→\(to), \(events.count) event(s)")
        }

        package func park(_ event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date, from: GlobalPosition) async throws -> Int {
            try life.checkAlive()
            let count = try storage.durable.withLock { (durable: inout Durable) throws -> Int in
                guard durable.checkpoints?[partition] == from else { throw ProjectionCheckpointConflict(stored: durable.checkpoints?[partition]) }
                durable.parked[event.position] = ParkedEvent(
                    position: event.position, eventID: event.id, streamID: event.streamID, eventType: event.type,
                    partition: partition, error: error, attempts: attempts, parkedAt: date
                )
                durable.checkpoints?[partition] = event.position
                durable.writes += 1
                return durable.parked.count
            }
            storage.context?.record("process manager: parked \(event.position)")
            return count
        }

        package func parkedCount() async throws -> Int { storage.durable.withLock { $0.parked.count } }

        package func parkedEvents(after position: GlobalPosition, limit: Int) async throws -> [ParkedEvent] {
            storage.durable.withLock { durable in
                Array(durable.parked.values.filter { $0.position > position }.sorted { $0.position < $1.position }.prefix(limit))
            }
        }

        package func parkedEvent(at position: GlobalPosition) async throws -> ParkedEvent? {
            storage.durable.withLock { $0.parked[position] }
        }

        package func applyParked(_ event: RecordedEvent) async throws -> Int {
            try life.checkAlive()
            do {
                try await react(event)
            } catch {
                throw ProjectionApplyFailure(index: 0, error: error)
            }
            try life.checkAlive()
            return storage.durable.withLock { durable in
                durable.parked[event.position] = nil
                durable.writes += 1
                return durable.parked.count
            }
        }

        package func recordParkedFailure(at position: GlobalPosition, error: String, at date: Date) async throws {
            try life.checkAlive()
        }

        package func dropParked(at position: GlobalPosition) async throws -> Int? {
            try life.checkAlive()
            return storage.durable.withLock { durable in
                guard durable.parked.removeValue(forKey: position) != nil else { return nil }
                durable.writes += 1
                return durable.parked.count
            }
        }
    }
}

/// A process manager made of a name and a reaction (the storage's recording wrapper).
private struct Reacting: ProcessManager {
    let name: String
    let react: @Sendable (RecordedEvent) async throws -> Void

    func react(to event: RecordedEvent, context: ProcessContext) async throws {
        try await react(event)
    }
}
