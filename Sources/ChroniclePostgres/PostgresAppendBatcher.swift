import Chronicle
import Foundation
import Synchronization

/// How a ``PostgresEventStore`` lets concurrent appends share one round trip and one commit
/// (group commit).
///
/// Only appends that can take the one-round-trip path batch (every request expects an exact
/// version or `.noStream`, names its stream once, has no condition). While
/// ``concurrentBatches`` such calls are in flight, the next ones queue; when a batch returns,
/// every queued call that touches other streams and other event ids than the calls taken before it
/// goes into the next one statement, up to ``maximumCallsPerBatch`` calls and
/// ``maximumEventsPerBatch`` events. A lone appender never waits: with a free slot, a call runs at
/// once on its own. Each call stays atomic (a batch commits all or nothing) and its events stay
/// contiguous in the log. If the server declines a batch (one call's stream moved, an event id is
/// stored already) or it fails in any other way, every call in it runs again on its own, so each
/// gets exactly the answer it would have had without batching.
public struct PostgresAppendBatching: Sendable, Hashable {
    /// How many one-round-trip statements may be in flight at once; calls beyond them queue and
    /// batch. Default 2: one statement on the wire while the next one is being planned.
    public var concurrentBatches: Int
    /// The most append calls one statement carries. 1 turns batching off. Default 64.
    public var maximumCallsPerBatch: Int
    /// The most events one statement carries (a call with more runs on its own). Default 4,096.
    public var maximumEventsPerBatch: Int

    /// Creates batching settings.
    ///
    /// - Parameters:
    ///   - concurrentBatches: statements in flight at once (at least 1).
    ///   - maximumCallsPerBatch: calls per statement (at least 1; 1 = no batching).
    ///   - maximumEventsPerBatch: events per statement (at least 1).
    public init(concurrentBatches: Int = 2, maximumCallsPerBatch: Int = 64, maximumEventsPerBatch: Int = 4096) {
        self.concurrentBatches = max(1, concurrentBatches)
        self.maximumCallsPerBatch = max(1, maximumCallsPerBatch)
        self.maximumEventsPerBatch = max(1, maximumEventsPerBatch)
    }

    /// No batching: every call runs its own statement at once, as many in flight as the pool allows.
    public static let off = PostgresAppendBatching(concurrentBatches: .max, maximumCallsPerBatch: 1)
}

/// The queue behind ``PostgresAppendBatching``: decides which calls share a statement and which
/// call runs it. No task of its own: the first waiting call of a batch is woken to run it.
final class PostgresAppendBatcher: Sendable {
    /// One append call waiting for, or taken into, a batch.
    final class Call: Sendable {
        let appends: [StreamAppend]
        /// The version each request expects its stream at (worked out once, by the caller); its
        /// keys are the call's streams, each once.
        let assumed: [StreamID: StreamVersion]
        let eventIDs: Set<UUID>
        let eventCount: Int
        /// Set under the batcher's lock when the call queues, before anyone can take it.
        let continuation = Mutex<CheckedContinuation<Outcome, Never>?>(nil)

        init(_ appends: [StreamAppend], assumed: [StreamID: StreamVersion]) {
            self.appends = appends
            self.assumed = assumed
            self.eventIDs = Set(appends.flatMap { $0.events.map(\.id) })
            self.eventCount = appends.reduce(0) { $0 + $1.events.count }
        }

        func resume(_ outcome: Outcome) {
            continuation.withLock { $0 }?.resume(returning: outcome)
        }
    }

    /// What a queued call is told when it wakes.
    enum Outcome: Sendable {
        /// A slot freed while the call was queuing: run it on its own, in that slot.
        case runNow
        /// Run this batch (it starts with the woken call) in the slot the last one freed.
        case lead([Call])
        /// The batch committed: these are the call's results.
        case done([AppendResult])
        /// The batch did not commit: run the call on its own (outside the slots).
        case alone
    }

    private struct State {
        var running = 0
        var queue: [Call] = []
    }

