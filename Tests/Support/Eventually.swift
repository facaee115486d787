/// Why ``eventually(_:timeout:fileID:line:_:)`` gave up.
public struct EventuallyTimedOut: Error, CustomStringConvertible {
    public let what: String
    public let timeout: Duration
    public let fileID: String
    public let line: Int

    public var description: String { "Timed out after \(timeout) waiting for \(what) (\(fileID):\(line))" }
}

/// Polls `condition` every few milliseconds until it holds; throws ``EventuallyTimedOut`` naming
/// `what` when it still does not hold at `timeout`.
///
/// For conditions nobody signals (a state seen from outside, another process's progress). The
/// condition is checked once more after the deadline has passed, so a test that was starved of
/// threads for the whole timeout still passes if the condition holds by the time it runs again.
/// The timeout bounds a hang; it is not what a test waits for.
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
