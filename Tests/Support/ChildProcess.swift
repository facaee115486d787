import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process for tests, started at once, that never blocks a thread of Swift's cooperative
/// pool: its standard output and error are read, its input written, on threads of their own; its
/// exit arrives through `Process.terminationHandler`; ``result(timeout:)`` resumes the awaiting
/// task through a continuation when the child has exited and both pipes are drained.
///
/// The test suite runs many tests at once on a pool with as many threads as cores (two on CI):
/// a test that blocked one of them while a child ran would starve every other test meanwhile.
public final class ChildProcess: Sendable {
    /// How the child ended and what it printed.
    public struct Result: Sendable {
        /// The exit status, or the signal's number if ``signalled``.
        public var status: Int32
        /// Whether a signal ended the child (for example ``kill(_:)``'s SIGKILL).
        public var signalled: Bool
        public var stdout: String
        public var stderr: String
    }

    /// Thrown by ``result(timeout:)`` when the child had to be killed at the timeout.
    public struct TimedOut: Error, CustomStringConvertible {
        public let command: String
        public let timeout: Duration
        public let stdout: String
        public let stderr: String
        public var description: String {
            "\(command) was still running after \(timeout) and was killed; stdout: \(stdout.suffix(2_000)) stderr: \(stderr.suffix(2_000))"
        }
    }

    private struct State {
        var stdout = Data()
        var stderr = Data()
        var openPipes = 2
        var termination: (status: Int32, signalled: Bool)?
        var timedOut = false
        /// The child's exit or its output's end never arrived, even after the SIGKILL at the timeout.
        var lost = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        var finished: Bool { openPipes == 0 && termination != nil }
    }

    private final class Shared: Sendable {
        let state = Mutex(State())

        /// Resumes the waiters if the child has exited and both pipes are drained.
        func update(_ change: (inout State) -> Void) {
            let ready: [CheckedContinuation<Void, Never>] = state.withLock { state in
                change(&state)
                guard state.finished else { return [] }
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in ready { waiter.resume() }
        }
    }

    private let process: Process
    private let shared: Shared
    /// The command line, for messages.
    public let command: String

    /// Starts `executable arguments…`. `environment` is added to this process's environment;
    /// `input`, if any, is written to the child's standard input, which is then closed.
    public init(
        _ executable: URL, _ arguments: [String] = [], environment: [String: String] = [:],
        currentDirectory: URL? = nil, input: Data? = nil
    ) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin
        _ = Self.ignoreBrokenPipes
        let shared = Shared()
        self.shared = shared
        process.terminationHandler = { process in
            let termination = (process.terminationStatus, process.terminationReason == .uncaughtSignal)
            shared.update { $0.termination = termination }
        }
        try process.run()
        self.process = process
        self.command = ([executable.lastPathComponent] + arguments).joined(separator: " ")
        // (`run()` has closed this process's copies of the child's ends of the pipes.)
        Self.drain(stdout.fileHandleForReading, isStandardError: false, shared)
        Self.drain(stderr.fileHandleForReading, isStandardError: true, shared)
        let writer = stdin.fileHandleForWriting
        if let input, !input.isEmpty {
            let thread = Thread {
                // A child that exits without reading its input makes this fail (EPIPE): ignore it.
                try? writer.write(contentsOf: input)
                try? writer.close()
            }
            thread.name = "ChildProcess stdin"
            thread.start()
        } else {
            try? writer.close()
        }
    }

