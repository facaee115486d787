public import Chronicle
import Foundation
import Synchronization

/// How often a ``SimulatedProjectionStorage`` misbehaves: each is the chance per call (0…1).
public struct StorageFaults: Sendable, Hashable {
    /// A commit fails before anything is written.
    public var commitFailure: Double
    /// A commit is written, then fails as if its reply were lost.
    public var commitReplyLost: Double
    /// Applying an event throws (a transient failure of the projector: the retry may succeed).
    public var applyFailure: Double

    /// Creates a fault profile; every chance defaults to zero.
    ///
    /// - Parameters:
    ///   - commitFailure: chance a commit fails before writing.
    ///   - commitReplyLost: chance a commit is written but reports failure.
    ///   - applyFailure: chance applying an event throws.
    public init(commitFailure: Double = 0, commitReplyLost: Double = 0, applyFailure: Double = 0) {
        self.commitFailure = commitFailure
        self.commitReplyLost = commitReplyLost
        self.applyFailure = applyFailure
    }

    /// No faults.
    public static let none = StorageFaults()

    /// A profile drawn from the seed: each kind on (at a few percent) or off.
    ///
    /// - Parameter context: the simulation whose seed decides.
    public static func random(_ context: SimulationContext) -> StorageFaults {
        func maybe(_ rate: Double) -> Double { context.random(in: 0...2) == 0 ? rate : 0 }
        return StorageFaults(commitFailure: maybe(0.05), commitReplyLost: maybe(0.05), applyFailure: maybe(0.08))
    }
}

/// A read model's durable storage, in memory, for simulations: the model value, the checkpoints
/// and the parked events survive crashes of the runner (``SimulatedProcess``); each commit
/// applies a page to a copy of the model and moves the checkpoint in one atomic step, as a
/// transactional backend does. It counts how many times each event's effect was committed, so
/// invariants can check exactly-once.
///
/// A runner's life writes through ``handle(for:)``, which refuses every write once that life
/// has crashed. The handle can rebuild (`RebuildableProjectionStorage`): a fresh copy is built
/// beside the serving one and swapped in whole; while a rebuild has frozen the serving copy, its
/// commits wait (in virtual time) until the swap, or until the life that froze it is dead.
public final class SimulatedProjectionStorage<Model: Sendable>: Sendable {
    /// What is durable.
    public struct Durable: Sendable {
        /// The read model.
        public var model: Model
        /// Each partition's checkpoint (`nil`: never initialized).
        public var checkpoints: [GlobalPosition]?
        /// Where the projection started.
        public var start: GlobalPosition = .start
        /// How many times each event's effect was committed, by position.
        public var effects: [GlobalPosition: Int] = [:]
        /// The parked events, by position.
        public var parked: [GlobalPosition: ParkedEvent] = [:]
        /// How many writes changed this state (invariants skip unchanged states).
        public var writes = 0
    }

    private let durable: Mutex<Durable>
    private let initial: Model
    /// The life whose rebuild froze the serving copy, if any.
    private let frozenBy = Mutex<SimulatedIncarnation?>(nil)
    private let apply: @Sendable (inout Model, RecordedEvent) throws -> Void
    private let faults: StorageFaults
    private weak let context: SimulationContext?
    /// Planted bug (simulator tests only): effects and checkpoint written in two steps.
    package let splitsCommit: Bool

    /// Creates an empty storage.
    ///
    /// - Parameters:
    ///   - initial: the model before any event.
    ///   - context: the simulation (faults and trace).
    ///   - faults: how often it misbehaves.
    ///   - apply: the projector: applies one event to the model.
    public convenience init(initial: Model, context: SimulationContext, faults: StorageFaults = .none, apply: @escaping @Sendable (inout Model, RecordedEvent) throws -> Void) {
        self.init(initial: initial, context: context, faults: faults, splitsCommit: false, apply: apply)
    }

    package init(initial: Model, context: SimulationContext, faults: StorageFaults, splitsCommit: Bool, apply: @escaping @Sendable (inout Model, RecordedEvent) throws -> Void) {
        self.durable = Mutex(Durable(model: initial))
        self.initial = initial
        self.apply = apply
        self.faults = faults
        self.context = context
        self.splitsCommit = splitsCommit
    }

