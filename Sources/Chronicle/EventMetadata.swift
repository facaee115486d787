/// Metadata stored with every event besides its payload.
///
/// The store fills in the event id, type, schema version and recorded-at time of a
/// ``RecordedEvent``; this type carries what the application chooses: correlation and causation
/// ids (to follow a request through commands, events and process managers) and custom key/values.
public struct EventMetadata: Hashable, Sendable, Codable {
    /// Groups every message caused, directly or not, by one original request.
    public var correlationID: String?
    /// The id of the message (command or event) that directly caused this event.
    public var causationID: String?
    /// Application-defined key/values (tenant, user, trace context…). Keep it small.
    public var custom: [String: String]

    /// Creates metadata.
    public init(correlationID: String? = nil, causationID: String? = nil, custom: [String: String] = [:]) {
        self.correlationID = correlationID
        self.causationID = causationID
        self.custom = custom
    }

    /// No correlation, no causation, no custom values.
    public static let none = EventMetadata()

    /// Whether nothing is set.
    public var isEmpty: Bool { correlationID == nil && causationID == nil && custom.isEmpty }

    /// Metadata for an event caused by `event`: same correlation id (or the event's id when it
    /// has none), causation id = the event's id.
    public static func causedBy(_ event: RecordedEvent) -> EventMetadata {
        EventMetadata(
            correlationID: event.metadata.correlationID ?? event.id.uuidString.lowercased(),
            causationID: event.id.uuidString.lowercased(),
            custom: [:]
        )
    }

    private enum CodingKeys: String, CodingKey {
        case correlationID = "c"
        case causationID = "k"
        case custom = "x"
    }

    /// Decodes the compact form (`c` correlation, `k` causation, `x` custom).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        correlationID = try container.decodeIfPresent(String.self, forKey: .correlationID)
        causationID = try container.decodeIfPresent(String.self, forKey: .causationID)
        custom = try container.decodeIfPresent([String: String].self, forKey: .custom) ?? [:]
    }

    /// Encodes the compact form, leaving out what is not set.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(correlationID, forKey: .correlationID)
        try container.encodeIfPresent(causationID, forKey: .causationID)
        if !custom.isEmpty { try container.encode(custom, forKey: .custom) }
    }
}
