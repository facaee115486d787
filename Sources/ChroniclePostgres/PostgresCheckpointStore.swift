import Chronicle
import Foundation
import PostgresNIO

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
        do {
            try await store.inTransaction { connection in
                let current = try await self.store.scalar(self.store.sql.lockCheckpoint, [consumer], on: connection) ?? 0
                guard current == expected.value else {
                    throw PostgresLeaseError(.fenced, "The checkpoint of \(consumer) is at \(current), not \(expected): another runner moved it. Nothing was committed; read the checkpoint again.")
                }
                do {
                    try await effects(connection)
                } catch {
                    throw EffectsFailed(error: error)
                }
                try await self.store.execute(self.store.sql.updateCheckpoint, [consumer, position.value], on: connection)
                return .commit(())
            }
        } catch let error as PostgresLeaseError {
            throw error
        } catch let failed as EffectsFailed {
            throw failed.error
        } catch {
            throw PostgresFailure.map(error, while: "advancing the checkpoint of \(consumer) to \(position)")
        }
    }

    /// Feeds `consumer` the log from its checkpoint, a page at a time, committing each page's
    /// effects together with the checkpoint; once caught up, waits for the store's
    /// ``PostgresEventStore/headUpdates()`` (run a ``PostgresHeadWatcher`` to hear other
    /// processes' appends). Runs until cancelled, or until the checkpoint reaches `stopAt`.
    ///
    /// Run it inside ``PostgresLease/run(_:)`` so exactly one process follows a consumer; a
    /// successor continues from the last committed page.
    ///
    /// When `apply` throws and a `failurePolicy` is given, the page is replayed one event at a
    /// time; a failing event is retried with the policy's backoff, then either parked in
    /// `deadLetters` in the same transaction that moves the checkpoint past it
    /// (``FailurePolicy/Exhausted/park``), or its error is thrown with the checkpoint left before
    /// it (``FailurePolicy/Exhausted/stop``, or no dead-letter store). Storage failures are never
    /// parked: they are thrown.
    ///
    /// - Throws: ``PostgresLeaseError`` with code ``PostgresLeaseError/Code/fenced`` if another
    ///   runner moved the checkpoint; `apply`'s error when it is not retried or parked.
    public func follow(
        _ consumer: String, pageSize: Int = 100, failurePolicy: FailurePolicy? = nil, deadLetters: PostgresDeadLetterStore? = nil,
        stopAt: GlobalPosition? = nil, apply: @escaping @Sendable ([RecordedEvent], PostgresConnection) async throws -> Void
    ) async throws {
        guard pageSize > 0 else {
            throw EventStoreError(.invalidArgument, "A page size of \(pageSize) is not positive.")
        }
        let wrapped: @Sendable ([RecordedEvent], PostgresConnection) async throws -> Void = { events, connection in
            do { try await apply(events, connection) } catch { throw ApplyFailure(error: error) }
        }
        var position = try await self.position(of: consumer)
        var heads = store.headUpdates().makeAsyncIterator()
        while !Task.isCancelled {
            if let stopAt, position >= stopAt { return }
            let page = try await store.readAll(after: position, limit: pageSize)
            if let last = page.last {
                do {
                    try await advance(consumer, from: position, to: last.position) { connection in try await wrapped(page, connection) }
                    position = last.position
                } catch let failure as ApplyFailure {
                    guard let failurePolicy else { throw failure.error }
                    for event in page {
                        position = try await applyOne(event, consumer: consumer, from: position, policy: failurePolicy, deadLetters: deadLetters, apply: wrapped)
                    }
                }
                continue
            }
            // Caught up: sleep until a head beyond the checkpoint is announced.
            while true {
                guard let head = await heads.next() else { return }
                if head > position { break }
            }
        }
    }

    /// Applies one event under `policy`; returns the new checkpoint (the event's position).
    private func applyOne(
        _ event: RecordedEvent, consumer: String, from position: GlobalPosition, policy: FailurePolicy, deadLetters: PostgresDeadLetterStore?,
        apply: @escaping @Sendable ([RecordedEvent], PostgresConnection) async throws -> Void
    ) async throws -> GlobalPosition {
        var attempt = 1
        while true {
            do {
                try await advance(consumer, from: position, to: event.position) { connection in try await apply([event], connection) }
                return event.position
            } catch let failure as ApplyFailure {
                if attempt >= policy.maxAttempts {
                    guard policy.whenExhausted == .park, let deadLetters else { throw failure.error }
                    let attempts = attempt
                    try await advance(consumer, from: position, to: event.position) { connection in
                        try await deadLetters.park(event, consumer: consumer, error: failure.error, attempts: attempts, on: connection)
                    }
                    return event.position
                }
                try await Task.sleep(for: policy.delay(afterAttempt: attempt))
                attempt += 1
            }
        }
    }

    /// Marks an error thrown by the consumer's `apply` (retried or parked), as opposed to a
    /// storage failure (thrown).
    private struct ApplyFailure: Error {
        let error: any Error
    }

    /// Carries the consumer's own error out of the transaction unchanged.
    private struct EffectsFailed: Error {
        let error: any Error
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
