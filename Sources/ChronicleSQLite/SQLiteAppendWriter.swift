import Chronicle
import Foundation
import GRDB
import Logging
import Synchronization

/// The serial owner of the store's writer connection, doing group commit.
///
/// Append calls queue here. When no transaction is in flight, the writer takes every queued call
/// (up to ``SQLiteEventStore/Configuration/maximumBatchSize``) into one transaction; calls that
/// arrive meanwhile wait for the next one. So N concurrent single-event appends cost about one
/// commit instead of N, and a lone append still commits at once (no timer, no waiting).
actor SQLiteAppendWriter {
    private struct Pending {
        let appends: [StreamAppend]
        let continuation: CheckedContinuation<[AppendResult], any Error>
    }

    private let pool: DatabasePool
    private let path: String
    private let maximumBatchSize: Int
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let notifier: AppendNotifier
    private let statistics: GroupCommitCounter
    private var pending: [Pending] = []
    private var isDraining = false
    private var isClosed = false
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []

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
    }

    /// Queues an append call (already validated) and returns its results once committed.
    func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        if isClosed { throw SQLiteEventStore.closedError(path) }
        return try await withCheckedThrowingContinuation { continuation in
            pending.append(Pending(appends: appends, continuation: continuation))
            statistics.recordQueued()
            if !isDraining {
                isDraining = true
                Task { await self.drain() }
            }
        }
    }

    /// Refuses new appends and returns when every queued append has finished.
    func close() async {
        isClosed = true
        if !isDraining { return }
        await withCheckedContinuation { drainWaiters.append($0) }
    }

    private func drain() async {
        while !pending.isEmpty {
            let count = min(pending.count, maximumBatchSize)
            let batch = Array(pending.prefix(count))
            pending.removeFirst(count)
            await commit(batch)
        }
        isDraining = false
        let waiters = drainWaiters
        drainWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    private func commit(_ batch: [Pending]) async {
        let calls = batch.map(\.appends)
        let recordedAt = SQLiteValues.milliseconds(now())
        statistics.record(batchSize: batch.count)
        do {
            let (outcomes, head) = try await pool.writeWithoutTransaction { db in
                try SQLiteAppendTransaction.run(calls, in: db, recordedAt: recordedAt)
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
