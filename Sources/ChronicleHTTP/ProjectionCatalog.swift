import Chronicle
import Foundation

/// What the read API needs to know about an application's projections: their status, their
/// parked events, and a way to wait until one has caught up with a position.
///
/// An app adapts its projection runners to it with a few lines; the
/// HTTP module depends only on this protocol, so it works with any runner, in-process or not.
public protocol ProjectionCatalog: Sendable {
    /// The status of every projection, in a stable order.
    func projectionReports() async throws -> [ProjectionReport]

    /// Up to `limit` parked (dead-lettered) events of the projection called `name`, oldest first;
    /// `nil` if there is no such projection.
    func parkedEvents(ofProjection name: String, limit: Int) async throws -> [ParkedEventReport]?

    /// Waits until the projection called `name` has processed every event up to `position`
    /// (its checkpoint is at or past it), or until `timeout` elapses, whichever comes first.
    ///
    /// - Returns: the projection's checkpoint when the wait ended (compare with `position` to
    ///   know which way it ended), or `nil` if there is no such projection.
    func waitUntil(projection name: String, reaches position: GlobalPosition, timeout: Duration) async throws -> GlobalPosition?
}

/// A projection's status as the read API shows it.
public struct ProjectionReport: Sendable, Hashable, Codable {
    /// The projection's name, unique within the app.
    public var name: String
    /// The position of the last event it processed (its checkpoint).
    public var position: GlobalPosition
    /// What it is doing: `running`, `catchingUp`, `idle`, `rebuilding`, `stopped`, `failed`…
    public var state: String
    /// How many events it has parked.
    public var parkedCount: Int
    /// The last error it met, if any.
    public var lastError: String?

    /// Creates a report.
    public init(name: String, position: GlobalPosition, state: String, parkedCount: Int = 0, lastError: String? = nil) {
        self.name = name
        self.position = position
        self.state = state
        self.parkedCount = parkedCount
        self.lastError = lastError
    }
}

/// An event a projection gave up on after retries, as the read API shows it.
public struct ParkedEventReport: Sendable, Hashable, Codable {
    /// The event's global position.
    public var position: GlobalPosition
    /// The event's id.
    public var eventID: UUID
    /// The event's stream.
    public var stream: String
    /// The event's type.
    public var type: String
    /// The error of the last attempt.
    public var error: String
    /// How many times handling was attempted.
    public var attempts: Int
    /// When the event was parked.
    public var parkedAt: Date

    /// Creates a report.
    public init(position: GlobalPosition, eventID: UUID, stream: String, type: String, error: String, attempts: Int, parkedAt: Date) {
        self.position = position
        self.eventID = eventID
        self.stream = stream
        self.type = type
        self.error = error
        self.attempts = attempts
        self.parkedAt = parkedAt
    }
}
