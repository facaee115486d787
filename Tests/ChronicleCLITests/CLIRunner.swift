import ChronicleTestSupport
import Foundation
import Testing

/// Runs the real `chronicle` executable built beside the test bundle.
struct CLIRunner {
    let directory: URL

    typealias Result = ChildProcess.Result

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var storePath: String { directory.appendingPathComponent("store.sqlite").path }

    /// Runs `chronicle args…` with `--store` set to this runner's store, feeding `input` on stdin,
    /// without blocking a thread of the cooperative pool while it runs.
    func run(_ args: [String], input: String? = nil, store: Bool = true, tool: String = "chronicle", environment: [String: String] = [:]) async throws -> Result {
        try await ChildProcess.run(
            try builtProduct(tool), args + (store ? ["--store", storePath] : []),
            environment: environment, currentDirectory: directory, input: input.map { Data($0.utf8) }
        )
    }

    /// Starts `chronicle args…` without waiting; await its `result()` for its output.
    func start(_ args: [String]) throws -> ChildProcess {
        try ChildProcess(try builtProduct("chronicle"), args + ["--store", storePath], currentDirectory: directory)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: directory)
    }
}
