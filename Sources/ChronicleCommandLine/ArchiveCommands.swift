import ArgumentParser
import Chronicle
import Foundation

/// `chronicle archive`: old ranges of the log to compressed, checksummed files, and back.
struct ArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Write old ranges of the global log to compressed, checksummed files; verify them; import them back.",
        discussion: """
            chronicle archive --before 100001 --to /archives writes the events from the end of the last \
            archived range up to position 100000 to chronicle-<first>-<last>.jsonl.gz files (gzip of the \
            lines `chronicle export` writes; the header holds the store's identity, the range and the \
            content's SHA-256), verifies each, and with --truncate then replaces those events in the store \
            by $archived tombstones naming the file. See the subcommands for verify, import and list.
            """,
        subcommands: [ArchiveCreateCommand.self, ArchiveVerifyCommand.self, ArchiveImportCommand.self, ArchiveListCommand.self],
        defaultSubcommand: ArchiveCreateCommand.self
    )
}

/// Prints progress on standard error, at most once a second.
struct Progress {
    private let label: String
    private let total: Int64
    private var done: Int64 = 0
    private var last = ContinuousClock.now
    private let interval: Duration

    init(_ label: String, total: Int64, interval: Duration = .seconds(1)) {
        self.label = label
        self.total = total
        self.interval = interval
    }

    mutating func advance(by count: Int64 = 1) {
        done += count
        let now = ContinuousClock.now
        if now - last >= interval {
            last = now
            printError("  \(label): \(done)/\(total)")
        }
    }
}

