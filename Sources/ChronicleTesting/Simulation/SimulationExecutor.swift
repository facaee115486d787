import Synchronization

/// The simulator's task executor: it never runs a job by itself. Jobs wait in a list until the
/// simulator takes one (chosen with its seeded generator) and runs it on the simulation's thread,
/// so exactly one job of the simulated code runs at a time, in an order the seed decides.
final class SimulationExecutor: TaskExecutor {
    private let ready = Mutex<[UnownedJob]>([])

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        ready.withLock { $0.append(unowned) }
    }

    /// How many jobs are ready.
    var readyCount: Int { ready.withLock { $0.count } }

    /// Removes the ready job at `choose(count)` (in enqueue order), or returns `nil` when none is ready.
    func take(choosing choose: (Int) -> Int) -> (job: UnownedJob, index: Int, of: Int)? {
        ready.withLock { jobs in
            guard !jobs.isEmpty else { return nil }
            let index = choose(jobs.count)
            return (jobs.remove(at: index), index, jobs.count + 1)
        }
    }

    /// Runs one job on the calling thread, as this executor.
    func run(_ job: UnownedJob) {
        job.runSynchronously(on: asUnownedTaskExecutor())
    }
}

/// The simulation's virtual clock: time stands still while jobs are ready, and jumps to the next
/// sleeper's deadline when none is. Sleeps are cancellable; timers run a closure at their deadline.
final class SimulationClock: Sendable {
    private enum Wake {
        case task(CheckedContinuation<Void, any Error>)
        case timer(@Sendable () -> Void)
    }
    private struct Sleeper {
        let deadline: Duration
        let id: Int
        let wake: Wake
    }
    private struct State {
        var now: Duration = .zero
        var sleepers: [Sleeper] = []
        var cancelled: Set<Int> = []
        var nextID = 0
    }
    private let state = Mutex(State())

    /// Virtual time elapsed since the simulation began.
    var now: Duration { state.withLock { $0.now } }

    /// Whether a task or timer waits for a deadline.
    var hasSleepers: Bool { state.withLock { !$0.sleepers.isEmpty } }

    /// Suspends the calling task until virtual time has advanced by `duration`.
    func sleep(for duration: Duration) async throws {
        let id: Int = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled: Bool = state.withLock { state in
                    if state.cancelled.remove(id) != nil { return true }
                    state.sleepers.append(Sleeper(deadline: state.now + max(.zero, duration), id: id, wake: .task(continuation)))
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let wake: Wake? = state.withLock { state in
                if let index = state.sleepers.firstIndex(where: { $0.id == id }) { return state.sleepers.remove(at: index).wake }
                state.cancelled.insert(id)
                return nil
            }
            if case .task(let continuation) = wake { continuation.resume(throwing: CancellationError()) }
        }
        _ = state.withLock { $0.cancelled.remove(id) }
    }

    /// Runs `action` (synchronously, between jobs) once virtual time has advanced by `delay`.
    func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) {
        state.withLock { state in
            state.sleepers.append(Sleeper(deadline: state.now + max(.zero, delay), id: state.nextID, wake: .timer(action)))
            state.nextID += 1
        }
    }

    /// Advances to the earliest deadline and wakes everything due then, in the order it began
    /// waiting. Returns the new time, or `nil` when nothing sleeps.
    func advance() -> Duration? {
        let (due, now): ([Wake], Duration?) = state.withLock { state in
            guard let deadline = state.sleepers.map(\.deadline).min() else { return ([], nil) }
            state.now = max(state.now, deadline)
            let due = state.sleepers.filter { $0.deadline <= deadline }.sorted { $0.id < $1.id }.map(\.wake)
            state.sleepers.removeAll { $0.deadline <= deadline }
            return (due, state.now)
        }
        for wake in due {
            switch wake {
            case .task(let continuation): continuation.resume()
            case .timer(let action): action()
            }
        }
        return now
    }

    /// Wakes every sleeping task with `CancellationError` and drops the timers (tear-down).
    func cancelAll() {
        let all: [Wake] = state.withLock { state in
            defer { state.sleepers.removeAll() }
            return state.sleepers.map(\.wake)
        }
        for case .task(let continuation) in all { continuation.resume(throwing: CancellationError()) }
    }
}
