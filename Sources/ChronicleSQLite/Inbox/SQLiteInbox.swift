public import Chronicle
public import Foundation
public import GRDB

/// An ``Inbox`` in a SQLite database of the receiving service: each incoming event's id is
/// inserted into table `chronicle_inbox` in the same write transaction as the handler's writes,
/// so an event is applied exactly once however often it arrives, and a crash leaves either both
/// or neither.
///
/// The handler writes the receiver's own tables through the transaction's `Database`; it must
/// not start tasks or call out (a throw rolls back both the effect and the id, and the sender
/// retries).
///
/// ```swift
/// let database = try DatabaseQueue(path: dir + "/shipping.sqlite")
/// let inbox = try SQLiteInbox(database: database) { event, db in
///     guard event.type == "OrderPlaced" else { return }
///     try db.execute(sql: "INSERT INTO shipment (order_id) VALUES (?)", arguments: [event.streamID.idWithinCategory])
/// }
/// ```
public final class SQLiteInbox: Inbox {
    /// Applies one incoming event inside the inbox's write transaction.
    public typealias Handler = @Sendable (_ event: RecordedEvent, _ db: Database) throws -> Void

    /// The database holding the inbox table and the receiver's tables.
    public let database: any DatabaseWriter
    private let handler: Handler
    private let now: @Sendable () -> Date

    /// Creates the inbox on `database`, creating table `chronicle_inbox` if it is missing.
    ///
    /// - Parameters:
    ///   - database: the receiver's database (its own tables live there too, so the handler's
    ///     writes and the recorded id commit together).
    ///   - now: the clock stamping received events.
    ///   - handler: applies one event through the transaction's `Database`.
    /// - Throws: GRDB's `DatabaseError` if the table cannot be created.
    public init(database: any DatabaseWriter, now: @escaping @Sendable () -> Date = { Date() }, handler: @escaping Handler) throws {
        self.database = database
        self.handler = handler
        self.now = now
        try database.write { db in try db.execute(sql: Self.createTable) }
    }

    /// Applies `event` and records its id in one transaction, unless its id is recorded already.
    ///
    /// - Parameters:
    ///   - event: the incoming event.
    ///   - source: who sent it, recorded with the id.
    /// - Returns: whether it was applied now or had been before.
    /// - Throws: what the handler threw (nothing committed), or GRDB's `DatabaseError`.
    public func receive(_ event: RecordedEvent, from source: String) async throws -> InboxOutcome {
        let handler = self.handler
        let receivedAt = now().timeIntervalSince1970
        return try await database.write { db in
            try db.execute(
                sql: Self.insert,
                arguments: [event.id.uuidString.lowercased(), source, event.streamID.rawValue, event.streamVersion.value, event.position.value, event.type, receivedAt]
            )
            guard db.changesCount == 1 else { return .duplicate }
            try handler(event, db)
            return .applied
        }
    }

    /// Whether the event with `id` has been applied.
    ///
    /// - Parameter id: the event's id.
    /// - Throws: GRDB's `DatabaseError`.
    public func contains(_ id: UUID) async throws -> Bool {
        try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM chronicle_inbox WHERE event_id = ?)", arguments: [id.uuidString.lowercased()]) ?? false
        }
    }

    /// How many events have been applied.
    ///
    /// - Throws: GRDB's `DatabaseError`.
    public func count() async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM chronicle_inbox") ?? 0 }
    }

    static let createTable = """
        CREATE TABLE IF NOT EXISTS chronicle_inbox (
            event_id TEXT NOT NULL CONSTRAINT chronicle_inbox_pk PRIMARY KEY,
            source TEXT NOT NULL,
            stream TEXT NOT NULL,
            stream_version INTEGER NOT NULL,
            position INTEGER NOT NULL,
            type TEXT NOT NULL,
            received_at REAL NOT NULL
        )
        """

    static let insert = """
        INSERT INTO chronicle_inbox (event_id, source, stream, stream_version, position, type, received_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING
        """
}
