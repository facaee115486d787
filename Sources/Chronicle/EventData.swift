public import Foundation

/// An event to append: its id, type name, schema version, encoded payload and metadata.
///
/// Stores see only bytes. ``EventCodec`` turns typed domain events into `EventData` and
/// recorded events back into domain events.
///
/// The ``id`` makes appends idempotent: re-appending the same ids with the same content to the
/// same stream at the same versions succeeds without writing anything.
public struct EventData: Hashable, Sendable {
    /// The event's unique id (idempotency key). Time-ordered (``EventIDGenerator/timeOrdered``)
    /// unless the caller passes one.
    public var id: UUID
    /// The registered type name, such as `OrderPlaced`.
    public var type: String
    /// The schema version of the payload's shape (1 for the first shape).
    public var schemaVersion: Int
    /// The encoded payload (JSON by default).
    public var payload: Data
    /// Correlation, causation and custom metadata.
    public var metadata: EventMetadata
    /// Tags such as `course:c1` that index the event beyond its stream, for ``EventQuery`` reads
    /// and ``AppendCondition`` checks (see ``EventTags`` for the rules). Usually empty.
    public var tags: [String]

    /// Creates an event to append.
    public init(id: UUID = .timeOrderedEventID(), type: String, schemaVersion: Int = 1, payload: Data, metadata: EventMetadata = .none, tags: [String] = []) {
        self.id = id
        self.type = type
        self.schemaVersion = schemaVersion
        self.payload = payload
        self.metadata = metadata
        self.tags = tags
    }

    /// Why this event cannot be stored, or `nil` if it can.
    public var validationProblem: String? {
        if let problem = Self.typeProblem(type) { return problem }
        if schemaVersion < 1 { return "its schema version \(schemaVersion) is below 1" }
        return nil
    }

    /// Why `tags` cannot be stored, or `nil` if they can (see ``EventTags``).
    public var tagProblem: String? {
        tags.isEmpty ? nil : EventTags.problem(with: tags)
    }

    /// Why `type` cannot be an event type name, or `nil` if it can.
    static func typeProblem(_ type: String) -> String? {
        if type.isEmpty { return "its type name is empty" }
        let bytes = type.utf8
        if bytes.count > 255 { return "its type name is longer than 255 bytes" }
        // Printable ASCII (the usual type name) has no control character; check the rest fully.
        if !bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) && type.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "its type name contains a control character"
        }
        return nil
    }

    /// Whether `recorded` has this event's id and content (type, schema version, payload, metadata, tags).
    public func hasSameContent(as recorded: RecordedEvent) -> Bool {
        recorded.id == id && recorded.type == type && recorded.schemaVersion == schemaVersion
            && recorded.payload == payload && recorded.metadata == metadata && recorded.tags == tags
    }
}
