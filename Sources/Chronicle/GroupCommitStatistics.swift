import Synchronization

/// What a store's group commit has done since it opened: how many write transactions carried
/// how many append calls. Both backends report it (`SQLiteEventStore.groupCommitStatistics`,
/// `PostgresEventStore.groupCommitStatistics`); `appendCalls / transactions` is the mean batch.
public struct GroupCommitStatistics: Sendable, Hashable {
    /// Write transactions committed or attempted.
    public var transactions: Int = 0
    /// Append calls (``EventWriter/append(_:)``) those transactions carried.
    public var appendCalls: Int = 0
    /// The most append calls carried by one transaction.
    public var largestBatch: Int = 0
    /// Append calls waiting for the next transaction right now.
    public var queuedAppendCalls: Int = 0

    /// Creates statistics.
    public init(transactions: Int = 0, appendCalls: Int = 0, largestBatch: Int = 0, queuedAppendCalls: Int = 0) {
        self.transactions = transactions
        self.appendCalls = appendCalls
        self.largestBatch = largestBatch
        self.queuedAppendCalls = queuedAppendCalls
    }
}

/// Group-commit counters, shared by a store's writer (which records) and the store (which reports).
package final class GroupCommitCounter: Sendable {
    private let state = Mutex(GroupCommitStatistics())

    package init() {}

    /// One append call started waiting for a transaction.
    package func recordQueued() {
        state.withLock { $0.queuedAppendCalls += 1 }
    }

    /// A transaction carried `batchSize` calls; `queued` of them had been counted as waiting.
    package func record(batchSize: Int, queued: Int) {
        state.withLock { statistics in
            statistics.queuedAppendCalls -= queued
            statistics.transactions += 1
            statistics.appendCalls += batchSize
            statistics.largestBatch = max(statistics.largestBatch, batchSize)
        }
    }

    /// The counters now.
    package var snapshot: GroupCommitStatistics { state.withLock { $0 } }
}
