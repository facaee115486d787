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

    private let pidValue: pid_t
    private let shared: Shared
    /// The command line, for messages.
    public let command: String

    /// Starts `executable arguments…`. `environment` is added to this process's environment;
    /// `input`, if any, is written to the child's standard input, which is then closed.
    ///
    /// The child is started with `posix_spawn` and reaped by a thread of its own (`waitpid`), not
    /// with Foundation's `Process`: with many descriptors open, `Process.run()` crashed reading
    /// `/proc/self/fd` (a read past its buffer in `findMaximumOpenFromProcSelfFD`, three whole-suite
    /// runs in a row), and a suite once hung with a child's exit never reported.
    public init(
        _ executable: URL, _ arguments: [String] = [], environment: [String: String] = [:],
        currentDirectory: URL? = nil, input: Data? = nil
    ) throws {
        _ = Self.ignoreBrokenPipes
        let stdout = try Self.makePipe(), stderr = try Self.makePipe(), stdin = try Self.makePipe()
        let environment = environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let pid: pid_t
        do {
            pid = try Self.spawn(
                executable.path, arguments, environment: environment, currentDirectory: currentDirectory?.path,
                stdin: stdin.read, stdout: stdout.write, stderr: stderr.write
            )
        } catch {
            for fd in [stdout.read, stdout.write, stderr.read, stderr.write, stdin.read, stdin.write] { close(fd) }
            throw error
        }
        // The child's ends belong to the child now.
        close(stdout.write)
        close(stderr.write)
        close(stdin.read)
        let shared = Shared()
        self.shared = shared
        self.pidValue = pid
        self.command = ([executable.lastPathComponent] + arguments).joined(separator: " ")
        Self.reap(pid, shared)
        Self.drain(FileHandle(fileDescriptor: stdout.read, closeOnDealloc: false), isStandardError: false, shared)
        Self.drain(FileHandle(fileDescriptor: stderr.read, closeOnDealloc: false), isStandardError: true, shared)
        let writer = FileHandle(fileDescriptor: stdin.write, closeOnDealloc: false)
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

    /// Thrown when the child cannot be started.
    public struct SpawnFailed: Error, CustomStringConvertible {
        public let executable: String
        public let errno: Int32
        public var description: String { "Cannot start \(executable): \(String(cString: strerror(errno)))" }
    }

    /// A pipe whose two ends are closed on exec, so no other child inherits them (the child's
    /// own ends reach it through `dup2`, which clears the flag).
    private static func makePipe() throws -> (read: Int32, write: Int32) {
        // pipe2(O_CLOEXEC) is not imported; pipe + FD_CLOEXEC under the lock every spawn here takes.
        try spawnLock.withLock { _ in
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw SpawnFailed(executable: "pipe", errno: errno) }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return (fds[0], fds[1])
        }
    }

    /// Taken to create pipes and to spawn, so no child of this process inherits another's pipe.
    private static let spawnLock = Mutex(())

    private static func spawn(
        _ path: String, _ arguments: [String], environment: [String: String]?, currentDirectory: String?,
        stdin: Int32, stdout: Int32, stderr: Int32
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // This process ignores SIGPIPE; the child gets every signal's default action back and an
        // empty signal mask, as a freshly started program expects.
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        // posix_spawn_file_actions_addchdir_np is not imported: `env -C DIR` changes directory, then runs it.
        let command = currentDirectory.map { ["/usr/bin/env", "-C", $0, path] } ?? [path]
        let program = command[0]
        let argv: [UnsafeMutablePointer<CChar>?] = (command + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for pointer in envp ?? [] { free(pointer) } }
        var pid: pid_t = 0
        let result = spawnLock.withLock { _ in
            argv.withUnsafeBufferPointer { argvBuffer in
                if let envp {
                    return envp.withUnsafeBufferPointer { envpBuffer in
                        posix_spawn(&pid, program, &actions, &attributes, argvBuffer.baseAddress!, envpBuffer.baseAddress!)
                    }
                }
                return posix_spawn(&pid, program, &actions, &attributes, argvBuffer.baseAddress!, environ)
            }
        }
        guard result == 0 else { throw SpawnFailed(executable: path, errno: result) }
        return pid
    }

    /// Waits for the child's exit on a thread of its own and records it.
    private static func reap(_ pid: pid_t, _ shared: Shared) {
        let thread = Thread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 {
                guard errno == EINTR else {
                    shared.update { $0.termination = (status: -1, signalled: false) }
                    return
                }
            }
            // WIFSIGNALED / WTERMSIG / WEXITSTATUS, which Swift does not import.
            let signal = status & 0x7f
            let termination = signal != 0 && signal != 0x7f ? (status: signal, signalled: true) : (status: (status >> 8) & 0xff, signalled: false)
            shared.update { $0.termination = termination }
        }
        thread.name = "ChildProcess waitpid"
        thread.start()
    }

    /// Called first by the tests' helper processes: ends this process (status 137, as a SIGKILL
    /// would) as soon as the process that started it is gone. A test process that crashes or is
    /// killed leaves no helper behind: an orphaned writer or worker would keep running, holding
    /// CPU, files and locks, and slow down or break the next run of the suite.
    ///
    /// A thread of its own checks the parent's pid five times a second (`getppid()` changes when
    /// the child is reparented). Not `PR_SET_PDEATHSIG`: that fires when the *thread* that spawned
    /// the child ends, and the test process spawns from pool threads that may end while it runs.
    public static func exitWhenOrphaned() {
        let parent = getppid()
        if parent == 1 { _exit(137) }
        let watchdog = Thread {
            while getppid() == parent { usleep(200_000) }
            _exit(137)
        }
        watchdog.name = "orphan watchdog"
        watchdog.start()
    }

    /// Starts `executable arguments…` with no input and its output discarded, and blocks until it
    /// exits. Returns its exit status (-1 if it could not be started or was killed). For short
    /// helper tools (`mount`) in synchronous code.
    public static func runBlocking(_ executable: String, _ arguments: [String]) -> Int32 {
        guard let child = try? ChildProcess(URL(fileURLWithPath: executable), arguments) else { return -1 }
        // Waits on the reaper and drain threads' state, never on a task: a caller on the
        // cooperative pool must not wait for a task that needs the pool to run.
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while !child.shared.state.withLock({ $0.finished }) {
            guard ContinuousClock.now < deadline else {
                child.kill()
                return -1
            }
            usleep(1_000)
        }
        let termination = child.shared.state.withLock { $0.termination }
        guard let termination, !termination.signalled else { return -1 }
        return termination.status
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

    public var pid: Int32 { pidValue }

    /// Whether the child has not exited yet (as far as its termination handler has told).
    public var isRunning: Bool { shared.state.withLock { $0.termination == nil } }

    /// What the child has printed on its standard output so far.
    public var stdoutSoFar: String { shared.state.withLock { String(decoding: $0.stdout, as: UTF8.self) } }

    /// Sends `signal` (by default SIGKILL: no clean-up, no flushing, like a crash) unless the
    /// child has exited already.
    public func kill(_ signal: Int32 = SIGKILL) {
        // Checked under the lock: once the termination handler ran, the pid may be reused.
        shared.state.withLock { state in
            if state.termination == nil { _ = sendSignal(pidValue, signal) }
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
                _ = sendSignal(pidValue, SIGKILL)
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
