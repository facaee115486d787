import Chronicle
import Foundation
import GRDB
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
/// timeout for another process. Blocking here never starves the pool, and each append costs one
/// wake-up of this thread and one resumption of the caller, nothing more.
final class SQLiteAppendWriter: Sendable {
    private struct Pending {
        let appends: [StreamAppend]
        let continuation: CheckedContinuation<[AppendResult], any Error>
    }

    private struct Queue {
        var pending: [Pending] = []
        var isStopping = false
        var hasStopped = false
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
        let thread = Thread { [self] in run() }
        thread.name = "chronicle.sqlite.writer"
        thread.start()
    }

    /// Queues an append call (already validated) and returns its results once committed.
    func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            if queue.isStopping {
                condition.unlock()
                continuation.resume(throwing: SQLiteEventStore.closedError(path))
                return
            }
            queue.pending.append(Pending(appends: appends, continuation: continuation))
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

    private func run() {
        while true {
            condition.lock()
            while queue.pending.isEmpty && !queue.isStopping { condition.wait() }
            if queue.pending.isEmpty {
                queue.hasStopped = true
                let waiters = queue.stopWaiters
                queue.stopWaiters = []
                condition.unlock()
                for waiter in waiters { waiter.resume() }
                return
            }
            let count = min(queue.pending.count, maximumBatchSize)
            let batch = Array(queue.pending.prefix(count))
            queue.pending.removeFirst(count)
            condition.unlock()
            commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) {
        statistics.record(batchSize: batch.count)
        let recordedAt = SQLiteValues.milliseconds(now())
        do {
            let (outcomes, head) = try pool.writeWithoutTransaction { db in
                try SQLiteAppendTransaction.run(batch.map(\.appends), in: db, recordedAt: recordedAt)
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

/// Group-commit counters, shared by the writer (which records) and the store (which reports).
final class GroupCommitCounter: Sendable {
    private let state = Mutex(SQLiteEventStore.GroupCommitStatistics())

    func recordQueued() {
        state.withLock { $0.queuedAppendCalls += 1 }
    }

    func record(batchSize: Int) {
        state.withLock { statistics in
            statistics.queuedAppendCalls -= batchSize
            statistics.transactions += 1
            statistics.appendCalls += batchSize
            statistics.largestBatch = max(statistics.largestBatch, batchSize)
        }
    }

    var snapshot: SQLiteEventStore.GroupCommitStatistics { state.withLock { $0 } }
}
