/// Why ``eventually(_:timeout:fileID:line:isolation:_:)`` gave up.
public struct EventuallyTimedOut: Error, CustomStringConvertible {
    /// What was awaited, as the caller named it.
    public let what: String
    /// How long it was awaited.
    public let timeout: Duration
    /// Where the wait was written.
    public let fileID: String
    /// The line of the wait.
    public let line: Int

    /// The condition, the timeout and where.
    public var description: String { "Timed out after \(timeout) waiting for \(what) (\(fileID):\(line))" }
}

/// Polls `condition` every few milliseconds until it holds; throws ``EventuallyTimedOut`` naming
/// `what` when it still does not hold at `timeout`.
///
/// For tests of eventually consistent parts, for conditions nobody signals (a read model seen
/// from outside, another process's progress): wait for the condition with a deadline instead of
/// sleeping for a guessed time. The condition is checked once more after the deadline has passed,
/// so a test that was starved of threads for the whole timeout still passes if the condition
/// holds by the time it runs again. The timeout bounds a hang; it is not what a test waits for.
///
/// ```swift
/// try await eventually("the order list shows the order") { try await orders.count() == 1 }
/// ```
public func eventually(
    _ what: String,
    timeout: Duration = .seconds(30),
    fileID: String = #fileID, line: Int = #line,
    isolation: isolated (any Actor)? = #isolation,
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        if try await condition() { return }
        if clock.now >= deadline { throw EventuallyTimedOut(what: what, timeout: timeout, fileID: fileID, line: line) }
        try await Task.sleep(for: .milliseconds(5))
    }
}
