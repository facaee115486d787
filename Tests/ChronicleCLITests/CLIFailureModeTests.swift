import ChroniclePostgres
import ChronicleTestSupport
import Foundation
import GRDB
import PostgresNIO
import Testing

@testable import ChronicleCommandLine

/// Faults at the file level and in the CLI (findings 8–13 of the hardening issue): each test
/// builds the faulty state for real (SQLite files, mounts) and runs the real `chronicle` program.
@Suite(.serialized) struct CLIFailureModeTests {
    // MARK: 8. A first open killed mid-way

    @Test func aHotJournalLeftByAKilledFirstOpenIsRolledBackByTheNextCommand() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try FaultFixtures.writeKilledFirstOpen(at: cli.storePath)
        // The fixture is the state SQLite leaves: a read-only connection cannot read the file.
        #expect(FaultFixtures.readOnlyOpenFailure(cli.storePath) == 776)

        let stats = try await cli.run(["stats"])
        #expect(stats.status == 1)
        #expect(stats.stderr.contains("not a Chronicle store"), "\(stats.stderr)")
        #expect(!stats.stderr.contains("776"), "\(stats.stderr)")

        let created = try await cli.run(["init"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.storePath + "-journal"))
        let appended = try await cli.run(["append", "order-1"], input: #"{"type":"A","data":{}}"#)
        #expect(appended.status == 0, "\(appended.stderr)")
        let verify = try await cli.run(["verify"])
        #expect(verify.status == 0, "\(verify.stdout)")
    }

