public import Foundation

/// An event a projection gave up on after its ``FailurePolicy`` was exhausted, kept in the
/// projection's dead-letter table so it can be inspected, retried or dropped.
public struct ParkedEvent: Sendable, Hashable, Codable {
    /// The event's position in the global log (the key of a parked event).
    public var position: GlobalPosition
    /// The event's id.
    public var eventID: UUID
    /// The event's stream.
    public var streamID: StreamID
    /// The event's type name.
    public var eventType: String
    /// The partition that parked it (0 for an unpartitioned projection).
    public var partition: Int
    /// The last error applying it threw, as text.
    public var error: String
    /// How many times applying it was tried.
    public var attempts: Int
    /// When it was parked (or last retried).
    public var parkedAt: Date

    /// Creates a parked event record.
    public init(position: GlobalPosition, eventID: UUID, streamID: StreamID, eventType: String, partition: Int, error: String, attempts: Int, parkedAt: Date) {
        self.position = position
        self.eventID = eventID
        self.streamID = streamID
        self.eventType = eventType
        self.partition = partition
        self.error = error
        self.attempts = attempts
        self.parkedAt = parkedAt
    }
}
