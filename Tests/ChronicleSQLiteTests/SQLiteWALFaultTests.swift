import Chronicle
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

@testable import ChronicleSQLite

/// Faults of the `-wal` file while the store is closed, made for real: a `ChronicleStoreStress`
/// writer is SIGKILLed mid-append, so its WAL holds committed appends the database file does not
/// (checked on copies before the fault), then the WAL is deleted, cut short, or replaced by
/// another store's.
@Suite struct SQLiteWALFaultTests {
    // MARK: A deleted WAL

    @Test func aDeletedWALWhoseIndexSaysItHeldCommitsIsRefusedAndNothingIsWritten() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        let killed = try await killWriterMidAppend(path: path, scratch: directory)
        try FileManager.default.removeItem(atPath: path + "-wal")
        let before = try FileSnapshot(path)

        let error = try expectOpenFails(path)
        #expect(error.code == .corruptRecord, "\(error)")
        #expect(error.message.contains("\(path)-wal is missing"), "\(error.message)")
        #expect(error.message.contains("lost"), "\(error.message)")
        #expect(error.message.contains("delete \(path)-shm"), "\(error.message)")
        #expect(try FileSnapshot(path) == before, "the refused open wrote to the files")

        // Accepting the loss, as the message says: the store opens at its last checkpoint.
        try FileManager.default.removeItem(atPath: path + "-shm")
        try await expectHealthyStore(path, head: killed.headInDatabaseFile, sameEventsAs: killed.fullCopy)
    }

    @Test func aDeletedWALAndIndexOpenTheLastCheckpointAndTheStoreGoesOn() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        let killed = try await killWriterMidAppend(path: path, scratch: directory)
        try FileManager.default.removeItem(atPath: path + "-wal")
        try FileManager.default.removeItem(atPath: path + "-shm")
        // Nothing is left to tell that appends were lost: SQLite opens the database file as it is.
        try await expectHealthyStore(path, head: killed.headInDatabaseFile, sameEventsAs: killed.fullCopy)
    }

    @Test func aWALReplacedByAnotherStoresIsRefusedAndPuttingItBackLosesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        let killed = try await killWriterMidAppend(path: path, scratch: directory)
        let theirs = directory.path("theirs.sqlite")
        _ = try await killWriterMidAppend(path: theirs, scratch: directory)
        try FileManager.default.removeItem(atPath: path + "-wal")
        try FileManager.default.copyItem(atPath: theirs + "-wal", toPath: path + "-wal")
        let before = try FileSnapshot(path)

        let error = try expectOpenFails(path)
        #expect(error.code == .corruptRecord, "\(error)")
        #expect(error.message.contains("\(path)-wal is not the WAL that \(path)-shm"), "\(error.message)")
        #expect(error.message.contains("lost"), "\(error.message)")
        #expect(try FileSnapshot(path) == before, "the refused open wrote to the files")

        // Putting the store's own WAL back, as the message says: every commit is there.
        try FileManager.default.removeItem(atPath: path + "-wal")
        try FileManager.default.copyItem(atPath: killed.fullCopy + "-wal", toPath: path + "-wal")
        try await expectHealthyStore(path, head: killed.headWithWAL, sameEventsAs: killed.fullCopy)
    }

    @Test func aKilledWritersIntactWALOpensWithEveryCommit() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        let killed = try await killWriterMidAppend(path: path, scratch: directory)
        try await expectHealthyStore(path, head: killed.headWithWAL, sameEventsAs: killed.fullCopy)
    }

    // MARK: A truncated WAL

    @Test(arguments: [WALCut.inTheMiddleOfAFrame, .shorterThanItsHeader])
    func aTruncatedWALIsRefusedWhileItsIndexRemembersMoreThenOpensTheCommittedPrefix(_ cut: WALCut) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        let killed = try await killWriterMidAppend(path: path, scratch: directory)
        // Cut inside the frames SQLite would replay (the file may hold older frames after them).
        let frames = try #require(try SQLiteWALInspection.readWAL(path + "-wal")).committedFrames
        let frameSize = killed.pageSize + 24
        try #require(frames > 4)
        let length = cut == .shorterThanItsHeader ? 20 : 32 + (frames / 2) * frameSize + frameSize / 2
        let handle = try #require(FileHandle(forUpdatingAtPath: path + "-wal"))
        try handle.truncate(atOffset: UInt64(length))
        try handle.close()
        // What SQLite guarantees: the transactions whose commit frame is before the cut.
        let prefix = try headOfCopy(of: path, with: ["", "-wal"], in: directory)
        #expect(prefix >= killed.headInDatabaseFile && prefix < killed.headWithWAL, "prefix \(prefix), \(killed)")
        if cut == .shorterThanItsHeader { #expect(prefix == killed.headInDatabaseFile) }
        let before = try FileSnapshot(path)

        let error = try expectOpenFails(path)
        #expect(error.code == .corruptRecord, "\(error)")
        #expect(error.message.contains("\(path)-wal is shorter"), "\(error.message)")
        #expect(error.message.contains("lost"), "\(error.message)")
        #expect(try FileSnapshot(path) == before, "the refused open wrote to the files")

        try FileManager.default.removeItem(atPath: path + "-shm")
        try await expectHealthyStore(path, head: prefix, sameEventsAs: killed.fullCopy)
    }

    // MARK: Another database's WAL

    /// Observed with SQLite 3.40: the smaller store's WAL, and a whole store in its WAL, read as
    /// that other store with `integrity_check` ok (silently another store); the larger one's as a
    /// damaged store; in every case the last connection's checkpoint writes it into the file.
    @Test(arguments: [ForeignStore.smallerThanOurs, .largerThanOurs, .wholeStoreInItsWAL])
    func anotherStoresWALBesideTheStoreIsRefusedAndNothingIsWritten(_ foreign: ForeignStore) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("events.sqlite")
        let ours = foreign == .smallerThanOurs ? 3000 : 20
        let store = try SQLiteEventStore(path: path, configuration: .quiet())
        for batch in 0..<(ours / 20) {
            let appends = try (0..<20).map { i in
                StreamAppend([event("Ours", "ours-\(batch)-\(i)")], to: try StreamID("ours-\(i)"), expectedVersion: .any)
            }
            _ = try await store.append(appends)
        }
        try await store.checkpoint()
        try await store.close()
        let theirs = directory.path("theirs.sqlite")
        let atLeast: Int64 = [.smallerThanOurs: 30, .largerThanOurs: 600, .wholeStoreInItsWAL: 100][foreign]!
        // A whole store in its WAL: a reader holds a snapshot of the empty file from before the
        // writer starts, so no checkpoint can copy a frame into the file (however late the kill
        // lands on a busy machine, past SQLite's 1,000-page automatic checkpoint), until the WAL
        // has been copied below.
        let holdingCheckpoints = foreign == .wholeStoreInItsWAL ? try CheckpointBlocker(path: theirs) : nil
        defer { holdingCheckpoints?.release() }
        var killed = try await killWriterMidAppend(path: theirs, scratch: directory, atLeast: atLeast)
        // A whole store in its WAL: killed before its first checkpoint (try again if it was later).
        for _ in 0..<5 where foreign == .wholeStoreInItsWAL && killed.headInDatabaseFile > 0 {
            for suffix in ["", "-wal", "-shm"] { try FileManager.default.removeItem(atPath: theirs + suffix) }
            killed = try await killWriterMidAppend(path: theirs, scratch: directory, atLeast: atLeast)
        }
        if foreign == .wholeStoreInItsWAL { try #require(killed.headInDatabaseFile == 0, "\(killed)") }
        if foreign == .largerThanOurs { try #require(killed.headInDatabaseFile > 0, "\(killed)") }
        for suffix in ["-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: path + suffix)  // all checkpointed
            try FileManager.default.copyItem(atPath: theirs + suffix, toPath: path + suffix)
        }
        holdingCheckpoints?.release()

        // What SQLite alone does with it, on a copy: it replays the frames into our file, and the
        // last connection's checkpoint writes them into the database file.
        let scratch = directory.path("sqlite-alone.sqlite")
        for suffix in ["", "-wal", "-shm"] { try FileManager.default.copyItem(atPath: path + suffix, toPath: scratch + suffix) }
        let oursBefore = try Data(contentsOf: URL(fileURLWithPath: path))
        let sqliteSaw = openWithSQLiteAlone(scratch)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch)) != oursBefore, "SQLite left the file alone: \(sqliteSaw)")

        let before = try FileSnapshot(path, includingIndex: false)
        let error = try expectOpenFails(path)
        #expect(error.code == .corruptRecord, "\(error) (SQLite alone saw: \(sqliteSaw))")
        #expect(error.message.contains("does not belong to \(path)"), "\(error.message)")
        #expect(error.message.contains("Nothing was written"), "\(error.message)")
        if foreign == .wholeStoreInItsWAL {
            #expect(error.message.contains("differs from the one \(path) itself holds"), "\(error.message)")
        }
        #expect(try FileSnapshot(path, includingIndex: false) == before, "the refused open wrote to the files")

        // Moving the other store's files away brings the store back as it was.
        for suffix in ["-wal", "-shm"] { try FileManager.default.moveItem(atPath: path + suffix, toPath: directory.path("aside" + suffix)) }
        let reopened = try SQLiteEventStore(path: path, configuration: .quiet())
        #expect(try await reopened.headPosition() == GlobalPosition(Int64(ours)))
        #expect(try await reopened.readAll(after: .start, limit: .max).allSatisfy { $0.type == "Ours" })
        let ourStreams = try (0..<20).map { try StreamID("ours-\($0)") }
        try await expectConsistentLog(reopened, expectedCount: ours, streams: ourStreams)
        _ = try await reopened.append([event("Ours")], to: ourStreams[0], expectedVersion: .any)
        #expect(try await reopened.headPosition() == GlobalPosition(Int64(ours + 1)))
        try await reopened.close()
        try expectIntegrityOK(path)
    }
}

