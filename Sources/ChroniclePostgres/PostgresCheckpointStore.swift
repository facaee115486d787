public import Chronicle
import Foundation
public import PostgresNIO

/// Where a consumer of the log (a projection into PostgreSQL tables, a process manager, an
/// outbox) has got to, kept in the store's schema (table `checkpoints`) and moved **in the same
/// transaction** as the consumer's own writes: the effects and the checkpoint commit together,
/// or neither does.
///
/// Moves are fenced: ``advance(_:from:to:effects:)`` names the position it read, and fails with
/// ``PostgresLeaseError/Code/fenced`` (rolling the effects back) if the checkpoint is elsewhere,
/// so a runner that lost its ``PostgresLease`` without noticing yet cannot apply a batch twice.
///
/// ```swift
/// let checkpoints = PostgresCheckpointStore(sharingSchemaOf: store)
/// try await lease.run {
///     var position = try await checkpoints.position(of: "orders-view")
///     while true {
///         let page = try await store.readAll(after: position, limit: 100)
///         guard let last = page.last else { /* wait for store.headUpdates() */ continue }
///         try await checkpoints.advance("orders-view", from: position, to: last.position) { connection in
///             // write the read model with `connection` (same transaction)
///         }
///         position = last.position
///     }
/// }
/// ```
public final class PostgresCheckpointStore: Sendable {
    private let store: PostgresEventStore

    /// Keeps checkpoints in `store`'s schema, through its client. Run `store.migrate()` first.
    public init(sharingSchemaOf store: PostgresEventStore) {
        self.store = store
    }

    /// The consumer's checkpoint: the position of the last event it has fully processed
    /// (``GlobalPosition/start`` if it has none).
    public func position(of consumer: String) async throws -> GlobalPosition {
        do {
            let value = try await store.scalar(store.sql.selectCheckpoint, [consumer]) ?? 0
            guard value >= 0 else {
                throw EventStoreError(.corruptRecord, "The checkpoint of \(consumer) is negative (\(value)).")
            }
            return GlobalPosition(value)
        } catch {
            throw PostgresFailure.map(error, while: "reading the checkpoint of \(consumer)")
        }
    }

    /// Runs `effects` and moves the checkpoint from `expected` to `position` in one transaction.
    ///
    /// - Throws: ``PostgresLeaseError`` with code ``PostgresLeaseError/Code/fenced`` when the stored
    ///   checkpoint is not `expected` (another runner moved it): nothing is committed.
    ///   ``EventStoreError`` with code ``EventStoreError/Code/invalidArgument`` when `position` is
    ///   behind `expected`. Whatever `effects` throws (nothing is committed either).
    public func advance(
        _ consumer: String, from expected: GlobalPosition, to position: GlobalPosition,
        effects: @Sendable (PostgresConnection) async throws -> Void
    ) async throws {
        guard position >= expected else {
            throw EventStoreError(.invalidArgument, "A checkpoint cannot move back, from \(expected) to \(position) (consumer \(consumer)).")
        }
        guard !consumer.isEmpty else {
            throw EventStoreError(.invalidArgument, "A consumer name cannot be empty.")
        }
        let storage = PostgresProjectionStorage(consumer: consumer, store: store) { _, _ in }
        do {
            try await storage.advance(partition: 0, from: expected, to: position, effects: effects)
        } catch let conflict as ProjectionCheckpointConflict {
            let current = conflict.stored.map { "\($0)" } ?? "elsewhere"
            throw PostgresLeaseError(.fenced, "The checkpoint of \(consumer) is at \(current), not \(expected): another runner moved it. Nothing was committed; read the checkpoint again.")
        } catch let failure as ProjectionApplyFailure {
            throw failure.error
        }
    }

    /// Feeds `consumer` the log from its checkpoint, a page at a time, committing each page's
    /// effects together with the checkpoint; once caught up, waits for the store's
    /// ``PostgresEventStore/headUpdates()`` (run a ``PostgresHeadWatcher`` to hear other
    /// processes' appends). Runs until cancelled, or until the checkpoint reaches `stopAt`.
    ///
    /// It is Chronicle's ``ProjectionEngine`` on a ``PostgresProjectionStorage``: the same
    /// catch-up, retries and parking as every projection. Run it inside ``PostgresLease/run(_:)``
    /// so exactly one process follows a consumer; a successor continues from the last committed
    /// page.
    ///
    /// When `apply` throws, the page's events are applied one at a time: those before the failing
    /// one are committed, and the failing one is retried with `failurePolicy`'s backoff, then
    /// parked in table `dead_letters` in the transaction that moves the checkpoint past it
    /// (``FailurePolicy/Exhausted/park``), or its error is thrown with the checkpoint left before
    /// it (``FailurePolicy/Exhausted/stop``; without a policy, at the first failure). Storage
    /// failures are retried, never parked.
    ///
    /// - Parameters:
    ///   - consumer: the checkpoint's name.
    ///   - pageSize: events per page and transaction.
    ///   - failurePolicy: retries, then park or stop, for an event `apply` fails on; `nil` stops at
    ///     the first failure.
    ///   - deadLetters: kept for source compatibility; parked events always go to the store's
    ///     `dead_letters` table (what ``PostgresDeadLetterStore`` reads).
    ///   - stopAt: return once the checkpoint reaches this position (`nil`: follow forever).
    ///   - apply: applies a page of events on the connection whose transaction commits the
    ///     checkpoint.
    /// - Throws: `apply`'s error when it is not retried or parked.
    public func follow(
        _ consumer: String, pageSize: Int = 100, failurePolicy: FailurePolicy? = nil, deadLetters: PostgresDeadLetterStore? = nil,
        stopAt: GlobalPosition? = nil, apply: @escaping @Sendable ([RecordedEvent], PostgresConnection) async throws -> Void
    ) async throws {
        guard pageSize > 0 else {
            throw EventStoreError(.invalidArgument, "A page size of \(pageSize) is not positive.")
        }
        guard !consumer.isEmpty else {
            throw EventStoreError(.invalidArgument, "A consumer name cannot be empty.")
        }
        var policy = failurePolicy ?? FailurePolicy(maxAttempts: 1, then: .stop)
        if deadLetters == nil { policy.whenExhausted = .stop }
        let engine = try ProjectionEngine(
            name: consumer, storage: PostgresProjectionStorage(consumer: consumer, store: store, apply: apply),
            source: .postgres(store), options: .init(pageSize: pageSize, failurePolicy: policy)
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            group.addTask {
                do {
                    try await engine.checkpoint.wait(until: stopAt ?? GlobalPosition(Int64.max))
                } catch let error as ProjectionError where error.code == .failed {
                    throw error.underlying ?? error
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Forgets the consumer's checkpoint (it starts again from the beginning).
    public func reset(_ consumer: String) async throws {
        do {
            try await store.execute(store.sql.deleteCheckpoint, [consumer])
        } catch {
            throw PostgresFailure.map(error, while: "resetting the checkpoint of \(consumer)")
        }
    }
}
