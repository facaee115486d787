import Chronicle
import Foundation

/// One event as a JSON line: the format of `read --json`, `tail --json`, `export` and `import`.
///
/// `data` holds the payload as text when it is UTF-8 (JSON payloads are), `dataBase64` otherwise,
/// so an export re-imports byte for byte and a re-import is idempotent (same ids, same content).
struct EventLine: Codable {
    var position: Int64?
    var stream: String
    var version: Int64?
    var id: UUID?
    var type: String
    var schemaVersion: Int?
    var recordedAt: Date?
    var metadata: EventMetadata?
    var data: String?
    var dataBase64: String?

    init(_ event: RecordedEvent) {
        position = event.position.value
        stream = event.streamID.rawValue
        version = event.streamVersion.value
        id = event.id
        type = event.type
        schemaVersion = event.schemaVersion
        recordedAt = event.recordedAt
        metadata = event.metadata.isEmpty ? nil : event.metadata
        if let text = String(validating: event.payload, as: UTF8.self) {
            data = text
        } else {
            dataBase64 = event.payload.base64EncodedString()
        }
    }

    /// The payload bytes this line carries.
    func payload(line: Int) throws -> Data {
        switch (data, dataBase64) {
        case (let text?, nil): return Data(text.utf8)
        case (nil, let base64?):
            guard let bytes = Data(base64Encoded: base64) else {
                throw CLIError("line \(line): \"dataBase64\" is not valid base64.")
            }
            return bytes
        case (nil, nil): throw CLIError("line \(line): the event has no \"data\" (or \"dataBase64\").")
        case (_?, _?): throw CLIError("line \(line): give \"data\" or \"dataBase64\", not both.")
        }
    }

    /// The event to append.
    func eventData(line: Int) throws -> EventData {
        EventData(
            id: id ?? UUID(), type: type, schemaVersion: schemaVersion ?? 1,
            payload: try payload(line: line), metadata: metadata ?? .none
        )
    }

    private enum CodingKeys: String, CodingKey {
        case position, stream, version, id, type, schemaVersion, recordedAt, metadata, data, dataBase64
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        position = try c.decodeIfPresent(Int64.self, forKey: .position)
        stream = try c.decodeIfPresent(String.self, forKey: .stream) ?? ""
        version = try c.decodeIfPresent(Int64.self, forKey: .version)
        id = try c.decodeIfPresent(UUID.self, forKey: .id)
        type = try c.decode(String.self, forKey: .type)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion)
        recordedAt = try c.decodeIfPresent(Date.self, forKey: .recordedAt)
        metadata = try c.decodeIfPresent(EventMetadata.self, forKey: .metadata)
        dataBase64 = try c.decodeIfPresent(String.self, forKey: .dataBase64)
        // `data` may be the payload as text, or (for hand-written input) a JSON value.
        if let text = try? c.decodeIfPresent(String.self, forKey: .data) {
            data = text
        } else if let value = try c.decodeIfPresent(JSONValue.self, forKey: .data) {
            data = try jsonString(value)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(position, forKey: .position)
        try c.encode(stream, forKey: .stream)
        try c.encodeIfPresent(version, forKey: .version)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encode(type, forKey: .type)
        try c.encodeIfPresent(schemaVersion, forKey: .schemaVersion)
        try c.encodeIfPresent(recordedAt, forKey: .recordedAt)
        try c.encodeIfPresent(metadata, forKey: .metadata)
        try c.encodeIfPresent(data, forKey: .data)
        try c.encodeIfPresent(dataBase64, forKey: .dataBase64)
    }
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
                "line \(number): invalid UTF-8 at byte offset \(bad) of the line (offset \(bufferOffset + range.lowerBound + bad) in the input, byte 0x\(byte.count == 1 ? "0" + byte : byte)). Convert the input to UTF-8 (for example with iconv), or give binary payloads as \"dataBase64\"."
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
    do {
        return try JSONDecoder.iso8601.decode(EventLine.self, from: Data(text.utf8))
    } catch let DecodingError.keyNotFound(key, _) {
        throw CLIError("line \(line): missing \"\(key.stringValue)\".")
    } catch let DecodingError.typeMismatch(_, context) {
        throw CLIError("line \(line): \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\" has the wrong type (\(context.debugDescription)).")
    } catch let DecodingError.dataCorrupted(context) {
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw CLIError("line \(line): \(path.isEmpty ? "not valid JSON" : "\"\(path)\" is invalid") (\(context.debugDescription)).")
    } catch {
        throw CLIError("line \(line): \(error)")
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
