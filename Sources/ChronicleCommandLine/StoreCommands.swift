import ArgumentParser
import Chronicle
import ChronicleSQLite
import Foundation

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create an empty store (or check an existing one).")
    @OptionGroup var options: StoreOptions

    func run() async throws {
        try await reportingErrors {
            let existed = options.isPostgres || FileManager.default.fileExists(atPath: options.path)
            let head = try await options.withAnyStore(mustExist: false) { try await $0.store.headPosition() }
            if options.json {
                print(try jsonString(["path": options.path, "created": existed ? "false" : "true", "head": String(head.value)]))
            } else {
                print(existed ? "\(options.path) is a Chronicle store (head position \(head))." : "Created \(options.path).")
            }
        }
    }
}

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Events, streams, categories, file size and head position.")
    @OptionGroup var options: StoreOptions

    struct Stats: Codable {
        var path: String
        var events: Int64
        var streams: Int
        var categories: [String: Int]
        var fileBytes: Int64?
        var head: Int64
    }

    func run() async throws {
        try await reportingErrors {
            var streams = 0
            var categories: [String: Int] = [:]
            let (head, isSQLite, description) = try await options.withAnyStore { opened in
                let head = try await opened.store.headPosition()
                try await forEachStream(of: opened.store) { info in
                    categories[info.id.category, default: 0] += 1
                    streams += 1
                }
                return (head, opened.sqlite != nil, opened.description)
            }
            let stats = Stats(path: options.path, events: head.value, streams: streams, categories: categories, fileBytes: isSQLite ? fileBytes(options.path) : nil, head: head.value)
            if options.json {
                print(try jsonString(stats))
            } else {
                var table = TextTable("PROPERTY", "VALUE")
                table.add("store", description)
                table.add("events", String(stats.events))
                table.add("streams", String(stats.streams))
                table.add("categories", String(categories.count))
                if let bytes = stats.fileBytes { table.add("file size", formatBytes(bytes)) }
                table.add("head position", String(stats.head))
                print(table.render())
                if !categories.isEmpty {
                    var byCategory = TextTable("CATEGORY", "STREAMS")
                    for (name, count) in categories.sorted(by: { $0.key < $1.key }) { byCategory.add(name, String(count)) }
                    print("\n" + byCategory.render())
                }
            }
        }
    }
}

/// Calls `body` with every stream of `store`, in id order, reading the list in pages.
func forEachStream(of store: any EventReader, _ body: (StreamInfo) throws -> Void) async throws {
    var after: StreamID?
    while true {
        let page = try await store.streams(category: nil, after: after, limit: 1000)
        for info in page { try body(info) }
        guard let last = page.last, page.count == 1000 else { return }
        after = last.id
    }
}

/// Size of the database file plus its WAL.
func fileBytes(_ path: String) -> Int64 {
    [path, path + "-wal"].reduce(Int64(0)) { total, file in
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0
        return total + size
    }
}

func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

struct StreamsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "streams", abstract: "List streams, optionally of one category.")
    @OptionGroup var options: StoreOptions
    @Option(help: "Only streams of this category (the part of the id before the first '-').") var category: String?
    @Option(help: "Start after this stream id (for paging).") var after: String?
    @Option(help: "The most streams to list.") var limit = 100

    struct Row: Codable { var stream: String; var category: String; var version: Int64; var lastPosition: Int64 }

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive.") }
    }

    func run() async throws {
        try await reportingErrors {
            let afterID: StreamID? = try after.map { try StreamID($0) }
            let page = try await options.withAnyStore { try await $0.store.streams(category: category, after: afterID, limit: limit) }
            let rows = page.map { Row(stream: $0.id.rawValue, category: $0.id.category, version: $0.version.value, lastPosition: $0.lastPosition.value) }
            if options.json {
                print(try jsonString(rows))
            } else {
                var table = TextTable("STREAM", "CATEGORY", "VERSION", "LAST POSITION")
                for row in rows { table.add(row.stream, row.category, String(row.version), String(row.lastPosition)) }
                print(table.render())
            }
        }
    }
}

/// `--type A,B`: event types, parsed by the same parser as the HTTP API's `type=`.
struct EventTypesArgument: ExpressibleByArgument {
    var types: Set<String>

    init?(argument: String) {
        guard let types = ProjectionFilter.eventTypes(parsing: argument) else { return nil }
        self.types = types
    }

    var defaultValueDescription: String { types.sorted().joined(separator: ",") }
}