struct ArchiveCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Archive the events before a position (the default subcommand).",
        discussion: """
            Archives positions from the end of the last archived range up to --before - 1, one file per \
            --positions-per-file positions. Each file is written under a temporary name, read back and \
            verified, then renamed; a file already there from an earlier run is kept if it verifies and \
            holds the same events. Only then, with --truncate, are its events replaced in the store by \
            tombstones (type $archived, metadata naming the file) that keep their positions, so the log \
            stays gap-free and `chronicle verify` passes. --dry-run reports and writes nothing.
            """
    )
    @OptionGroup var options: StoreOptions
    @Option(help: "Archive the events at positions before this one.") var before: Int64
    @Option(help: "The directory to write the archive files to (it must exist).") var to: String
    @Option(help: "The most positions per archive file.") var positionsPerFile: Int64 = 100_000
    @Flag(help: "After writing and verifying each file, replace its events in the store by tombstones naming it.") var truncate = false
    @Flag(help: "Report what would be archived; write and change nothing.") var dryRun = false

    func validate() throws {
        guard before >= 2 else { throw ValidationError("--before must be 2 or more (position 1 is the first event).") }
        guard positionsPerFile >= 1 else { throw ValidationError("--positions-per-file must be positive.") }
    }

    /// One archive file's line of the report.
    struct FileReport: Codable {
        var file: String
        var firstPosition: Int64
        var lastPosition: Int64
        var events: Int64
        var liveEvents: Int64
        var bytes: Int64
        var compressedBytes: Int64?
        var sha256: String
        var written: Bool
        var truncated: Int64?
    }

    struct Report: Codable {
        var dryRun: Bool
        var directory: String
        var files: [FileReport]
    }

    func run() async throws {
        try await reportingErrors {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: to, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ArchiveError(.missingDirectory, "No directory at \(to): create it (on the disk the archives should live on), then run the archive again. Nothing was changed.")
            }
            let report = try await options.withAnyStore { try await archive($0) }
            if options.json {
                print(try jsonString(report))
            } else if report.files.isEmpty {
                print("Nothing to archive.")
            } else {
                var table = TextTable("FILE", "POSITIONS", "EVENTS", "SIZE", "SHA-256", dryRun ? "WOULD TRUNCATE" : "TRUNCATED")
                for file in report.files {
                    table.add(
                        file.file, "\(file.firstPosition)–\(file.lastPosition)", String(file.liveEvents),
                        formatBytes(file.compressedBytes ?? file.bytes), String(file.sha256.prefix(16)),
                        dryRun ? (truncate ? String(file.liveEvents) : "-") : file.truncated.map(String.init) ?? "no"
                    )
                }
                print(table.render())
            }
        }
    }

    private func archive(_ opened: OpenedStore) async throws -> Report {
        guard let store = opened.store as? any EventArchiving else { throw ArchiveError(.unsupportedStore, "This store cannot be archived.") }
        let identity = try await store.storeIdentity()
        let ranges = try await store.archivedRanges()
        let head = try await store.headPosition().value
        let archivedThrough = ranges.map(\.lastPosition.value).max() ?? 0
        let last = before - 1
        guard last <= head else {
            throw CLIError("--before \(before) is past the end of the log (head \(head)): archive before \(head + 1) at most. Nothing was changed.")
        }
        guard last > archivedThrough else {
            throw ArchiveError(.alreadyArchived, "Positions 1–\(archivedThrough) are archived already (the last range to \(ranges.last?.file ?? "?")), so nothing before \(before) is left to archive. Pass a --before greater than \(archivedThrough + 1), or `chronicle archive import` that file first to archive it again.")
        }
        var files: [FileReport] = []
        var first = archivedThrough + 1
        let chunks = (last - first) / positionsPerFile + 1
        printError("\(dryRun ? "dry run: " : "")archiving positions \(first)–\(last) of \(opened.description) to \(to) in \(chunks) file(s)\(truncate ? ", truncating each after it verifies" : "")")
        while first <= last {
            let chunkLast = min(last, first + positionsPerFile - 1)
            let file = try await archiveRange(store, first: first, last: chunkLast, identity: identity, description: opened.description)
            files.append(file)
            if !dryRun {
                printError("\(file.written ? "wrote" : "kept") \(file.file): positions \(file.firstPosition)–\(file.lastPosition), \(file.liveEvents) event(s), \(formatBytes(file.compressedBytes ?? 0))\(file.truncated.map { ", truncated \($0) from the store" } ?? "")")
            }
            first = chunkLast + 1
        }
        let events = files.reduce(Int64(0)) { $0 + $1.liveEvents }
        printError("\(dryRun ? "would archive" : "archived") \(events) event(s) in \(files.count) file(s)\(truncate ? (dryRun ? "; would truncate them" : "; truncated from the store") : "; the store is unchanged (pass --truncate to remove them)")")
        return Report(dryRun: dryRun, directory: to, files: files)
    }

    private func archiveRange(_ store: any EventArchiving, first: Int64, last: Int64, identity: String, description: String) async throws -> FileReport {
        let name = ArchiveManifest.fileName(first: first, last: last)
        let path = URL(fileURLWithPath: to).appendingPathComponent(name).path
        // Pass 1: the content's digest and counts, for the header.
        var digest = ArchiveDigest()
        var count: Int64 = 0, live: Int64 = 0
        var progress = Progress("reading \(name)", total: last - first + 1)
        try await forEachArchiveLine(of: store, first: first, last: last) { event, line in
            digest.update(line)
            count += 1
            if !event.isErased { live += 1 }
            progress.advance()
        }
        let manifest = ArchiveManifest(
            storeID: identity, store: description, firstPosition: first, lastPosition: last, events: count, liveEvents: live,
            bytes: digest.bytes, sha256: digest.hex(), createdAt: Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))  // whole seconds, as ISO 8601 keeps them
        )
        var report = FileReport(file: name, firstPosition: first, lastPosition: last, events: count, liveEvents: live, bytes: digest.bytes, sha256: manifest.sha256, written: false)
        if dryRun { return report }
        if FileManager.default.fileExists(atPath: path) {
            var existing = try? ArchiveReader(path: path)
            let verified = try? existing?.verify()
            guard let verified, verified.storeID == identity, verified.firstPosition == first, verified.lastPosition == last, verified.sha256 == manifest.sha256 else {
                throw ArchiveError(.fileExists, "\(path) exists but is not a verified archive of these events (positions \(first)–\(last) of this store). Move it away (check it with `chronicle archive verify \(path)`), then run the archive again. Nothing was changed.")
            }
            report.compressedBytes = fileSize(path)
        } else {
            report.compressedBytes = try await write(manifest, to: path, from: store)
            report.written = true
        }
        if truncate {
            report.truncated = try await store.truncateArchived(ArchivedRange(
                firstPosition: GlobalPosition(first), lastPosition: GlobalPosition(last), file: name, sha256: manifest.sha256, events: live, archivedAt: Date()
            ))
        }
        return report
    }

    /// Pass 2: writes the file under a temporary name, checks it holds what pass 1 read, reads it
    /// back, then renames it into place. Returns its size.
    private func write(_ manifest: ArchiveManifest, to path: String, from store: any EventArchiving) async throws -> Int64 {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        let partial = directory.appendingPathComponent(".\(URL(fileURLWithPath: path).lastPathComponent).partial").path
        guard FileManager.default.createFile(atPath: partial, contents: nil), let handle = FileHandle(forWritingAtPath: partial) else {
            throw ArchiveError(.missingDirectory, "Cannot write \(partial): check the directory's permissions and free space. Nothing was changed.")
        }
        do {
            var digest = ArchiveDigest()
            var buffer = Data()
            var progress = Progress("writing \(URL(fileURLWithPath: path).lastPathComponent)", total: manifest.events)
            do {
                let writer = try GzipWriter(handle: handle, comment: try manifest.encoded())
                try await forEachArchiveLine(of: store, first: manifest.firstPosition, last: manifest.lastPosition) { _, line in
                    digest.update(line)
                    buffer.append(line)
                    if buffer.count >= 256 * 1024 {
                        try writer.write(buffer)
                        buffer.removeAll(keepingCapacity: true)
                    }
                    progress.advance()
                }
                try writer.write(buffer)
                try writer.finish()
                try handle.synchronize()
                try handle.close()
            } catch let error as GzipError {
                try? handle.close()
                throw ArchiveError(.corrupted, "Writing \(partial) failed: \(error.message) Nothing was changed.")
            }
            guard digest.hex() == manifest.sha256 else {
                throw ArchiveError(.rangeChanged, "Positions \(manifest.firstPosition)–\(manifest.lastPosition) changed while they were archived (a scavenge ran?). Nothing was changed; run the archive again.")
            }
            var reader = try ArchiveReader(path: partial)
            guard try reader.verify() == manifest else {
                throw ArchiveError(.corrupted, "\(partial) does not read back as written. Nothing was changed; check the disk and run the archive again.")
            }
            try FileManager.default.moveItem(atPath: partial, toPath: path)
            // The rename must be on disk before the store may drop the events (--truncate).
            try syncDirectory(directory.path)
            return fileSize(path)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }
}

