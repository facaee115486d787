/// What a projection runner does when applying an event throws.
///
/// The runner retries the event with exponential backoff (`baseDelay`, doubled after every failed
/// attempt, capped at `maxDelay`) until it has been tried `maxAttempts` times in all. Then it
/// either parks the event in the projection's dead-letter table and goes on with later events
/// (``Exhausted/park``), or stops the projection in state ``ProjectionState/failed``
/// (``Exhausted/stop``).
///
/// ```swift
/// // Three tries 50 ms and 100 ms apart, then park and go on.
/// let policy = FailurePolicy(maxAttempts: 3, baseDelay: .milliseconds(50), then: .park)
/// policy.delay(afterAttempt: 1) // 50 ms
/// policy.delay(afterAttempt: 2) // 100 ms
/// ```
public struct FailurePolicy: Sendable, Hashable {
    /// What happens to an event that failed `maxAttempts` times.
    public enum Exhausted: String, Sendable, Hashable, Codable {
        /// Park the event in the dead-letter table and continue with later events.
        case park
        /// Stop the projection (state ``ProjectionState/failed``); the checkpoint stays before the event.
        case stop
    }

    /// How many times an event is tried in all, the first try included (at least 1).
    public var maxAttempts: Int
    /// The wait before the second try.
    public var baseDelay: Duration
    /// The longest wait between two tries.
    public var maxDelay: Duration
    /// What happens once every try failed.
    public var whenExhausted: Exhausted

    /// Creates a policy. `maxAttempts` below 1 counts as 1; a negative delay as zero.
    public init(maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(10), then whenExhausted: Exhausted = .park) {
        self.maxAttempts = Swift.max(1, maxAttempts)
        self.baseDelay = Swift.max(.zero, baseDelay)
        self.maxDelay = Swift.max(self.baseDelay, maxDelay)
        self.whenExhausted = whenExhausted
    }

    /// Five tries from 100 ms up to 10 s apart, then park and continue.
    public static let `default` = FailurePolicy()

    /// Five tries from 100 ms up to 10 s apart, then stop the projection.
    public static let stopAfterRetries = FailurePolicy(then: .stop)

    /// The wait after failed attempt number `attempt` (1-based) before the next one:
    /// `baseDelay * 2^(attempt-1)`, capped at `maxDelay`.
    public func delay(afterAttempt attempt: Int) -> Duration {
        let doublings = Swift.min(Swift.max(0, attempt - 1), 62)
        var delay = baseDelay
        for _ in 0..<doublings {
            delay *= 2
            if delay >= maxDelay { return maxDelay }
        }
        return Swift.min(delay, maxDelay)
    }
}
