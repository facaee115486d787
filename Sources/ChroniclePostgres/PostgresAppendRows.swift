import Chronicle
import Foundation
import PostgresNIO

/// The rows of a planned append, as the arrays ``PostgresSQL/writeEvents`` takes. Positions are not
/// known yet: each event carries its ordinal (1-based) in the call, and the statement turns
/// ordinals into positions once it holds the position counter's lock.
struct AppendRows {
    /// How many events the append adds (`$1`, `$15`).
    var count: Int64 = 0
    var eventIDs: [UUID] = [], streams: [String] = [], versions: [Int64] = [], categories: [String] = []
    var types: [String] = [], schemaVersions: [Int64] = [], payloads: [ByteBuffer] = [], metadata: [String] = [], tags: [String] = []
    /// Each written stream with its last new version and that event's ordinal, sorted by stream
    /// id in bytewise order (the order appends lock stream rows in, so they cannot deadlock).
    var touched: [(stream: StreamID, version: StreamVersion, ordinal: Int64)] = []

    /// The rows of `planner`'s write steps.
    ///
    /// - Throws: ``EventStoreError/Code/invalidEvent`` when an event's metadata cannot be encoded.
    init(_ planner: AppendPlanner, encoder: ChronicleJSONEncoder) throws {
        var lastOfStream: [StreamID: (version: StreamVersion, ordinal: Int64)] = [:]
        for case .write(let request, let firstVersion, let firstOrdinal) in planner.steps {
            var version = firstVersion
            var ordinal = firstOrdinal
            for event in request.events {
                eventIDs.append(event.id)
                streams.append(request.streamID.rawValue)
                versions.append(version.value)
                categories.append(request.streamID.category)
                types.append(event.type)
                schemaVersions.append(Int64(event.schemaVersion))
                payloads.append(ByteBuffer(bytes: event.payload))
                metadata.append(try Self.encode(event.metadata, with: encoder, event: event, stream: request.streamID))
                tags.append(event.tags.joined(separator: "\n"))
                lastOfStream[request.streamID] = (version, ordinal)
                version = version.next
                ordinal += 1
            }
        }
        count = planner.newEventCount
        touched = lastOfStream.map { ($0.key, $0.value.version, $0.value.ordinal) }
            .sorted { $0.stream.rawValue.utf8.lexicographicallyPrecedes($1.stream.rawValue.utf8) }
    }

    /// ``PostgresSQL/writeEvents``' arguments `$1…$17`.
    func writeArguments(recordedAt: Date, channel: String) -> [any PostgresThrowingDynamicTypeEncodable] {
        [
            count, eventIDs, streams, versions, categories, types, schemaVersions, payloads, metadata, recordedAt,
            touched.map(\.stream.rawValue), touched.map(\.version.value), touched.map(\.ordinal), channel,
            count, Int64(touched.count), tags,
        ]
    }

    private static func encode(_ metadata: EventMetadata, with encoder: ChronicleJSONEncoder, event: EventData, stream: StreamID) throws -> String {
        do {
            return String(decoding: try encoder.encode(EventMetadata.Stored(metadata)), as: UTF8.self)
        } catch {
            throw EventStoreError(.invalidEvent, "The metadata of event \(event.id) cannot be encoded. Nothing was written.", streamID: stream, eventID: event.id, underlying: error)
        }
    }
}
