public import Chronicle
public import Foundation
public import PostgresNIO

/// Events a consumer of the log gave up on (after its ``FailurePolicy`` was exhausted), kept in
/// the store's schema (table `dead_letters`) so they can be listed, retried and dropped.
///
/// ``PostgresCheckpointStore/follow(_:pageSize:failurePolicy:deadLetters:stopAt:apply:)`` parks an
/// event **in the same transaction** that moves the checkpoint past it, so an event is either
/// applied, parked, or still ahead of the checkpoint: never lost.
///
/// ```swift
/// let parked = try await deadLetters.parkedEvents(of: "orders-view")
/// try await deadLetters.retry("orders-view", at: parked[0].position) { event, connection in … }
/// try await deadLetters.drop("orders-view", at: parked[1].position)
/// ```
public final class PostgresDeadLetterStore: Sendable {
    private let store: PostgresEventStore
    private let now: @Sendable () -> Date

    /// Keeps dead letters in `store`'s schema, through its client. Run `store.migrate()` first.
    /// `now` stamps parked events.
    public init(sharingSchemaOf store: PostgresEventStore, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.now = now
    }

    /// Parks `event` for `consumer` on `connection` (inside the caller's transaction).
    func park(_ event: RecordedEvent, consumer: String, error: any Error, attempts: Int, on connection: PostgresConnection) async throws {
        try await store.execute(store.sql.parkEvent, [
            consumer, event.position.value, event.id, event.streamID.rawValue, event.type, "\(error)", Int32(clamping: attempts), now(),
        ], on: connection)
    }

    /// The consumer's parked events after `position`, in log order.
    public func parkedEvents(of consumer: String, after position: GlobalPosition = .start, limit: Int = 100) async throws -> [ParkedEvent] {
        try ReadLimit.check(limit)
        do {
            return try await store.withRows(store.sql.listParked, [consumer, position.value, Int64(limit)]) { rows in
                var result: [ParkedEvent] = []
                for try await (position, id, stream, type, error, attempts, parkedAt) in rows.decode((Int64, UUID, String, String, String, Int32, Date).self) {
                    guard position > 0, let streamID = try? StreamID(stream) else {
                        throw EventStoreError(.corruptRecord, "A dead letter of \(consumer) at position \(position) cannot be read back.")
                    }
                    result.append(ParkedEvent(
                        position: GlobalPosition(position), eventID: id, streamID: streamID, eventType: type,
                        partition: 0, error: error, attempts: Int(attempts), parkedAt: parkedAt
                    ))
                }
                return result
            }
        } catch {
            throw PostgresFailure.map(error, while: "listing the parked events of \(consumer)")
        }
    }

    /// Applies a parked event again; on success it leaves the dead-letter table in the same
    /// transaction. On failure nothing changes (it stays parked) and the error is rethrown.
    ///
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/invalidArgument`` when no
    ///   event is parked at `position`; whatever `apply` throws.
    public func retry(
        _ consumer: String, at position: GlobalPosition,
        apply: @Sendable (RecordedEvent, PostgresConnection) async throws -> Void
    ) async throws {
        guard position > .start, let event = try await store.readAll(after: GlobalPosition(position.value - 1), limit: 1).first, event.position == position else {
            throw EventStoreError(.invalidArgument, "No event at position \(position) to retry for \(consumer).", position: position)
        }
        struct ApplyFailed: Error { let error: any Error }
        do {
            try await store.inTransaction { connection in
                guard try await self.store.scalar(self.store.sql.unparkEvent, [consumer, position.value], on: connection) != nil else {
                    throw EventStoreError(.invalidArgument, "No event is parked at position \(position) for \(consumer).", position: position)
                }
                do { try await apply(event, connection) } catch { throw ApplyFailed(error: error) }
                return .commit(())
            }
        } catch let failed as ApplyFailed {
            throw failed.error
        } catch {
            throw PostgresFailure.map(error, while: "retrying the parked event at \(position) for \(consumer)")
        }
    }

    /// Forgets a parked event (it will not be applied).
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/invalidArgument`` when no
    ///   event is parked at `position`.
    public func drop(_ consumer: String, at position: GlobalPosition) async throws {
        let removed: Int64?
        do {
            removed = try await store.scalar(store.sql.unparkEvent, [consumer, position.value])
        } catch {
            throw PostgresFailure.map(error, while: "dropping the parked event at \(position) for \(consumer)")
        }
        if removed == nil {
            throw EventStoreError(.invalidArgument, "No event is parked at position \(position) for \(consumer).", position: position)
        }
    }
}
