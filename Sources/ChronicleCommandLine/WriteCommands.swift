import ArgumentParser
import Chronicle
import ChronicleSQLite
import Foundation

/// `--expected-version` values: any, no-stream, exists, or a version number.
struct ExpectedVersionArgument: ExpressibleByArgument {
    var value: ExpectedVersion

    init?(argument: String) {
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
}

struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append events to a stream, atomically, from JSON or JSON lines.",
        discussion: """
            Input (a file, or standard input) is a JSON array of events or one event per line: \
            {"type": "OrderPlaced", "data": {"total": 42}} with optional "id", "schemaVersion" and \
            "metadata" ({"correlationID":…, "causationID":…, "custom":{…}}).
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The stream to append to.") var stream: String
    @Option(help: "any, no-stream, exists, or the stream's current version.") var expectedVersion: ExpectedVersionArgument = .init(argument: "any")!
    @Option(help: "Read events from this file instead of standard input.") var file: String?

    func run() async throws {
        try await reportingErrors {
            let id = try StreamID(stream)
            var reader = try LineReader(path: file)
            var lines: [(Int, String)] = []
            var number = 0
            while let line = try reader.next() {
                number += 1
                if !line.trimmingCharacters(in: .whitespaces).isEmpty { lines.append((number, line)) }
            }
            var events: [EventData] = []
            if lines.count >= 1, lines[0].1.trimmingCharacters(in: .whitespaces).hasPrefix("[") {
                let whole = lines.map(\.1).joined(separator: "\n")
                guard let array = try? JSONDecoder.iso8601.decode([JSONValue].self, from: Data(whole.utf8)) else {
                    throw CLIError("line 1: the input starts with '[' but is not a valid JSON array of events.")
                }
                for (index, value) in array.enumerated() {
                    events.append(try parseEventLine(try jsonString(value), line: index + 1).eventData(line: index + 1))
                }
            } else {
                for (number, line) in lines {
                    let parsed = try parseEventLine(line, line: number)
                    if !parsed.stream.isEmpty, parsed.stream != stream {
                        throw CLIError("line \(number): the event names stream \(parsed.stream), not \(stream).")
                    }
                    events.append(try parsed.eventData(line: number))
                }
            }
            guard !events.isEmpty else { throw CLIError("No events in the input: nothing was written.") }
            let opened = try await options.openAny(mustExist: false)
            let store = opened.store
            let result = try await store.append(events, to: id, expectedVersion: expectedVersion.value)
            try await opened.close()
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
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Write the global log as JSON lines (streaming, constant memory).")
    @OptionGroup var options: StoreOptions
    @Option(help: "Start after this global position.") var after: Int64 = 0
    @Option(help: "Write to this file instead of standard output.") var output: String?

    func run() async throws {
        try await reportingErrors {
            let opened = try await options.openAny()
            let store = opened.store
            var sink: FileHandle = .standardOutput
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil), let handle = FileHandle(forWritingAtPath: output) else {
                    throw CLIError("Cannot write \(output).")
                }
                sink = handle
            }
            var buffer = Data()
            var count = 0
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            for try await event in store.allEvents(after: GlobalPosition(after), pageSize: 1000) {
                buffer.append(try encoder.encode(EventLine(event)))
                buffer.append(0x0A)
                count += 1
                if buffer.count > 256 * 1024 { try sink.write(contentsOf: buffer); buffer.removeAll(keepingCapacity: true) }
            }
            try sink.write(contentsOf: buffer)
            if output != nil { try sink.close() }
            try await opened.close()
            printError("exported \(count) event(s)")
        }
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Append JSON lines written by `export` (idempotent: re-importing the same file writes nothing).",
        discussion: "Each event keeps its id and goes to its stream at its version (expected version = version - 1), so a re-import of the same lines is recognised and skipped. Recorded-at times are those of the import."
    )
    @OptionGroup var options: StoreOptions
    @Option(help: "Read from this file instead of standard input.") var input: String?
    @Option(help: "Events per transaction.") var batch = 1000

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive.") }
    }

    func run() async throws {
        try await reportingErrors {
            var reader = try LineReader(path: input)
            let opened = try await options.openAny(mustExist: false)
            let store = opened.store
            var pending: [(lines: [Int], append: StreamAppend)] = []
            var pendingEvents = 0
            var written = 0
            var skipped = 0
            var number = 0

            func flush() async throws {
                guard !pending.isEmpty else { return }
                do {
                    let results = try await store.append(pending.map(\.append))
                    for (result, item) in zip(results, pending) {
                        if result.wasAlreadyStored { skipped += item.append.events.count } else { written += item.append.events.count }
                    }
                } catch {
                    // Find the line at fault: replay the batch one event at a time.
                    for item in pending {
                        for (offset, event) in item.append.events.enumerated() {
                            let expected: ExpectedVersion
                            if case .exactly(let v) = item.append.expectedVersion { expected = .exactly(v.advanced(by: Int64(offset))) } else { expected = .any }
                            do {
                                let result = try await store.append([event], to: item.append.streamID, expectedVersion: expected)
                                if result.wasAlreadyStored { skipped += 1 } else { written += 1 }
                            } catch let error as EventStoreError {
                                throw CLIError("line \(item.lines[offset]): \(error.message) (\(written) event(s) written before it, \(skipped) already present).")
                            }
                        }
                    }
                }
                pending.removeAll(keepingCapacity: true)
                pendingEvents = 0
            }

            while let text = try reader.next() {
                number += 1
                if text.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                let line = try parseEventLine(text, line: number)
                guard !line.stream.isEmpty else { throw CLIError("line \(number): missing \"stream\".") }
                let stream: StreamID
                do { stream = try StreamID(line.stream) } catch { throw CLIError("line \(number): \(describe(error))") }
                let event = try line.eventData(line: number)
                if let version = line.version, version < 1 { throw CLIError("line \(number): \"version\" must be 1 or more.") }
                // Extend the previous append when the line continues the same stream contiguously.
                if let last = pending.last, last.append.streamID == stream, case .exactly(let v) = last.append.expectedVersion,
                   let version = line.version, version == v.value + Int64(last.append.events.count) + 1
                {
                    pending[pending.count - 1].append.events.append(event)
                    pending[pending.count - 1].lines.append(number)
                } else {
                    let expected: ExpectedVersion = line.version.map { .exactly(StreamVersion($0 - 1)) } ?? .any
                    pending.append(([number], StreamAppend([event], to: stream, expectedVersion: expected)))
                }
                pendingEvents += 1
                if pendingEvents >= batch { try await flush() }
            }
            try await flush()
            try await opened.close()
            if options.json {
                print(try jsonString(["written": written, "alreadyPresent": skipped]))
            } else {
                print("Imported \(written) event(s); \(skipped) already present.")
            }
        }
    }
}
