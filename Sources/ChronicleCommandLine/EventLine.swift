import Chronicle
import Foundation

/// One event as a JSON line: the format of `read --json`, `tail --json`, `export` and `import`,
/// the same event JSON as the HTTP read API's (both are written by the core's `EventJSONWriter`):
///
/// ```json
/// {"id":"…","stream":"order-1","version":1,"position":7,"type":"OrderPlaced","schemaVersion":1,
///  "recordedAt":"…","metadata":{"correlationId":"req-1","causationId":null,"custom":{}},
///  "dataEncoding":"json","data":{"total":42}}
/// ```
///
/// `dataEncoding` `json` splices the payload itself (read back byte for byte from the line),
/// `text` holds it as a string, `base64` as base64, so an export re-imports byte for byte and a
/// re-import is idempotent (same ids, same content). Input written by hand needs only `type` and
/// `data` (a JSON value, or a string holding the payload's text). Lines exported before this
/// format (payload in `data` as text or in `dataBase64`, metadata with the storage keys `c`, `k`,
/// `x`) still read. Any other key, at the top or in `metadata`, is refused with the line and the
/// key named, never dropped.
struct EventLine {
    var position: Int64?
    var stream: String
    var version: Int64?
    var id: UUID?
    var type: String
    var schemaVersion: Int?
    var metadata: EventMetadata
    var payload: Data

    /// The event to append.
    func eventData() -> EventData {
        EventData(id: id ?? UUID(), type: type, schemaVersion: schemaVersion ?? 1, payload: payload, metadata: metadata)
    }

    /// The keys an event line may have.
    static let keys: [String] = [
        "id", "stream", "version", "position", "type", "schemaVersion", "recordedAt", "metadata", "dataEncoding", "data", "dataBase64",
    ]

    /// The line's JSON as decoded before its payload and metadata are checked.
    fileprivate struct Fields: Decodable {
        var position: Int64?
        var stream: String?
        var version: Int64?
        var id: UUID?
        var type: String
        var schemaVersion: Int?
        var recordedAt: String?
        var metadata: JSONValue?
        var dataEncoding: String?
        var data: JSONValue?
        var dataBase64: String?

        /// A key an event line does not have.
        struct UnknownKey: Error { var name: String }

        private struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        private enum CodingKeys: String, CodingKey {
            case position, stream, version, id, type, schemaVersion, recordedAt, metadata, dataEncoding, data, dataBase64
        }

        /// Decodes the fields, refusing any key that is not one of ``EventLine/keys``.
        init(from decoder: any Decoder) throws {
            let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
            if let unknown = keys.sorted().first(where: { !EventLine.keys.contains($0) }) { throw UnknownKey(name: unknown) }
            let c = try decoder.container(keyedBy: CodingKeys.self)
            position = try c.decodeIfPresent(Int64.self, forKey: .position)
            stream = try c.decodeIfPresent(String.self, forKey: .stream)
            version = try c.decodeIfPresent(Int64.self, forKey: .version)
            id = try c.decodeIfPresent(UUID.self, forKey: .id)
            type = try c.decode(String.self, forKey: .type)
            schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion)
            recordedAt = try c.decodeIfPresent(String.self, forKey: .recordedAt)
            metadata = try c.decodeIfPresent(JSONValue.self, forKey: .metadata)
            dataEncoding = try c.decodeIfPresent(String.self, forKey: .dataEncoding)
            data = try c.decodeIfPresent(JSONValue.self, forKey: .data)
            dataBase64 = try c.decodeIfPresent(String.self, forKey: .dataBase64)
        }
    }
}

/// Writes `event` as one JSON line (without the newline).
func eventLineJSON(_ event: RecordedEvent) -> [UInt8] {
    var writer = EventJSONWriter(capacity: event.payload.count + 320)
    writer.event(event, payload: .line)
    return writer.bytes
}

/// Reads standard input or a file line by line: in memory bounded by the longest line plus one
/// chunk, in time linear in the input (each byte is examined for a newline once, however long the
/// line), and refusing bytes that are not UTF-8 with the line and byte offset.
struct LineReader {
    /// One line of input, without its newline.
    struct Line {
        /// The line's number, from 1.
        var number: Int
        /// The offset of the line's first byte in the input, from 0.
        var offset: Int
        /// The line's text.
        var text: String
    }

    private let readChunk: (Int) throws -> Data
    private let chunkSize: Int
    private var buffer: [UInt8] = []
    /// Where the next line starts in `buffer`.
    private var lineStart = 0
    /// `buffer[lineStart..<scanned]` holds no newline: the next scan starts at `scanned`.
    private var scanned = 0
    /// The input offset of `buffer[0]`.
    private var bufferOffset = 0
    private var number = 0
    private var atEnd = false
    /// Bytes examined for a newline so far: each input byte once.
    private(set) var bytesScanned = 0

