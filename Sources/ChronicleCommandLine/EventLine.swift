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

/// Reads standard input or a file line by line, in constant memory.
struct LineReader {
    private let handle: FileHandle
    private var buffer = Data()
    private var atEnd = false

    init(path: String?) throws {
        if let path, path != "-" {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw CLIError("Cannot read \(path): no such file or not readable.")
            }
            self.handle = handle
        } else {
            handle = .standardInput
        }
    }

    /// The next line without its newline, or nil at the end.
    mutating func next() throws -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                return String(decoding: line, as: UTF8.self)
            }
            if atEnd {
                guard !buffer.isEmpty else { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            let chunk = try handle.read(upToCount: 256 * 1024) ?? Data()
            if chunk.isEmpty { atEnd = true } else { buffer.append(chunk) }
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