    private let settings: PostgresAppendBatching
    private let state = Mutex(State())
    /// Statements and the calls they carried (a call run alone, also after its batch did not
    /// commit, counts as a statement of one).
    let counter = GroupCommitCounter()

    init(_ settings: PostgresAppendBatching) {
        self.settings = settings
    }

    /// Runs a call alone or in a batch and returns its results, or `nil` where `runAlone` does.
    ///
    /// - Parameters:
    ///   - appends: the call.
    ///   - assumed: the version each of its requests expects its stream at (one per stream).
    ///   - runBatch: writes two or more calls in one statement and returns each call's results,
    ///     or `nil` if the statement did not commit (nothing written).
    ///   - runAlone: runs one call on its own.
    func append(
        _ appends: [StreamAppend],
        assumed: [StreamID: StreamVersion],
        runBatch: @Sendable ([Call]) async -> [[AppendResult]]?,
        runAlone: @Sendable ([StreamAppend], [StreamID: StreamVersion]) async throws -> [AppendResult]?
    ) async throws -> [AppendResult]? {
        let startsNow = state.withLock { state -> Bool in
            guard state.running < settings.concurrentBatches, state.queue.isEmpty else { return false }
            state.running += 1
            return true
        }
        if startsNow {
            defer { finishStatement() }
            counter.record(batchSize: 1, queued: 0)
            return try await runAlone(appends, assumed)
        }
        // Only a call that may wait builds the sets a batch is composed by.
        let call = Call(appends, assumed: assumed)
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            let runsNow = state.withLock { state -> Bool in
                if state.running < settings.concurrentBatches && state.queue.isEmpty {
                    state.running += 1
                    return true
                }
                call.continuation.withLock { $0 = continuation }
                state.queue.append(call)
                counter.recordQueued()
                return false
            }
            if runsNow { continuation.resume(returning: .runNow) }
        }
        switch outcome {
        case .done(let results):
            return results
        case .alone:
            counter.record(batchSize: 1, queued: 0)
            return try await runAlone(appends, assumed)
        case .runNow:
            defer { finishStatement() }
            counter.record(batchSize: 1, queued: 0)
            return try await runAlone(appends, assumed)
        case .lead(let batch) where batch.count == 1:
            defer { finishStatement() }
            counter.record(batchSize: 1, queued: 1)
            return try await runAlone(appends, assumed)
        case .lead(let batch):
            let results = await runBatch(batch)
            counter.record(batchSize: batch.count, queued: batch.count)
            finishStatement()
            for (index, member) in batch.enumerated() where member !== call {
                member.resume(results.map { .done($0[index]) } ?? .alone)
            }
            if let results, let index = batch.firstIndex(where: { $0 === call }) { return results[index] }
            counter.record(batchSize: 1, queued: 0)
            return try await runAlone(appends, assumed)
        }
    }

    /// A statement returned: hand its slot to the next batch from the queue (waking its first
    /// call to run it), or free the slot.
    private func finishStatement() {
        let next = state.withLock { state -> [Call]? in
            guard !state.queue.isEmpty else {
                state.running -= 1
                return nil
            }
            return takeBatch(from: &state.queue)
        }
        if let next, let leader = next.first { leader.resume(.lead(next)) }
    }

    /// Takes the oldest queued call and every later one that touches none of the streams and
    /// event ids taken so far, within the limits; the others keep their places.
    private func takeBatch(from queue: inout [Call]) -> [Call] {
        var batch: [Call] = []
        var streams: Set<StreamID> = []
        var ids: Set<UUID> = []
        var events = 0
        var kept: [Call] = []
        for call in queue {
            let fits = batch.isEmpty
                || (batch.count < settings.maximumCallsPerBatch
                    && events + call.eventCount <= settings.maximumEventsPerBatch
                    && streams.isDisjoint(with: call.assumed.keys)
                    && ids.isDisjoint(with: call.eventIDs))
            if fits {
                batch.append(call)
                streams.formUnion(call.assumed.keys)
                ids.formUnion(call.eventIDs)
                events += call.eventCount
            } else {
                kept.append(call)
            }
        }
        queue = kept
        return batch
    }
}
