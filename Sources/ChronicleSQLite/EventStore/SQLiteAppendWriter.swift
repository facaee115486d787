import Chronicle
import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization

/// The serial owner of the store's writer connection: one dedicated thread doing group commit.
///
/// Append calls queue here and suspend. The thread takes every queued call (up to
/// ``SQLiteEventStore/Configuration/maximumBatchSize``) into one transaction; calls that arrive
/// while it runs wait for the next one. So N concurrent single-event appends cost about one commit
/// instead of N, and a lone append commits at once (no timer, no waiting).
///
/// A thread rather than an actor on the cooperative pool because SQLite calls block: a commit may
/// `fsync` (``SQLiteEventStore/Durability/full``) and `BEGIN IMMEDIATE` may wait up to the busy
/// timeout for another process. Blocking here never starves the pool.
///
/// Fast path: when the writer is idle (no transaction in flight, nothing queued), the caller
/// commits its own append on its own thread, with the busy timeout switched off for that attempt.
/// It never waits for a lock there: if another process holds the lock, it hands the append to the
/// writer thread, which waits. So a lone appender pays no thread switch at all. As soon as
/// appends queue behind one another, the fast path stands aside until the queue runs dry, so
/// concurrent appenders coalesce into group commits. With ``SQLiteEventStore/Durability/full``
/// the fast path's commit includes its `fsync`, so at most one caller thread at a time blocks on
/// the disk; anything arriving meanwhile queues for the writer thread (measured: single appends
/// with `.full` ran at 72 % of raw SQLite through the writer thread, ~85 % on the fast path).
final class SQLiteAppendWriter: Sendable {
    private struct Pending {
        let appends: [StreamAppend]
        let continuation: CheckedContinuation<[AppendResult], any Error>
    }

    private struct Queue {
        var pending: [Pending] = []
        var isStopping = false
        var hasStopped = false
        /// A transaction is in flight (on the writer thread or on a caller's thread).
        var isWriting = false
        /// Appends have been queuing behind one another: leave them to group commit (the fast
        /// path would commit them one by one). Cleared when the writer thread commits a batch of
        /// one with nothing else queued.
        var isContended = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Guards `queue` (and is the thread's wake-up signal).
    private let condition = NSCondition()
    /// Only touched while holding `condition`. `nonisolated(unsafe)` because NSCondition, not the
    /// compiler, provides the exclusion.
    nonisolated(unsafe) private var queue = Queue()

    private let pool: DatabasePool
    private let path: String
    private let maximumBatchSize: Int
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let notifier: AppendNotifier
    private let statistics: GroupCommitCounter
    private let busyTimeoutMilliseconds: Int

    init(
        pool: DatabasePool, path: String, configuration: SQLiteEventStore.Configuration, notifier: AppendNotifier,
        statistics: GroupCommitCounter
    ) {
        self.pool = pool
        self.path = path
        self.maximumBatchSize = max(1, configuration.maximumBatchSize)
        self.now = configuration.now
        self.logger = configuration.logger
        self.notifier = notifier
        self.statistics = statistics
        self.busyTimeoutMilliseconds = configuration.busyTimeoutMilliseconds
        let thread = Thread { [self] in run() }
        thread.name = "chronicle.sqlite.writer"
        thread.start()
    }

    /// Commits an append call (already validated) and returns its results.
    func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        if let results = try commitOnCallerThread(appends) { return try results.get() }
        return try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            if queue.isStopping {
                condition.unlock()
                continuation.resume(throwing: SQLiteEventStore.closedError(path))
                return
            }
            queue.pending.append(Pending(appends: appends, continuation: continuation))
            queue.isContended = true
            statistics.recordQueued()
            condition.signal()
            condition.unlock()
        }
    }

    /// Refuses new appends and returns once every queued append has finished and the thread ended.
    func stop() async {
        await withCheckedContinuation { continuation in
            condition.lock()
            queue.isStopping = true
            if queue.hasStopped {
                condition.unlock()
                continuation.resume()
                return
            }
            queue.stopWaiters.append(continuation)
            condition.signal()
            condition.unlock()
        }
    }

