/// A ready-made simulation of one component (``ProjectionSimulation``,
/// ``ProcessManagerSimulation``, ChronicleRelayTesting's `RelaySimulation`): what runs for each
/// seed, and the same ``simulation``, ``check(seeds:)`` and ``replay(seed:prefix:)`` for all.
public protocol SimulationScenario: Sendable {
    /// Runs the scenario once, for the seed `context` was made from: what ``simulation`` runs.
    ///
    /// - Parameter context: the seed's scheduler, clock and randomness.
    /// - Throws: what breaks an invariant, or the scenario's own error.
    func run(in context: SimulationContext) async throws
}

extension SimulationScenario {
    /// The simulation, to run, check or replay seeds.
    public var simulation: Simulation {
        let scenario = self
        return Simulation { context in try await scenario.run(in: context) }
    }

    /// Runs every seed; throws ``SimulationFailure`` (seed, trace hash, shrunk prefix, replay
    /// call) on the first that breaks an invariant.
    ///
    /// - Parameter seeds: the seeds to run.
    /// - Returns: how many seeds and steps ran.
    @discardableResult
    public func check(seeds: some Sequence<UInt64>) async throws -> SimulationSummary {
        try await simulation.check(seeds: seeds)
    }

    /// Replays one seed (to a prefix) with its trace; throws ``SimulationFailure`` if it fails.
    ///
    /// - Parameters:
    ///   - seed: the seed.
    ///   - prefix: the shrunk prefix a failure printed.
    /// - Returns: the run.
    @discardableResult
    public func replay(seed: UInt64, prefix: Int? = nil) async throws -> SimulationRun {
        try await simulation.replay(seed: seed, prefix: prefix)
    }
}
