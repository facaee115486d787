/// How a relay retries a delivery that failed for a reason that may pass (connection errors,
/// timeouts, 5xx, 408, 409, 429): exponential backoff with jitter, honouring `Retry-After`.
///
/// The wait after failed try `n` is `baseDelay * 2^(n-1)` capped at `maxDelay`, then jittered
/// to a uniformly random point between half of it and all of it (so relays that failed together
/// do not retry together). A `Retry-After` answer raises the wait to what the endpoint asked
/// for, up to `maxRetryAfter`. After `maxAttempts` tries the event is parked.
///
/// ```swift
/// let policy = RelayRetryPolicy(maxAttempts: 8, baseDelay: .milliseconds(200), maxDelay: .seconds(30))
/// ```
public struct RelayRetryPolicy: Sendable, Hashable {
    /// Tries per event in all, the first included (1…1,000).
    public var maxAttempts: Int
    /// The wait before the second try.
    public var baseDelay: Duration
    /// The longest wait between two tries (before `Retry-After`).
    public var maxDelay: Duration
    /// The longest `Retry-After` honoured; a longer one waits this long.
    public var maxRetryAfter: Duration

    /// Creates a policy.
    ///
    /// - Parameters:
    ///   - maxAttempts: tries per event in all (1…1,000).
    ///   - baseDelay: the wait before the second try.
    ///   - maxDelay: the longest wait between two tries.
    ///   - maxRetryAfter: the longest `Retry-After` honoured.
    public init(maxAttempts: Int = 12, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(30), maxRetryAfter: Duration = .seconds(300)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    /// Twelve tries from 200 ms up to 30 s apart (about four minutes in all, more with
    /// `Retry-After` and an open circuit), then park.
    public static let `default` = RelayRetryPolicy()

    /// Throws ``RelayError/Code/invalidConfiguration`` for a setting out of range.
    func validate() throws(RelayError) {
        guard (1...1000).contains(maxAttempts) else {
            throw RelayError(.invalidConfiguration, "A relay tries an event 1 to 1000 times, not \(maxAttempts).")
        }
        guard baseDelay >= .zero, maxDelay >= baseDelay, maxRetryAfter >= .zero else {
            throw RelayError(.invalidConfiguration, "Retry delays must be 0 or more, with maxDelay (\(maxDelay)) at least baseDelay (\(baseDelay)).")
        }
    }

    /// The wait after failed try `attempt` (1-based), before jitter: `baseDelay * 2^(attempt-1)`,
    /// capped at `maxDelay`.
    public func backoff(afterAttempt attempt: Int) -> Duration {
        var delay = baseDelay
        for _ in 0..<Swift.min(Swift.max(0, attempt - 1), 62) {
            delay *= 2
            if delay >= maxDelay { return maxDelay }
        }
        return Swift.min(delay, maxDelay)
    }

    /// The wait after failed try `attempt`: the backoff jittered by `unit` (a random number in
    /// `0...1`: 0 waits half the backoff, 1 all of it), raised to `retryAfter` (capped).
    ///
    /// - Parameters:
    ///   - attempt: the failed try's number, 1-based.
    ///   - unit: a random number in `0...1`.
    ///   - retryAfter: what the endpoint's `Retry-After` asked for, if it did.
    public func delay(afterAttempt attempt: Int, unit: Double, retryAfter: Duration?) -> Duration {
        let backoff = backoff(afterAttempt: attempt)
        let jittered = backoff / 2 + (backoff / 2) * Swift.min(1, Swift.max(0, unit))
        guard let retryAfter else { return jittered }
        return Swift.max(jittered, Swift.min(retryAfter, maxRetryAfter))
    }
}
