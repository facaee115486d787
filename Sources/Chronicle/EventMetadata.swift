import Foundation

/// Metadata stored with every event besides its payload.
///
/// The store fills in the event id, type, schema version and recorded-at time of a
/// ``RecordedEvent``; this type carries what the application chooses: correlation and causation
/// ids (to follow a request through commands, events and process managers) and custom key/values.
///
/// Its JSON, the one spelling users type and read (the HTTP API, the `chronicle` command's input
/// and output, the docs), is `{"correlationId": "…", "causationId": "…", "custom": {"key": "value"}}`;
/// decoding refuses any other key rather than dropping it. Stores keep a compact encoding of their
/// own, never shown.
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

    /// The keys of the JSON form, the one spelling users type and read everywhere (the CLI's
    /// JSON lines, the HTTP API, the docs).
    private enum CodingKeys: String, CodingKey, CaseIterable {
        case correlationID = "correlationId"
        case causationID = "causationId"
        case custom
    }

    /// The metadata keys users write: `correlationId`, `causationId`, `custom`.
    public static let jsonKeys: [String] = CodingKeys.allCases.map(\.rawValue)

    /// Decodes the JSON form, `{"correlationId": "…", "causationId": "…", "custom": {"key": "value"}}`,
    /// where every key is optional and `null` means not set.
    ///
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/invalidMetadata`` naming the
    ///   key when the object has a key other than these three (a misspelt key is refused, never
    ///   dropped); a `DecodingError` when a value has the wrong type.
    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyMetadataKey.self).allKeys.map(\.stringValue)
        if let unknown = keys.sorted().first(where: { CodingKeys(rawValue: $0) == nil }) {
            throw EventStoreError.unknownMetadataKey(unknown)
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        correlationID = try container.decodeIfPresent(String.self, forKey: .correlationID)
        causationID = try container.decodeIfPresent(String.self, forKey: .causationID)
        custom = try container.decodeIfPresent([String: String].self, forKey: .custom) ?? [:]
    }

    /// Encodes the JSON form, leaving out what is not set.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(correlationID, forKey: .correlationID)
        try container.encodeIfPresent(causationID, forKey: .causationID)
        if !custom.isEmpty { try container.encode(custom, forKey: .custom) }
    }
}

/// Any key of a metadata object, to find the ones ``EventMetadata`` does not know.
private struct AnyMetadataKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension EventStoreError {
    /// The error for a metadata object with a key that is not `correlationId`, `causationId` or
    /// `custom`.
    static func unknownMetadataKey(_ key: String) -> EventStoreError {
        let known = EventMetadata.jsonKeys
        let hint = known.first { $0.lowercased() == key.lowercased() }.map { " (did you mean \"\($0)\"?)" } ?? ""
        return EventStoreError(
            .invalidMetadata,
            "Unknown metadata key \"\(key)\"\(hint); metadata keys are \(known.map { "\"\($0)\"" }.joined(separator: ", ")).",
            metadataKey: key
        )
    }
}

extension EventMetadata {
    /// The compact form backends store (`c` correlation, `k` causation, `x` custom): a storage
    /// format, never what a user types or reads. Decoding ignores other keys, as it always did.
    package struct Stored: Codable, Sendable {
        /// The metadata.
        package var metadata: EventMetadata

        /// Wraps `metadata` for storage.
        package init(_ metadata: EventMetadata) { self.metadata = metadata }

        /// The compact keys.
        package static let keys: Set<String> = ["c", "k", "x"]

        private enum CodingKeys: String, CodingKey {
            case correlationID = "c"
            case causationID = "k"
            case custom = "x"
        }

        /// Decodes the compact form.
        package init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            metadata = EventMetadata(
                correlationID: try container.decodeIfPresent(String.self, forKey: .correlationID),
                causationID: try container.decodeIfPresent(String.self, forKey: .causationID),
                custom: try container.decodeIfPresent([String: String].self, forKey: .custom) ?? [:]
            )
        }

        /// Encodes the compact form, leaving out what is not set.
        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(metadata.correlationID, forKey: .correlationID)
            try container.encodeIfPresent(metadata.causationID, forKey: .causationID)
            if !metadata.custom.isEmpty { try container.encode(metadata.custom, forKey: .custom) }
        }
    }
}
