public import Chronicle
public import GRDB

/// A projector whose read model is SQLite tables: the user extension point of the asynchronous
/// (query) side.
///
/// A ``SQLiteReadModel`` runs it: it reads the log in pages from the projection's checkpoint and
/// calls ``apply(_:in:)`` for each event inside one write transaction per page, which also
/// stores the new checkpoint. Either the page's writes and the checkpoint are committed, or
/// neither is, so a crash never applies an event twice.
///
/// ```swift
/// struct OrderTotals: SQLiteProjector {
///     let name = "order-totals"
///
///     func registerMigrations(in migrator: inout DatabaseMigrator) {
///         migrator.registerMigration("v1") { db in
///             try db.execute(sql: "CREATE TABLE order_total (stream TEXT PRIMARY KEY, count INTEGER NOT NULL)")
///         }
///     }
///
///     func apply(_ event: RecordedEvent, in db: Database) throws {
///         guard event.type == "OrderPlaced" else { return }
///         try db.execute(
///             sql: "INSERT INTO order_total (stream, count) VALUES (?, 1) ON CONFLICT(stream) DO UPDATE SET count = count + 1",
///             arguments: [event.streamID.rawValue])
///     }
/// }
/// ```
///
/// Rules for `apply`: write only through `db` (no other I/O), be deterministic (a rebuild replays
/// every event into fresh tables and must reach the same result), and throw to report an event
/// that cannot be applied; the runner rolls back that event's writes and follows the
/// projection's ``FailurePolicy``. Table names starting with `chronicle_` are reserved.
public protocol SQLiteProjector: Sendable {
    /// The projection's unique name. It names its files: 1–100 of `A–Z a–z 0–9 _ - .`, not
    /// starting with `.`.
    var name: String { get }

    /// Registers the migrations that create and evolve the read model's tables. They run on
    /// every start (only the new ones apply) and on each fresh file a rebuild creates.
    func registerMigrations(in migrator: inout DatabaseMigrator)

    /// Applies one event to the read model. Throw if it cannot be applied.
    func apply(_ event: RecordedEvent, in db: Database) throws
}
