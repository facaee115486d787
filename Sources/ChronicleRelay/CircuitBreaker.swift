import Chronicle
import Foundation
import Synchronization

/// When a relay's circuit breaker opens and how long it stays open.
///
/// After `failureThreshold` failed calls in a row the circuit opens: no calls for `coolDown`.
/// Then one probe call goes out (half-open): success closes the circuit, failure opens it for
/// another `coolDown`. Events wait meanwhile; they are not parked for it.
///
/// ```swift
/// let breaker = CircuitBreakerPolicy(failureThreshold: 5, coolDown: .seconds(10))
/// ```
public struct CircuitBreakerPolicy: Sendable, Hashable {
    /// Failed calls in a row that open the circuit (1…10,000).
    public var failureThreshold: Int
    /// How long the circuit stays open before a probe.
    public var coolDown: Duration

    /// Creates a policy.
    ///
    /// - Parameters:
    ///   - failureThreshold: failed calls in a row that open the circuit.
    ///   - coolDown: how long it stays open before a probe.
    public init(failureThreshold: Int = 5, coolDown: Duration = .seconds(10)) {
        self.failureThreshold = failureThreshold
        self.coolDown = coolDown
    }

    /// Five failures in a row open it for ten seconds.
    public static let `default` = CircuitBreakerPolicy()

    func validate() throws(RelayError) {
        guard (1...10_000).contains(failureThreshold) else {
            throw RelayError(.invalidConfiguration, "A circuit opens after 1 to 10000 failures in a row, not \(failureThreshold).")
        }
        guard coolDown > .zero else {
            throw RelayError(.invalidConfiguration, "A circuit's cool-down must be longer than zero, not \(coolDown).")
        }
    }
}

/// One endpoint's circuit breaker, shared by every partition of a relay.
final class CircuitBreaker: Sendable {
    enum Permit: Equatable {
        /// Call (closed circuit).
        case call
        /// Call as the one probe of a half-open circuit; report the outcome.
        case probe
        /// Do not call; ask again after this long.
        case wait(Duration)
    }

    private struct State {
        var state: CircuitStatus.State = .closed
        var since: Date
        var failures = 0
        var probing = false
    }

    let policy: CircuitBreakerPolicy
    let endpoint: String
    private let now: @Sendable () -> Date
    private let changed: @Sendable (CircuitStatus) -> Void
    private let state: Mutex<State>
    /// Planted bug (simulator tests only): an open circuit permits calls during its cool-down.
    private let letsCallsThroughWhileOpen: Bool

    init(
        policy: CircuitBreakerPolicy, endpoint: String, now: @escaping @Sendable () -> Date, letsCallsThroughWhileOpen: Bool = false,
        changed: @escaping @Sendable (CircuitStatus) -> Void
    ) {
        self.policy = policy
        self.endpoint = endpoint
        self.now = now
        self.changed = changed
        self.letsCallsThroughWhileOpen = letsCallsThroughWhileOpen
        self.state = Mutex(State(since: now()))
    }

    var status: CircuitStatus {
        state.withLock { CircuitStatus(endpoint: endpoint, state: $0.state, since: $0.since, consecutiveFailures: $0.failures) }
    }

    /// Whether a call may go out now.
    func permit() -> Permit {
        let now = now()
        let (permit, change): (Permit, CircuitStatus?) = state.withLock { state in
            switch state.state {
            case .closed:
                return (.call, nil)
            case .open:
                let elapsed = Duration.seconds(now.timeIntervalSince(state.since))
                guard elapsed >= policy.coolDown else { return letsCallsThroughWhileOpen ? (.call, nil) : (.wait(policy.coolDown - elapsed), nil) }
                state.state = .halfOpen
                state.since = now
                state.probing = true
                return (.probe, status(state))
            case .halfOpen:
                if state.probing { return (.wait(Swift.min(policy.coolDown, .milliseconds(50))), nil) }
                state.probing = true
                return (.probe, nil)
            }
        }
        if let change { changed(change) }
        return permit
    }

    /// The endpoint answered (a success, or a refusal that says it is up).
    func succeeded() {
        let change: CircuitStatus? = state.withLock { state in
            state.failures = 0
            state.probing = false
            guard state.state != .closed else { return nil }
            state.state = .closed
            state.since = now()
            return status(state)
        }
        if let change { changed(change) }
    }

    /// A call failed in a way that may pass (connection, timeout, 5xx, 408, 409, 429).
    func failed() {
        let change: CircuitStatus? = state.withLock { state in
            state.failures += 1
            switch state.state {
            case .halfOpen:
                state.state = .open
                state.since = now()
                state.probing = false
                return status(state)
            case .closed where state.failures >= policy.failureThreshold:
                state.state = .open
                state.since = now()
                return status(state)
            default:
                return nil
            }
        }
        if let change { changed(change) }
    }

    /// A probe ended without an outcome (its task was cancelled): another may go.
    func abandonedProbe() {
        state.withLock { $0.probing = false }
    }

    private func status(_ state: State) -> CircuitStatus {
        CircuitStatus(endpoint: endpoint, state: state.state, since: state.since, consecutiveFailures: state.failures)
    }
}
