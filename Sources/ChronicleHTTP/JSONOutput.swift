import Chronicle
import Foundation

/// Writes JSON text by hand, for answers that embed event payloads verbatim.
///
/// `JSONEncoder` cannot splice already-encoded JSON (an event's payload) into its output without
/// decoding and re-encoding it, which would lose number precision and key order. Everything this
/// writer emits besides spliced payloads is escaped here.
struct JSONOutput {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func raw(bytes other: some Sequence<UInt8>) { bytes.append(contentsOf: other) }

    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x00..<0x20:
                raw("\\u00")
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func integer(_ value: Int64) { bytes.append(contentsOf: String(value).utf8) }

    mutating func key(_ name: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        raw("\":")
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}

extension JSONOutput {
    /// Writes an event as the read API shows it:
    ///
    /// ```json
    /// {"id":"…","stream":"order-1","version":1,"position":7,"type":"OrderPlaced","schemaVersion":1,
    ///  "recordedAt":"2026-01-01T12:00:00.000Z","metadata":{"correlationId":"…","causationId":"…","custom":{}},
    ///  "dataEncoding":"json","data":{…}}
    /// ```
    ///
    /// `data` is the payload itself when it is UTF-8 JSON (`dataEncoding` `json`), else a base64
    /// string (`dataEncoding` `base64`).
    mutating func event(_ event: RecordedEvent) {
        raw("{")
        key("id"); string(event.id.uuidString.lowercased())
        raw(","); key("stream"); string(event.streamID.rawValue)
        raw(","); key("version"); integer(event.streamVersion.value)
        raw(","); key("position"); integer(event.position.value)
        raw(","); key("type"); string(event.type)
        raw(","); key("schemaVersion"); integer(Int64(event.schemaVersion))
        raw(","); key("recordedAt"); string(event.recordedAt.formatted(Self.timestampStyle))
        raw(","); key("metadata"); metadata(event.metadata)
        if PayloadFormat.isJSON(event.payload) {
            raw(","); key("dataEncoding"); string("json")
            raw(","); key("data"); raw(bytes: event.payload)
        } else {
            raw(","); key("dataEncoding"); string("base64")
            raw(","); key("data"); string(event.payload.base64EncodedString())
        }
        raw("}")
    }

    mutating func metadata(_ metadata: EventMetadata) {
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
    mutating func events(_ events: [RecordedEvent]) {
        raw("[")
        for (index, recorded) in events.enumerated() {
            if index > 0 { raw(",") }
            event(recorded)
        }
        raw("]")
    }

    static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

/// Decides whether a payload can be embedded as JSON.
enum PayloadFormat {
    /// Whether `payload` is a complete JSON text in UTF-8 (no byte-order mark), so splicing it
    /// into a JSON answer keeps the answer valid.
    static func isJSON(_ payload: Data) -> Bool {
        guard let first = payload.first(where: { !Self.isWhitespace($0) }) else { return false }
        // A JSON text in UTF-8 starts with one of these; this rejects BOMs and UTF-16/32 early.
        switch first {
        case UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "\""), UInt8(ascii: "-"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            break
        default:
            return false
        }
        // UTF-8 JSON never holds a raw NUL; UTF-16/32 text does (and the parser below would accept it).
        guard !payload.contains(0), String(validating: payload, as: UTF8.self) != nil else { return false }
        return (try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed])) != nil
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
