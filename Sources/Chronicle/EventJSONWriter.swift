import ChronicleJSON
package import Foundation

/// Writes JSON text by hand: the one encoder of an event's JSON, shared by the HTTP read API
/// (ChronicleHTTP) and the `chronicle` command's JSON lines (ChronicleCommandLine), so both show
/// an event with the same keys, the same metadata spelling and the same payload encodings.
///
/// `JSONEncoder` cannot splice already-encoded JSON (an event's payload) into its output without
/// decoding and re-encoding it, which would lose number precision and key order. Everything this
/// writer emits besides spliced payloads is escaped by ChronicleJSON's escaper, the encoder's own.
package struct EventJSONWriter {
    /// The JSON written so far, UTF-8.
    package private(set) var bytes: [UInt8] = []

    /// An empty writer.
    package init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// Appends `text` as it is (punctuation, literals).
    package mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends already-encoded JSON as it is.
    package mutating func raw(bytes other: some Sequence<UInt8>) { bytes.append(contentsOf: other) }

    /// Appends `value` as a JSON string (escaped by ChronicleJSON's one escaper, as Foundation
    /// does with `.withoutEscapingSlashes`).
    package mutating func string(_ value: String) { bytes.appendJSONString(value, escapingSlashes: false) }

    /// Appends an integer.
    package mutating func integer(_ value: Int64) { bytes.appendJSONInteger(value) }

    /// Appends `"name":`.
    package mutating func key(_ name: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        raw("\":")
    }
}

/// How an event's payload is written in its JSON (`dataEncoding` says which was chosen).
package enum PayloadStyle: Sendable {
    /// For HTTP answers: `json` (the payload itself, spliced) when the payload is UTF-8 JSON,
    /// else `base64`.
    case embedded
    /// For JSON lines: as `embedded`, but a JSON payload with a line break or surrounding
    /// whitespace is written as `text` (a JSON string holding the payload's text), and so is
    /// UTF-8 text that is not JSON; `base64` is left for bytes that are not UTF-8. One event stays
    /// one line, and every payload reads back byte for byte.
    case line
}

extension EventJSONWriter {
    /// Writes an event, the same for every reader of Chronicle's JSON:
    ///
    /// ```json
    /// {"id":"…","stream":"order-1","version":1,"position":7,"type":"OrderPlaced","schemaVersion":1,
    ///  "recordedAt":"2026-01-01T12:00:00.000Z","metadata":{"correlationId":"…","causationId":"…","custom":{}},
    ///  "dataEncoding":"json","data":{…}}
    /// ```
    ///
    /// `data` is the payload itself when `dataEncoding` is `json`, a string holding its text for
    /// `text`, and its bytes in base64 for `base64` (see ``PayloadStyle``).
    package mutating func event(_ event: RecordedEvent, payload style: PayloadStyle = .embedded) {
        raw("{")
        key("id"); string(event.id.uuidString.lowercased())
        raw(","); key("stream"); string(event.streamID.rawValue)
        raw(","); key("version"); integer(event.streamVersion.value)
        raw(","); key("position"); integer(event.position.value)
        raw(","); key("type"); string(event.type)
        raw(","); key("schemaVersion"); integer(Int64(event.schemaVersion))
        raw(","); key("recordedAt"); string(event.recordedAt.formatted(Self.timestampStyle))
        raw(","); key("metadata"); metadata(event.metadata)
        switch PayloadFormat.encoding(of: event.payload, style: style) {
        case .json:
            raw(","); key("dataEncoding"); string("json")
            raw(","); key("data"); raw(bytes: event.payload)
        case .text(let text):
            raw(","); key("dataEncoding"); string("text")
            raw(","); key("data"); string(text)
        case .base64:
            raw(","); key("dataEncoding"); string("base64")
            raw(","); key("data"); string(event.payload.base64EncodedString())
        }
        raw("}")
    }

    /// Writes metadata in its one user-facing spelling: `{"correlationId":…,"causationId":…,"custom":{…}}`
    /// (the keys ``EventMetadata``'s `Codable` conformance reads).
    package mutating func metadata(_ metadata: EventMetadata) {
        raw("{")
        key("correlationId")
        if let id = metadata.correlationID { string(id) } else { raw("null") }
        raw(","); key("causationId")
        if let id = metadata.causationID { string(id) } else { raw("null") }
        raw(","); key("custom"); raw("{")
        for (index, pair) in metadata.custom.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { raw(",") }
            string(pair.key); raw(":"); string(pair.value)
        }
        raw("}}")
    }

    /// Writes `[event,event,…]`.
    package mutating func events(_ events: [RecordedEvent]) {
        raw("[")
        for (index, recorded) in events.enumerated() {
            if index > 0 { raw(",") }
            event(recorded)
        }
        raw("]")
    }

    /// Timestamps: ISO 8601 in UTC with milliseconds.
    package static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

/// Decides whether a payload can be embedded as JSON.
package enum PayloadFormat {
    /// How a payload is written.
    package enum Encoding: Equatable {
        /// Spliced as it is.
        case json
        /// As a JSON string of this text.
        case text(String)
        /// As base64.
        case base64
    }

    /// How `payload` is written in `style`.
    package static func encoding(of payload: Data, style: PayloadStyle) -> Encoding {
        switch style {
        case .embedded:
            return isJSON(payload) ? .json : .base64
        case .line:
            guard let text = String(validating: payload, as: UTF8.self) else { return .base64 }
            let oneLine = !payload.contains(0x0A) && !payload.contains(0x0D)
            let trimmed = payload.first.map { !isWhitespace($0) } == true && payload.last.map { !isWhitespace($0) } == true
            return oneLine && trimmed && isJSON(payload) ? .json : .text(text)
        }
    }

    /// Whether `payload` is a complete JSON text in UTF-8 (strict RFC 8259: no byte-order mark,
    /// valid UTF-8, no raw control characters in strings), so splicing it into a JSON answer
    /// keeps the answer valid. ChronicleJSON's one validator, the check its decoder makes.
    package static func isJSON(_ payload: Data) -> Bool {
        JSONText.isValid(payload)
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