    /// A child that exits before reading all its input must make the write fail with EPIPE,
    /// not kill the whole test process with SIGPIPE.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Reads `handle` to its end on a thread of its own, appending to the state.
    private static func drain(_ handle: FileHandle, isStandardError: Bool, _ shared: Shared) {
        let thread = Thread {
            // read(2) itself: FileHandle.read(upToCount:) waits for the whole count or the end,
            // and what a long-running child has printed so far must be visible at once.
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                let chunk = Data(buffer[0..<count])
                shared.update { state in
                    if isStandardError { state.stderr.append(chunk) } else { state.stdout.append(chunk) }
                }
            }
            try? handle.close()
            shared.update { $0.openPipes -= 1 }
        }
        thread.name = isStandardError ? "ChildProcess stderr" : "ChildProcess stdout"
        thread.start()
    }

    /// Starts `executable arguments…` and returns its result when it has exited (see
    /// ``result(timeout:)``).
    public static func run(
        _ executable: URL, _ arguments: [String] = [], environment: [String: String] = [:],
        currentDirectory: URL? = nil, input: Data? = nil, timeout: Duration = .seconds(120)
    ) async throws -> Result {
        let child = try ChildProcess(executable, arguments, environment: environment, currentDirectory: currentDirectory, input: input)
        return try await child.result(timeout: timeout)
    }

    public var pid: Int32 { process.processIdentifier }

    /// Whether the child has not exited yet (as far as its termination handler has told).
    public var isRunning: Bool { shared.state.withLock { $0.termination == nil } }

    /// What the child has printed on its standard output so far.
    public var stdoutSoFar: String { shared.state.withLock { String(decoding: $0.stdout, as: UTF8.self) } }

    /// Sends `signal` (by default SIGKILL: no clean-up, no flushing, like a crash) unless the
    /// child has exited already.
    public func kill(_ signal: Int32 = SIGKILL) {
        // Checked under the lock: once the termination handler ran, the pid may be reused.
        shared.state.withLock { state in
            if state.termination == nil { _ = sendSignal(process.processIdentifier, signal) }
        }
    }

    /// Waits, without blocking a thread, until the child has exited and its output is read.
    /// At `timeout` the child is SIGKILLed and ``TimedOut`` thrown; if the waiting task is
    /// cancelled, the child is SIGKILLed too.
    public func result(timeout: Duration = .seconds(120)) async throws -> Result {
        let timer = DispatchWorkItem { [weak self] in
            guard let self else { return }
            shared.state.withLock { state in
                guard state.termination == nil else { return }
                state.timedOut = true
                _ = sendSignal(process.processIdentifier, SIGKILL)
            }
        }
        // If even the SIGKILL brings no exit (Foundation did not report it) or no end of output (a
        // grandchild holds the pipes), give up waiting a little later rather than hang the suite:
        // the test then fails with ``TimedOut``, naming the command. (A whole-suite run once hung
        // for good with every task suspended and no child left.)
        let abandon = DispatchWorkItem { [weak self] in
            self?.shared.update { state in
                guard !state.finished else { return }
                state.lost = true
                state.timedOut = true
                if state.termination == nil { state.termination = (status: -1, signalled: true) }
                state.openPipes = 0
            }
        }
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: timer)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds) + .seconds(15), execute: abandon)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                shared.update { state in state.waiters.append(continuation) }
            }
        } onCancel: {
            kill()
        }
        timer.cancel()
        abandon.cancel()
        let (result, timedOut, lost) = shared.state.withLock { state in
            let termination = state.termination!
            return (
                Result(
                    status: termination.status, signalled: termination.signalled,
                    stdout: String(decoding: state.stdout, as: UTF8.self), stderr: String(decoding: state.stderr, as: UTF8.self)
                ),
                state.timedOut,
                state.lost
            )
        }
        if timedOut {
            let note = lost ? " (its exit or the end of its output was never reported, even after SIGKILL)" : ""
            throw TimedOut(command: command + note, timeout: timeout, stdout: result.stdout, stderr: result.stderr)
        }
        return result
    }

    deinit {
        // A test that failed before waiting for its child must not leave it running.
        kill()
    }
}

private func sendSignal(_ pid: Int32, _ signal: Int32) -> Int32 {
    kill(pid, signal)
}

/// A program built next to the test binary by `swift build --build-tests` (a helper tool or an
/// executable product).
public func builtProduct(_ name: String) throws -> URL {
    var directories: [URL] = [
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent(),
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
    ]
    if let executable = Bundle.main.executableURL { directories.append(executable.deletingLastPathComponent()) }
    let bundle = Bundle.main.bundleURL
    directories += [bundle.deletingLastPathComponent(), bundle, bundle.deletingLastPathComponent().deletingLastPathComponent()]
    for directory in directories {
        let candidate = directory.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    throw BuiltProductNotFound(name: name, directories: directories.map(\.path))
}

public struct BuiltProductNotFound: Error, CustomStringConvertible {
    public let name: String
    public let directories: [String]
    public var description: String {
        "\(name) not found next to the test binary (looked in \(directories)); run `swift build --build-tests` first."
    }
}
