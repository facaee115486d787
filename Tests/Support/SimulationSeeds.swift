import ChronicleTesting
import Foundation

/// How many seeds the simulation suites run: 500 in CI, more in `Scripts/simulation-soak.sh`
/// (`CHRONICLE_SIMULATION_SEEDS`, from `CHRONICLE_SIMULATION_FIRST_SEED`).
public enum SimulationSeeds {
    /// The seeds to run.
    public static var range: Range<UInt64> {
        let environment = ProcessInfo.processInfo.environment
        let count = environment["CHRONICLE_SIMULATION_SEEDS"].flatMap(UInt64.init) ?? 500
        let first = environment["CHRONICLE_SIMULATION_FIRST_SEED"].flatMap(UInt64.init) ?? 0
        return first..<(first + count)
    }

    /// `CHRONICLE_SIMULATION_FIGURES`: the seeds over which the planted-bug figures of
    /// Docs/Testing.md are measured (`nil`: unset, the figures tests do nothing).
    public static var figures: UInt64? {
        ProcessInfo.processInfo.environment["CHRONICLE_SIMULATION_FIGURES"].flatMap(UInt64.init)
    }
}

/// The first seed below `limit` whose run breaks an invariant.
public func firstFailingSeed(_ simulation: Simulation, within limit: UInt64) async -> (seed: UInt64, violation: SimulationViolation)? {
    for seed in 0..<limit {
        if let violation = await simulation.run(seed: seed).violation { return (seed, violation) }
    }
    return nil
}
