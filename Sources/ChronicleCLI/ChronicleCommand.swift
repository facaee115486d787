import ArgumentParser
import Chronicle
import ChronicleSQLite
import Foundation

/// The `chronicle` command: look inside a store and act on it without writing code.
@main
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
        ]
    )
}

/// Options every command shares.
struct StoreOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "The store file (default: $CHRONICLE_STORE or ./chronicle.sqlite).")
    var store: String?

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    var path: String {
        store ?? ProcessInfo.processInfo.environment["CHRONICLE_STORE"] ?? "chronicle.sqlite"
    }

    /// Opens an existing store; a missing file is an error (use `chronicle init`).
    func open(mustExist: Bool = true) throws -> SQLiteEventStore {
        if mustExist && !FileManager.default.fileExists(atPath: path) {
            throw CLIError("No store at \(path). Create one with `chronicle init --store \(path)`, or pass the right --store.")
        }
        do {
            return try SQLiteEventStore(path: path)
        } catch {
            throw CLIError("Cannot open \(path): \(error.message)")
        }
    }
}

/// A failure the CLI reports as one line on standard error, exiting with status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
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
        }
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// The message of a Chronicle error, or the error's description.
func describe(_ error: any Error) -> String {
    (error as? EventStoreError)?.message ?? String(describing: error)
}