enum WALCut: String, CustomStringConvertible, Sendable {
    case inTheMiddleOfAFrame, shorterThanItsHeader
    var description: String { rawValue }
}

enum ForeignStore: String, CustomStringConvertible, Sendable {
    /// A store with fewer pages than ours, partly checkpointed: refused by the WAL's last commit size.
    case smallerThanOurs
    /// A larger store, partly checkpointed: its pages and ours disagree (SQLite reports corruption).
    case largerThanOurs
    /// A store never checkpointed, larger than ours: consistent on its own, refused because the
    /// database file alone holds other events at the same positions.
    case wholeStoreInItsWAL
    var description: String { rawValue }
}

/// A store whose writer was killed: the head with its WAL and the head of its database file alone
/// (measured on copies), and a copy of the three files as they were.
struct KilledWriter: CustomStringConvertible {
    var headWithWAL: Int64
    var headInDatabaseFile: Int64
    var pageSize: Int
    var fullCopy: String
    var description: String { "with WAL \(headWithWAL), database file alone \(headInDatabaseFile)" }
}

/// Starts `ChronicleStoreStress` on a new store at `path`, SIGKILLs it once it has appended at
/// least `atLeast` events, and checks that its WAL holds committed appends the database file does not.
func killWriterMidAppend(path: String, scratch: TemporaryDirectory, atLeast: Int64 = 300) async throws -> KilledWriter {
    // A kill just after a checkpoint leaves nothing in the WAL the file lacks: start again.
    for _ in 1..<5 {
        if let killed = try await killWriterOnce(path: path, scratch: scratch, atLeast: atLeast) { return killed }
        for suffix in ["", "-wal", "-shm"] { try FileManager.default.removeItem(atPath: path + suffix) }
    }
    return try #require(try await killWriterOnce(path: path, scratch: scratch, atLeast: atLeast), "the WAL never held a commit the database file lacked")
}