    /// The durable state now.
    public var state: Durable { durable.withLock { $0 } }

    /// The storage as one life of the runner sees it: every call fails once that life crashed.
    ///
    /// - Parameter life: the runner's life.
    public func handle(for life: SimulatedIncarnation) -> some ProjectionStorage {
        Handle(storage: self, life: life)
    }

    private func chance(_ probability: Double) -> Bool { context?.chance(probability) ?? false }

    fileprivate func fault(_ probability: Double, _ what: String) throws {
        if chance(probability) {
            context?.record("storage: \(what) fails")
            throw SimulatedFault(what)
        }
    }

    fileprivate func applying(_ events: [RecordedEvent], to model: inout Model) throws(ProjectionApplyFailure) {
        for (index, event) in events.enumerated() {
            do {
                if chance(faults.applyFailure) { throw SimulatedFault("applying event \(event.position)") }
                try apply(&model, event)
            } catch {
                throw ProjectionApplyFailure(index: index, error: error)
            }
        }
    }

    fileprivate func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition, life: SimulatedIncarnation) async throws {
        try fault(faults.commitFailure, "commit")
        try await waitWhileFrozen()
        try life.checkAlive()
        try durable.withLock { (durable: inout Durable) throws -> Void in
            let stored = durable.checkpoints?[partition]
            guard stored == from else { throw ProjectionCheckpointConflict(stored: stored) }
            var model = durable.model
            try applying(events, to: &model)
            durable.model = model
            for event in events { durable.effects[event.position, default: 0] += 1 }
            if !splitsCommit { durable.checkpoints?[partition] = to }
            durable.writes += 1
        }
        if splitsCommit {
            // The planted bug: the checkpoint in a second write, after a suspension point.
            await Task.yield()
            try life.checkAlive()
            durable.withLock { durable in
                durable.checkpoints?[partition] = to
                durable.writes += 1
            }
        }
        context?.record("storage: partition \(partition) \(from)→\(to), \(events.count) event(s)")
        try fault(faults.commitReplyLost, "commit reply")
    }

    fileprivate func park(_ event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date, from: GlobalPosition, life: SimulatedIncarnation) throws -> Int {
        try life.checkAlive()
        let count = try durable.withLock { (durable: inout Durable) throws -> Int in
            let stored = durable.checkpoints?[partition]
            guard stored == from else { throw ProjectionCheckpointConflict(stored: stored) }
            durable.parked[event.position] = ParkedEvent(
                position: event.position, eventID: event.id, streamID: event.streamID, eventType: event.type,
                partition: partition, error: error, attempts: attempts, parkedAt: date
            )
            durable.checkpoints?[partition] = event.position
            durable.writes += 1
            return durable.parked.count
        }
        context?.record("storage: parked \(event.position)")
        return count
    }

    fileprivate func applyParked(_ event: RecordedEvent, life: SimulatedIncarnation) throws -> Int {
        try life.checkAlive()
        let count = try durable.withLock { (durable: inout Durable) throws -> Int in
            guard durable.parked[event.position] != nil else { return durable.parked.count }
            var model = durable.model
            try applying([event], to: &model)
            durable.model = model
            durable.effects[event.position, default: 0] += 1
            durable.parked[event.position] = nil
            durable.writes += 1
            return durable.parked.count
        }
        context?.record("storage: parked \(event.position) applied")
        return count
    }

    /// Waits (virtual time) while a live rebuild has frozen the checkpoints.
    fileprivate func waitWhileFrozen() async throws {
        while frozenBy.withLock({ $0?.isAlive ?? false }) {
            guard let context else { return }
            try await context.environment.sleep(.milliseconds(10))
        }
    }

    fileprivate func emptyCopy() -> SimulatedProjectionStorage<Model> {
        SimulatedProjectionStorage(initial: initial, context: context!, faults: faults, splitsCommit: splitsCommit, apply: apply)
    }

    fileprivate func freeze(by life: SimulatedIncarnation) throws -> [GlobalPosition]? {
        try life.checkAlive()
        frozenBy.withLock { $0 = life }
        context?.record("storage: frozen for a swap")
        return durable.withLock { $0.checkpoints }
    }

    fileprivate func thaw() {
        frozenBy.withLock { $0 = nil }
    }

    /// Installs `copy` as the serving copy if none of its checkpoints is behind; thaws either way.
    fileprivate func swap(to copy: SimulatedProjectionStorage<Model>, life: SimulatedIncarnation) throws -> Bool {
        defer { thaw() }
        try life.checkAlive()
        let built = copy.state
        let swapped = durable.withLock { durable in
            guard let new = built.checkpoints, let old = durable.checkpoints, new.count == old.count, !zip(new, old).contains(where: { $0 < $1 }) else { return false }
            var serving = built
            serving.writes = durable.writes + 1
            durable = serving
            return true
        }
        context?.record("storage: rebuilt copy \(swapped ? "swapped in at \(built.checkpoints ?? [])" : "behind, not swapped")")
        return swapped
    }

    fileprivate func update<T>(_ life: SimulatedIncarnation?, _ body: (inout Durable) throws -> T) throws -> T {
        try life?.checkAlive()
        return try durable.withLock { durable in
            if life != nil { durable.writes += 1 }
            return try body(&durable)
        }
    }
}

