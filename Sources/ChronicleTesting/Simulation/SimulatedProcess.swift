import Synchronization

/// Thrown by a simulated component whose process crashed: the dead process cannot touch durable
/// state any more.
public struct SimulatedCrash: Error, CustomStringConvertible {
    /// The process and its incarnation.
    public var process: String

    /// What happened.
    public var description: String { "process \(process) has crashed" }
}

/// One life of a ``SimulatedProcess``: from its start to its crash (or the end of the run).
/// Everything durable a process does checks ``checkAlive()`` first, in the same synchronous
/// section as the write, so a dead process writes nothing: its durable state stays exactly as
/// committed, its memory is gone.
public final class SimulatedIncarnation: Sendable {
    /// The process's name.
    public let process: String
    /// 1 for the first life, 2 after the first crash…
    public let number: Int
    private let alive = Mutex(true)

    init(process: String, number: Int) {
        self.process = process
        self.number = number
    }

    /// Whether this life has not crashed.
    public var isAlive: Bool { alive.withLock { $0 } }

    /// Throws ``SimulatedCrash`` when this life has crashed.
    public func checkAlive() throws(SimulatedCrash) {
        if !isAlive { throw SimulatedCrash(process: "\(process)#\(number)") }
    }

    func die() { alive.withLock { $0 = false } }
}

/// A process of the simulated system (a projection runner, a process manager) that the simulator
/// crashes at random steps and restarts after a random virtual delay: each life runs the same
/// body from scratch, with new in-memory state, over the same durable storage.
///
/// ```swift
/// let runner = context.process(named: "runner", crashProbability: 0.01)
/// await runner.run { life in
///     let engine = try ProjectionEngine(name: "totals", storage: storage.handle(for: life), source: source)
///     try await engine.run()
/// }
/// ```
public final class SimulatedProcess: Sendable {
    private struct State {
        var current: SimulatedIncarnation?
        var lives = 0
        var stopped = false
        var wake = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    /// Its name in the trace.
    public let name: String
    let crashProbability: Double
    let restartDelay: ClosedRange<Duration>
    private weak let context: SimulationContext?
    private let state = Mutex(State())

    init(name: String, context: SimulationContext, crashProbability: Double, restartDelay: ClosedRange<Duration>) {
        self.name = name
        self.context = context
        self.crashProbability = crashProbability
        self.restartDelay = restartDelay
    }

    /// The current life, if the process runs.
    public var incarnation: SimulatedIncarnation? { state.withLock { $0.current } }

    /// How many times it has crashed.
    public var crashes: Int { state.withLock { max(0, $0.lives - 1) } }

    var isRunning: Bool { state.withLock { $0.current != nil && !$0.stopped } }

    /// Runs `body` in a life of its own until ``stop()``: a crash cancels the life (it can no
    /// longer write, see ``SimulatedIncarnation``) and starts a new one after a virtual delay.
    /// `body` may return early; the life then idles until it crashes or the process stops.
    ///
    /// - Parameter body: one life's work, given the life.
    public func run(_ body: @escaping @Sendable (SimulatedIncarnation) async throws -> Void) async {
        while true {
            let life: SimulatedIncarnation? = state.withLock { state in
                guard !state.stopped else { return nil }
                state.lives += 1
                state.wake = false
                let life = SimulatedIncarnation(process: name, number: state.lives)
                state.current = life
                return life
            }
            guard let life else { return }
            context?.record("\(name): life \(life.number) starts")
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await body(life) }
                await waitForCrashOrStop()
                group.cancelAll()
            }
            let stopped = state.withLock { state in
                state.current = nil
                return state.stopped
            }
            if stopped || Task.isCancelled { return }
            guard let context else { return }
            do { try await context.clock.sleep(for: context.random(in: restartDelay)) } catch { return }
        }
    }

    /// Crashes the current life now (the simulator does this at random steps).
    public func crash() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard let current = state.current, !state.stopped else { return nil }
            current.die()
            state.wake = true
            defer { state.waiter = nil }
            return state.waiter
        }
        context?.record("\(name): crash")
        waiter?.resume()
    }

    /// Ends the process: the current life is cancelled (not crashed) and none follows.
    public func stop() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            state.stopped = true
            state.wake = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    private func waitForCrashOrStop() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now: Bool = state.withLock { state in
                    if state.wake || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
                state.wake = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}

/// A value behind a lock, shareable by reference (a `Mutex` cannot be captured by closures).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try mutex.withLock { try body(&$0) }
    }
}
