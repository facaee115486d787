import ArgumentParser
import Chronicle
import ChroniclePostgres
import ChronicleSQLite
import Foundation
import Logging
import Synchronization

/// The `chronicle` commands as a library, so an application can offer them with its own read
/// models registered (for `projections rebuild` and `parked retry`, which need projector code).
///
/// ```swift
/// // Sources/MyAppAdmin/main.swift
/// import ChronicleCommandLine
/// ChronicleCommandLine.register(ReadModelRegistration(name: "order-summary") { store, directory in
///     try SQLiteReadModel(OrderSummary(), directory: directory, source: .sqlite(store), logger: logger)
/// })
/// await ChronicleCommandLine.main()
/// ```
public enum ChronicleCommandLine {
    /// Makes a read model's projector available to `projections rebuild` and `parked retry`.
    public static func register(_ registration: ReadModelRegistration) {
        ReadModelRegistry.registrations.withLock { $0[registration.name] = registration }
    }

    /// Parses `arguments` (the process's own by default), runs the command and exits the process
    /// with its status.
    public static func main(arguments: [String]? = nil) async {
        await ChronicleCommand.main(arguments)
    }
}

/// The `chronicle` command: look inside a store and act on it without writing code.
struct ChronicleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chronicle",
        abstract: "Inspect and operate a Chronicle event store.",
        discussion: """
            Every command works on a store file given with --store (or the CHRONICLE_STORE \
            environment variable; default ./chronicle.sqlite). Output is a table for people; \
            --json prints JSON (or JSON lines for events) for scripts. Exit codes: 0 success, \
            1 failure (the message says what to do), 64 bad usage.
            """,
        subcommands: [
            InitCommand.self, StatsCommand.self, StreamsCommand.self, ReadCommand.self, TailCommand.self,
            AppendCommand.self, ExportCommand.self, ImportCommand.self, VerifyCommand.self,
            ProjectionsCommand.self, ParkedCommand.self, ForgetCommand.self, ScavengeCommand.self, ArchiveCommand.self,
        ]
    )
}

/// Options every command shares.
struct StoreOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "The store: a SQLite file, or a postgres:// URL (default: $CHRONICLE_STORE or ./chronicle.sqlite).")
    var store: String?

    @Option(help: "The PostgreSQL schema holding the store's tables (PostgreSQL stores only).")
    var schema = "chronicle"

    @Option(help: "Seconds to wait for a PostgreSQL connection (PostgreSQL stores only).")
    var connectTimeout = 10.0

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    var path: String {
        store ?? ProcessInfo.processInfo.environment["CHRONICLE_STORE"] ?? "chronicle.sqlite"
    }

    /// Whether the store is a PostgreSQL URL.
    var isPostgres: Bool { path.hasPrefix("postgres://") || path.hasPrefix("postgresql://") }

    /// Opens a SQLite store. With `mustExist` (the commands that only read), a missing file, an
    /// empty file or a SQLite database without Chronicle's schema is an error and nothing is
    /// written to it (use `chronicle init`). For the commands that exist only for SQLite (read
    /// models live beside its file).
    func open(mustExist: Bool = true) throws -> SQLiteEventStore {
        if isPostgres {
            throw CLIError("This command works on SQLite stores only; pass a store file with --store.")
        }
        if mustExist && !FileManager.default.fileExists(atPath: path) {
            throw CLIError("No store at \(path). Create one with `chronicle init --store \(path)`, or pass the right --store.")
        }
        do {
            var configuration = SQLiteEventStore.Configuration()
            configuration.logger.logLevel = .warning  // progress chatter stays out of the terminal
            configuration.createIfNeeded = !mustExist
            return try SQLiteEventStore(path: path, configuration: configuration)
        } catch {
            throw CLIError("Cannot open \(path): \(error.message)", code: error.code)
        }
    }

    /// Runs `body` on the store, SQLite or PostgreSQL (``openAny(mustExist:)``), and closes it
    /// afterwards whatever happens: the first error (the body's, else the close's) is thrown.
    func withAnyStore<T>(mustExist: Bool = true, _ body: (OpenedStore) async throws -> T) async throws -> T {
        let opened = try await openAny(mustExist: mustExist)
        let result: T
        do {
            result = try await body(opened)
        } catch {
            try? await opened.close()
            throw error
        }
        try await opened.close()
        return result
    }

    /// Runs `body` on the PostgreSQL store, closing it afterwards whatever happens.
    func withPostgres<T>(_ body: (PostgresEventStore) async throws -> T) async throws -> T {
        try await withAnyStore { opened in
            guard let store = opened.postgres else { throw CLIError("This needs a PostgreSQL store (--store postgres://…).") }
            return try await body(store)
        }
    }

    /// Opens the store, SQLite or PostgreSQL (whose tables are created if missing).
    func openAny(mustExist: Bool = true) async throws -> OpenedStore {
        guard isPostgres else { return .sqlite(try open(mustExist: mustExist)) }
        do {
            return try await .postgres(url: path, schema: schema, connectTimeout: .milliseconds(Int64(max(0.1, connectTimeout) * 1000)))
        } catch let error as CLIError {
            throw error
        } catch let error as EventStoreError {
            throw CLIError("Cannot open the PostgreSQL store: \(error.message)")
        } catch {
            throw CLIError("Cannot open the PostgreSQL store: \(error)")
        }
    }
}

/// A failure the CLI reports as one line on standard error, exiting with status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    /// The store error's code, when the failure is the store's.
    var code: EventStoreError.Code?
    init(_ description: String, code: EventStoreError.Code? = nil) {
        self.description = description
        self.code = code
    }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning Chronicle's typed errors into one clear line and exit status 1.
    func reportingErrors(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as CLIError {
            printError("error: \(error.description)")
            throw ExitCode.failure
        } catch let error as EventStoreError {
            printError("error: \(error.message)")
            throw ExitCode.failure
        } catch let error as ProjectionError {
            printError("error: \(error.message)")
            throw ExitCode.failure
        } catch let error as PrivacyError {
            printError("error: \(error.message)")
            throw ExitCode.failure
        } catch let error as ArchiveError {
            printError("error: \(error.description)")
            throw ExitCode.failure
        }
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// The message of a Chronicle error, or the error's description.
func describe(_ error: any Error) -> String {
    (error as? EventStoreError)?.message ?? (error as? ProjectionError)?.message ?? String(describing: error)
}
