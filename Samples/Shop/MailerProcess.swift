import ChronicleRelay
import Foundation

/// The mailer service as a child process of `swift run Shop --demo`: started, stopped (its
/// outage) and started again on the same port.
final class MailerProcess: @unchecked Sendable {
    // Invariant: `process` is only touched by the demo's one task, in sequence.
    private var process: Process?
    let directory: String
    let secret: String
    private(set) var port: Int

    /// The mailer's inbox, where the shop's relay delivers.
    var inboxURL: URL { URL(string: "http://127.0.0.1:\(port)/inbox")! }
    /// Its list of emails sent.
    var emailsURL: String { "http://127.0.0.1:\(port)/emails" }

    init(directory: String, secret: String) {
        self.directory = directory
        self.secret = secret
        self.port = 0
    }

    /// Starts the mailer (on its previous port when it ran before) and waits until it listens.
    func start() async throws {
        let portFile = directory + "/port"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: portFile)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path), let executable = Bundle.main.executableURL {
            process.executableURL = executable
        }
        process.arguments = ["--mailer", "--port", String(port), "--data", directory, "--port-file", portFile]
        process.environment = ProcessInfo.processInfo.environment.merging([Mailer.secretVariable: secret]) { _, new in new }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice  // its exit status tells a failure
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let bound = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                port = bound
                return
            }
            guard process.isRunning else { throw ShopDemo.Failure(description: "the mailer exited with status \(process.terminationStatus)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ShopDemo.Failure(description: "the mailer did not start listening in 30 seconds")
    }

    /// Stops the mailer (SIGTERM: a graceful shutdown) and waits until it has exited.
    func stop() async throws {
        guard let process else { return }
        self.process = nil
        process.terminate()
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw ShopDemo.Failure(description: "the mailer did not stop in 30 seconds")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
