import Chronicle
import Foundation
import GRDB
import Testing

@testable import ChronicleSQLite

/// The store's hot paths bind and read through libsqlite3 directly (`RawStatement`): values that
/// GRDB used to convert must keep their exact storage classes, and statements must never leak a
/// binding or a read snapshot into the next call.
@Suite struct SQLiteHotPathTests {
    @Test func emptyPayloadsAndEmptyCategoriesAreStoredAsEmptyValuesNotNull() async throws {
        try await withTemporaryStore { store, _ in
            // "-x" has the empty category: bound as empty text, which NOT NULL accepts.
            let stream: StreamID = "-x"
            #expect(stream.category == "")
            try await store.append(EventData(type: "Empty", payload: Data()), to: stream, expectedVersion: .noStream)
            let read = try await store.readStream(stream)
            #expect(read.count == 1)
            #expect(read[0].payload == Data())
            let queue = try DatabaseQueue(path: store.path)
            defer { try? queue.close() }
            let (payloadType, categoryType) = try await queue.read { db in
                (try String.fetchOne(db, sql: "SELECT typeof(payload) FROM events"),
                 try String.fetchOne(db, sql: "SELECT typeof(name) FROM categories"))
            }
            #expect(payloadType == "blob")
            #expect(categoryType == "text")
        }
    }

    @Test func everyFieldOfEveryEventOfAMultiEventAppendRoundTrips() async throws {
        try await withTemporaryStore { store, _ in
            let metadata = EventMetadata(correlationID: "corr-1", causationID: "cause-1", custom: ["k": "v"])
            let large = Data((0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let written = [
                EventData(type: "A", schemaVersion: 3, payload: Data("1".utf8)),
                EventData(type: "Bé", payload: large, metadata: metadata),
                EventData(type: "A", payload: Data("3".utf8)),
            ]
            let result = try await store.append(written, to: "order-1", expectedVersion: .noStream)
            #expect(result.firstVersion == 1 && result.version == 3 && result.position == 3)
            let read = try await store.readStream("order-1")
            #expect(read.map(\.id) == written.map(\.id))
            #expect(read.map(\.type) == ["A", "Bé", "A"])
            #expect(read.map(\.schemaVersion) == [3, 1, 1])
            #expect(read.map(\.payload) == written.map(\.payload))
            #expect(read.map(\.metadata) == [.none, metadata, .none])
            #expect(read.map(\.streamVersion) == [1, 2, 3])
            #expect(read.map(\.position) == [1, 2, 3])
        }
    }

    @Test func logPagesMixingStreamsAndTypesGiveEachRowItsOwnStreamAndType() async throws {
        try await withTemporaryStore { store, _ in
            // Rows alternate between streams and types, so the reader's "same as the last row"
            // reuse must notice every change.
            for round in 0..<3 {
                for (index, stream) in ["a-1", "a-2", "b-1"].enumerated() {
                    let type = index % 2 == 0 ? "Even" : "Odd"
                    try await store.append(event(type, "\(round)"), to: StreamID(stream), expectedVersion: .exactly(StreamVersion(Int64(round))))
                }
            }
            let log = try await store.readAll(after: .start, limit: 100)
            #expect(log.map(\.streamID.rawValue) == Array(repeating: ["a-1", "a-2", "b-1"], count: 3).flatMap { $0 })
            #expect(log.map(\.type) == Array(repeating: ["Even", "Odd", "Even"], count: 3).flatMap { $0 })
            #expect(try await store.readCategory("a", after: .start, limit: 100).map(\.streamID.rawValue) == ["a-1", "a-2", "a-1", "a-2", "a-1", "a-2"])
        }
    }

    @Test func aReadStoppedAfterOneRowDoesNotPinItsConnectionToAnOldSnapshot() async throws {
        try await withTemporaryStore { store, _ in
            // streamVersion(of:) and a limited read stop on a row; the next reads on the same
            // reader connection must still see later commits.
            for version in 0..<20 {
                #expect(try await store.streamVersion(of: "order-1") == StreamVersion(Int64(version)))
                if version > 0 {
                    #expect(try await store.readStream("order-1", from: 1, direction: .forwards, limit: 1).count == 1)
                    #expect(try await store.readAll(after: .start, limit: 1).count == 1)
                }
                try await store.append(event(), to: "order-1", expectedVersion: .exactly(StreamVersion(Int64(version))))
                #expect(try await store.headPosition() == GlobalPosition(Int64(version + 1)))
            }
            // And a checkpoint can truncate the WAL: no reader holds an old snapshot.
            #expect(try await store.checkpoint())
        }
    }

    @Test func aFailedStatementDoesNotPoisonTheNextAppend() async throws {
        try await withTemporaryStore { store, _ in
            let first = event()
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            // Same id, other content: the insert fails on the unique event id, inside the writer.
            let clash = EventData(id: first.id, type: "Other", payload: Data("{}".utf8))
            await #expect(throws: EventStoreError.self) {
                try await store.append(clash, to: "order-2", expectedVersion: .noStream)
            }
            // The statements are reusable and bind fresh values.
            let next = try await store.append([event(), event()], to: "order-2", expectedVersion: .noStream)
            #expect(next.position == 3)
            #expect(try await store.readAll(after: .start, limit: 10).map(\.streamVersion) == [1, 1, 2])
        }
    }

    /// Default (time-ordered) event ids sort in the order they were made, so the unique
    /// event-id index grows at its end: walking it gives the events in append order.
    @Test func defaultEventIDsAreIndexedInTheOrderTheEventsWereAppended() async throws {
        try await withTemporaryStore { store, _ in
            for round in 0..<100 {
                let batch = (0..<(round % 3 + 1)).map { _ in EventData(type: "Happened", payload: Data("{}".utf8)) }
                try await store.append(batch, to: StreamID("order-\(round % 7)"), expectedVersion: .any)
            }
            let queue = try DatabaseQueue(path: store.path)
            defer { try? queue.close() }
            let (byID, count) = try await queue.read { db in
                (try Int64.fetchAll(db, sql: "SELECT position FROM events ORDER BY event_id"),
                 try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0)
            }
            #expect(count == (0..<100).reduce(0) { $0 + $1 % 3 + 1 })
            #expect(byID == Array(1...Int64(count)))
        }
    }
}
