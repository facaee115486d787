public import Chronicle
import Foundation
import GRDB
import Logging
import Synchronization

extension SQLiteEventStore {
    /// The store's head position whenever it moves, whoever appended: this store instance
    /// (announced at once through ``appendNotifier``) or another connection or process (noticed by
    /// polling `PRAGMA data_version` every `pollInterval` on a read-only connection dedicated to
    /// this sequence, which costs no table read while nothing changes).
    ///
    /// `pollInterval` is at least one millisecond. The sequence starts with the current head, only ever yields increasing positions (it keeps
    /// the newest when the consumer is slow), and ends when the consuming task is cancelled or the
    /// store is closed. Projection runners use it to wake up.
    ///
    /// ```swift
    /// for await head in store.headUpdates(pollInterval: .milliseconds(100)) {
    ///     try await runner.catchUp(to: head)
    /// }
    /// ```
    public func headUpdates(pollInterval: Duration = .milliseconds(250)) -> AsyncStream<GlobalPosition> {
        let (stream, continuation) = AsyncStream.makeStream(of: GlobalPosition.self, bufferingPolicy: .bufferingNewest(1))
        guard isOpen else {
            continuation.finish()
            return stream
        }
        let emitter = HeadEmitter(continuation)
        // The head this instance knows now, at once: the sequence starts with it even if the
        // store closes before the tasks below get to run.
        emitter.emit(appendNotifier.head)
        let task = Task { [self] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask { [appendNotifier] in
                    for await head in appendNotifier.updates() { emitter.emit(head) }
                }
                group.addTask { [self] in
                    await pollDataVersion(every: max(pollInterval, .milliseconds(1)), emitter: emitter)
                }
                // Either child ending (store closed, connection lost) or cancellation ends both.
                await group.next()
                group.cancelAll()
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Polls `PRAGMA data_version` on its own read-only connection; reads the head only when it
    /// changed. Returns when cancelled, when the store closes, or when the connection fails.
    private func pollDataVersion(every interval: Duration, emitter: HeadEmitter) async {
        var grdb = GRDB.Configuration()
        grdb.readonly = true
        grdb.busyMode = .timeout(configuration.busyTimeoutSeconds)
        grdb.label = "chronicle.sqlite.head-poller"
        let connection: DatabaseQueue
        do {
            connection = try DatabaseQueue(path: path, configuration: grdb)
        } catch {
            logger.error("Cannot open the head poller's connection; other processes' appends go unnoticed", metadata: ["path": "\(path)", "error": "\(error)"])
            return
        }
        defer { try? connection.close() }
        var lastDataVersion: Int64?
        while !Task.isCancelled && isOpen {
            do {
                let known = lastDataVersion
                let (dataVersion, head) = try await connection.read { db -> (Int64, Int64?) in
                    let dataVersion = try Int64.fetchOne(db, sql: SQLiteStatements.readDataVersion) ?? 0
                    guard dataVersion != known else { return (dataVersion, nil) }
                    return (dataVersion, try Int64.fetchOne(db, sql: SQLiteStatements.headPosition) ?? 0)
                }
                lastDataVersion = dataVersion
                if let head { emitter.emit(GlobalPosition(head)) }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Head poll failed; retrying", metadata: ["path": "\(path)", "error": "\(error)"])
            }
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }
}

/// Yields strictly increasing heads to one ``SQLiteEventStore/headUpdates(pollInterval:)`` sequence,
/// whichever source (notifier or poller) saw them first.
private final class HeadEmitter: Sendable {
    private let last = Mutex<GlobalPosition?>(nil)
    private let continuation: AsyncStream<GlobalPosition>.Continuation

    init(_ continuation: AsyncStream<GlobalPosition>.Continuation) {
        self.continuation = continuation
    }

    func emit(_ head: GlobalPosition) {
        // Yield under the lock so two sources cannot reorder their yields.
        last.withLock { last in
            if let previous = last, head <= previous { return }
            last = head
            continuation.yield(head)
        }
    }
}