/// Flushes a directory's entries (a rename into it) to disk.
func syncDirectory(_ path: String) throws {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { throw ArchiveError(.missingDirectory, "Cannot open \(path) to flush it to disk (errno \(errno)).") }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else { throw ArchiveError(.missingDirectory, "Cannot flush \(path) to disk (errno \(errno)); the archive was not truncated.") }
}

func fileSize(_ path: String) -> Int64 {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
}

struct ArchiveVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check archive files: gzip integrity, every line, the positions, the SHA-256 of the content.",
        discussion: "Exits 1 naming the first file that fails and what is wrong with it. Needs no store."
    )
    @Argument(help: "The archive files.") var files: [String]
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
        try await reportingErrors {
            var manifests: [ArchiveManifest] = []
            for file in files {
                var reader = try ArchiveReader(path: file)
                manifests.append(try reader.verify())
                printError("ok: \(file)")
            }
            if json {
                print(try jsonString(manifests))
            } else {
                var table = TextTable("FILE", "POSITIONS", "EVENTS", "STORE", "SHA-256")
                for (file, manifest) in zip(files, manifests) {
                    table.add(file, "\(manifest.firstPosition)–\(manifest.lastPosition)", String(manifest.liveEvents), manifest.storeID, manifest.sha256)
                }
                print(table.render())
            }
        }
    }
}

