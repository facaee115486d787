import Hummingbird
import Logging
import Synchronization

/// A client that did not read a streamed response for ``ReadAPIConfiguration/writeTimeout``.
struct SlowClientError: Error, CustomStringConvertible {
    let timeout: Duration
    var description: String { "the client did not read the response for \(timeout); dropped" }
}

/// Writes the pieces of a streamed response and lets a watchdog see how long the current piece
/// has been waiting for the client to read.
final class TimedBodyWriter: @unchecked Sendable {
    // Invariant (why @unchecked): `writer` and `writes` are used only by the one task running the
    // body given to `withWriteTimeout` (its writes are sequential), and read back by the caller
    // after that task has ended. The watchdog task touches only `pending`, under its mutex.
    fileprivate var writer: any ResponseBodyWriter
    private var writes = 0
    private let pending = Mutex<(write: Int, deadline: ContinuousClock.Instant)?>(nil)
    private let started: AsyncStream<Void>.Continuation
    private let monitor: ReadAPIMonitor
    let timeout: Duration

    fileprivate init(writer: any ResponseBodyWriter, timeout: Duration, monitor: ReadAPIMonitor, started: AsyncStream<Void>.Continuation) {
        self.writer = writer
        self.timeout = timeout
        self.monitor = monitor
        self.started = started
    }

    /// Writes `buffer`; the watchdog fails the response if this waits longer than the timeout.
    func write(_ buffer: ByteBuffer) async throws {
        writes += 1
        let write = writes
        pending.withLock { $0 = (write, ContinuousClock.now.advanced(by: timeout)) }
        started.yield()
        defer { pending.withLock { $0 = nil } }
        monitor.wrote(buffer.readableBytes)
        try await writer.write(buffer)
    }

    /// Throws ``SlowClientError`` when a write is still pending at its deadline.
    fileprivate func watch(_ starts: AsyncStream<Void>) async throws {
        for await _ in starts {
            while let current = pending.withLock({ $0 }) {
                try await Task.sleep(until: current.deadline, clock: .continuous)
                if pending.withLock({ $0?.write == current.write }) { throw SlowClientError(timeout: timeout) }
            }
        }
    }
}

/// Runs `body`, which writes a response through a ``TimedBodyWriter``, and drops the client
/// (throws ``SlowClientError``, which makes the server close the connection and free what it
/// buffered) when one write waits longer than `timeout` for it to read.
///
/// A write blocks once the socket's buffers and the channel's small high-water mark are full, so
/// a client that reads slowly holds at most one piece beyond the socket for at most `timeout`.
func withWriteTimeout(
    _ timeout: Duration, monitor: ReadAPIMonitor, logger: Logger, writer: inout any ResponseBodyWriter,
    _ body: @escaping @Sendable (TimedBodyWriter) async throws -> Void
) async throws {
    let (starts, startsContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    let timed = TimedBodyWriter(writer: writer, timeout: timeout, monitor: monitor, started: startsContinuation)
    defer { writer = timed.writer }
    do {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await body(timed)
                return true
            }
            group.addTask {
                try await timed.watch(starts)
                return false
            }
            while let bodyEnded = try await group.next() {
                if bodyEnded { break }
            }
            startsContinuation.finish()
            group.cancelAll()
        }
    } catch let error as SlowClientError {
        monitor.droppedSlowClient()
        logger.debug("Dropping a client that does not read its response", metadata: ["timeout": "\(timeout)"])
        throw error
    }
}
