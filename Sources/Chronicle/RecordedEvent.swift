public import Foundation

/// An event as stored: its data plus where and when it was recorded.
public struct RecordedEvent: Hashable, Sendable {
    /// The event's unique id.
    public var id: UUID
    /// The stream it belongs to.
    public var streamID: StreamID
    /// Its version within the stream (1-based, contiguous).
    public var streamVersion: StreamVersion
    /// Its position in the global log (strictly increasing, gap-free).
    public var position: GlobalPosition
    /// The registered type name.
    public var type: String
    /// The schema version of the payload's shape as stored.
    public var schemaVersion: Int
    /// The encoded payload.
    public var payload: Data
    /// Correlation, causation and custom metadata.
    public var metadata: EventMetadata
    /// When the store recorded the event.
    public var recordedAt: Date

    /// Creates a recorded event (stores and tests build these).
    public init(
        id: UUID, streamID: StreamID, streamVersion: StreamVersion, position: GlobalPosition,
        type: String, schemaVersion: Int, payload: Data, metadata: EventMetadata, recordedAt: Date
    ) {
        self.id = id
        self.streamID = streamID
        self.streamVersion = streamVersion
        self.position = position
        self.type = type
        self.schemaVersion = schemaVersion
        self.payload = payload
        self.metadata = metadata
        self.recordedAt = recordedAt
    }

    /// The stream's category (see ``StreamID/category``).
    public var category: String { streamID.category }
}
