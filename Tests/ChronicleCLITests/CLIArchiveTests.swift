import ChronicleTestSupport
import Foundation
import Testing

@testable import ChronicleCommandLine

/// `chronicle archive` and the stored retention policies of `chronicle scavenge`, on SQLite
/// files: archives verify and import back, damaged ones fail clearly and change nothing.
@Suite(.serialized) struct CLIArchiveTests {
    /// Appends 10 events with a secret and a tag to each of `streams`.
    static func fill(_ cli: CLIRunner, streams: [String], extra: [String] = []) async throws {
        for stream in streams {
            let lines = (1...10).map { #"{"type":"Placed","data":{"n":\#($0),"secret":"secret-\#(stream)-\#($0)"},"tags":["n:\#($0)"]}"# }
            let result = try await cli.run(["append", stream] + extra, input: lines.joined(separator: "\n"), store: extra.isEmpty)
            #expect(result.status == 0, "\(result.stderr)")
        }
    }

    static func lines(_ text: String) -> [Substring] { text.split(separator: "\n") }

    @Test func archiveWritesGzipFilesTruncatesTheStoreAndImportsThemBack() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try await Self.fill(cli, streams: ["order-1", "order-2", "order-3"])
        let directory = cli.directory.appendingPathComponent("archives").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let first = "\(directory)/chronicle-000000000001-000000000010.jsonl.gz"
        let second = "\(directory)/chronicle-000000000011-000000000020.jsonl.gz"

        let dry = try await cli.run(["archive", "--before", "21", "--to", directory, "--positions-per-file", "10", "--truncate", "--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains(#""dryRun":true"#) && dry.stderr.contains("dry run"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty, "a dry run writes nothing")

        let missing = try await cli.run(["archive", "--before", "21", "--to", directory + "/nowhere"])
        #expect(missing.status == 1 && missing.stderr.contains("No directory at"), "\(missing.stderr)")

        let done = try await cli.run(["archive", "--before", "21", "--to", directory, "--positions-per-file", "10", "--truncate", "--json"])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stderr.contains("archiving positions 1–20") && done.stderr.contains("truncated 10 from the store"), "\(done.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == [first, second].map { URL(fileURLWithPath: $0).lastPathComponent })
        // Plain gzip of the export lines: zcat reads it.
        let unzipped = try await ChildProcess.run(URL(fileURLWithPath: "/usr/bin/gzip"), ["-dc", first])
        #expect(unzipped.status == 0 && Self.lines(unzipped.stdout).count == 10 && unzipped.stdout.contains(#""position":1,"#))
        #expect(unzipped.stdout.contains("secret-order-1-1"))

        // The store keeps tombstones naming the files; reads say where the events went.
        let read = try await cli.run(["read", "order-1"])
        #expect(read.status == 0 && read.stdout.contains("$archived") && read.stdout.contains("(archived to chronicle-000000000001-000000000010.jsonl.gz)"))
        #expect(read.stderr.contains("are archived in chronicle-000000000001-000000000010.jsonl.gz"), "\(read.stderr)")
        let readJSON = try await cli.run(["read", "order-2", "--json"])
        #expect(readJSON.stdout.contains(#""archive":"chronicle-000000000011-000000000020.jsonl.gz""#), "\(readJSON.stdout)")
        let verify = try await cli.run(["verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let file = try Data(contentsOf: URL(fileURLWithPath: cli.storePath))
        #expect(file.range(of: Data("secret-order-1-1".utf8)) == nil && file.range(of: Data("secret-order-3-1".utf8)) != nil)
        let list = try await cli.run(["archive", "list", "--json"])
        #expect(list.stdout.contains("chronicle-000000000001-000000000010.jsonl.gz") && list.stdout.contains("chronicle-000000000011-000000000020.jsonl.gz"))

        let again = try await cli.run(["archive", "--before", "21", "--to", directory])
        #expect(again.status == 1 && again.stderr.contains("are archived already"), "\(again.stderr)")
        let past = try await cli.run(["archive", "--before", "40", "--to", directory])
        #expect(past.status == 1 && past.stderr.contains("past the end of the log"), "\(past.stderr)")

        let verified = try await cli.run(["archive", "verify", first, second, "--json"], store: false)
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stdout.contains(#""firstPosition":11"#))

        // Back into the store it came from, then again (nothing to do).
        let imported = try await cli.run(["archive", "import", first, second, "--json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains(#""restored":10"#) && !imported.stdout.contains(#""restored":0"#))
        let restored = try await cli.run(["read", "order-1", "--json"])
        #expect(Self.lines(restored.stdout).count == 10 && restored.stdout.contains("secret-order-1-1") && !restored.stdout.contains("$archived"))
        #expect(try await cli.run(["read", "--all", "--tag", "n:1", "--json"]).stdout.split(separator: "\n").count == 3, "restored tags are queryable")
        #expect(try await cli.run(["archive", "list"]).stdout.contains("Nothing is archived."))
        let twice = try await cli.run(["archive", "import", first, second, "--json"])
        #expect(twice.status == 0 && twice.stdout.contains(#""alreadyPresent":10"#) && twice.stdout.contains(#""restored":0"#))
        #expect(try await cli.run(["verify"]).status == 0)

        // Into another store: refused, unless forced (then appended, idempotently).
        let other = cli.directory.appendingPathComponent("other.sqlite").path
        #expect(try await cli.run(["init", "--store", other], store: false).status == 0)
        let refused = try await cli.run(["archive", "import", first, "--store", other], store: false)
        #expect(refused.status == 1 && refused.stderr.contains("pass --force"), "\(refused.stderr)")
        #expect(try await cli.run(["stats", "--json", "--store", other], store: false).stdout.contains(#""events":0"#))
        let forced = try await cli.run(["archive", "import", first, second, "--force", "--json", "--store", other], store: false)
        #expect(forced.status == 0 && forced.stdout.contains(#""appended":10"#), "\(forced.stderr)")
        let forcedAgain = try await cli.run(["archive", "import", first, "--force", "--json", "--store", other], store: false)
        #expect(forcedAgain.status == 0 && forcedAgain.stdout.contains(#""alreadyPresent":10"#), "\(forcedAgain.stderr)")
        #expect(try await cli.run(["stats", "--json", "--store", other], store: false).stdout.contains(#""events":20"#))
    }

    /// A flipped byte, a truncated file, bytes after the end, a wrong checksum, a file that is not an
    /// archive: each fails verify and import with a clear message, and the store is unchanged.
    @Test func aDamagedArchiveFailsClearlyAndNothingIsLost() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try await Self.fill(cli, streams: ["order-1", "order-2"])
        let directory = cli.directory.appendingPathComponent("archives").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let archived = try await cli.run(["archive", "--before", "11", "--to", directory, "--truncate"])
        #expect(archived.status == 0, "\(archived.stderr)")
        let good = "\(directory)/chronicle-000000000001-000000000010.jsonl.gz"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        func copy(_ name: String, _ change: (inout Data) -> Void) throws -> String {
            var data = bytes
            change(&data)
            let path = cli.directory.appendingPathComponent(name).path
            try data.write(to: URL(fileURLWithPath: path))
            return path
        }
        // A manifest whose checksum does not match the content (the header itself intact).
        let lying = cli.directory.appendingPathComponent("lying.jsonl.gz").path
        do {
            var reader = try ArchiveReader(path: good)
            var manifest = try reader.verify()
            manifest.sha256 = String(repeating: "0", count: 64)
            #expect(FileManager.default.createFile(atPath: lying, contents: nil))
            let handle = try #require(FileHandle(forWritingAtPath: lying))
            let writer = try GzipWriter(handle: handle, comment: try manifest.encoded())
            let content = try await ChildProcess.run(URL(fileURLWithPath: "/usr/bin/gzip"), ["-dc", good])
            try writer.write(Data(content.stdout.utf8))
            try writer.finish()
            try handle.close()
        }
        let plain = cli.directory.appendingPathComponent("plain.jsonl.gz").path
        #expect(try await ChildProcess.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "echo '{}' | gzip > '\(plain)'"]).status == 0)
        let cases: [(String, String)] = [
            (try copy("flipped.jsonl.gz") { $0[$0.count / 2 + 60] ^= 0x20 }, "another copy"),
            (try copy("truncated.jsonl.gz") { $0 = $0.prefix($0.count / 2) }, "is truncated"),
            (try copy("trailing.jsonl.gz") { $0.append(contentsOf: Array("junk\n".utf8)) }, "bytes after the end"),
            (try copy("header.jsonl.gz") { data in
                let at = data.range(of: Data("sha256".utf8))!.upperBound + 4
                data[at] ^= 0x01
            }, "header crc mismatch"),
            (lying, "fails its checksum"),
            (plain, "has no Chronicle archive header"),
            (cli.directory.appendingPathComponent("absent.jsonl.gz").path, "no such file"),
        ]
        let before = try await cli.run(["export"])
        for (path, message) in cases {
            let verify = try await cli.run(["archive", "verify", path], store: false)
            #expect(verify.status == 1 && verify.stderr.contains(message), "\(path): \(verify.stderr)")
            let imported = try await cli.run(["archive", "import", path])
            #expect(imported.status == 1 && imported.stderr.contains(message), "\(path): \(imported.stderr)")
        }
        #expect(try await cli.run(["export"]).stdout == before.stdout, "the store is unchanged")
        #expect(try await cli.run(["archive", "list", "--json"]).stdout.contains(#""file":"chronicle-000000000001-000000000010.jsonl.gz""#))
        // The good copy still restores everything.
        let imported = try await cli.run(["archive", "import", good, "--json"])
        #expect(imported.status == 0 && imported.stdout.contains(#""restored":10"#), "\(imported.stderr)")
        #expect(try await cli.run(["read", "order-1", "--json"]).stdout.contains("secret-order-1-10"))
    }

    /// A file already at the archive's name is kept when it verifies and holds the same events,
    /// refused otherwise; nothing is truncated then.
    @Test func anExistingFileIsReusedOnlyWhenItHoldsTheSameEvents() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try await Self.fill(cli, streams: ["order-1"])
        let directory = cli.directory.appendingPathComponent("archives").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let written = try await cli.run(["archive", "--before", "6", "--to", directory, "--json"])
        #expect(written.status == 0 && written.stdout.contains(#""written":true"#), "\(written.stderr)")
        #expect(written.stderr.contains("the store is unchanged"))
        let truncated = try await cli.run(["archive", "--before", "6", "--to", directory, "--truncate", "--json"])
        #expect(truncated.status == 0 && truncated.stdout.contains(#""written":false"#) && truncated.stdout.contains(#""truncated":5"#), "\(truncated.stderr)")
        let name = "\(directory)/chronicle-000000000006-000000000008.jsonl.gz"
        try Data("not an archive".utf8).write(to: URL(fileURLWithPath: name))
        let clash = try await cli.run(["archive", "--before", "9", "--to", directory, "--truncate"])
        #expect(clash.status == 1 && clash.stderr.contains("is not a verified archive of these events"), "\(clash.stderr)")
        #expect(try await cli.run(["read", "order-1", "--json"]).stdout.contains("secret-order-1-6"), "nothing was truncated")
    }

    @Test func scavengeStoresRetentionPoliciesAndAppliesThem() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        try await Self.fill(cli, streams: ["sensor-1", "order-1"])
        let set = try await cli.run(["scavenge", "--set-policy", "sensor:count=3", "--set-policy", "session:age=30d", "--json"])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.contains(#""category":"sensor","maxCount":3"#) && set.stdout.contains(#""maxAgeSeconds":2592000"#), "\(set.stdout)")
        #expect(set.stderr.contains("stored the retention policy of sensor"))
        #expect(try await cli.run(["read", "sensor-1", "--json"]).stdout.split(separator: "\n").count == 10, "storing a policy erases nothing")
        let bad = try await cli.run(["scavenge", "--set-policy", "sensor:count=0"])
        #expect(bad.status == 1 && bad.stderr.contains("--set-policy sensor:count=0"))

        let dry = try await cli.run(["scavenge", "--dry-run", "--json"])
        #expect(dry.status == 0 && dry.stdout.contains(#""erasedEvents":7"#), "\(dry.stdout)\(dry.stderr)")
        #expect(dry.stderr.contains("sensor-1: would erase 7 event(s)"))
        let overridden = try await cli.run(["scavenge", "--retain", "sensor:count=8", "--json"])
        #expect(overridden.stdout.contains(#""erasedEvents":2"#), "a --retain replaces the stored policy for one run")
        let done = try await cli.run(["scavenge", "--json"])
        #expect(done.status == 0 && done.stdout.contains(#""erasedEvents":5"#), "\(done.stdout)\(done.stderr)")
        #expect(try await cli.run(["read", "sensor-1", "--json"]).stdout.split(separator: "\n").count == 3)
        #expect(try await cli.run(["read", "order-1", "--json"]).stdout.split(separator: "\n").count == 10)

        let removed = try await cli.run(["scavenge", "--remove-policy", "sensor", "--remove-policy", "nothing"])
        #expect(removed.status == 0 && removed.stderr.contains("removed the retention policy of sensor") && removed.stderr.contains("no retention policy is stored for nothing"))
        let list = try await cli.run(["scavenge", "--list-policies", "--json"])
        #expect(list.stdout.contains("session") && !list.stdout.contains("sensor"), "\(list.stdout)")
    }
}
