import Synchronization

/// A monotonic position that tasks can wait on: waiters resume the moment it reaches their
/// target (no polling), throw the recorded failure while one is set, and throw on cancellation.
package final class PositionSignal: Sendable {
    private struct Waiter {
        let target: GlobalPosition
        let continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var value: GlobalPosition
        var failure: ProjectionError?
        var waiters: [Int: Waiter] = [:]
        var cancelled: Set<Int> = []
        var nextID = 0
    }
    private let state: Mutex<State>

    package init(_ value: GlobalPosition = .start) {
        state = Mutex(State(value: value))
    }

    /// The current position.
    package var value: GlobalPosition { state.withLock { $0.value } }

    /// Raises the position to `position` (lower values are ignored) and wakes satisfied waiters.
    package func advance(to position: GlobalPosition) {
        let ready: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            guard position > state.value else { return [] }
            state.value = position
            var ready: [CheckedContinuation<Void, any Error>] = []
            // In id order (the order they began waiting), not the dictionary's per-process hash
            // order: a seeded simulation then wakes them in the same order on every run.
            for (id, waiter) in state.waiters.sorted(by: { $0.key < $1.key }) where waiter.target <= position {
                ready.append(waiter.continuation)
                state.waiters.removeValue(forKey: id)
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Makes every waiter, present and future, throw `error` until ``clearFailure()``.
    package func fail(_ error: ProjectionError) {
        let all: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            state.failure = error
            defer { state.waiters.removeAll() }
            return state.waiters.sorted(by: { $0.key < $1.key }).map(\.value.continuation)
        }
        for continuation in all { continuation.resume(throwing: error) }
    }

    /// Lets waiters wait again.
    package func clearFailure() {
        state.withLock { $0.failure = nil }
    }

    /// Returns once the position is at least `target`.
    package func wait(until target: GlobalPosition) async throws {
        let id: Int = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { state in
                    if state.value >= target { return .success(()) }
                    if let failure = state.failure { return .failure(failure) }
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    state.waiters[id] = Waiter(target: target, continuation: continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        // A cancellation that arrived after the wait completed leaves no trace behind.
        _ = state.withLock { $0.cancelled.remove(id) }
    }

    /// Returns once the position is at least `target`, or throws ``ProjectionError/Code/timeout``.
    package func wait(
        until target: GlobalPosition, timeout: Duration, projection: String,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) async throws {
        if value >= target { return }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await self.wait(until: target)
                return true
            }
            group.addTask {
                try await sleep(timeout)
                return false
            }
            defer { group.cancelAll() }
            guard let reached = try await group.next(), reached else {
                try Task.checkCancellation()
                // The deadline and the wake-up may race: a position reached meanwhile is no timeout.
                if self.value >= target { return }
                throw ProjectionError(
                    .timeout,
                    "Projection \(projection) did not reach position \(target) within \(timeout); it is at \(self.value).",
                    projection: projection, position: target
                )
            }
        }
    }
}
