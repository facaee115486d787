import Chronicle
import ChronicleSQLite
import ChronicleTesting
import Foundation
import Synchronization
import Testing

/// The aggregate repository on real SQLite files: events, snapshots in the same file, reopening.
@Suite struct SQLiteAggregateRepositoryTests {
    @Test func commandsPersistAndReloadAfterReopeningTheFile() async throws {
        try await withTemporaryStore { store, directory in
            let path = store.path
            let tallies = AggregateRepository<Tally>(store: store, configuration: .init(eventIDs: .incrementing()))
            let metadata = EventMetadata(correlationID: "req-1", causationID: "cmd-1", custom: ["user": "ada"])
            let first = try await tallies.execute(.add(count: 3), on: "a", metadata: metadata)
            #expect(first.version == 3)
            #expect(first.position == 3)
            #expect(first.eventIDs == (1...3).map { UUID(uuidString: "00000000-0000-0000-0000-00000000000\($0)")! })
            try await store.close()

            let reopened = try SQLiteEventStore(path: path, configuration: .quiet())
            let stored = try await reopened.readStream("tally-a")
            #expect(stored.map(\.type) == ["Incremented", "Incremented", "Incremented"])
            #expect(stored.map { String(decoding: $0.payload, as: UTF8.self) } == [#"{"by":1}"#, #"{"by":2}"#, #"{"by":3}"#])
            #expect(stored.allSatisfy { $0.metadata == metadata && $0.schemaVersion == 1 })
            #expect(stored.map(\.id) == first.eventIDs)
            let loaded = try await AggregateRepository<Tally>(store: reopened).load("a")
            #expect(loaded.state == Tally(total: 6, events: 3))
            #expect(loaded.version == 3)
            try await reopened.close()
            _ = directory
        }
    }

    @Test func domainErrorsPassThroughAndNothingIsWritten() async throws {
        try await withTemporaryStore { store, _ in
            let tallies = AggregateRepository<Tally>(store: store)
            await #expect(throws: Tally.TooMany()) { try await tallies.execute(.add(count: 10_001), on: "a") }
            let head = try await store.headPosition()
            #expect(head == .start)
        }
    }