    @Test func initAloneRecoversAKilledFirstOpen() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try FaultFixtures.writeKilledFirstOpen(at: cli.storePath)
        let created = try await cli.run(["init"])
        #expect(created.status == 0, "\(created.stderr)")
        let stats = try await cli.run(["stats", "--json"])
        #expect(stats.status == 0, "\(stats.stderr)")
        #expect(stats.stdout.contains("\"events\":0"))
    }

    // MARK: 9. Storage errors say what happened and what to do

    @Test(.enabled(if: FaultMounts.available, "needs root (mount -t tmpfs)"))
    func aFullDiskSaysSoAndTheStoreWorksOnceSpaceIsFreed() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let small = cli.directory.appendingPathComponent("small").path
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        try #require(FaultMounts.mount(["-t", "tmpfs", "-o", "size=2m", "tmpfs", small]))
        defer { _ = FaultMounts.unmount(small) }
        let store = small + "/store.sqlite"
        #expect(try await cli.run(["init", "--store", store], store: false).status == 0)
        // A filler file, to free space afterwards.
        let filler = small + "/filler"
        #expect(FileManager.default.createFile(atPath: filler, contents: Data(count: 512 * 1024)))

        let payload = String(repeating: "x", count: 100 * 1024)
        var acknowledged = 0
        var failure: CLIRunner.Result?
        for _ in 0..<40 {
            let result = try await cli.run(["append", "blob-1", "--store", store], input: #"{"type":"Blob","data":"\#(payload)"}"#, store: false)
            if result.status != 0 {
                failure = result
                break
            }
            acknowledged += 1
        }
        let full = try #require(failure, "the 2 MiB file system never filled up")
        #expect(full.status == 1)
        #expect(full.stderr.contains("is full"), "\(full.stderr)")
        #expect(full.stderr.contains("free space"), "\(full.stderr)")
        #expect(full.stderr.contains("SQLITE_FULL"), "\(full.stderr)")
        #expect(!full.stderr.contains("SQLite error 13."), "\(full.stderr)")

        try FileManager.default.removeItem(atPath: filler)
        let again = try await cli.run(["append", "blob-1", "--store", store], input: #"{"type":"Blob","data":"small"}"#, store: false)
        #expect(again.status == 0, "\(again.stderr)")
        let stats = try await cli.run(["stats", "--json", "--store", store], store: false)
        #expect(stats.stdout.contains("\"events\":\(acknowledged + 1)"), "\(stats.stdout)")
        let verify = try await cli.run(["verify", "--store", store], store: false)
        #expect(verify.status == 0, "\(verify.stdout)")
    }

    @Test(.enabled(if: FaultMounts.available, "needs root (mount --bind -o ro)"))
    func aReadOnlyFileSystemSaysSoAndWritesNothing() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let writable = cli.directory.appendingPathComponent("rw").path
        let readOnly = cli.directory.appendingPathComponent("ro").path
        for directory in [writable, readOnly] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let store = writable + "/store.sqlite"
        #expect(try await cli.run(["append", "order-1", "--store", store], input: #"{"type":"A","data":{}}"#, store: false).status == 0)
        try #require(FaultMounts.mount(["--bind", "-o", "ro", writable, readOnly]))
        defer { _ = FaultMounts.unmount(readOnly) }

        let append = try await cli.run(["append", "order-1", "--store", readOnly + "/store.sqlite"], input: #"{"type":"B","data":{}}"#, store: false)
        #expect(append.status == 1)
        #expect(append.stderr.contains("read-only"), "\(append.stderr)")
        #expect(append.stderr.contains("writable"), "\(append.stderr)")
        #expect(!append.stderr.contains("SQLite error 8."), "\(append.stderr)")
        let create = try await cli.run(["init", "--store", readOnly + "/new.sqlite"], store: false)
        #expect(create.status == 1)
        #expect(create.stderr.contains("read-only directory or file system"), "\(create.stderr)")
        #expect(!FileManager.default.fileExists(atPath: writable + "/new.sqlite"))
        // Reading needs no write: a store on read-only media still serves the read commands.
        let stats = try await cli.run(["stats", "--json", "--store", readOnly + "/store.sqlite"], store: false)
        #expect(stats.status == 0, "\(stats.stderr)")
        #expect(stats.stdout.contains("\"events\":1"), "\(stats.stdout)")

        #expect(FaultMounts.unmount(readOnly))
        let verify = try await cli.run(["verify", "--json", "--store", store], store: false)
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(verify.stdout.contains("\"events\":1"), "\(verify.stdout)")
    }

    // MARK: 10. Import is all-or-nothing

    @Test func anImportWithABadLineAfterTheFirstBatchCommitsNothing() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        _ = try await cli.run(["init"])
        var lines = (1...1500).map { #"{"stream":"clock-\#($0 % 7)","version":\#(($0 - 1) / 7 + 1),"type":"Tick","data":"{}"}"# }
        let good = lines.joined(separator: "\n")
        lines.append("{broken")
        let result = try await cli.run(["import"], input: lines.joined(separator: "\n"))
        #expect(result.status == 1)
        #expect(result.stderr.contains("line 1501"), "\(result.stderr)")
        #expect(result.stderr.contains("Nothing was imported"), "\(result.stderr)")
        #expect(try await cli.run(["stats", "--json"]).stdout.contains("\"events\":0"))

        // A conflict found by the store after the first batch: nothing either.
        var conflicting = Array(lines.prefix(1200))
        conflicting.append(#"{"stream":"clock-1","version":1,"type":"Tick","data":"{}"}"#)
        let conflict = try await cli.run(["import"], input: conflicting.joined(separator: "\n"))
        #expect(conflict.status == 1)
        #expect(conflict.stderr.contains("line 1201"), "\(conflict.stderr)")
        #expect(conflict.stderr.contains("Nothing was imported"), "\(conflict.stderr)")
        #expect(try await cli.run(["stats", "--json"]).stdout.contains("\"events\":0"))

        // The fixed input then imports whole, once.
        let fixed = try await cli.run(["import", "--json"], input: good)
        #expect(fixed.status == 0, "\(fixed.stderr)")
        #expect(fixed.stdout.contains("\"written\":1500"), "\(fixed.stdout)")
        #expect(try await cli.run(["verify"]).status == 0)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["CHRONICLE_POSTGRES_URL"].map { !$0.isEmpty } ?? false, "CHRONICLE_POSTGRES_URL is not set"))
    func anImportIntoPostgresChecksEveryLineBeforeWritingAndReportsWhatACommitFailureLeft() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let url = ProcessInfo.processInfo.environment["CHRONICLE_POSTGRES_URL"]!
        let schema = "cli_\(UUID().uuidString.prefix(8).lowercased())"
        let pg = ["--store", url, "--schema", schema]
        do {
            try await importChecks(cli, pg)
        } catch {
            await dropSchema(schema, url: url)
            throw error
        }
        await dropSchema(schema, url: url)
    }

    private func dropSchema(_ schema: String, url: String) async {
        guard let settings = try? PostgresConnectionSettings(url: url) else { return }
        let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-cli-tests", maximumConnections: 1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE"))
            group.cancelAll()
        }
    }

    private func importChecks(_ cli: CLIRunner, _ pg: [String]) async throws {
        var lines = (1...1500).map { #"{"stream":"clock-\#($0 % 7)","version":\#(($0 - 1) / 7 + 1),"type":"Tick","data":"{}"}"# }
        lines.append("{broken")
        let result = try await cli.run(["import"] + pg, input: lines.joined(separator: "\n"), store: false)
        #expect(result.status == 1)
        #expect(result.stderr.contains("line 1501"), "\(result.stderr)")
        #expect(result.stderr.contains("Nothing was imported"), "\(result.stderr)")
        #expect(try await cli.run(["stats", "--json"] + pg, store: false).stdout.contains("\"events\":0"))

        // A conflict only the store sees, after the first batch: the message says what was committed.
        var conflicting = Array(lines.prefix(1200))
        conflicting.append(#"{"stream":"clock-1","version":1,"type":"Tick","data":"{}"}"#)
        let conflict = try await cli.run(["import"] + pg, input: conflicting.joined(separator: "\n"), store: false)
        #expect(conflict.status == 1)
        #expect(conflict.stderr.contains("line 1201"), "\(conflict.stderr)")
        #expect(conflict.stderr.contains("from lines 1–1200"), "\(conflict.stderr)")
        #expect(try await cli.run(["stats", "--json"] + pg, store: false).stdout.contains("\"events\":1200"))
    }

    // MARK: 11. Reading a long line is linear

    @Test func theLineReaderSplitsLinesAcrossChunkBoundaries() async throws {
        let text = "a\nbé\n\n{\"k\":\"ü€𝄞\"}\nlast"
        let bytes = Data(text.utf8)
        for chunkSize in [1, 2, 3, 5, 7, 64] {
            var reader = LineReader.over(bytes, chunkSize: chunkSize)
            var lines: [LineReader.Line] = []
            while let line = try reader.next() { lines.append(line) }
            #expect(lines.map(\.text) == ["a", "bé", "", "{\"k\":\"ü€𝄞\"}", "last"], "chunk size \(chunkSize)")
            #expect(lines.map(\.number) == [1, 2, 3, 4, 5])
            #expect(lines.map(\.offset) == [0, 2, 6, 7, 25], "chunk size \(chunkSize)")
            #expect(reader.bytesScanned == bytes.count, "chunk size \(chunkSize)")
        }
        var empty = LineReader.over(Data(), chunkSize: 4)
        #expect(try empty.next() == nil)
        var trailing = LineReader.over(Data("x\n".utf8), chunkSize: 4)
        #expect(try trailing.next()?.text == "x")
        #expect(try trailing.next() == nil)
    }

    @Test func aSixteenMiBLineIsScannedOnceNotOncePerChunk() async throws {
        // 16 MiB in 256 KiB chunks: the old reader scanned its whole buffer after each of the 64
        // chunks (about 544 MB examined); a linear one examines each byte once.
        let long = Data(repeating: UInt8(ascii: "x"), count: 16 * 1024 * 1024)
        let input = long + Data("\nshort\n".utf8) + long
        var reader = LineReader.over(input, chunkSize: 256 * 1024)
        #expect(try reader.next()?.text.utf8.count == long.count)
        #expect(try reader.next()?.text == "short")
        #expect(try reader.next()?.text.utf8.count == long.count)
        #expect(try reader.next() == nil)
        #expect(reader.bytesScanned == input.count)
    }

    // MARK: 12. Invalid UTF-8 is refused

    @Test func invalidUTF8IsRefusedWithItsLineAndByteOffset() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let prefix = #"{"type":"A","data":"caf"#
        var bytes = Data(prefix.utf8)
        bytes.append(contentsOf: [0xE9, 0x20, 0xFF, 0xFE])
        bytes.append(contentsOf: Data("\"}\n".utf8))
        let file = cli.directory.appendingPathComponent("latin1.jsonl").path
        try bytes.write(to: URL(fileURLWithPath: file))
        let append = try await cli.run(["append", "order-1", "--file", file])
        #expect(append.status == 1)
        #expect(append.stderr.contains("line 1: invalid UTF-8 at byte offset \(prefix.utf8.count)"), "\(append.stderr)")
        #expect(append.stderr.contains("0xE9"), "\(append.stderr)")
        #expect(append.stderr.contains("Nothing was written"), "\(append.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.storePath))

        let secondLine = #"{"stream":"a-1","type":"X","data":"ok"#
        var importBytes = Data(#"{"stream":"a-1","type":"X","data":"{}"}"#.utf8)
        importBytes.append(0x0A)
        importBytes.append(Data(secondLine.utf8))
        importBytes.append(contentsOf: [0xC3, 0x28])  // a lead byte without its continuation
        importBytes.append(Data("\"}\n".utf8))
        let importFile = cli.directory.appendingPathComponent("bad.jsonl").path
        try importBytes.write(to: URL(fileURLWithPath: importFile))
        let imported = try await cli.run(["import", "--input", importFile])
        #expect(imported.status == 1)
        #expect(imported.stderr.contains("line 2: invalid UTF-8 at byte offset \(secondLine.utf8.count)"), "\(imported.stderr)")
        #expect(imported.stderr.contains("Nothing was imported"), "\(imported.stderr)")
        #expect(try await cli.run(["stats", "--json"]).stdout.contains("\"events\":0"))
    }

    @Test func theFirstInvalidByteIsFound() {
        #expect(firstInvalidUTF8Offset(ArraySlice(Array("héllo".utf8))) == nil)
        #expect(firstInvalidUTF8Offset(ArraySlice([0x61, 0xE9, 0x20])) == 1)
        #expect(firstInvalidUTF8Offset(ArraySlice([0x61, 0xF0, 0x9D, 0x84, 0x9E, 0xFF])) == 5)
        #expect(firstInvalidUTF8Offset(ArraySlice([0xC0, 0x80])) == 0)  // overlong
    }

    // MARK: 13. Read-only commands, damaged stores, read model status

    @Test func readOnlyCommandsRefuseAnEmptyFileAndLeaveItEmpty() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        #expect(FileManager.default.createFile(atPath: cli.storePath, contents: Data()))
        for command in [["stats"], ["verify"], ["read", "order-1"], ["export"], ["streams"], ["projections", "status"]] {
            let result = try await cli.run(command)
            #expect(result.status == 1, "\(command)")
            #expect(result.stderr.contains("not a Chronicle store"), "\(command): \(result.stderr)")
            let size = try FileManager.default.attributesOfItem(atPath: cli.storePath)[.size] as? NSNumber
            #expect(size == 0, "\(command) wrote into the file")
            #expect(!FileManager.default.fileExists(atPath: cli.storePath + "-wal"), "\(command)")
        }
    }

    @Test func aTruncatedStoreIsReportedByVerifyAndSalvagedByExport() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let lines = (1...3000).map {
            #"{"stream":"order-\#($0 % 50)","version":\#(($0 - 1) / 50 + 1),"type":"Placed","data":"{\"i\":\#($0),\"pad\":\"\#(String(repeating: "p", count: 200))\"}"}"#
        }
        #expect(try await cli.run(["import"], input: lines.joined(separator: "\n")).status == 0)
        // Every page into the file, so that cutting its last page loses committed events.
        let queue = try DatabaseQueue(path: cli.storePath)
        try await queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try queue.close()
        #expect((try? FileManager.default.attributesOfItem(atPath: cli.storePath + "-wal")[.size] as? NSNumber)?.intValue ?? 0 == 0)
        // Cut the file at the events table's last leaf page (usually the file's last page or
        // nearly: indexes may have the very last ones), so that committed events are lost for sure.
        let (pageSize, lastLeaf) = try queueRead(cli.storePath) { db in
            (try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096,
             try Int.fetchOne(db, sql: "SELECT max(pageno) FROM dbstat WHERE name = 'events' AND pagetype = 'leaf'"))
        }
        let handle = try #require(FileHandle(forUpdatingAtPath: cli.storePath))
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: lastLeaf.map { UInt64(($0 - 1) * pageSize) } ?? size - 4096)
        try handle.close()

        let verify = try await cli.run(["verify"])
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("FAILED"), "\(verify.stdout)")
        #expect(verify.stdout.contains("cannot be read"), "\(verify.stdout)")
        #expect(verify.stdout.contains("chronicle export"), "\(verify.stdout)")

        let salvaged = cli.directory.appendingPathComponent("salvaged.jsonl").path
        let export = try await cli.run(["export", "--output", salvaged])
        #expect(export.status == 1)
        #expect(export.stderr.contains("is damaged"), "\(export.stderr)")
        #expect(export.stderr.contains("could not be read"), "\(export.stderr)")
        let exported = try String(contentsOfFile: salvaged, encoding: .utf8).split(separator: "\n")
        #expect(exported.count > 2500 && exported.count < 3000, "\(exported.count) of 3000 salvaged")

        // What was salvaged imports into a new store.
        let copy = cli.directory.appendingPathComponent("copy.sqlite").path
        let imported = try await cli.run(["import", "--input", salvaged, "--store", copy, "--json"], store: false)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("\"written\":\(exported.count)"))
    }

    @Test func projectionsStatusFailsWhenAReadModelCannotBeOpened() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        #expect(try await cli.run(["init"]).status == 0)
        let directory = cli.directory.appendingPathComponent("read-models").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data("not a database at all, long enough to have a header of a hundred bytes........................".utf8)
            .write(to: URL(fileURLWithPath: directory + "/broken.sqlite"))
        let status = try await cli.run(["projections", "status"])
        #expect(status.status == 1, "\(status.stdout)")
        #expect(status.stderr.contains("broken"), "\(status.stderr)")
    }
}

