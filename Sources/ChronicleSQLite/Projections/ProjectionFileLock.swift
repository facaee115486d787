import Chronicle
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive advisory lock on a file (`flock(2)`), held through an open descriptor: the kernel
/// releases it when the holder closes it or dies, even by SIGKILL, so a standby can take over.
///
/// Locks are per open descriptor, so two holders in one process exclude each other too. The
/// descriptor is opened close-on-exec, so child processes never inherit the lock.
final class ProjectionFileLock: @unchecked Sendable {
    // Invariant: `descriptor` is only touched under `mutex`.
    private let mutex = NSLock()
    private var descriptor: Int32 = -1
    let path: String

    init(path: String) {
        self.path = path
    }

    deinit {
        if descriptor >= 0 { _ = close(descriptor) }
    }

    /// Takes the lock if it is free; returns whether this holder has it now.
    func tryAcquire() throws -> Bool {
        try acquire(blocking: false)
    }

    /// Takes the lock, waiting for the current holder (use only for locks held briefly).
    func acquireWaiting() throws {
        _ = try acquire(blocking: true)
    }

    private func acquire(blocking: Bool) throws -> Bool {
        mutex.lock()
        defer { mutex.unlock() }
        if descriptor >= 0 { return true }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            throw ProjectionError(.storageFailure, "Cannot open the lock file \(path): \(String(cString: strerror(code))).")
        }
        while true {
            if flock(fd, LOCK_EX | (blocking ? 0 : LOCK_NB)) == 0 {
                descriptor = fd
                return true
            }
            let code = errno
            if code == EINTR { continue }
            _ = close(fd)
            if code == EWOULDBLOCK { return false }
            throw ProjectionError(.storageFailure, "Cannot lock \(path): \(String(cString: strerror(code))).")
        }
    }

    /// Whether this holder has the lock.
    var isHeld: Bool {
        mutex.lock()
        defer { mutex.unlock() }
        return descriptor >= 0
    }

    /// Lets the lock go.
    func release() {
        mutex.lock()
        defer { mutex.unlock() }
        if descriptor >= 0 {
            _ = close(descriptor)
            descriptor = -1
        }
    }

    /// Takes the lock for `engine`'s runner, standing by (state `standby`) while another holder
    /// has it: tries again every `interval`, until it has it or the task is cancelled.
    func acquireStandingBy(
        for engine: ProjectionEngine, interval: Duration, sleep: @Sendable (Duration) async throws -> Void, logger: Logger
    ) async throws {
        var announced = false
        while try !tryAcquire() {
            if !announced {
                logger.info("Another process runs \(engine.name); standing by to take over")
                announced = true
            }
            engine.setStandby(true)
            try await sleep(interval)
        }
        if announced { logger.info("Taking over \(engine.name)") }
    }
}