private func killWriterOnce(path: String, scratch: TemporaryDirectory, atLeast: Int64) async throws -> KilledWriter? {
    let writer = try ChildProcess(try builtProduct("ChronicleStoreStress"), [path, "3", "2", "1000000", "doomed"])
    try await eventually("the doomed writer to append \(atLeast) events", timeout: .seconds(120)) {
        (try? headOfLiveStore(path)) ?? 0 >= atLeast
    }
    writer.kill()
    #expect(try await writer.result().signalled)
    #expect(FileManager.default.fileExists(atPath: path + "-wal") && FileManager.default.fileExists(atPath: path + "-shm"))
    let name = URL(fileURLWithPath: path).lastPathComponent
    let full = scratch.path("\(name).full-copy-\(UUID().uuidString)")
    for suffix in ["", "-wal", "-shm"] { try FileManager.default.copyItem(atPath: path + suffix, toPath: full + suffix) }
    // A kill in the middle of a checkpoint leaves the database file half-written: only with its
    // WAL is it whole (SQLite redoes the checkpoint), alone it may read as malformed. The cases
    // here need a database file that is whole by itself, so such a kill starts again too.
    guard let headInDatabaseFile = try? headOfCopy(of: path, with: [""], in: scratch) else { return nil }
    // A kill while the writer rewrites the -shm's header leaves its two copies different: SQLite
    // then rebuilds the index from the WAL, and the index tells nothing (the store cannot see a
    // deleted WAL's loss; one stress run in 20 opened such a store). The cases here need an index
    // that counts the WAL's frames, so such a kill starts again too.
    guard let index = SQLiteWALInspection.readIndexHeader(path + "-shm")?.header, index.maxFrame > index.backfilled else { return nil }
    let killed = KilledWriter(
        headWithWAL: try headOfCopy(of: path, with: ["", "-wal"], in: scratch),
        headInDatabaseFile: headInDatabaseFile,
        pageSize: try readOnly(full) { db in try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096 },
        fullCopy: full)
    return killed.headWithWAL > killed.headInDatabaseFile ? killed : nil
}

