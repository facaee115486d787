public import Chronicle
public import Foundation
import Synchronization

/// What a simulated scenario sees of the simulator: the environment to hand to Chronicle's
/// components (virtual clock, seeded randomness, the simulator's executor), seeded choices, the
/// trace, invariants checked after every step, and processes that crash.
///
/// A scenario gets one from ``Simulation``; everything it decides by chance must come from here
/// (never `UUID()`, `Date()`, `Task.sleep` or `Task {}`), so that a seed replays exactly.
///
/// ```swift
/// let simulation = Simulation { context in
///     let store = FaultInjectingEventStore(context: context)
///     for n in 0..<context.random(in: 1...20) {
///         _ = try await store.append(context.event(type: "Ticked", payload: ["n": .int(n)]), to: "clock-1", expectedVersion: .any)
///     }
/// }
/// ```
public final class SimulationContext: Sendable {
    /// How the seed picks the next job: uniformly among the ready ones, or mostly the newest
    /// (a woken task's chain of jobs runs on before older work, deep races), or mostly the
    /// oldest (close to first-come first-served). Each seed draws one.
    enum Strategy: String {
        case uniform, newestFirst, oldestFirst
    }

    private struct State {
        var random: SeededRandomNumberGenerator
        var strategy: Strategy = .uniform
        var step = 0
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var trace: [String]?
        var violation: SimulationViolation?
        var invariants: [(name: String, check: @Sendable () -> String?)] = []
        var processes: [SimulatedProcess] = []
        var quiet = false
    }

    /// The seed of this run.
    public let seed: UInt64
    /// The step after which no fault is injected and no new work starts (`nil`: none), when a
    /// failing run is shrunk or replayed to a prefix.
    public let prefix: Int?
    let executor: SimulationExecutor
    let clock: SimulationClock
    private let state: Mutex<State>

    init(seed: UInt64, prefix: Int?, recordingTrace: Bool) {
        self.seed = seed
        self.prefix = prefix
        self.executor = SimulationExecutor()
        self.clock = SimulationClock()
        var random = SeededRandomNumberGenerator(seed: seed)
        let strategy: Strategy = [.uniform, .newestFirst, .oldestFirst][Int.random(in: 0..<3, using: &random)]
        self.state = Mutex(State(random: random, strategy: strategy, trace: recordingTrace ? [] : nil))
        record("scheduler: \(strategy.rawValue)")
    }

    /// The environment to give Chronicle's components: virtual `now` and `sleep`, seeded
    /// `random`, and the simulator's executor for the tasks they start.
    public var environment: RuntimeEnvironment {
        let clock = self.clock
        return RuntimeEnvironment(
            now: { [weak self] in self?.date ?? Date(timeIntervalSince1970: 1_700_000_000) },
            sleep: { try await clock.sleep(for: $0) },
            random: { [weak self] in self?.next() ?? 0 },
            taskExecutor: executor
        )
    }

    /// Virtual time since the run began.
    public var now: Duration { clock.now }

    /// The virtual wall clock: 2023-11-14T22:13:20Z plus ``now``.
    public var date: Date {
        let elapsed = now.components
        return Date(timeIntervalSince1970: 1_700_000_000 + Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
    }

    /// The number of jobs run so far.
    public var step: Int { state.withLock { $0.step } }

    /// Whether faults may be injected and new work started: `true` until the step ``prefix`` and
    /// until ``quiesce()``.
    public var isActive: Bool {
        state.withLock { state in !state.quiet && (prefix.map { state.step < $0 } ?? true) }
    }

    /// Ends the faulty phase: from now on no fault is injected, no process crashes and
    /// ``isActive`` is `false`, so the scenario can check that the system settles (catches up,
    /// every effect exactly once).
    public func quiesce() {
        state.withLock { $0.quiet = true }
        record("quiesce")
    }

    /// A seeded integer in `range`.
    ///
    /// - Parameter range: the values to draw from.
    public func random(in range: ClosedRange<Int>) -> Int {
        state.withLock { Int.random(in: range, using: &$0.random) }
    }

    /// A seeded integer in `range`.
    ///
    /// - Parameter range: the values to draw from (not empty).
    public func random(in range: Range<Int>) -> Int {
        state.withLock { Int.random(in: range, using: &$0.random) }
    }

    /// A seeded duration in `range`, to the microsecond.
    ///
    /// - Parameter range: the durations to draw from.
    public func random(in range: ClosedRange<Duration>) -> Duration {
        let low = range.lowerBound / .microseconds(1)
        let high = range.upperBound / .microseconds(1)
        let micros = state.withLock { Double.random(in: low...high, using: &$0.random) }
        return .microseconds(Int64(micros))
    }

    /// `true` with `probability` (0…1); never once the run is past its ``prefix`` or quiesced.
    ///
    /// - Parameter probability: the chance of `true`.
    public func chance(_ probability: Double) -> Bool {
        guard probability > 0, isActive else { return false }
        return state.withLock { Double.random(in: 0..<1, using: &$0.random) < probability }
    }

    /// 64 seeded bits.
    public func next() -> UInt64 {
        state.withLock { $0.random.next() }
    }

    /// A seeded UUID (version 4 layout), for event ids.
    public func uuid() -> UUID {
        let (high, low) = state.withLock { ($0.random.next(), $0.random.next()) }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> (8 * UInt64(index)))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (8 * UInt64(index)))
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    /// An event with a seeded id and a JSON object payload, for workloads.
    ///
    /// - Parameters:
    ///   - type: the event type.
    ///   - payload: the payload's fields.
    ///   - metadata: correlation, causation and custom metadata.
    public func event(type: String, payload: [String: JSONValue] = [:], metadata: EventMetadata = .none) -> EventData {
        let data = (try? JSONValue.object(payload).encoded()) ?? Data("{}".utf8)
        return EventData(id: uuid(), type: type, payload: data, metadata: metadata)
    }

