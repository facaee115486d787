public import Foundation

/// The state of a circuit breaker guarding an endpoint a runner calls (an outbound relay's
/// subscriber), as data in ``ProjectionStatus/circuit``.
///
/// `closed`: calls go through. `open`: the endpoint failed `consecutiveFailures` times in a row,
/// so no calls are made until a cool-down has passed. `halfOpen`: one probe call is in flight; its
/// success closes the circuit, its failure opens it again.
///
/// ```swift
/// if let circuit = relay.status().circuit, circuit.state == .open {
///     print("\(circuit.endpoint) unreachable since \(circuit.since)")
/// }
/// ```
public struct CircuitStatus: Sendable, Hashable, Codable {
    /// The states of a circuit breaker.
    public enum State: String, Sendable, Hashable, Codable {
        /// Calls go through.
        case closed
        /// No calls until the cool-down has passed.
        case open
        /// One probe call decides whether the circuit closes or opens again.
        case halfOpen
    }

    /// The endpoint the breaker guards (a URL without credentials).
    public var endpoint: String
    /// The breaker's state.
    public var state: State
    /// When the breaker entered its state.
    public var since: Date
    /// Failed calls in a row (0 after a success).
    public var consecutiveFailures: Int

    /// Creates a circuit status.
    ///
    /// - Parameters:
    ///   - endpoint: the endpoint the breaker guards.
    ///   - state: the breaker's state.
    ///   - since: when it entered that state.
    ///   - consecutiveFailures: failed calls in a row.
    public init(endpoint: String, state: State, since: Date, consecutiveFailures: Int) {
        self.endpoint = endpoint
        self.state = state
        self.since = since
        self.consecutiveFailures = consecutiveFailures
    }
}
