import ArgumentParser
import Chronicle
import ChroniclePostgres
public import ChronicleSQLite
import Foundation
import Logging
import Synchronization

/// How the `chronicle` commands open an application's read model to rebuild it or retry its
/// parked events: those need the projector's code, which the application registers.
///
/// ```swift
/// // In your application's admin entry point:
/// ChronicleCommandLine.register(ReadModelRegistration(name: "order-summary") { store, directory in
///     try SQLiteReadModel(OrderSummaryProjector(), directory: directory, source: .sqlite(store), logger: logger)
/// })
/// await ChronicleCommandLine.main(arguments: ["projections", "rebuild", "order-summary", "--store", "shop.sqlite"])
/// ```
public struct ReadModelRegistration: Sendable {
    /// The projection's name (as its projector names it).
    public var name: String
    /// Opens the read model on the store, in the directory.
    public var open: @Sendable (_ store: SQLiteEventStore, _ directory: String) throws -> SQLiteReadModel

    /// Creates a registration.
    public init(name: String, open: @escaping @Sendable (_ store: SQLiteEventStore, _ directory: String) throws -> SQLiteReadModel) {
        self.name = name
        self.open = open
    }
}

enum ReadModelRegistry {
    static let registrations = Mutex<[String: ReadModelRegistration]>([:])

    static func registration(_ name: String) throws -> ReadModelRegistration {
        guard let found = registrations.withLock({ $0[name] }) else {
            let known = registrations.withLock { $0.keys.sorted() }
            throw CLIError(
                "This command needs the code of projection \(name), and this program does not register it"
                    + (known.isEmpty ? "." : " (it registers: \(known.joined(separator: ", "))).")
                    + " Run it from your application's admin command (see ChronicleCommandLine.register), or stop the application and delete the read model's files to rebuild on its next start."
            )
        }
        return found
    }
}

/// Where read models live: `--dir`, else `$CHRONICLE_READ_MODELS`, else the store's directory + `/read-models`.
struct ReadModelOptions: ParsableArguments {
    @Option(help: "The read models' directory (default: $CHRONICLE_READ_MODELS, or read-models beside the store).")
    var dir: String?

    func directory(store: StoreOptions) -> String {
        if let dir { return dir }
        if let env = ProcessInfo.processInfo.environment["CHRONICLE_READ_MODELS"] { return env }
        let storeDirectory = (store.path as NSString).deletingLastPathComponent
        return ((storeDirectory.isEmpty ? "." : storeDirectory) as NSString).appendingPathComponent("read-models")
    }
}

struct ProjectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract: "Projection status (position, head, lag, parked events), and rebuilds.",
        subcommands: [ProjectionsStatusCommand.self, ProjectionsRebuildCommand.self],
        defaultSubcommand: ProjectionsStatusCommand.self
    )
}

struct ProjectionsStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Every read model's checkpoint, lag and parked count.",
        discussion: "Exits 1, naming each one and why, when a read model in the directory cannot be opened."
    )
    @OptionGroup var options: StoreOptions
    @OptionGroup var readModels: ReadModelOptions

    func run() async throws {
        try await reportingErrors {
            // The same JSON as `GET /projections` and `ProjectionStatus`'s Codable form.
            var rows: [ProjectionStatus] = []
            var problems: [String] = []
            var directory = "schema \(options.schema)"
            if options.isPostgres {
                rows = try await options.withPostgres { store in try await PostgresReadModel.storedStatuses(in: store) }
            }
            let names: [String]
            let head: GlobalPosition
            if options.isPostgres {
                names = []
                head = .start
            } else {
                let store = try options.open()
                head = try await store.headPosition()
                try await store.close()
                directory = readModels.directory(store: options)
                names = SQLiteReadModelDirectory(directory).names()
            }
            for name in names {
                do {
                    let status = try SQLiteReadModelDirectory(directory).status(of: name, head: head)
                    rows.append(status)
                } catch {
                    problems.append("\(name): \(describe(error))")
                }
            }
            if options.json {
                print(try jsonString(rows))
            } else if rows.isEmpty {
                print("No read models in \(directory).")
            } else {
                var table = TextTable("PROJECTION", "STATE", "POSITION", "HEAD", "LAG", "PARKED", "PARTITIONS")
                for row in rows {
                    table.add(row.name, row.state.rawValue, String(row.position.value), String(row.head.value), String(row.lag), String(row.parkedCount), String(row.partitionCount))
                }
                print(table.render())
            }
            // A read model that cannot be opened is a failure, not a warning: scripts and health
            // checks must see it in the exit status.
            if !problems.isEmpty {
                for problem in problems { printError("error: read model \(problem)") }
                throw ExitCode.failure
            }
        }
    }
}