struct ReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read", abstract: "Read a stream's events, or the global log with --all.",
        discussion: """
            chronicle read order-42 reads one stream. chronicle read --all reads the global log ($all) \
            after --after, and --type OrderPlaced,OrderPaid keeps only those event types (as the HTTP \
            API's GET /all?type=). --tag course:c1,student:s1 keeps the events carrying all of those tags, \
            through the store's tag index (as GET /events?tag=).
            """
    )
    @OptionGroup var options: StoreOptions
    @Argument(help: "The stream id, such as order-42 (or --all).") var stream: String?
    @Flag(help: "Read the global log ($all) instead of one stream.") var all = false
    @Flag(help: "Newest first.") var backwards = false
    @Option(help: "Start at this version (inclusive; default: first, or last with --backwards).") var from: Int64?
    @Option(help: "With --all: start after this global position (default: 0, the beginning).") var after: Int64?
    @Option(help: "With --all: only events of these types, separated by commas (such as OrderPlaced,OrderPaid).") var type: EventTypesArgument?
    @Option(help: "With --all: only events carrying all of these tags, separated by commas (such as course:c1,student:s1).") var tag: String?
    @Option(help: "The most events to print.") var limit = 1000

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive.") }
        if let tag {
            guard all else { throw ValidationError("--tag queries the global log's tag index: use it with --all.") }
            do {
                _ = try EventQuery.parse(tags: tag, types: nil)
            } catch {
                throw ValidationError("--tag \(tag.debugDescription) is invalid: \(error.message)")
            }
        }
        if let from, from < 0 { throw ValidationError("--from must not be negative.") }
        if let after, after < 0 { throw ValidationError("--after must not be negative.") }
        switch (stream, all) {
        case (nil, false): throw ValidationError("Name a stream, or read the global log with --all.")
        case (_?, true): throw ValidationError("Give a stream or --all, not both.")
        case (_?, false):
            if after != nil { throw ValidationError("--after is a global position: use it with --all (a stream starts --from a version).") }
            if type != nil { throw ValidationError("--type filters the global log: use it with --all.") }
        case (nil, true):
            if backwards { throw ValidationError("--backwards reads a stream; the global log is read forwards.") }
            if from != nil { throw ValidationError("--from is a stream version: with --all, start --after a global position.") }
        }
    }

    func run() async throws {
        try await reportingErrors {
            let events: [RecordedEvent] = try await options.withAnyStore { opened in
                let store = opened.store
                if let stream {
                    let id = try StreamID(stream)
                    let start = StreamVersion(from ?? (backwards ? Int64.max : 1))
                    return try await store.readStream(id, from: start, direction: backwards ? .backwards : .forwards, limit: limit)
                } else if let tag {
                    let query = try EventQuery.parse(tags: tag, types: type.map { $0.types.sorted().joined(separator: ",") })
                    return try await store.readEvents(matching: query, after: GlobalPosition(after ?? 0), limit: limit)
                } else if let type {
                    return try await LogSubscription.readFiltered(
                        store, after: GlobalPosition(after ?? 0), filter: ProjectionFilter(eventTypes: type.types), limit: limit, scanLimit: .max
                    ).events
                } else {
                    return try await store.readAll(after: GlobalPosition(after ?? 0), limit: limit)
                }
            }
            noteArchived(events)
            try printEvents(events, json: options.json)
        }
    }
}

/// Says on standard error where the archived events among `events` went.
func noteArchived(_ events: [RecordedEvent]) {
    var files: [String: (Int64, Int64, Int)] = [:]
    for event in events {
        guard let file = event.archiveFile else { continue }
        let (low, high, count) = files[file] ?? (event.position.value, event.position.value, 0)
        files[file] = (min(low, event.position.value), max(high, event.position.value), count + 1)
    }
    for (file, (low, high, count)) in files.sorted(by: { $0.value.0 < $1.value.0 }) {
        printError("note: \(count) event(s) read (positions \(low)–\(high)) are archived in \(file); `chronicle archive import` of that file puts them back")
    }
}

/// Prints events as a table, or as JSON lines with `json`.
func printEvents(_ events: [RecordedEvent], json: Bool, header: Bool = true) throws {
    let out = OutputBuffer()
    if json {
        for event in events { out.line(String(decoding: eventLineJSON(event), as: UTF8.self)) }
    } else {
        var table = TextTable("POSITION", "STREAM", "VERSION", "TYPE", "RECORDED", "DATA")
        for event in events {
            var data = String(validating: event.payload, as: UTF8.self) ?? "<\(event.payload.count) bytes>"
            if let file = event.archiveFile { data = "(archived to \(file))" }
            table.add(String(event.position.value), event.streamID.rawValue, String(event.streamVersion.value), event.type,
                      event.recordedAt.formatted(.iso8601), data.count > 80 ? String(data.prefix(77)) + "..." : data)
        }
        let text = table.render()
        if header {
            out.line(text)
        } else {
            for line in text.split(separator: "\n").dropFirst(2) { out.line(String(line)) }
        }
    }
    out.flush()
}

struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "Print the global log, then follow new events live.")
    @OptionGroup var options: StoreOptions
    @Option(help: "Start after this global position (default: the current head, so only new events).") var from: Int64?
    @Flag(name: .long, inversion: .prefixedNo, help: "Keep following new events (default) or stop at the head.") var follow = true
    @Option(help: "How often to look for appends by other processes, in milliseconds.") var pollMs = 100
    @Option(help: "Stop after this many events.") var limit: Int?
    @Option(help: "Only events of these types, separated by commas (such as OrderPlaced,OrderPaid).") var type: EventTypesArgument?

    func validate() throws {
        if let from, from < 0 { throw ValidationError("--from must not be negative.") }
        guard (1...60_000).contains(pollMs) else { throw ValidationError("--poll-ms must be 1 to 60000.") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive.") }
    }

    func run() async throws {
        try await reportingErrors {
            let opened = try await options.openAny()
            let store = opened.store
            let start: GlobalPosition
            if let from { start = GlobalPosition(from) } else { start = try await store.headPosition() }
            let pollInterval = Duration.milliseconds(pollMs)
            let source = ProjectionSource(reader: store) { opened.headUpdates(pollInterval: pollInterval) }
            // The same catch-up-then-follow loop as projections and the HTTP feed.
            let filter = ProjectionFilter(eventTypes: type?.types)
            let pages = try LogSubscription(source: source, after: start, filter: filter, pageSize: 500, follow: follow)
            var printed = 0
            var first = true
            for try await page in pages where !page.events.isEmpty {
                let slice = limit.map { Array(page.events.prefix($0 - printed)) } ?? page.events
                try printEvents(slice, json: options.json, header: first)
                first = false
                printed += slice.count
                if let limit, printed >= limit { break }
            }
            try await opened.close()
        }
    }
}
