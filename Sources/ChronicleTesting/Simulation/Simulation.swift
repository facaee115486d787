import Chronicle
import Dispatch
import Foundation
import Synchronization

/// A deterministic simulation: runs a scenario's tasks one job at a time on a single thread, in
/// an order chosen by a seed, with virtual time, seeded randomness, injected faults and crashes,
/// and checks invariants after every job. The same seed gives the same run, step for step, with
/// the same trace hash; a failing seed is shrunk to the shortest prefix of steps that still fails
/// and replayed with one call.
///
/// ```swift
/// let simulation = Simulation { context in
///     let store = FaultInjectingEventStore(context: context)
///     // … start Chronicle components with `context.environment`, append, check …
/// }
/// try await simulation.check(seeds: 0..<500)
/// ```
///
/// What is deterministic: every job that runs on the simulator's executor — the scenario's task,
/// its child tasks (task groups, `async let`), default actors they call (`InMemoryEventStore`),
/// continuations they resume, and tasks started with ``Chronicle/RuntimeEnvironment/spawn(_:)``
/// of ``SimulationContext/environment``. Code that starts `Task {}` or `Task.detached` itself,
/// uses `Task.sleep`, `Date()` or a store with its own threads (SQLite, PostgreSQL) leaves the
/// simulator: its timing is the machine's, so the run is no longer repeatable (and a run whose
/// jobs all wait on such work is reported as stuck).
public struct Simulation: Sendable {
    /// The most jobs one run may take before it counts as a livelock.
    public var maxSteps: Int
    /// The most virtual time one run may take before it counts as stuck.
    public var maxVirtualTime: Duration
    let scenario: @Sendable (SimulationContext) async throws -> Void

    /// Creates a simulation of `scenario`.
    ///
    /// - Parameters:
    ///   - maxSteps: the most jobs one run may take.
    ///   - maxVirtualTime: the most virtual time one run may take.
    ///   - scenario: the simulated system and its workload; it throws (or calls
    ///     ``SimulationContext/fail(_:_:)``) when something is wrong.
    public init(maxSteps: Int = 200_000, maxVirtualTime: Duration = .seconds(24 * 3600), _ scenario: @escaping @Sendable (SimulationContext) async throws -> Void) {
        self.maxSteps = maxSteps
        self.maxVirtualTime = maxVirtualTime
        self.scenario = scenario
    }

    /// Lets one run at a time drive its thread (see ``run(seed:prefix:recordingTrace:)``).
    private static let oneAtATime = DispatchSemaphore(value: 1)

