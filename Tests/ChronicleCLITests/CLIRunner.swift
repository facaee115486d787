import Foundation
import Testing

/// Runs the real `chronicle` executable built beside the test bundle.
struct CLIRunner {
    let directory: URL

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var storePath: String { directory.appendingPathComponent("store.sqlite").path }

    static var executable: URL { tool("chronicle") }

    /// A program built beside the test bundle.
    static func tool(_ name: String) -> URL {
        let bundle = Bundle.main.bundleURL
        for candidate in [bundle.deletingLastPathComponent(), bundle, bundle.deletingLastPathComponent().deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Runs `chronicle args…` with `--store` set to this runner's store, feeding `input` on stdin.
    func run(_ args: [String], input: String? = nil, store: Bool = true, tool: String = "chronicle", environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = Self.tool(tool)
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.arguments = args + (store ? ["--store", storePath] : [])
        process.currentDirectoryURL = directory
        let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        // Read both pipes to the end before waiting, so a large output cannot block the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = stderr.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = stdout.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Starts `chronicle args…` without waiting; read its output after it exits.
    func start(_ args: [String]) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = args + ["--store", storePath]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        return (process, stdout)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: directory)
    }
}
