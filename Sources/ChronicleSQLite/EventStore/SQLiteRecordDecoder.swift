import Chronicle
import Foundation
import GRDB

/// Reads rows selected with ``SQLiteStatements/eventColumns`` back into ``RecordedEvent``s,
/// refusing (with ``EventStoreError/Code/corruptRecord`` naming the position) any row that does not
/// hold what the writer writes.
///
/// One decoder serves one read: it remembers the last stream id and type name it made, so rows of
/// the same stream or type (every row of a stream read, most rows of a log page) share one
/// validated `StreamID` and one `String` instead of making their own.
struct SQLiteRecordDecoder {
    private var lastStreamID: StreamID?
    private var lastType: String?

    mutating func decode(_ row: RawStatement) throws(EventStoreError) -> RecordedEvent {
        try decode(row, payload: row.data(6))
    }

    /// Hands the row's event to `body` with its payload left in SQLite's row buffer (the
    /// event's own `payload` empty): see ``SQLiteEventStore/readStreamInPlace(_:from:limit:_:)``.
    /// An error `body` throws is also kept in `bodyFailure`, to tell it from the row's own.
    mutating func decode(
        _ row: RawStatement, inPlace body: (RecordedEvent, UnsafeRawBufferPointer) throws -> Void, bodyFailure: inout (any Error)?
    ) throws {
        let payload = row.blob(6)
        let event = try decode(row, payload: payload == nil ? nil : Data())
        do {
            try body(event, payload!)
        } catch {
            bodyFailure = error
            throw error
        }
    }

    /// The row's event with `payload` (`nil`: the row's payload is not a blob).
    private mutating func decode(_ row: RawStatement, payload: Data?) throws(EventStoreError) -> RecordedEvent {
        guard let positionValue = row.int64(0), positionValue > 0 else {
            throw EventStoreError(.corruptRecord, "An event row has no valid position. The store is damaged; restore from a backup.")
        }
        let position = GlobalPosition(positionValue)
        func corrupt(_ problem: String) -> EventStoreError {
            EventStoreError(.corruptRecord, "The event at position \(position) is damaged: \(problem). Restore from a backup.", position: position)
        }
        let streamID: StreamID
        if let last = lastStreamID, row.withText(1, { SQLiteValues.bytes($0, equal: last.rawValue) }) == true {
            streamID = last
        } else {
            guard let rawStreamID = row.withText(1, { String(decoding: $0, as: UTF8.self) }) else { throw corrupt("its stream id is not text") }
            guard let valid = SQLiteValues.streamID(rawStreamID) else {
                throw corrupt("its stream id \(rawStreamID.debugDescription) is invalid")
            }
            streamID = valid
            lastStreamID = valid
        }
        guard let version = row.int64(2), version > 0 else { throw corrupt("its stream version is not a positive integer") }
        guard let id = row.withBlob(3, { UUID(sqliteBytes: $0) }) ?? nil else {
            throw corrupt("its event id is not 16 bytes")
        }
        let type: String
        if let last = lastType, row.withText(4, { SQLiteValues.bytes($0, equal: last) }) == true {
            type = last
        } else {
            guard let text = row.string(4), !text.isEmpty else { throw corrupt("its type name is missing") }
            type = text
            lastType = text
        }
        guard let schemaVersion = row.int64(5), schemaVersion >= 1, let schema = Int(exactly: schemaVersion) else {
            throw corrupt("its schema version is not a positive integer")
        }
        guard let payload else { throw corrupt("its payload is not a blob") }
        let metadata: EventMetadata
        if row.isNull(7) {
            metadata = .none
        } else {
            guard let data = row.data(7) else { throw corrupt("its metadata is not a blob") }
            do {
                metadata = try SQLiteValues.metadataDecoder.decode(EventMetadata.Stored.self, from: data).metadata
            } catch {
                throw corrupt("its metadata does not decode (\(error))")
            }
        }
        guard let recordedAt = row.int64(8) else { throw corrupt("its recorded-at time is not an integer") }
        var tags: [String] = []
        if !row.isNull(9) {
            guard let text = row.string(9), !text.isEmpty else { throw corrupt("its tags are not text") }
            tags = SQLiteValues.tags(text)
        }
        return RecordedEvent(
            id: id, streamID: streamID, streamVersion: StreamVersion(version), position: position,
            type: type, schemaVersion: schema, payload: payload, metadata: metadata,
            recordedAt: SQLiteValues.date(milliseconds: recordedAt), tags: tags
        )
    }
}

/// Conversions between stored values and Swift values.
enum SQLiteValues {
    /// Tags as stored in `events.tags`: joined by newlines (a tag has no whitespace); `nil` for none.
    static func tagsText(_ tags: [String]) -> String? {
        tags.isEmpty ? nil : tags.joined(separator: "\n")
    }

    /// The tags of an `events.tags` text.
    static func tags(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// A stored stream id, validated: printable ASCII ids (the common case) are checked byte by
    /// byte, anything else goes through ``StreamID``'s full Unicode validation. `nil` if invalid.
    static func streamID(_ raw: String) -> StreamID? {
        let bytes = raw.utf8
        if !bytes.isEmpty && bytes.count <= StreamID.maximumLength && bytes.first != UInt8(ascii: "$")
            && bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        {
            return StreamID(unchecked: raw)  // same rules as StreamID.init, for this subset
        }
        return try? StreamID(raw)
    }

    /// Whether `bytes` are `string`'s UTF-8 bytes (one `memcmp` for native strings).
    static func bytes(_ bytes: UnsafeBufferPointer<UInt8>, equal string: String) -> Bool {
        let utf8 = string.utf8
        guard utf8.count == bytes.count else { return false }
        if let equal = utf8.withContiguousStorageIfAvailable({ stored in
            bytes.count == 0 || memcmp(stored.baseAddress!, bytes.baseAddress!, bytes.count) == 0
        }) {
            return equal
        }
        return bytes.elementsEqual(utf8)
    }

    static func int64(_ value: DatabaseValue) -> Int64? {
        if case .int64(let int) = value.storage { return int }
        return nil
    }

    static func string(_ value: DatabaseValue) -> String? {
        if case .string(let string) = value.storage { return string }
        return nil
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// Decodes stored metadata (Foundation's values, faster).
    static let metadataDecoder = ChronicleJSONDecoder()

    /// Encodes metadata to store (Foundation's bytes with sorted keys, faster).
    private static let metadataEncoder = ChronicleJSONEncoder()

    /// Compact JSON, or `nil` for empty metadata (stored as NULL).
    static func metadataBlob(_ metadata: EventMetadata) throws -> Data? {
        if metadata.isEmpty { return nil }
        return try metadataEncoder.encode(EventMetadata.Stored(metadata))
    }
}

extension UUID {
    /// A UUID from exactly 16 stored bytes.
    init?(sqliteBytes bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else { return nil }
        self.init(uuid: bytes.loadUnaligned(as: uuid_t.self))
    }
}