    init(path: String?, chunkSize: Int = 256 * 1024) throws {
        let handle: FileHandle
        if let path, path != "-" {
            guard let file = FileHandle(forReadingAtPath: path) else {
                throw CLIError("Cannot read \(path): no such file or not readable.")
            }
            handle = file
        } else {
            handle = .standardInput
        }
        self.init(chunkSize: chunkSize) { count in try handle.read(upToCount: count) ?? Data() }
    }

    /// A reader of the chunks `read` returns (up to the count asked; empty at the end).
    init(chunkSize: Int, read: @escaping (Int) throws -> Data) {
        self.chunkSize = max(1, chunkSize)
        self.readChunk = read
    }

    /// The next line, or nil at the end.
    ///
    /// - Throws: ``CLIError`` for a line that is not valid UTF-8 (naming the line and the byte
    ///   offset), or when the input cannot be read.
    mutating func next() throws -> Line? {
        while true {
            let from = scanned
            let newline: Int? = buffer.withUnsafeBytes { bytes in
                guard from < bytes.count, let base = bytes.baseAddress else { return nil }
                guard let hit = memchr(base + from, 0x0A, bytes.count - from) else { return nil }
                return UnsafeRawPointer(hit) - base
            }
            if let newline {
                bytesScanned += newline + 1 - from
                let line = try makeLine(lineStart..<newline)
                lineStart = newline + 1
                scanned = lineStart
                return line
            }
            bytesScanned += buffer.count - from
            scanned = buffer.count
            if atEnd {
                guard lineStart < buffer.count else { return nil }
                let line = try makeLine(lineStart..<buffer.count)
                lineStart = buffer.count
                scanned = lineStart
                return line
            }
            if lineStart > 0 {
                // Drop the lines already returned before reading more (moves at most one partial line).
                buffer.removeSubrange(0..<lineStart)
                bufferOffset += lineStart
                scanned -= lineStart
                lineStart = 0
            }
            let chunk = try readChunk(chunkSize)
            if chunk.isEmpty { atEnd = true } else { buffer.append(contentsOf: chunk) }
        }
    }

    private mutating func makeLine(_ range: Range<Int>) throws -> Line {
        number += 1
        let bytes = buffer[range]
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let bad = firstInvalidUTF8Offset(bytes) ?? 0
            let byte = String(bytes[range.lowerBound + bad], radix: 16, uppercase: true)
            throw CLIError(
                "line \(number): invalid UTF-8 at byte offset \(bad) of the line (offset \(bufferOffset + range.lowerBound + bad) in the input, byte 0x\(byte.count == 1 ? "0" + byte : byte)). Convert the input to UTF-8 (for example with iconv), or give binary payloads in base64 (\"dataEncoding\":\"base64\",\"data\":\"…\")."
            )
        }
        return Line(number: number, offset: bufferOffset + range.lowerBound, text: text)
    }
}

/// The offset (from the slice's start) of the first byte that does not belong to a valid UTF-8
/// sequence, or nil when all of `bytes` is valid UTF-8.
func firstInvalidUTF8Offset(_ bytes: ArraySlice<UInt8>) -> Int? {
    var parser = Unicode.UTF8.ForwardParser()
    var iterator = bytes.makeIterator()
    var offset = 0
    while true {
        switch parser.parseScalar(from: &iterator) {
        case .valid(let scalar): offset += scalar.count
        case .error: return offset
        case .emptyInput: return nil
        }
    }
}

/// Parses one JSON line into an ``EventLine``, saying which line and what is wrong on failure.
func parseEventLine(_ text: String, line: Int) throws -> EventLine {
    let bytes = Array(text.utf8)
    let fields: EventLine.Fields
    do {
        fields = try ChronicleJSONDecoder().decode(EventLine.Fields.self, from: Data(bytes))
    } catch let unknown as EventLine.Fields.UnknownKey {
        throw CLIError("line \(line): unknown key \"\(unknown.name)\"; an event line has \(EventLine.keys.map { "\"\($0)\"" }.joined(separator: ", ")).", code: .invalidEvent)
    } catch let DecodingError.keyNotFound(key, _) {
        throw CLIError("line \(line): missing \"\(key.stringValue)\".")
    } catch let DecodingError.typeMismatch(_, context) {
        throw CLIError("line \(line): \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type (\(context.debugDescription)).")
    } catch let DecodingError.dataCorrupted(context) {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw CLIError("line \(line): \(path.isEmpty ? "not valid JSON" : "\"\(path)\" is invalid") (\(context.debugDescription)).")
    } catch {
        throw CLIError("line \(line): not valid JSON (\(error)).")
    }
    return EventLine(
        position: fields.position, stream: fields.stream ?? "", version: fields.version, id: fields.id, type: fields.type,
        schemaVersion: fields.schemaVersion, metadata: try metadata(fields.metadata, line: line),
        payload: try payload(fields, bytes: bytes, line: line)
    )
}