private struct Handle<Model: Sendable>: RebuildableProjectionStorage {
    let storage: SimulatedProjectionStorage<Model>
    let life: SimulatedIncarnation

    func checkpoints(partitions: Int) async throws -> [GlobalPosition]? {
        try storage.update(nil) { $0.checkpoints }
    }

    func initialize(partitions: Int, at position: GlobalPosition) async throws {
        try storage.update(life) { durable in
            guard durable.checkpoints == nil else { return }
            durable.checkpoints = Array(repeating: position, count: partitions)
            durable.start = position
        }
    }

    func startPosition() async throws -> GlobalPosition {
        try storage.update(nil) { $0.start }
    }

    func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition) async throws {
        try await storage.commit(events, partition: partition, from: from, to: to, life: life)
    }

    func park(_ event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date, from: GlobalPosition) async throws -> Int {
        try await storage.waitWhileFrozen()
        return try storage.park(event, partition: partition, error: error, attempts: attempts, at: date, from: from, life: life)
    }

    func parkedCount() async throws -> Int {
        try storage.update(nil) { $0.parked.count }
    }

    func parkedEvents(after position: GlobalPosition, limit: Int) async throws -> [ParkedEvent] {
        try storage.update(nil) { durable in
            Array(durable.parked.values.filter { $0.position > position }.sorted { $0.position < $1.position }.prefix(limit))
        }
    }

    func parkedEvent(at position: GlobalPosition) async throws -> ParkedEvent? {
        try storage.update(nil) { $0.parked[position] }
    }

    func applyParked(_ event: RecordedEvent) async throws -> Int {
        try storage.applyParked(event, life: life)
    }

    func recordParkedFailure(at position: GlobalPosition, error: String, at date: Date) async throws {
        try storage.update(life) { durable in
            guard let parked = durable.parked[position] else { return }
            durable.parked[position] = ParkedEvent(
                position: parked.position, eventID: parked.eventID, streamID: parked.streamID, eventType: parked.eventType,
                partition: parked.partition, error: error, attempts: parked.attempts + 1, parkedAt: date
            )
        }
    }

    func dropParked(at position: GlobalPosition) async throws -> Int? {
        try storage.update(life) { durable in
            guard durable.parked.removeValue(forKey: position) != nil else { return nil }
            return durable.parked.count
        }
    }

    func makeRebuildTarget() async throws -> any ProjectionStorage {
        try life.checkAlive()
        return Handle(storage: storage.emptyCopy(), life: life)
    }

    func freeze(partitions: Int) async throws -> [GlobalPosition] {
        if let stored = try storage.freeze(by: life) { return stored }
        return Array(repeating: try await startPosition(), count: partitions)
    }

    func swap(to target: any ProjectionStorage) async throws -> Bool {
        guard let copy = target as? Handle<Model> else {
            storage.thaw()
            throw SimulatedFault("swap to a storage that is not a simulated copy")
        }
        return try storage.swap(to: copy.storage, life: life)
    }

    func discard(_ target: any ProjectionStorage) async {
        storage.thaw()
    }
}