/// An open read transaction on a new, empty WAL-mode file, made before any writer opens it:
/// while it lasts no checkpoint can copy WAL frames into the file (a checkpoint never backfills
/// past the oldest reader's snapshot), so everything a writer commits stays in the WAL.
final class CheckpointBlocker: Sendable {
    private let queue: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true  // the read transaction outlives the call
        queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.inDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "BEGIN DEFERRED")
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master")
        }
    }

    /// Ends the read transaction and closes the connection (idempotent). Its closing checkpoint
    /// writes the WAL into the file: release only once the WAL has been copied or is no longer
    /// needed.
    func release() {
        try? queue.inDatabase { db in if db.isInsideTransaction { try db.execute(sql: "ROLLBACK") } }
        try? queue.close()
    }
}

/// The head of a live store, read on a read-only connection (which never checkpoints).
func headOfLiveStore(_ path: String) throws -> Int64 {
    try readOnly(path) { db in try Int64.fetchOne(db, sql: "SELECT coalesce(max(position), 0) FROM events") ?? 0 }
}

/// The head SQLite reads from a copy of some of the store's files (never the files themselves).
func headOfCopy(of path: String, with suffixes: [String], in directory: TemporaryDirectory) throws -> Int64 {
    let copy = directory.path("copy-\(UUID().uuidString).sqlite")
    for suffix in suffixes { try FileManager.default.copyItem(atPath: path + suffix, toPath: copy + suffix) }
    defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: copy + suffix) } }
    let queue = try DatabaseQueue(path: copy)  // read-write: a read-only connection cannot open a WAL-mode file without its -wal
    defer { try? queue.close() }
    return try queue.read { db in
        // Before the first checkpoint, even the schema is only in the WAL.
        guard try db.tableExists("events") else { return 0 }
        return try Int64.fetchOne(db, sql: "SELECT coalesce(max(position), 0) FROM events") ?? 0
    }
}

func readOnly<T>(_ path: String, _ body: (Database) throws -> T) throws -> T {
    var configuration = Configuration()
    configuration.readonly = true
    let queue = try DatabaseQueue(path: path, configuration: configuration)
    defer { try? queue.close() }
    return try queue.read(body)
}

/// Opens `path` with plain SQLite (read-write), reads the head and runs `integrity_check`, closes
/// (the last connection checkpoints the WAL into the file), and says what it read.
func openWithSQLiteAlone(_ path: String) -> String {
    do {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        let (head, check) = try queue.read { db in
            (try Int64.fetchOne(db, sql: "SELECT max(position) FROM events") ?? 0, try String.fetchAll(db, sql: "PRAGMA integrity_check(3)"))
        }
        return "head \(head), integrity_check \(check)"
    } catch {
        return "\(error)"
    }
}

/// The bytes of the database file, its WAL and (unless told otherwise) its WAL index, or their absence.
struct FileSnapshot: Equatable {
    var files: [String: Data?] = [:]

    init(_ path: String, includingIndex: Bool = true) throws {
        for suffix in ["", "-wal", "-journal"] + (includingIndex ? ["-shm"] : []) {
            files[suffix] = FileManager.default.fileExists(atPath: path + suffix) ? try Data(contentsOf: URL(fileURLWithPath: path + suffix)) : nil
        }
    }
}

func expectOpenFails(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> EventStoreError {
    do {
        let store = try SQLiteEventStore(path: path, configuration: .quiet())
        _ = store
        Issue.record("opened \(path)", sourceLocation: sourceLocation)
        throw OpenedUnexpectedly()
    } catch let error as EventStoreError {
        return error
    }
}

struct OpenedUnexpectedly: Error {}

func expectIntegrityOK(_ path: String) throws {
    #expect(try readOnly(path) { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") } == ["ok"])
}

/// Opens the store, checks its head, its log's invariants and that its events are those of the
/// same positions in `fullCopy` (the files before the fault), appends, and checks SQLite's integrity.
func expectHealthyStore(_ path: String, head: Int64, sameEventsAs fullCopy: String) async throws {
    let store = try SQLiteEventStore(path: path, configuration: .quiet())
    #expect(try await store.headPosition() == GlobalPosition(head))
    let streams = (0..<3).map { StreamID(category: "acct", id: "\($0)") }
    try await expectConsistentLog(store, expectedCount: Int(head), streams: streams)
    let events = try await store.readAll(after: .start, limit: .max)
    let original = try readOnly(fullCopy) { db in
        try Data.fetchAll(db, sql: "SELECT event_id FROM events WHERE position <= ? ORDER BY position", arguments: [head])
    }
    #expect(events.map { withUnsafeBytes(of: $0.id.uuid) { Data($0) } } == original, "the events left are not the ones committed first")
    _ = try await store.append([event()], to: streams[0], expectedVersion: .any)
    #expect(try await store.headPosition() == GlobalPosition(head + 1))
    try await store.close()
    try expectIntegrityOK(path)
}
