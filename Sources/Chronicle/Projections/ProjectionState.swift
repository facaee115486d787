/// What a projection runner is doing, as reported by ``ProjectionStatus``.
public enum ProjectionState: String, Sendable, Hashable, Codable, CustomStringConvertible {
    /// Not running: never started, or shut down.
    case stopped
    /// Running and behind the head: reading and applying pages as fast as it can.
    case catchingUp
    /// Running and at the head: waiting for new events.
    case running
    /// Started, and waiting while another process runs the projection (it takes over when that
    /// process stops or dies).
    case standby
    /// Running, and building a fresh read model from position 0 beside the one serving queries.
    case rebuilding
    /// Stopped by its ``FailurePolicy`` (``FailurePolicy/Exhausted/stop``) after an event kept
    /// failing. ``ProjectionStatus/lastError`` says why; the checkpoint stays before that event.
    case failed

    /// The state's name, such as `catchingUp`.
    public var description: String { rawValue }
}
