import Chronicle
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

@testable import ChronicleSQLite

@Suite struct SQLiteEventStoreOpeningTests {
    /// The bytes of every file in `directory` (to prove nothing was written, not even -wal/-shm).
    private func snapshot(_ directory: TemporaryDirectory) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.url.path) {
            files[name] = try Data(contentsOf: directory.url.appendingPathComponent(name))
        }
        return files
    }

    private func expectOpenFails(
        _ path: String, code: EventStoreError.Code, configuration: SQLiteEventStore.Configuration = .quiet(), messageContains: String? = nil
    ) {
        do {
            let store = try SQLiteEventStore(path: path, configuration: configuration)
            Issue.record("Opening \(path) succeeded; expected \(code)")
            _ = store
        } catch {
            #expect(error.code == code, "\(error)")
            if let messageContains { #expect(error.message.contains(messageContains), "\(error.message)") }
        }
    }

    @Test func aFileThatIsNotADatabaseIsRefusedAndLeftUntouched() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("notes.txt")
        try Data(String(repeating: "These are notes, not a database. ", count: 20).utf8).write(to: URL(fileURLWithPath: path))
        let short = directory.path("short.bin")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: short))
        let before = try snapshot(directory)
        expectOpenFails(path, code: .notADatabase, messageContains: "not a SQLite database")
        expectOpenFails(short, code: .notADatabase)
        #expect(try snapshot(directory) == before)
    }

    @Test func aSQLiteFileOfAnotherApplicationIsRefusedAndLeftUntouched() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let withTables = directory.path("app.sqlite")
        let queue = try DatabaseQueue(path: withTables)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
            try db.execute(sql: "INSERT INTO users (name) VALUES ('ada')")
        }
        try queue.close()
        let withOtherID = directory.path("other.sqlite")
        let other = try DatabaseQueue(path: withOtherID)
        try other.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA application_id = 1234") }
        try other.close()
        let before = try snapshot(directory)
        expectOpenFails(withTables, code: .notADatabase, messageContains: "another application")
        expectOpenFails(withOtherID, code: .notADatabase, messageContains: "application_id 1234")
        #expect(try snapshot(directory) == before)
    }

    @Test func aStoreWithANewerSchemaIsRefusedAndLeftUntouched() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        let store = try SQLiteEventStore(path: path, configuration: .quiet())
        try await store.append(event(), to: "order-1", expectedVersion: .noStream)
        try await store.close()
        let queue = try DatabaseQueue(path: path)
        try await queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version = \(SQLiteEventStore.schemaVersion + 1)") }
        try queue.close()
        let before = try snapshot(directory)
        expectOpenFails(path, code: .unsupportedSchema, messageContains: "schema version \(SQLiteEventStore.schemaVersion + 1)")
        let after = try snapshot(directory)
        #expect(after == before, "\(before.mapValues(\.count)) vs \(after.mapValues(\.count))")
    }

    @Test func aNewStoreIsMarkedAsChronicleWithItsSchemaVersion() async throws {
        try await withTemporaryStore { store, _ in
            let queue = try DatabaseQueue(path: store.path, configuration: readOnly())
            defer { try? queue.close() }
            let (applicationID, userVersion) = try queue.read { db in
                (try Int32.fetchOne(db, sql: "PRAGMA application_id"), try Int.fetchOne(db, sql: "PRAGMA user_version"))
            }
            #expect(applicationID == SQLiteEventStore.applicationID)
            #expect(userVersion == SQLiteEventStore.schemaVersion)
        }
    }

    @Test(arguments: [SQLiteEventStore.Durability.normal, .full])
    func connectionSettingsAreAppliedAndVerified(durability: SQLiteEventStore.Durability) async throws {
        var configuration = SQLiteEventStore.Configuration.quiet(durability: durability)
        configuration.busyTimeout = .milliseconds(1234)
        try await withTemporaryStore(configuration: configuration) { store, _ in
            let (journalMode, synchronous, busyTimeout) = try await store.pool.writeWithoutTransaction { db in
                (
                    try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                    try Int.fetchOne(db, sql: "PRAGMA busy_timeout")
                )
            }
            #expect(journalMode == "wal")
            #expect(synchronous == (durability == .full ? 2 : 1))
            #expect(busyTimeout == 1234)
        }
    }

    @Test func reopeningAStoreKeepsItsEventsAndContinuesTheLog() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        let first = event()
        let store = try SQLiteEventStore(path: path, configuration: .quiet())
        try await store.append(first, to: "order-1", expectedVersion: .noStream)
        try await store.close()
        let reopened = try SQLiteEventStore(path: path, configuration: .quiet())
        #expect(reopened.appendNotifier.head == 1)
        let stream = try await reopened.readStream("order-1")
        #expect(stream.map(\.id) == [first.id])
        let result = try await reopened.append(event(), to: "order-1", expectedVersion: .exactly(1))
        #expect(result.position == 2 && result.version == 2)
        try await reopened.close()
    }

    @Test func checkpointMovesTheWALIntoTheFileAndTruncatesIt() async throws {
        try await withTemporaryStore { store, _ in
            for index in 0..<20 {
                try await store.append(event(), to: StreamID(category: "order", id: "\(index)"), expectedVersion: .noStream)
            }
            let walSize = { (try? FileManager.default.attributesOfItem(atPath: store.path + "-wal")[.size] as? Int) ?? -1 }
            #expect(walSize() > 0)
            #expect(try await store.checkpoint())
            #expect(walSize() == 0)
            #expect(try await store.readAll(after: .start, limit: 100).count == 20)
        }
    }

    @Test func anEmptyFileBecomesAStore() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("empty.sqlite")
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        let store = try SQLiteEventStore(path: path, configuration: .quiet())
        try await store.append(event(), to: "order-1", expectedVersion: .noStream)
        #expect(try await store.headPosition() == 1)
        try await store.close()
    }

    @Test func openingALockedNewFileFailsAsBusyAndWritesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        var lockerConfiguration = GRDB.Configuration()
        lockerConfiguration.allowsUnsafeTransactions = true
        let locker = try DatabaseQueue(path: path, configuration: lockerConfiguration)
        try locker.inDatabase { db in try db.execute(sql: "BEGIN EXCLUSIVE") }
        var configuration = SQLiteEventStore.Configuration.quiet()
        configuration.busyTimeout = .milliseconds(50)
        expectOpenFails(path, code: .databaseBusy, configuration: configuration)
        try locker.inDatabase { db in try db.execute(sql: "ROLLBACK") }
        try locker.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
        let store = try SQLiteEventStore(path: path, configuration: configuration)
        try await store.close()
    }

    @Test func recordedAtComesFromTheInjectedClockWithMillisecondPrecision() async throws {
        var configuration = SQLiteEventStore.Configuration.quiet()
        let instant = Date(timeIntervalSince1970: 1_800_000_000.123)
        configuration.now = { instant }
        try await withTemporaryStore(configuration: configuration) { store, _ in
            try await store.append(event(), to: "order-1", expectedVersion: .noStream)
            let recorded = try await store.readStream("order-1")
            #expect(recorded.first?.recordedAt == instant)
        }
    }
}

func readOnly() -> GRDB.Configuration {
    var configuration = GRDB.Configuration()
    configuration.readonly = true
    return configuration
}
