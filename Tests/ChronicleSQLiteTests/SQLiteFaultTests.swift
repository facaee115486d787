import Chronicle
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

@testable import ChronicleSQLite

/// File-level faults: a hot journal from a killed first open, storage error messages, opening
/// without creating, all-or-nothing bulk appends, salvaging a truncated file.
@Suite struct SQLiteFaultTests {
    // MARK: A killed first open

    @Test func aHotJournalFromAKilledFirstOpenIsRolledBackAndTheStoreOpens() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        try writeKilledFirstOpen(at: path)
        var readOnly = Configuration()
        readOnly.readonly = true
        #expect(throws: DatabaseError.self) {
            let queue = try DatabaseQueue(path: path, configuration: readOnly)
            defer { try? queue.close() }
            _ = try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
        }

        let store = try SQLiteEventStore(path: path, configuration: .quiet())
        _ = try await store.append([EventData(type: "A", payload: Data("{}".utf8))], to: "order-1", expectedVersion: .noStream)
        #expect(try await store.headPosition() == GlobalPosition(1))
        try await store.close()
        #expect(!FileManager.default.fileExists(atPath: path + "-journal"))
    }

    @Test func aHotJournalOnAnotherApplicationsFileIsLeftAlone() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("other.sqlite")
        try writeKilledFirstOpen(at: path, applicationID: 0x1234_5678)
        let journal = try Data(contentsOf: URL(fileURLWithPath: path + "-journal"))
        do {
            _ = try SQLiteEventStore(path: path, configuration: .quiet())
            Issue.record("opened another application's file")
        } catch {
            #expect(error.code == .notADatabase, "\(error)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "-journal")) == journal)
    }

    // MARK: Storage errors

    @Test(arguments: [
        (ResultCode.SQLITE_FULL, EventStoreError.Code.diskFull, "is full"),
        (.SQLITE_READONLY, .readOnly, "read-only"),
        (.SQLITE_READONLY_DIRECTORY, .readOnly, "directory"),
        (.SQLITE_READONLY_ROLLBACK, .readOnly, "journal"),
        (.SQLITE_READONLY_DBMOVED, .readOnly, "moved"),
        (.SQLITE_CANTOPEN, .storageFailure, "cannot open"),
        (.SQLITE_IOERR_WRITE, .storageFailure, "I/O error"),
        (.SQLITE_IOERR_SHORT_READ, .corruptRecord, "truncated"),
        (.SQLITE_CORRUPT, .corruptRecord, "damaged"),
        (.SQLITE_NOTADB, .notADatabase, "not a SQLite database"),
        (.SQLITE_BUSY, .databaseBusy, "locked"),
        (.SQLITE_PERM, .readOnly, "refused"),
        (.SQLITE_TOOBIG, .invalidEvent, "larger"),
        (.SQLITE_NOMEM, .storageFailure, "memory"),
    ])
    func sqliteFailuresSayWhatHappenedAndWhatToDo(code: ResultCode, expected: EventStoreError.Code, words: String) {
        let error = SQLiteErrorMapping.map(DatabaseError(resultCode: code, message: "sqlite says"), path: "/data/events.sqlite", operation: "Append")
        #expect(error.code == expected)
        #expect(error.message.contains(words), "\(error.message)")
        #expect(error.message.contains("/data/events.sqlite"), "\(error.message)")
        #expect(error.message.contains("SQLite \(code.rawValue) SQLITE_"), "\(error.message)")
        #expect(error.message.contains("sqlite says"), "\(error.message)")
        #expect(!error.message.hasSuffix("SQLite error \(code.rawValue)."), "\(error.message)")
    }

    // MARK: Opening without creating

    @Test func openingWithoutCreatingRefusesMissingEmptyAndSchemaLessFilesAndWritesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var configuration = SQLiteEventStore.Configuration.quiet()
        configuration.createIfNeeded = false
        let empty = directory.path("empty.sqlite")
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let bare = directory.path("bare.sqlite")
        let queue = try DatabaseQueue(path: bare)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version = 0; VACUUM") }
        try queue.close()
        let bareBytes = try Data(contentsOf: URL(fileURLWithPath: bare))
        for path in [directory.path("missing.sqlite"), empty, bare] {
            do {
                _ = try SQLiteEventStore(path: path, configuration: configuration)
                Issue.record("opened \(path)")
            } catch {
                #expect(error.code == .notADatabase)
                #expect(error.message.contains("not a Chronicle store"), "\(error.message)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path("missing.sqlite")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: empty)).isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: bare)) == bareBytes)
        #expect(!FileManager.default.fileExists(atPath: empty + "-wal"))
    }

    // MARK: One transaction

    @Test func appendInOneTransactionCommitsEverythingOrNothing() async throws {
        try await withTemporaryStore { store, _ in
            let event = { EventData(type: "A", payload: Data("{}".utf8)) }
            struct Stop: Error {}
            #expect(throws: Stop.self) {
                try store.appendInOneTransaction { transaction in
                    for i in 1...50 { _ = try transaction.append(StreamAppend([event()], to: try StreamID("s-\(i)"), expectedVersion: .noStream)) }
                    throw Stop()
                }
            }
            #expect(try await store.headPosition() == .start)
            // A failed append rolls everything back even when the body catches it.
            #expect(throws: EventStoreError.self) {
                try store.appendInOneTransaction { transaction in
                    _ = try transaction.append(StreamAppend([event()], to: "a-1", expectedVersion: .noStream))
                    _ = try? transaction.append(StreamAppend([event()], to: "a-1", expectedVersion: .noStream))
                }
            }
            #expect(try await store.headPosition() == .start)
            let written = try store.appendInOneTransaction { transaction in
                for i in 1...50 { _ = try transaction.append(StreamAppend([event(), event()], to: try StreamID("s-\(i)"), expectedVersion: .noStream)) }
                return transaction.eventsWritten
            }
            #expect(written == 100)
            #expect(try await store.headPosition() == GlobalPosition(100))
            #expect(try await store.readStream("s-50", from: .initial.next, direction: .forwards, limit: 10).map(\.position.value) == [99, 100])
        }
    }

    // MARK: Salvage

    @Test func salvageReadsEverythingBeforeAndAfterADamagedPage() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        let store = try SQLiteEventStore(path: path, configuration: .quiet())
        let padding = String(repeating: "p", count: 300)
        for batch in 0..<20 {
            let appends = try (0..<100).map { i in
                StreamAppend([EventData(type: "A", payload: Data(#"{"n":\#(batch * 100 + i),"pad":"\#(padding)"}"#.utf8))], to: try StreamID("s-\(i)"), expectedVersion: .any)
            }
            _ = try await store.append(appends)
        }
        try await store.checkpoint()
        try await store.close()
        // Zero an events leaf page in the middle, and cut the file at the events' last leaf.
        var readOnly = Configuration()
        readOnly.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: readOnly)
        let (pageSize, leaves) = try queue.inDatabase { db in
            (try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096,
             try Int.fetchAll(db, sql: "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY pageno"))
        }
        try queue.close()
        try #require(leaves.count > 10)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64((leaves[leaves.count / 2] - 1) * pageSize))
        try handle.write(contentsOf: Data(count: pageSize))
        try handle.truncate(atOffset: UInt64((leaves[leaves.count - 1] - 1) * pageSize))
        try handle.close()

        do {
            _ = try SQLiteEventStore(path: path, configuration: .quiet())
            Issue.record("opened a damaged file")
        } catch {
            #expect(error.code == .corruptRecord, "\(error)")
        }
        var positions: [Int64] = []
        let report = try SQLiteEventStore.salvageEvents(path: path) { positions.append($0.position.value) }
        #expect(!report.isComplete)
        #expect(report.eventsRead == positions.count)
        #expect(positions == positions.sorted())
        #expect(positions.count > 1500 && positions.count < 2000, "\(positions.count) of 2000 salvaged")
        // The lost ranges and the salvaged events account for every position.
        let lost = report.unreadable.reduce(0) { $0 + Int($1.count) }
        #expect(Set(positions).isDisjoint(with: report.unreadable.flatMap { Array($0) }))
        #expect(positions.count + lost == 2000, "\(report)")
    }
}

/// The state a first open killed mid-way can leave: page 1 written (the new file switched to WAL
/// mode), and the rollback journal of that transaction (a 512-byte header, no page records: the
/// file was empty before) not yet deleted. SQLite calls such a journal hot.
func writeKilledFirstOpen(at path: String, applicationID: Int32 = 0) throws {
    let scratch = path + ".scratch"
    let queue = try DatabaseQueue(path: scratch)
    try queue.writeWithoutTransaction { db in
        if applicationID != 0 { try db.execute(sql: "PRAGMA application_id = \(applicationID)") }
        _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
    }
    try queue.close()
    let page = try Data(contentsOf: URL(fileURLWithPath: scratch))
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: scratch + suffix) }
    precondition(page.count >= 512, "SQLite wrote no page 1")
    try page.write(to: URL(fileURLWithPath: path))
    // The journal header (https://sqlite.org/fileformat.html#the_rollback_journal).
    var journal = Data([0xD9, 0xD5, 0x05, 0xF9, 0x20, 0xA1, 0x63, 0xD7])
    func append(_ value: UInt32) { withUnsafeBytes(of: value.bigEndian) { journal.append(contentsOf: $0) } }
    append(0)  // page records: none
    append(UInt32.random(in: 1...UInt32.max))  // checksum nonce
    append(0)  // the file's size before the transaction, in pages: empty
    append(512)  // sector size
    append(UInt32(page.count))  // page size
    journal.append(Data(count: 512 - journal.count))
    try journal.write(to: URL(fileURLWithPath: path + "-journal"))
}