    /// Asks the thread to end after the queued appends, without waiting (for `deinit`).
    func stopSoon() {
        condition.lock()
        queue.isStopping = true
        condition.signal()
        condition.unlock()
    }

    /// The fast path: commits `appends` on the calling thread if the writer is idle and the write
    /// lock is free right now. Returns `nil` (nothing written) when the writer is busy or another
    /// connection holds the lock; the caller then queues for the writer thread.
    private func commitOnCallerThread(_ appends: [StreamAppend]) throws(EventStoreError) -> Result<[AppendResult], EventStoreError>? {
        condition.lock()
        if queue.isStopping {
            condition.unlock()
            throw SQLiteEventStore.closedError(path)
        }
        guard !queue.isWriting && !queue.isContended && queue.pending.isEmpty else {
            condition.unlock()
            return nil
        }
        queue.isWriting = true
        condition.unlock()
        defer {
            condition.lock()
            queue.isWriting = false
            // Wake the writer thread only if it has something to do (a wake-up costs two
            // context switches per append otherwise).
            if !queue.pending.isEmpty || queue.isStopping { condition.signal() }
            condition.unlock()
        }
        let recordedAt = SQLiteValues.milliseconds(now())
        do {
            let (outcomes, head) = try pool.writeWithoutTransaction { db in
                // Straight to libsqlite3: a PRAGMA statement would cost two statement runs per append.
                sqlite3_busy_timeout(db.sqliteConnection, 0)
                defer { sqlite3_busy_timeout(db.sqliteConnection, Int32(clamping: busyTimeoutMilliseconds)) }
                return try SQLiteAppendTransaction.run([appends], in: db, path: path, recordedAt: recordedAt)
            }
            statistics.record(batchSize: 1, queued: 0)
            if let head { notifier.notify(head: head) }
            return outcomes[0]
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
            return nil  // BEGIN IMMEDIATE found the lock taken: nothing was written
        } catch {
            statistics.record(batchSize: 1, queued: 0)
            let mapped = SQLiteErrorMapping.map(error, path: path, operation: "Append")
            logger.warning("Append failed; nothing written", metadata: ["error": "\(mapped)"])
            return .failure(mapped)
        }
    }

    private func run() {
        condition.lock()
        while true {
            if !queue.pending.isEmpty && !queue.isWriting {
                let count = min(queue.pending.count, maximumBatchSize)
                let batch = Array(queue.pending.prefix(count))
                queue.pending.removeFirst(count)
                queue.isWriting = true
                condition.unlock()
                commit(batch)
                condition.lock()
                queue.isWriting = false
                if batch.count == 1 && queue.pending.isEmpty { queue.isContended = false }
            } else if queue.pending.isEmpty && queue.isStopping && !queue.isWriting {
                queue.hasStopped = true
                let waiters = queue.stopWaiters
                queue.stopWaiters = []
                condition.unlock()
                for waiter in waiters { waiter.resume() }
                return
            } else {
                condition.wait()
            }
        }
    }

    private func commit(_ batch: [Pending]) {
        statistics.record(batchSize: batch.count, queued: batch.count)
        let recordedAt = SQLiteValues.milliseconds(now())
        do {
            let (outcomes, head) = try pool.writeWithoutTransaction { db in
                try SQLiteAppendTransaction.run(batch.map(\.appends), in: db, path: path, recordedAt: recordedAt)
            }
            if let head { notifier.notify(head: head) }
            for (pending, outcome) in zip(batch, outcomes) {
                pending.continuation.resume(with: outcome.mapError { $0 })
            }
        } catch {
            let mapped = SQLiteErrorMapping.map(error, path: path, operation: "Append")
            logger.warning("Group commit of \(batch.count) append call(s) failed; nothing written", metadata: ["error": "\(mapped)"])
            for pending in batch { pending.continuation.resume(throwing: mapped) }
        }
    }
}
