import Chronicle
import ChronicleSQLite
import ChronicleTesting
import ChronicleTestSupport
import Foundation
import GRDB
import Synchronization
import Testing

@Suite struct SQLiteSnapshotStoreTests {
    private func snapshot(_ version: Int64) -> Snapshot {
        Snapshot(streamID: "tally-1", version: StreamVersion(version), position: GlobalPosition(version + 10), fingerprint: "Tally@v1", state: Data("{}".utf8))
    }

    @Test(arguments: SnapshotStoreConformance.cases)
    func sqliteSnapshotStoresConform(_ conformanceCase: SnapshotStoreConformance.Case) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path("snapshots.sqlite")
        let store = try SQLiteSnapshotStore(path: path)
        let reopened = Mutex<[SQLiteSnapshotStore]>([])
        defer {
            try? store.close()
            for other in reopened.withLock({ $0 }) { try? other.close() }
        }
        try await conformanceCase.run(.init(store: store, reopen: {
            let other = try SQLiteSnapshotStore(path: path)
            reopened.withLock { $0.append(other) }
            return other
        }))
    }

    @Test func theMigrationIsRecordedInItsOwnFormatTableWithNamedConstraints() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path("s.sqlite")
        try SQLiteSnapshotStore(path: path).close()
        try SQLiteSnapshotStore(path: path).close()  // reopening applies nothing twice
        #expect(SQLiteSnapshotStore.migrationIdentifiers == ["snapshots-1"])
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        let (applied, sql) = try await queue.read { db in
            (try Int.fetchAll(db, sql: "SELECT version FROM chronicle_snapshot_format"),
             try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'chronicle_snapshots'") ?? "")
        }
        #expect(applied == [1])
        #expect(sql.contains("chronicle_snapshots_pk"))
        #expect(sql.contains("STRICT"))
    }

    /// Builds before the one migration mechanism recorded the table in GRDB's `grdb_migrations`.
    @Test func aSnapshotFileFromAnEarlierBuildOpensWithItsSnapshots() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path("old.sqlite")
        do {
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                    INSERT INTO grdb_migrations VALUES ('snapshots-1');
                    CREATE TABLE chronicle_snapshots (
                        stream_id TEXT NOT NULL CONSTRAINT chronicle_snapshots_pk PRIMARY KEY,
                        version INTEGER NOT NULL CONSTRAINT chronicle_snapshots_version_not_negative CHECK (version >= 0),
                        position INTEGER NOT NULL CONSTRAINT chronicle_snapshots_position_not_negative CHECK (position >= 0),
                        fingerprint TEXT NOT NULL,
                        state BLOB NOT NULL
                    ) STRICT;
                    INSERT INTO chronicle_snapshots VALUES ('tally-1', 7, 17, 'Tally@v1', x'7b7d');
                    """)
            }
            try queue.close()
        }
        let store = try SQLiteSnapshotStore(path: path)
        defer { try? store.close() }
        #expect(try await store.snapshot(of: "tally-1") == snapshot(7))
        try await store.save(snapshot(9))
        #expect(try await store.snapshot(of: "tally-1") == snapshot(9))
    }

    @Test func aSnapshotFormatNewerThanThisBuildIsRefusedAndLeftAlone() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path("newer.sqlite")
        let store = try SQLiteSnapshotStore(path: path)
        try await store.save(snapshot(3))
        try store.close()
        do {
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in try db.execute(sql: "INSERT INTO chronicle_snapshot_format (version) VALUES (2)") }
            try queue.close()
        }
        let error = #expect(throws: EventStoreError.self) { try SQLiteSnapshotStore(path: path) }
        #expect(error?.code == .unsupportedSchema)
        #expect(error?.description.contains("upgrade Chronicle") == true)
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        #expect(try await queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM chronicle_snapshots") } == 1)
    }

    @Test func aFileThatIsNotADatabaseIsRefusedAndLeftAlone() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path("notes.txt")
        let text = Data(String(repeating: "not a database, just some notes\n", count: 200).utf8)
        try text.write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: EventStoreError.self) { try SQLiteSnapshotStore(path: path) }
        #expect(error?.code == .notADatabase)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == text)
    }

    @Test func aClosedStoreFailsWithClosed() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try SQLiteSnapshotStore(path: dir.path("s.sqlite"))
        try store.close()
        let error = await #expect(throws: EventStoreError.self) { try await store.save(snapshot(1)) }
        #expect(error?.code == .closed)
    }

    @Test func aRepositoryLoadsFromASnapshotFileOfItsOwnAfterARestart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let eventsPath = dir.path("events.sqlite")
        let snapshotsPath = dir.path("snapshots.sqlite")
        do {
            let events = try SQLiteEventStore(path: eventsPath, configuration: .quiet())
            let snapshots = try SQLiteSnapshotStore(path: snapshotsPath)
            let tallies = AggregateRepository<Tally>(store: events, snapshots: snapshots, configuration: .init(snapshotPolicy: .every(50)))
            for _ in 0..<3 { _ = try await tallies.execute(.add(count: 30), on: "1") }
            let version = try await snapshots.snapshot(of: "tally-1")?.version
            #expect(version == 60)
            try snapshots.close()
            try await events.close()
        }
        let events = try SQLiteEventStore(path: eventsPath, configuration: .quiet())
        let snapshots = try SQLiteSnapshotStore(path: snapshotsPath)
        let counting = CountingEventStore(events)
        let loaded = try await AggregateRepository<Tally>(store: counting, snapshots: snapshots).load("1")
        #expect(loaded.snapshotVersion == 60)
        #expect(loaded.eventsRead == 30)
        #expect(counting.eventsRead == 30)
        let replayed = try await AggregateRepository<Tally>(store: events).load("1")
        #expect(loaded.state == replayed.state)
        #expect(replayed.eventsRead == 90)
        try snapshots.close()
        try await events.close()
    }

    @Test func aDamagedSnapshotStateIsIgnoredAndReplaced() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path("snapshots.sqlite")
        let snapshots = try SQLiteSnapshotStore(path: path)
        defer { try? snapshots.close() }
        let failures = Mutex<[SnapshotFailure.Operation]>([])
        let tallies = AggregateRepository<Tally>(
            store: InMemoryEventStore(), snapshots: snapshots,
            configuration: .init(snapshotPolicy: .every(10), onSnapshotFailure: { failure in failures.withLock { $0.append(failure.operation) } })
        )
        _ = try await tallies.execute(.add(count: 10), on: "1")
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in try db.execute(sql: "UPDATE chronicle_snapshots SET state = x'00ff'") }
        try queue.close()

        let result = try await tallies.execute(.add(count: 10), on: "1")
        #expect(result.state.events == 20)
        #expect(failures.withLock { $0 } == [.decode])
        let replaced = try await snapshots.snapshot(of: "tally-1")
        #expect(replaced?.version == 20)
        #expect(try JSONDecoder().decode(Tally.self, from: replaced?.state ?? Data()) == result.state)
    }
}