    /// Adds `line` to the trace: it enters the trace hash, and the recorded trace of a replay.
    ///
    /// - Parameter line: what happened (evaluated always: it enters the hash).
    public func record(_ line: @autoclosure () -> String) {
        let text = line()
        state.withLock { state in
            state.hash = Self.mix(state.hash, text)
            state.trace?.append("[\(state.step)] \(text)")
        }
    }

    /// Records that invariant `invariant` was broken; the run stops after the current step.
    ///
    /// - Parameters:
    ///   - invariant: the invariant's name.
    ///   - message: what was seen.
    public func fail(_ invariant: String, _ message: String) {
        state.withLock { state in
            if state.violation == nil { state.violation = SimulationViolation(invariant: invariant, message: message, step: state.step) }
        }
    }

    /// Adds an invariant checked after every step: `check` returns `nil` when it holds, or what
    /// is wrong. It runs between jobs, synchronously; read state kept behind a lock.
    ///
    /// - Parameters:
    ///   - name: the invariant's name, printed when it breaks.
    ///   - check: `nil`, or a description of the violation.
    public func addInvariant(_ name: String, _ check: @escaping @Sendable () -> String?) {
        state.withLock { $0.invariants.append((name, check)) }
    }

    /// Runs `action` between two steps once virtual time has advanced by `delay`.
    ///
    /// - Parameters:
    ///   - delay: virtual time from now.
    ///   - action: what to do then (quick and synchronous).
    public func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) {
        clock.schedule(after: delay, action)
    }

    /// A process the simulator may crash between any two steps (see ``SimulatedProcess``).
    ///
    /// - Parameters:
    ///   - name: its name in the trace.
    ///   - crashProbability: the chance, after every step, that it dies.
    ///   - restartDelay: the virtual time before it starts again.
    public func process(named name: String, crashProbability: Double, restartDelay: ClosedRange<Duration> = .milliseconds(1)...(.milliseconds(500))) -> SimulatedProcess {
        let process = SimulatedProcess(name: name, context: self, crashProbability: crashProbability, restartDelay: restartDelay)
        state.withLock { $0.processes.append(process) }
        return process
    }

    // MARK: Driver

    var violation: SimulationViolation? { state.withLock { $0.violation } }
    var traceHash: UInt64 { state.withLock { $0.hash } }
    var trace: [String] { state.withLock { $0.trace ?? [] } }

    /// Runs one ready job (chosen by the seed), then the crash decisions and the invariants.
    /// Returns `false` when no job was ready.
    func runStep(checking: Bool) -> Bool {
        guard let taken = executor.take(choosing: { count in
            guard count > 1 else { return 0 }
            return state.withLock { state in
                let roll = Int.random(in: 0..<10, using: &state.random)
                switch state.strategy {
                case .newestFirst where roll < 9: return count - 1
                case .oldestFirst where roll < 9: return 0
                default: return Int.random(in: 0..<count, using: &state.random)
                }
            }
        }) else { return false }
        state.withLock { state in
            state.step += 1
            state.hash = Self.mix(state.hash, UInt64(taken.index) << 32 | UInt64(taken.of))
        }
        executor.run(taken.job)
        guard checking else { return true }
        let (processes, invariants) = state.withLock { ($0.processes, $0.invariants) }
        for process in processes where process.isRunning && chance(process.crashProbability) {
            process.crash()
        }
        for invariant in invariants {
            if let message = invariant.check() {
                fail(invariant.name, message)
                break
            }
        }
        return true
    }

    /// Advances virtual time to the next deadline; `false` when nothing sleeps.
    func advanceClock() -> Bool {
        guard let now = clock.advance() else { return false }
        state.withLock { $0.hash = Self.mix($0.hash, UInt64(now / .microseconds(1))) }
        return true
    }

    static func mix(_ hash: UInt64, _ value: UInt64) -> UInt64 {
        var hash = hash
        for shift in stride(from: 0, to: 64, by: 8) {
            hash ^= (value >> UInt64(shift)) & 0xFF
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }

    static func mix(_ hash: UInt64, _ text: String) -> UInt64 {
        var hash = hash
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}

/// A broken invariant: which, what was seen, and at which step.
public struct SimulationViolation: Sendable, Hashable, CustomStringConvertible {
    /// The invariant's name.
    public var invariant: String
    /// What was seen.
    public var message: String
    /// The step after which it was seen.
    public var step: Int

    /// The invariant, the step and the message.
    public var description: String { "\(invariant) broken after step \(step): \(message)" }
}
