public import Chronicle
public import Foundation
public import PostgresNIO
import Synchronization

/// An ``Chronicle/Inbox`` in the receiving service's PostgreSQL schema: each incoming event's id
/// is inserted into table `inbox` in the same transaction as the handler's writes, so an event
/// is applied exactly once however often it arrives, and a crash (or a lost connection) leaves
/// either both or neither.
///
/// The handler writes the receiver's own tables through the transaction's connection; it must
/// not use another connection for those writes (they would commit apart from the id), and a
/// throw rolls back both the effect and the id, so the sender retries. Two deliveries of one
/// event racing on two connections serialise on the id's row: the second waits for the first
/// transaction and then finds the id recorded (or, if the first rolled back, applies it).
///
/// ```swift
/// let inbox = PostgresInbox(sharingSchemaOf: store) { event, connection in
///     guard event.type == "OrderPlaced" else { return }
///     try await connection.statement("INSERT INTO shipments (order_id) VALUES (\(event.streamID.idWithinCategory))", logger: connection.logger)
/// }
/// ```
public final class PostgresInbox: Inbox {
    /// Applies one incoming event inside the inbox's transaction, on its connection.
    public typealias Handler = @Sendable (_ event: RecordedEvent, _ connection: PostgresConnection) async throws -> Void

    private let store: PostgresEventStore
    private let handler: Handler
    private let now: @Sendable () -> Date

    /// Keeps the inbox in `store`'s schema (table `inbox`, created by `store.migrate()`, which
    /// must have run), on `store`'s client.
    ///
    /// - Parameters:
    ///   - store: the receiving service's store; its schema holds the inbox table.
    ///   - now: the clock stamping received events.
    ///   - handler: applies one event on the transaction's connection.
    public init(sharingSchemaOf store: PostgresEventStore, now: @escaping @Sendable () -> Date = { Date() }, handler: @escaping Handler) {
        self.store = store
        self.handler = handler
        self.now = now
    }

    /// Applies `event` and records its id in one transaction, unless its id is recorded already.
    ///
    /// - Parameters:
    ///   - event: the incoming event.
    ///   - source: who sent it, recorded with the id.
    /// - Returns: whether it was applied now or had been before.
    /// - Throws: what the handler threw, unchanged (nothing committed), or an
    ///   ``Chronicle/EventStoreError`` when the database fails (say, the connection is lost:
    ///   then nothing was committed either, or the commit's outcome is unknown and a redelivery
    ///   finds the id if it was).
    public func receive(_ event: RecordedEvent, from source: String) async throws -> InboxOutcome {
        let (store, handler, receivedAt) = (self.store, self.handler, now())
        // The handler's own error is rethrown as it is; only the inbox's statements are mapped.
        let failure = HandlerFailure()
        do {
            return try await store.inTransaction { connection in
                let inserted = try await store.scalar(store.sql.insertInboxEntry, [
                    event.id, source, event.streamID.rawValue, event.streamVersion.value, event.position.value, event.type, receivedAt,
                ], on: connection)
                guard inserted != nil else { return .rollback(InboxOutcome.duplicate) }
                do {
                    try await handler(event, connection)
                } catch {
                    failure.error.withLock { $0 = error }
                    throw error
                }
                return .commit(InboxOutcome.applied)
            }
        } catch {
            if let handlerError = failure.error.withLock({ $0 }) { throw handlerError }
            throw PostgresFailure.map(error, while: "receiving event \(event.id) from \(source)")
        }
    }

    /// Whether the event with `id` has been applied.
    ///
    /// - Parameter id: the event's id.
    /// - Throws: ``Chronicle/EventStoreError`` when the database fails.
    public func contains(_ id: UUID) async throws -> Bool {
        do {
            return try await store.scalar(store.sql.inboxContains, [id]) ?? 0 > 0
        } catch {
            throw PostgresFailure.map(error, while: "looking up event \(id) in the inbox")
        }
    }

    /// How many events have been applied.
    ///
    /// - Throws: ``Chronicle/EventStoreError`` when the database fails.
    public func count() async throws -> Int {
        do {
            return Int(try await store.scalar(store.sql.countInbox, []) ?? 0)
        } catch {
            throw PostgresFailure.map(error, while: "counting the inbox")
        }
    }
}

/// Where ``PostgresInbox/receive(_:from:)`` notes its handler's error, to tell it apart from the
/// database's.
private final class HandlerFailure: Sendable {
    let error = Mutex<(any Error)?>(nil)
}