struct ProjectionsRebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Replay the log into a fresh read model, then swap it in (the old one serves until then).",
        discussion: "Needs the projector's code: run it from an application that registers its read models (see ChronicleCommandLine.register). Shows a progress bar on standard error."
    )
    @OptionGroup var options: StoreOptions
    @OptionGroup var readModels: ReadModelOptions
    @Argument(help: "The projection to rebuild.") var name: String

    func run() async throws {
        try await reportingErrors {
            let registration = try ReadModelRegistry.registration(name)
            let store = try options.open()
            let directory = readModels.directory(store: options)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let readModel = try registration.open(store, directory)
            let bar = ProgressBar()
            let rebuild = Task { try await readModel.rebuild() }
            let monitor = Task {
                while !Task.isCancelled {
                    if let progress = await readModel.status().rebuild { bar.show(progress) }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
            let result = await rebuild.result
            monitor.cancel()
            await monitor.value
            let progress: RebuildProgress
            do {
                progress = try result.get()
            } catch {
                bar.finish()
                throw CLIError("Rebuild of \(name) failed; the current read model stays: \(describe(error))")
            }
            bar.show(progress)
            bar.finish()
            try await store.close()
            if options.json {
                print(try jsonString(progress))
            } else {
                print("Rebuilt \(name): \(progress.eventsDone) event(s) at \(Int(progress.eventsPerSecond)) events/s.")
            }
        }
    }
}

/// A one-line progress bar on standard error.
final class ProgressBar: Sendable {
    func show(_ progress: RebuildProgress) {
        let total = max(progress.eventsTotal, 1)
        let fraction = min(1, Double(progress.eventsDone) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\r[\(bar)] \(Int(fraction * 100))% \(progress.eventsDone)/\(progress.eventsTotal) events, \(Int(progress.eventsPerSecond)) events/s"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

struct ParkedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parked",
        abstract: "Events a projection parked after failing to apply them: list, retry, drop.",
        subcommands: [ParkedListCommand.self, ParkedRetryCommand.self, ParkedDropCommand.self],
        defaultSubcommand: ParkedListCommand.self
    )
}

struct ParkedListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List a projection's parked events.")
    @OptionGroup var options: StoreOptions
    @OptionGroup var readModels: ReadModelOptions
    @Argument(help: "The projection.") var name: String
    @Option(help: "The most events to list.") var limit = 100

    func run() async throws {
        try await reportingErrors {
            let parked: [ParkedEvent]
            if options.isPostgres {
                parked = try await options.withPostgres { store in
                    try await PostgresReadModel.storedParkedEvents(name: name, in: store, limit: limit)
                }
            } else {
                parked = try SQLiteReadModelDirectory(readModels.directory(store: options)).parkedEvents(of: name, limit: limit)
            }
            if options.json {
                print(try jsonString(parked))
            } else if parked.isEmpty {
                print("Projection \(name) has no parked events.")
            } else {
                var table = TextTable("POSITION", "STREAM", "TYPE", "ATTEMPTS", "PARKED AT", "ERROR")
                for event in parked {
                    table.add(String(event.position.value), event.streamID.rawValue, event.eventType, String(event.attempts), event.parkedAt.formatted(.iso8601), event.error)
                }
                print(table.render())
            }
        }
    }
}

struct ParkedDropCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "drop", abstract: "Remove a parked event for good (its effect is never applied).")
    @OptionGroup var options: StoreOptions
    @OptionGroup var readModels: ReadModelOptions
    @Argument(help: "The projection.") var name: String
    @Argument(help: "The parked event's global position.") var position: Int64

    func run() async throws {
        try await reportingErrors {
            if options.isPostgres {
                try await options.withPostgres { store in
                    try await PostgresReadModel.dropStoredParkedEvent(name: name, in: store, position: GlobalPosition(max(0, position)))
                }
            } else {
                try SQLiteReadModelDirectory(readModels.directory(store: options)).dropParkedEvent(of: name, at: GlobalPosition(max(0, position)))
            }
            print(options.json ? try jsonString(["dropped": position]) : "Dropped the event parked at position \(position) from \(name).")
        }
    }
}

struct ParkedRetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Apply parked events again (after a fix); those that succeed leave the dead-letter table.",
        discussion: "Needs the projector's code: run it from an application that registers its read models (see ChronicleCommandLine.register)."
    )
    @OptionGroup var options: StoreOptions
    @OptionGroup var readModels: ReadModelOptions
    @Argument(help: "The projection.") var name: String
    @Argument(help: "The parked event's position (default: every parked event).") var position: Int64?

    func run() async throws {
        try await reportingErrors {
            let registration = try ReadModelRegistry.registration(name)
            let store = try options.open()
            let readModel = try registration.open(store, readModels.directory(store: options))
            if let position {
                try await readModel.retryParked(at: GlobalPosition(max(0, position)))
                print(options.json ? try jsonString(["retried": position]) : "Applied the event parked at position \(position); it is no longer parked.")
            } else {
                let still = try await readModel.retryAllParked()
                print(options.json ? try jsonString(["stillParked": still.map(\.value)]) : "Retried every parked event; \(still.count) still parked.")
            }
            try await store.close()
        }
    }
}