/// Files in the states faults leave them.
enum FaultFixtures {
    /// The state a `chronicle init` killed during its first open can leave (seen 2 times in 174
    /// SIGKILLs): SQLite had written page 1 of the new file (switching it to WAL mode) inside a
    /// rollback-journal transaction, and the journal (`-journal`, a 512-byte header with no
    /// pages, since the file was empty before) was not deleted yet: a hot journal.
    static func writeKilledFirstOpen(at path: String) throws {
        let scratch = path + ".scratch"
        let queue = try DatabaseQueue(path: scratch)
        try queue.writeWithoutTransaction { db in _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
        try queue.close()
        let page = try Data(contentsOf: URL(fileURLWithPath: scratch))
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: scratch + suffix) }
        precondition(page.count >= 512, "SQLite wrote no page 1")
        try page.write(to: URL(fileURLWithPath: path))

        // The journal header (https://sqlite.org/fileformat.html#the_rollback_journal).
        var journal = Data([0xD9, 0xD5, 0x05, 0xF9, 0x20, 0xA1, 0x63, 0xD7])  // magic
        func append(_ value: UInt32) { withUnsafeBytes(of: value.bigEndian) { journal.append(contentsOf: $0) } }
        append(0)  // page records: none
        append(UInt32.random(in: 1...UInt32.max))  // checksum nonce
        append(0)  // the database's size before the transaction, in pages: it was empty
        append(512)  // sector size
        append(UInt32(page.count))  // page size
        journal.append(Data(count: 512 - journal.count))
        try journal.write(to: URL(fileURLWithPath: path + "-journal"))
    }

    /// The extended SQLite code a read-only connection fails with on `path`, or nil if it reads.
    static func readOnlyOpenFailure(_ path: String) -> Int32? {
        var configuration = Configuration()
        configuration.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? queue.close() }
            _ = try queue.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
            return nil
        } catch let error as DatabaseError {
            return error.extendedResultCode.rawValue
        } catch {
            return -1
        }
    }
}

