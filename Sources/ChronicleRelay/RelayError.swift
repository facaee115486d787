/// What went wrong delivering an event or receiving one: one error type for the module, a
/// struct wrapping a code, with the context to act on.
///
/// ```swift
/// do { try relayConfiguration.validate() } catch let error as RelayError { print(error.code, error.message) }
/// ```
public struct RelayError: Error, Sendable, CustomStringConvertible {
    /// The kinds of relay errors.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String {
            case invalidConfiguration, permanentFailure, retriesExhausted, badSignature, staleRequest, malformedEvent, bodyTooLarge, timedOut, unreachable
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// A setting is out of range (the message says which and what is allowed).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The endpoint refused the event for good (a 4xx other than 408, 409 and 429): the event
        /// is parked at once; fix the receiver or the event, then retry it (`chronicle parked retry`).
        public static let permanentFailure = Code(.permanentFailure)
        /// Every try failed (connection errors, timeouts, 5xx, 408, 409, 429): the event is
        /// parked; retry it once the endpoint works.
        public static let retriesExhausted = Code(.retriesExhausted)
        /// The inbox refused a request whose signature is missing or does not match (wrong
        /// secret, or a body changed on the way). Nothing was applied.
        public static let badSignature = Code(.badSignature)
        /// The inbox refused a signed request older (or further in the future) than its tolerance:
        /// a replayed request, or clocks that disagree. Nothing was applied.
        public static let staleRequest = Code(.staleRequest)
        /// The inbox could not read the event in the body. Nothing was applied.
        public static let malformedEvent = Code(.malformedEvent)
        /// The inbox refused a body larger than its limit. Nothing was applied.
        public static let bodyTooLarge = Code(.bodyTooLarge)
        /// A delivery got no answer within the request timeout (a ``RelayTransport`` throws it,
        /// or the relay gives up on the call itself): retried, and counts towards the circuit breaker.
        public static let timedOut = Code(.timedOut)
        /// The endpoint could not be reached (connection refused or reset, name not resolved): a
        /// ``RelayTransport`` throws it; retried, and counts towards the circuit breaker.
        public static let unreachable = Code(.unreachable)

        /// The code's name.
        public var description: String { kind.rawValue }
    }

    /// What kind of error it is.
    public var code: Code
    /// What happened and what to do.
    public var message: String
    /// The HTTP status the endpoint answered, if it answered.
    public var httpStatus: Int?
    /// How many calls were made for the event.
    public var attempts: Int?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: the kind of error.
    ///   - message: what happened and what to do.
    ///   - httpStatus: the status the endpoint answered, if any.
    ///   - attempts: how many calls were made.
    public init(_ code: Code, _ message: String, httpStatus: Int? = nil, attempts: Int? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
        self.attempts = attempts
    }

    /// The code and message.
    public var description: String { "\(code): \(message)" }
}