/// The metadata of a line: the user form (`correlationId`, `causationId`, `custom`), or the storage
/// keys (`c`, `k`, `x`) of lines exported by earlier versions. Unknown keys are refused.
private func metadata(_ value: JSONValue?, line: Int) throws -> EventMetadata {
    guard let value, value != .null else { return .none }
    guard case .object(let object) = value else {
        throw CLIError("line \(line): \"metadata\" must be an object such as {\"correlationId\":\"…\",\"causationId\":\"…\",\"custom\":{\"key\":\"value\"}}.", code: .invalidMetadata)
    }
    do {
        let data = try value.encoded()
        if !object.isEmpty, Set(object.keys).isSubset(of: EventMetadata.Stored.keys) {
            return try ChronicleJSONDecoder().decode(EventMetadata.Stored.self, from: data).metadata
        }
        return try ChronicleJSONDecoder().decode(EventMetadata.self, from: data)
    } catch let error as EventStoreError {
        throw CLIError("line \(line): \(error.message)", code: error.code)
    } catch let DecodingError.typeMismatch(_, context) {
        let path = (["metadata"] + context.codingPath.map(\.stringValue)).joined(separator: ".")
        throw CLIError("line \(line): \"\(path)\" has the wrong type (\(context.debugDescription)).", code: .invalidMetadata)
    } catch {
        throw CLIError("line \(line): \"metadata\" is invalid (\(error)).", code: .invalidMetadata)
    }
}

/// The payload bytes a line carries.
private func payload(_ fields: EventLine.Fields, bytes: [UInt8], line: Int) throws -> Data {
    func base64(_ text: String, _ key: String) throws -> Data {
        guard let data = Data(base64Encoded: text) else { throw CLIError("line \(line): \"\(key)\" is not valid base64.") }
        return data
    }
    if let encoding = fields.dataEncoding {
        guard fields.dataBase64 == nil else { throw CLIError("line \(line): give \"dataEncoding\" and \"data\", or \"dataBase64\", not both.") }
        guard let data = fields.data else { throw CLIError("line \(line): the event has no \"data\".") }
        switch (encoding, data) {
        case ("json", _):
            // The payload exactly as the line holds it, not re-encoded.
            guard let range = JSONObjectScanner.valueRange(ofKey: "data", in: bytes) else {
                return Data(try data.encoded())
            }
            return Data(bytes[range])
        case ("text", .string(let text)): return Data(text.utf8)
        case ("base64", .string(let text)): return try base64(text, "data")
        case ("text", _), ("base64", _):
            throw CLIError("line \(line): with \"dataEncoding\":\"\(encoding)\", \"data\" must be a string.")
        default:
            throw CLIError("line \(line): \"dataEncoding\" is \"\(encoding)\"; it is \"json\", \"text\" or \"base64\".")
        }
    }
    switch (fields.data, fields.dataBase64) {
    case (.string(let text)?, nil): return Data(text.utf8)
    case (let value?, nil): return Data(try jsonString(value).utf8)
    case (nil, let text?): return try base64(text, "dataBase64")
    case (nil, nil): throw CLIError("line \(line): the event has no \"data\".")
    case (_?, _?): throw CLIError("line \(line): give \"data\" or \"dataBase64\", not both.")
    }
}

/// Finds where a top-level key's value lies in a JSON object's text, to read a spliced payload
/// back byte for byte. The text has already been parsed as valid JSON.
enum JSONObjectScanner {
    /// The byte range of the value of `key` in the top-level object `bytes`, or nil.
    static func valueRange(ofKey key: String, in bytes: [UInt8]) -> Range<Int>? {
        let quotedKey = Array("\"\(key)\"".utf8)
        var index = skipWhitespace(bytes, 0)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        while true {
            index = skipWhitespace(bytes, index)
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let keyStart = index
            index = skipString(bytes, index)
            let isKey = bytes[keyStart..<index].elementsEqual(quotedKey)
            index = skipWhitespace(bytes, index)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            let valueStart = skipWhitespace(bytes, index + 1)
            let valueEnd = skipValue(bytes, valueStart)
            if isKey { return valueStart..<valueEnd }
            index = skipWhitespace(bytes, valueEnd)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
    }

    private static func skipWhitespace(_ bytes: [UInt8], _ start: Int) -> Int {
        var index = start
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        return index
    }

    /// From an opening quote to just after the closing one.
    private static func skipString(_ bytes: [UInt8], _ start: Int) -> Int {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return index
    }

    private static func skipValue(_ bytes: [UInt8], _ start: Int) -> Int {
        guard start < bytes.count else { return start }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return skipString(bytes, start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var index = start
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""): index = skipString(bytes, index); continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return index + 1 }
                default: break
                }
                index += 1
            }
            return index
        default:
            var index = start
            while index < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) {
                index += 1
            }
            return index
        }
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