/// Mounts for the fault tests (root only; the tests that need them are skipped otherwise).
enum FaultMounts {
    static let available: Bool = {
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-mount-probe-\(UUID().uuidString)").path
        guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil else { return false }
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]) else { return false }
        return unmount(probe)
    }()

    static func mount(_ arguments: [String]) -> Bool { run("/bin/mount", arguments) }
    static func unmount(_ path: String) -> Bool { run("/bin/umount", [path]) }

    private static func run(_ tool: String, _ arguments: [String]) -> Bool {
        guard FileManager.default.isExecutableFile(atPath: tool) else { return false }
        return ChildProcess.runBlocking(tool, arguments) == 0
    }
}

extension LineReader {
    /// A reader over bytes in memory, handing them out `chunkSize` at a time.
    static func over(_ data: Data, chunkSize: Int) -> LineReader {
        var offset = 0
        return LineReader(chunkSize: chunkSize) { count in
            let end = min(data.count, offset + count)
            defer { offset = end }
            return data.subdata(in: offset..<end)
        }
    }
}

/// Runs `body` on a read-only connection to `path`.
func queueRead<T>(_ path: String, _ body: (Database) throws -> T) throws -> T {
    var configuration = Configuration()
    configuration.readonly = true
    let queue = try DatabaseQueue(path: path, configuration: configuration)
    defer { try? queue.close() }
    return try queue.inDatabase(body)
}