    @Test func concurrentCommandsOnOneAggregateAllLandThroughRetries() async throws {
        try await withTemporaryStore { store, _ in
            let tallies = AggregateRepository<Tally>(store: store, configuration: .init(maxAttempts: 100))
            let tasks = 32
            let attempts = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<tasks {
                    group.addTask { try await tallies.execute(.add(count: 2), on: "hot").attempts }
                }
                return try await group.reduce(0, +)
            }
            let loaded = try await tallies.load("hot")
            #expect(loaded.version == StreamVersion(Int64(tasks * 2)))
            #expect(loaded.state == Tally(total: tasks * 3, events: tasks * 2))
            #expect(attempts >= tasks)
        }
    }

    @Test func retriesAreBoundedAgainstAWriterThatAlwaysWins() async throws {
        try await withTemporaryStore { store, _ in
            let tallies = AggregateRepository<Tally>(store: RivalWriter(store), configuration: .init(maxAttempts: 3))
            _ = try await AggregateRepository<Tally>(store: store).execute(.add(count: 1), on: "a")
            let error = await #expect(throws: EventStoreError.self) { try await tallies.execute(.add(count: 1), on: "a") }
            #expect(error?.code == .wrongExpectedVersion)
            let version = try await store.streamVersion(of: "tally-a")
            #expect(version == 4)  // 1 + one rival event per attempt
        }
    }

    @Test func oldEventShapesStoredInSQLiteAreUpcastOnLoad() async throws {
        try await withTemporaryStore { store, _ in
            try await store.append(
                [
                    EventData(type: "Bumped", schemaVersion: 1, payload: Data(#"{"amount":5}"#.utf8)),
                    EventData(type: "Incremented", schemaVersion: 1, payload: Data(#"{"by":2}"#.utf8)),
                ],
                to: "tally-old", expectedVersion: .noStream
            )
            let registry = TallyEvent.registry
                .upcast(.migrate("Bumped", from: 1, to: 2) { json in json.renameField("amount", to: "by") })
                .upcast(.renameType("Bumped", version: 2, to: "Incremented", version: 1))
            let tallies = AggregateRepository<Tally>(store: store, codec: JSONEventCodec(registry: registry))
            let upcastState = try await tallies.load("old").state
            #expect(upcastState == Tally(total: 7, events: 2))

            let strict = await #expect(throws: EventStoreError.self) { try await AggregateRepository<Tally>(store: store).load("old") }
            #expect(strict?.code == .unknownEventType)
            #expect(strict?.eventType == "Bumped")
            #expect(strict?.streamVersion == 1)
        }
    }

    @Test func snapshotsInTheEventStoresFileSurviveReopening() async throws {
        try await withTemporaryStore { store, _ in
            let path = store.path
            let snapshots = try SQLiteSnapshotStore(sharingFileOf: store)
            let tallies = AggregateRepository<Tally>(store: store, snapshots: snapshots, configuration: .init(snapshotPolicy: .every(10)))
            for _ in 0..<4 { _ = try await tallies.execute(.add(count: 5), on: "s") }
            let snapshotVersion = try await snapshots.snapshot(of: "tally-s")?.version
            #expect(snapshotVersion == 20)
            try await store.close()

            let reopened = try SQLiteEventStore(path: path, configuration: .quiet())
            let reopenedSnapshots = try SQLiteSnapshotStore(path: path)
            defer { try? reopenedSnapshots.close() }
            let counting = CountingEventStore(reopened)
            let loaded = try await AggregateRepository<Tally>(store: counting, snapshots: reopenedSnapshots).load("s")
            #expect(loaded.snapshotVersion == 20)
            #expect(counting.eventsRead == 0)
            #expect(loaded.state == Tally(total: 60, events: 20))
            try await reopened.close()
        }
    }

    /// 100,000 events in one stream, written with 10,000-event appends. With a snapshot every
    /// 10,000 events, a load reads only the events after the latest snapshot, counted by a
    /// reading wrapper (no timing).
    @Test func snapshotsBoundTheEventsReadWhenLoadingALongStream() async throws {
        try await withTemporaryStore { store, _ in
            let counting = CountingEventStore(store)
            let snapshots = try SQLiteSnapshotStore(sharingFileOf: store)
            let tallies = AggregateRepository<Tally>(
                store: counting, snapshots: snapshots, configuration: .init(pageSize: 2_000, snapshotPolicy: .every(10_000))
            )
            var eventsReadByCommands = 0
            for _ in 0..<10 {
                counting.reset()
                _ = try await tallies.execute(.add(count: 10_000), on: "long")
                eventsReadByCommands += counting.eventsRead
            }
            let streamVersion = try await store.streamVersion(of: "tally-long")
            #expect(streamVersion == 100_000)
            let latestSnapshotVersion = try await snapshots.snapshot(of: "tally-long")?.version
            #expect(latestSnapshotVersion == 100_000)
            // Every command started from the snapshot the previous one saved.
            #expect(eventsReadByCommands == 0)

            counting.reset()
            let fromSnapshot = try await tallies.load("long")
            #expect(fromSnapshot.snapshotVersion == 100_000)
            #expect(counting.eventsRead == 0)
            let perCommand = (0..<10_000).reduce(0) { $0 + $1 % 7 + 1 }
            #expect(fromSnapshot.state == Tally(total: 10 * perCommand, events: 100_000))

            _ = try await AggregateRepository<Tally>(store: store).execute(.add(count: 7), on: "long")
            counting.reset()
            let afterMore = try await tallies.load("long")
            #expect(counting.eventsRead == 7)
            #expect(afterMore.eventsRead == 7)
            #expect(afterMore.version == 100_007)
            #expect(afterMore.state == Tally(total: 10 * perCommand + 28, events: 100_007))
        }
    }
}

/// A store in front of which a rival appends one event to the same stream before every append.
final class RivalWriter: EventStore, Sendable {
    let base: SQLiteEventStore
    init(_ base: SQLiteEventStore) { self.base = base }

    func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        try await base.append(EventData(type: "Incremented", payload: Data(#"{"by":0}"#.utf8)), to: appends[0].streamID, expectedVersion: .any)
        return try await base.append(appends)
    }
    func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try await base.readStream(stream, from: start, direction: direction, limit: limit)
    }
    func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] { try await base.readAll(after: position, limit: limit) }
    func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await base.readCategory(category, after: position, limit: limit)
    }
    func streamVersion(of stream: StreamID) async throws -> StreamVersion { try await base.streamVersion(of: stream) }
    func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        try await base.streams(category: category, after: after, limit: limit)
    }
    func headPosition() async throws -> GlobalPosition { try await base.headPosition() }
}
