import ArgumentParser
import Chronicle
import ChronicleSQLite
import Foundation

/// `--expected-version` values: any, no-stream, exists, or a version number.
struct ExpectedVersionArgument: ExpressibleByArgument {
    var value: ExpectedVersion
    /// As the user typed it (and as help shows the default).
    let text: String

    init?(argument: String) {
        text = argument
        switch argument.lowercased() {
        case "any": value = .any
        case "no-stream", "nostream", "none": value = .noStream
        case "exists", "stream-exists": value = .streamExists
        default:
            guard let number = Int64(argument), number >= 0 else { return nil }
            value = .exactly(StreamVersion(number))
        }
    }

    static var defaultCompletionKind: CompletionKind { .list(["any", "no-stream", "exists"]) }

    /// The default as a user would type it (`any`), not the Swift value.
    var defaultValueDescription: String { text }
}

struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append events to a stream, atomically, from JSON or JSON lines.",
        discussion: """
            Input (a file, or standard input) is a JSON array of events or one event per line: \
            {"type": "OrderPlaced", "data": {"total": 42}} with optional "id", "schemaVersion" and \
            "metadata" ({"correlationId": "…", "causationId": "…", "custom": {"key": "value"}}; \
            any other metadata key is refused). Lines written by read --json, tail --json and export \
            are accepted as they are.
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The stream to append to.") var stream: String
    @Option(help: "any, no-stream, exists, or the stream's current version.") var expectedVersion: ExpectedVersionArgument = .init(argument: "any")!
    @Option(help: "Read events from this file instead of standard input.") var file: String?

    func run() async throws {
        try await reportingErrors {
            let id = try StreamID(stream)
            var events: [EventData] = []
            do {
                var reader = try LineReader(path: file)
                var lines: [(Int, String)] = []
                while let line = try reader.next() {
                    if !line.text.trimmingCharacters(in: .whitespaces).isEmpty { lines.append((line.number, line.text)) }
                }
                if lines.count >= 1, lines[0].1.trimmingCharacters(in: .whitespaces).hasPrefix("[") {
                    let whole = lines.map(\.1).joined(separator: "\n")
                    guard let array = try? JSONDecoder.iso8601.decode([JSONValue].self, from: Data(whole.utf8)) else {
                        throw CLIError("line 1: the input starts with '[' but is not a valid JSON array of events.")
                    }
                    for (index, value) in array.enumerated() {
                        events.append(try parseEventLine(try jsonString(value), line: index + 1).eventData())
                    }
                } else {
                    for (number, line) in lines {
                        let parsed = try parseEventLine(line, line: number)
                        if !parsed.stream.isEmpty, parsed.stream != stream {
                            throw CLIError("line \(number): the event names stream \(parsed.stream), not \(stream).")
                        }
                        events.append(parsed.eventData())
                    }
                }
            } catch let error as CLIError {
                throw CLIError("\(error.description) Nothing was written.")
            }
            guard !events.isEmpty else { throw CLIError("No events in the input: nothing was written.") }
            let result = try await options.withAnyStore(mustExist: false) { opened in
                try await opened.store.append(events, to: id, expectedVersion: expectedVersion.value)
            }
            if options.json {
                print(try jsonString([
                    "stream": result.streamID.rawValue, "firstVersion": String(result.firstVersion.value), "version": String(result.version.value),
                    "firstPosition": String(result.firstPosition.value), "position": String(result.position.value),
                    "alreadyStored": String(result.wasAlreadyStored),
                ]))
            } else {
                let what = result.wasAlreadyStored ? "Already stored" : "Appended"
                print("\(what) \(events.count) event(s) to \(result.streamID): versions \(result.firstVersion)–\(result.version), positions \(result.firstPosition)–\(result.position).")
            }
        }
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the global log as JSON lines (streaming, constant memory).",
        discussion: """
            On a damaged SQLite store (one that cannot be opened, or whose log stops reading part-way) \
            export salvages: it writes every event that can still be read, says on standard error which \
            positions could not be read, and exits 1.
            """
    )
    @OptionGroup var options: StoreOptions
    @Option(help: "Start after this global position.") var after: Int64 = 0
    @Option(help: "Write to this file instead of standard output.") var output: String?

    func run() async throws {
        try await reportingErrors {
            var damage: String?
            var opened: OpenedStore?
            do {
                opened = try await options.openAny()
            } catch let error as CLIError where error.code == .corruptRecord && !options.isPostgres {
                damage = error.description
            }
            var sink = try EventLineSink(path: output)
            if let opened {
                do {
                    for try await event in opened.store.allEvents(after: GlobalPosition(after), pageSize: 1000) {
                        try sink.write(event)
                    }
                } catch let error as EventStoreError where error.code == .corruptRecord && opened.sqlite != nil {
                    damage = "Reading the log after position \(sink.lastPosition ?? after) failed: \(error.message)"
                }
                try? await opened.close()
            }
            guard let damage else {
                try sink.finish()
                printError("exported \(sink.count) event(s)")
                return
            }
            // Salvage: read what can still be read, read-only, skipping damaged ranges.
            let report = try SQLiteEventStore.salvageEvents(path: options.path, after: GlobalPosition(sink.lastPosition ?? after)) { event in
                try sink.write(event)
            }
            try sink.finish()
            var lost = report.unreadable.prefix(20).map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)–\($0.upperBound)" }
            if report.unreadable.count > 20 { lost.append("and \(report.unreadable.count - 20) more range(s)") }
            printError("""
                error: \(options.path) is damaged (\(damage)).
                Salvaged \(sink.count) event(s)\(sink.lastPosition.map { " (last position \($0))" } ?? ""); positions that could not be read: \(lost.isEmpty ? "none found, but the store did not read cleanly" : lost.joined(separator: ", ")).
                The export holds every readable event: import it into a new store (`chronicle import`) or restore from a backup.
                """)
            throw ExitCode.failure
        }
    }
}

/// Writes events as JSON lines to a file or standard output, through a buffer.
struct EventLineSink {
    private let handle: FileHandle
    private let ownsHandle: Bool
    private var buffer = Data()
    /// Events written.
    private(set) var count = 0
    /// The position of the last event written.
    private(set) var lastPosition: Int64?

    init(path: String?) throws {
        if let path {
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw CLIError("Cannot write \(path).")
            }
            self.handle = handle
            ownsHandle = true
        } else {
            handle = .standardOutput
            ownsHandle = false
        }
    }

    mutating func write(_ event: RecordedEvent) throws {
        buffer.append(contentsOf: eventLineJSON(event))
        buffer.append(0x0A)
        count += 1
        lastPosition = event.position.value
        if buffer.count > 256 * 1024 { try handle.write(contentsOf: buffer); buffer.removeAll(keepingCapacity: true) }
    }

    mutating func finish() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll()
        if ownsHandle { try handle.close() }
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Append JSON lines written by `export` (idempotent: re-importing the same file writes nothing).",
        discussion: """
            Each event keeps its id and goes to its stream at its version (expected version = version - 1), \
            so a re-import of the same lines is recognised and skipped. Recorded-at times are those of the import. \
            Into a SQLite store the import is all-or-nothing: one transaction, committed only after the last line \
            (it holds the store's write lock until then). Into PostgreSQL every line is parsed first (standard \
            input is spooled to a temporary file), so a malformed line commits nothing; then each batch of --batch \
            events commits on its own, and if the store refuses one the message says exactly which lines were committed.
            """
    )
    @OptionGroup var options: StoreOptions
    @Option(help: "Read from this file instead of standard input.") var input: String?
    @Option(help: "Events per append call (SQLite) or per transaction (PostgreSQL).") var batch = 1000

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive.") }
    }

    func run() async throws {
        try await reportingErrors {
            let counts: ImportCounts
            if options.isPostgres {
                let spool = try parseEveryLine()
                defer { if let spool { try? FileManager.default.removeItem(atPath: spool) } }
                var reader = try LineReader(path: spool ?? input)
                counts = try await options.withAnyStore(mustExist: false) { opened in
                    try await Self.importInBatches(into: opened.store, from: &reader, batch: batch)
                }
            } else {
                var reader = try LineReader(path: input)
                counts = try await options.withAnyStore(mustExist: false) { opened in
                    guard let sqlite = opened.sqlite else { throw CLIError("Internal error: \(options.path) did not open as a SQLite store.") }
                    return try Self.importInOneTransaction(into: sqlite, from: &reader, batch: batch)
                }
            }
            if options.json {
                print(try jsonString(["written": counts.written, "alreadyPresent": counts.skipped]))
            } else {
                print("Imported \(counts.written) event(s); \(counts.skipped) already present.")
            }
        }
    }

    struct ImportCounts {
        var written = 0
        var skipped = 0
        /// The last input line whose event is committed (PostgreSQL imports, for the failure report).
        var throughLine = 0

        mutating func add(_ result: AppendResult, events: Int) {
            if result.wasAlreadyStored { skipped += events } else { written += events }
        }
    }

    /// SQLite: every line in one transaction, so a bad line (or a failed append) anywhere leaves
    /// the store as it was. Memory holds one batch of events at a time.
    static func importInOneTransaction(into store: SQLiteEventStore, from reader: inout LineReader, batch: Int) throws -> ImportCounts {
        var batcher = ImportBatcher()
        do {
            return try store.appendInOneTransaction { transaction in
                var counts = ImportCounts()
                func flush() throws {
                    for item in batcher.pending {
                        do {
                            counts.add(try transaction.append(item.append), events: item.append.events.count)
                        } catch {
                            throw CLIError("\(item.location(of: error)): \(error.message)")
                        }
                    }
                    batcher.removeAll()
                }
                while let line = try reader.next() {
                    try batcher.add(line)
                    if batcher.pendingEvents >= batch { try flush() }
                }
                try flush()
                return counts
            }
        } catch let error as CLIError {
            throw CLIError("\(error.description) Nothing was imported: the import is one transaction and it was rolled back; fix the input and run the import again.")
        } catch let error as EventStoreError {
            throw CLIError("\(error.message) Nothing was imported: the import is one transaction and it was rolled back.")
        }
    }

    /// PostgreSQL, first pass: parses every line without connecting, keeping nothing but the
    /// current batch, so a malformed line (or invalid UTF-8) fails before anything commits.
    /// Standard input is copied to a temporary file on the way, for the second pass; returns its
    /// path (nil when the input is a file).
    private func parseEveryLine() throws -> String? {
        let source: FileHandle
        var spoolPath: String?
        var spool: FileHandle?
        if let input, input != "-" {
            guard let file = FileHandle(forReadingAtPath: input) else { throw CLIError("Cannot read \(input): no such file or not readable.") }
            source = file
        } else {
            source = .standardInput
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-import-\(UUID().uuidString).jsonl").path
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw CLIError("Cannot create a temporary file to hold standard input (\(path)); pass the input with --input instead.")
            }
            spoolPath = path
            spool = handle
        }
        do {
            var reader = LineReader(chunkSize: 256 * 1024) { count in
                let chunk = try source.read(upToCount: count) ?? Data()
                if let spool, !chunk.isEmpty { try spool.write(contentsOf: chunk) }
                return chunk
            }
            var batcher = ImportBatcher()
            while let line = try reader.next() {
                try batcher.add(line)
                if batcher.pendingEvents >= batch { batcher.removeAll() }
            }
            try spool?.close()
            return spoolPath
        } catch {
            try? spool?.close()
            if let spoolPath { try? FileManager.default.removeItem(atPath: spoolPath) }
            if let error = error as? CLIError {
                throw CLIError("\(error.description) Nothing was imported: every line is checked before the first batch is written.")
            }
            throw error
        }
    }

    /// PostgreSQL, second pass: one transaction per batch; a failure reports exactly what was
    /// committed.
    static func importInBatches(into store: any EventStore, from reader: inout LineReader, batch: Int) async throws -> ImportCounts {
        var batcher = ImportBatcher()
        var counts = ImportCounts()
        func committed() -> String {
            counts.throughLine == 0
                ? "Nothing was imported."
                : "Committed before the failure: \(counts.written) event(s) written and \(counts.skipped) already present, from lines 1–\(counts.throughLine); nothing after line \(counts.throughLine). Re-running the same input skips what is committed when its lines carry ids and versions (as `export` writes them)."
        }
        func flush() async throws {
            guard !batcher.pending.isEmpty else { return }
            do {
                let results = try await store.append(batcher.pending.map(\.append))
                for (result, item) in zip(results, batcher.pending) { counts.add(result, events: item.append.events.count) }
                counts.throughLine = batcher.pending.last?.lines.last ?? counts.throughLine
            } catch {
                // Find the line at fault: replay the batch one event at a time.
                for item in batcher.pending {
                    for (offset, event) in item.append.events.enumerated() {
                        let expected: ExpectedVersion
                        if case .exactly(let v) = item.append.expectedVersion { expected = .exactly(v.advanced(by: Int64(offset))) } else { expected = .any }
                        do {
                            counts.add(try await store.append([event], to: item.append.streamID, expectedVersion: expected), events: 1)
                            counts.throughLine = item.lines[offset]
                        } catch let error as EventStoreError {
                            throw CLIError("line \(item.lines[offset]): \(error.message)")
                        }
                    }
                }
            }
            batcher.removeAll()
        }
        do {
            while let line = try reader.next() {
                try batcher.add(line)
                if batcher.pendingEvents >= batch { try await flush() }
            }
            try await flush()
        } catch let error as CLIError {
            throw CLIError("\(error.description) \(committed())")
        }
        return counts
    }
}

/// Groups import lines into appends: lines that continue one stream contiguously share one append.
struct ImportBatcher {
    struct Item {
        var lines: [Int]
        var append: StreamAppend

        /// The line a failed append is about: the event the error names, else the first.
        func location(of error: EventStoreError) -> String {
            if let id = error.eventID, let index = append.events.lastIndex(where: { $0.id == id }) {
                return "line \(lines[index])"
            }
            return lines.count == 1 ? "line \(lines[0])" : "lines \(lines[0])–\(lines[lines.count - 1]) (stream \(append.streamID))"
        }
    }

    private(set) var pending: [Item] = []
    private(set) var pendingEvents = 0

    mutating func add(_ input: LineReader.Line) throws {
        let number = input.number
        if input.text.trimmingCharacters(in: .whitespaces).isEmpty { return }
        let line = try parseEventLine(input.text, line: number)
        guard !line.stream.isEmpty else { throw CLIError("line \(number): missing \"stream\".") }
        let stream: StreamID
        do { stream = try StreamID(line.stream) } catch { throw CLIError("line \(number): \(describe(error))") }
        let event = line.eventData()
        if let version = line.version, version < 1 { throw CLIError("line \(number): \"version\" must be 1 or more.") }
        // Extend the previous append when the line continues the same stream contiguously.
        if let last = pending.last, last.append.streamID == stream, case .exactly(let v) = last.append.expectedVersion,
            let version = line.version, version == v.value + Int64(last.append.events.count) + 1
        {
            pending[pending.count - 1].append.events.append(event)
            pending[pending.count - 1].lines.append(number)
        } else {
            let expected: ExpectedVersion = line.version.map { .exactly(StreamVersion($0 - 1)) } ?? .any
            pending.append(Item(lines: [number], append: StreamAppend([event], to: stream, expectedVersion: expected)))
        }
        pendingEvents += 1
    }

    mutating func removeAll() {
        pending.removeAll(keepingCapacity: true)
        pendingEvents = 0
    }
}