struct ArchiveImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Put archived events back into the store they came from, or (--force) append them to another store.",
        discussion: """
            Each file is verified completely before anything is written. Into the store it came from, \
            its events go back into their $archived tombstones (same positions; events a scavenge erased \
            since stay erased), and the range is no longer archived. Into another store (an archive \
            names its store's identity) it is refused unless --force: then its events are appended as \
            `chronicle import` appends export lines (new positions, idempotent by event id), so import \
            the files in position order. Running an import again changes nothing.
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The archive files, in position order.") var files: [String]
    @Flag(help: "Append the events of an archive written by another store.") var force = false
    @Flag(help: "Verify the files and report what would be imported; change nothing.") var dryRun = false
    @Option(help: "Events per transaction.") var batch = 1000

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive.") }
    }

    struct FileReport: Codable {
        var file: String
        var mode: String
        var restored: Int64 = 0
        var appended: Int64 = 0
        var alreadyPresent: Int64 = 0
        var erasedSince: Int64 = 0
    }

    func run() async throws {
        try await reportingErrors {
            // Everything is verified before the store is opened.
            var manifests: [ArchiveManifest] = []
            for file in files {
                var reader = try ArchiveReader(path: file)
                manifests.append(try reader.verify())
            }
            let reports = try await options.withAnyStore(mustExist: false) { opened in
                var reports: [FileReport] = []
                let identity = try await (opened.store as? any EventArchiving)?.storeIdentity()
                for (file, manifest) in zip(files, manifests) {
                    if manifest.storeID == identity, let store = opened.store as? any EventArchiving {
                        reports.append(try await restore(file, into: store))
                    } else if force {
                        reports.append(try await append(file, into: opened))
                    } else {
                        throw ArchiveError(.foreignStore, "\(file) was written by store \(manifest.storeID) (\(manifest.store)), not by this one (\(identity ?? "no identity")). Import it into the store it came from, or pass --force to append its events to this store as new events (idempotent by event id). Nothing was changed.")
                    }
                }
                return reports
            }
            if options.json {
                print(try jsonString(reports))
            } else {
                var table = TextTable("FILE", "MODE", dryRun ? "WOULD RESTORE/APPEND" : "RESTORED/APPENDED", "ALREADY PRESENT", "ERASED SINCE")
                for report in reports {
                    table.add(report.file, report.mode, String(report.restored + report.appended), String(report.alreadyPresent), String(report.erasedSince))
                }
                print(table.render())
            }
        }
    }

    /// Into the store the archive came from: events back into their tombstones, a batch per transaction.
    private func restore(_ file: String, into store: any EventArchiving) async throws -> FileReport {
        var report = FileReport(file: file, mode: "restore")
        var reader = try ArchiveReader(path: file)
        var progress = Progress("restoring \(file)", total: reader.manifest.events)
        printError("\(dryRun ? "dry run: " : "")restoring \(file) (positions \(reader.manifest.firstPosition)–\(reader.manifest.lastPosition)) into \(reader.manifest.store)")
        var pending: [RecordedEvent] = []
        func flush() async throws {
            guard !pending.isEmpty else { return }
            if dryRun {
                report.restored += Int64(pending.count)
            } else {
                let counts = try await store.restoreArchived(pending)
                report.restored += counts.restored
                report.alreadyPresent += counts.alreadyPresent
                report.erasedSince += counts.erasedSince
            }
            progress.advance(by: Int64(pending.count))
            pending.removeAll(keepingCapacity: true)
        }
        while let (_, line) = try reader.next() {
            if ArchiveReader.isTombstone(line.type) { continue }
            pending.append(try line.recordedEvent())
            if pending.count >= batch { try await flush() }
        }
        try await flush()
        printError("\(dryRun ? "would restore at most" : "restored") \(report.restored) event(s) from \(file)\(dryRun ? "" : "; \(report.alreadyPresent) already present, \(report.erasedSince) erased since archiving (left erased)")")
        return report
    }

    /// Into another store: the lines appended as `chronicle import` appends them.
    private func append(_ file: String, into opened: OpenedStore) async throws -> FileReport {
        var report = FileReport(file: file, mode: "append")
        var archive = try ArchiveReader(path: file)
        printError("\(dryRun ? "dry run: " : "")appending \(file) (\(archive.manifest.events) event(s) of store \(archive.manifest.storeID)) to \(opened.description)")
        if dryRun {
            report.appended = try archive.verify().events
            return report
        }
        var lines = LineReader(chunkSize: 1) { _ in
            guard let (text, _) = try archive.next() else { return Data() }
            return Data((text + "\n").utf8)
        }
        let counts: ImportCommand.ImportCounts
        if let sqlite = opened.sqlite {
            counts = try ImportCommand.importInOneTransaction(into: sqlite, from: &lines, batch: batch)
        } else {
            counts = try await ImportCommand.importInBatches(into: opened.store, from: &lines, batch: batch)
        }
        report.appended = Int64(counts.written)
        report.alreadyPresent = Int64(counts.skipped)
        printError("appended \(counts.written) event(s) from \(file); \(counts.skipped) already present")
        return report
    }
}

struct ArchiveListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The store's archived ranges and the files they went to.")
    @OptionGroup var options: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let ranges = try await options.withAnyStore { opened in
                guard let store = opened.store as? any EventArchiving else { throw ArchiveError(.unsupportedStore, "This store cannot be archived.") }
                return try await store.archivedRanges()
            }
            if options.json {
                print(try jsonString(ranges))
            } else if ranges.isEmpty {
                print("Nothing is archived.")
            } else {
                var table = TextTable("POSITIONS", "FILE", "EVENTS", "ARCHIVED AT", "SHA-256")
                for range in ranges {
                    table.add("\(range.firstPosition.value)–\(range.lastPosition.value)", range.file, String(range.events), range.archivedAt.formatted(.iso8601), range.sha256)
                }
                print(table.render())
            }
        }
    }
}