    /// Runs the scenario once under `seed`.
    ///
    /// - Parameters:
    ///   - seed: decides the schedule, the faults and every random choice.
    ///   - prefix: stop injecting faults and starting new work after this step (shrinking).
    ///   - recordingTrace: keep the trace lines (``SimulationRun/trace``), not only their hash.
    /// - Returns: the run: steps, trace hash, and the broken invariant if any.
    public func run(seed: UInt64, prefix: Int? = nil, recordingTrace: Bool = false) async -> SimulationRun {
        await withCheckedContinuation { (continuation: CheckedContinuation<SimulationRun, Never>) in
            // The simulation's one thread: jobs run here, never on the cooperative pool.
            let thread = Thread {
                // One simulation at a time in the whole process: a run keeps a core busy, and
                // several at once (tests run in parallel) starved the rest of a test suite on a
                // 2-core machine until its ordinary timeouts failed.
                Self.oneAtATime.wait()
                defer { Self.oneAtATime.signal() }
                continuation.resume(returning: self.drive(seed: seed, prefix: prefix, recordingTrace: recordingTrace))
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
    }

    /// Runs every seed; on the first failure, shrinks it and throws ``SimulationFailure``.
    ///
    /// - Parameters:
    ///   - seeds: the seeds to run.
    ///   - shrink: look for the shortest failing prefix (a dozen more runs).
    /// - Returns: how many seeds and steps ran.
    /// - Throws: ``SimulationFailure`` with the seed, trace hash, shrunk prefix and replay call.
    @discardableResult
    public func check(seeds: some Sequence<UInt64>, shrink: Bool = true) async throws -> SimulationSummary {
        var summary = SimulationSummary(seeds: 0, steps: 0)
        for seed in seeds {
            let run = await run(seed: seed)
            summary.seeds += 1
            summary.steps += run.steps
            if run.violation != nil {
                throw await failure(of: run, shrink: shrink)
            }
        }
        return summary
    }

    /// Runs `seed` again (to `prefix`, if given) with its trace recorded.
    ///
    /// - Parameters:
    ///   - seed: the seed a failure printed.
    ///   - prefix: the shrunk prefix it printed.
    /// - Returns: the run, when no invariant broke.
    /// - Throws: ``SimulationFailure`` (with the trace) when one did.
    @discardableResult
    public func replay(seed: UInt64, prefix: Int? = nil) async throws -> SimulationRun {
        let run = await run(seed: seed, prefix: prefix, recordingTrace: true)
        if let violation = run.violation {
            throw SimulationFailure(run: run, violation: violation, shrunkPrefix: prefix)
        }
        return run
    }

    /// The failure of `run`, shrunk: the smallest prefix (binary search) whose run still fails.
    func failure(of run: SimulationRun, shrink: Bool) async -> SimulationFailure {
        guard shrink, let violation = run.violation else { return SimulationFailure(run: run, violation: run.violation!, shrunkPrefix: nil) }
        var low = 0
        var high = run.steps
        while low < high {
            let middle = (low + high) / 2
            if await self.run(seed: run.seed, prefix: middle).violation != nil { high = middle } else { low = middle + 1 }
        }
        let shrunk = await self.run(seed: run.seed, prefix: high, recordingTrace: true)
        if shrunk.violation != nil, high < run.steps {
            return SimulationFailure(run: run, violation: violation, shrunkPrefix: high, shrunkRun: shrunk)
        }
        return SimulationFailure(run: run, violation: violation, shrunkPrefix: nil)
    }

    private func drive(seed: UInt64, prefix: Int?, recordingTrace: Bool) -> SimulationRun {
        let context = SimulationContext(seed: seed, prefix: prefix, recordingTrace: recordingTrace)
        let done = Mutex(false)
        let scenario = self.scenario
        let root = Task(executorPreference: context.executor) {
            do {
                try await scenario(context)
            } catch is CancellationError {
            } catch {
                context.fail("scenario", "threw \(error)")
            }
            done.withLock { $0 = true }
        }
        while context.violation == nil, !done.withLock({ $0 }) {
            if context.step >= maxSteps {
                context.fail("progress", "the scenario did not end within \(maxSteps) steps (a livelock?)")
                break
            }
            if context.runStep(checking: true) { continue }
            if done.withLock({ $0 }) { break }
            if context.now > maxVirtualTime {
                context.fail("progress", "the scenario did not end within \(maxVirtualTime) of virtual time")
                break
            }
            if context.advanceClock() { continue }
            context.fail("progress", "stuck: no job is ready, nothing sleeps, and the scenario has not ended (a lost wake-up, or work outside the simulator)")
            break
        }
        let steps = context.step
        let hash = context.traceHash
        let virtualTime = context.now
        // Tear down: cancel everything and let the tasks finish, so no continuation is leaked.
        root.cancel()
        var budget = 1_000_000
        while budget > 0 {
            budget -= 1
            if context.runStep(checking: false) { continue }
            if done.withLock({ $0 }) { break }
            if !context.advanceClock() {
                context.clock.cancelAll()
                if context.executor.readyCount == 0 { break }
            }
        }
        // What is left (tasks started with `spawn`, ended by their streams' termination) ends
        // with its sleeps cancelled.
        for _ in 0..<100 {
            while context.runStep(checking: false) {}
            guard context.clock.hasSleepers else { break }
            context.clock.cancelAll()
        }
        return SimulationRun(
            seed: seed, prefix: prefix, steps: steps, traceHash: hash, virtualTime: virtualTime, violation: context.violation, trace: context.trace
        )
    }
}

/// One run of a ``Simulation``.
public struct SimulationRun: Sendable, Hashable {
    /// The seed it ran under.
    public var seed: UInt64
    /// The step after which faults and new work stopped, if any.
    public var prefix: Int?
    /// The jobs it ran (until the violation, when one broke).
    public var steps: Int
    /// A hash of its schedule, clock and recorded events: equal for equal runs.
    public var traceHash: UInt64
    /// The virtual time it took.
    public var virtualTime: Duration
    /// The invariant it broke, if any.
    public var violation: SimulationViolation?
    /// The recorded trace (empty unless recorded: see ``Simulation/replay(seed:prefix:)``).
    public var trace: [String]

    /// The trace hash as 16 hex digits.
    public var traceHashText: String {
        let hex = String(traceHash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// What ``Simulation/check(seeds:shrink:)`` ran.
public struct SimulationSummary: Sendable, Hashable {
    /// Seeds run.
    public var seeds: Int
    /// Jobs run, over all seeds.
    public var steps: Int
}

/// A seed broke an invariant: the seed, the trace hash, the shortest failing prefix found, and
/// the one call that replays it.
public struct SimulationFailure: Error, CustomStringConvertible {
    /// The failing run.
    public var run: SimulationRun
    /// What broke.
    public var violation: SimulationViolation
    /// The shortest prefix of steps (faults and new work stop after it) that still fails, if
    /// shorter than the run.
    public var shrunkPrefix: Int?
    /// The shrunk run, with its trace.
    public var shrunkRun: SimulationRun?

    /// Creates a failure report.
    ///
    /// - Parameters:
    ///   - run: the failing run.
    ///   - violation: what broke.
    ///   - shrunkPrefix: the shortest failing prefix, if shorter than the run.
    ///   - shrunkRun: that prefix's run.
    public init(run: SimulationRun, violation: SimulationViolation, shrunkPrefix: Int?, shrunkRun: SimulationRun? = nil) {
        self.run = run
        self.violation = violation
        self.shrunkPrefix = shrunkPrefix
        self.shrunkRun = shrunkRun
    }

    /// The one-line call that replays the failure (on the same simulation value).
    public var replayCall: String {
        if let shrunkPrefix { return "try await simulation.replay(seed: \(run.seed), prefix: \(shrunkPrefix))" }
        if let prefix = run.prefix { return "try await simulation.replay(seed: \(run.seed), prefix: \(prefix))" }
        return "try await simulation.replay(seed: \(run.seed))"
    }

    /// Seed, trace hash, violation, shrunk prefix, replay call, and the end of the trace if recorded.
    public var description: String {
        var text = "Simulation failed with seed \(run.seed) (trace hash \(run.traceHashText), \(run.steps) steps): \(violation)."
        if let shrunkPrefix {
            text += " Shrunk: it still fails when faults and new work stop after step \(shrunkPrefix)"
            if let shrunkRun, let shrunkViolation = shrunkRun.violation { text += " (\(shrunkViolation))" }
            text += "."
        }
        text += "\nReplay: \(replayCall)"
        let trace = (shrunkRun ?? run).trace
        if !trace.isEmpty {
            text += "\nLast steps of the trace:\n" + trace.suffix(30).joined(separator: "\n")
        }
        return text
    }
}
