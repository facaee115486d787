// The read model of the projections, read-your-writes and operations docs, verbatim: change both
// together. Excluded from the target (Package.swift) until the projections branch is on main; the
// docs mark these blocks `<!-- snippet: awaiting projections -->`.
import Chronicle
import ChronicleSQLite
import GRDB
import Logging
import ServiceLifecycle

/// One row per order: its customer, total and status.
struct OrderSummaries: SQLiteProjector {
    let name = "order-summaries"
    private let codec = JSONEventCodec<OrderEvent>().skippingUnknownTypes()

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE order_summary (
                    id TEXT NOT NULL PRIMARY KEY,
                    customer TEXT NOT NULL,
                    total INTEGER NOT NULL,
                    status TEXT NOT NULL
                )
                """)
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        guard event.category == Order.category, let id = event.streamID.idWithinCategory else { return }
        for orderEvent in try codec.decode(event) {
            switch orderEvent {
            case .placed(let placed):
                try db.execute(
                    sql: "INSERT INTO order_summary (id, customer, total, status) VALUES (?, ?, ?, 'placed')",
                    arguments: [id, placed.customer, placed.total])
            case .confirmed:
                try db.execute(sql: "UPDATE order_summary SET status = 'confirmed' WHERE id = ?", arguments: [id])
            case .cancelled:
                try db.execute(sql: "UPDATE order_summary SET status = 'cancelled' WHERE id = ?", arguments: [id])
            }
        }
    }
}

/// Opens the read model in `directory` (its own SQLite file, apart from the event store's).
func openSummaries(of store: SQLiteEventStore, in directory: String, logger: Logger) throws -> SQLiteReadModel {
    try SQLiteReadModel(
        OrderSummaries(), directory: directory,
        source: .observing(store),   // in-process appends wake the runner at once
        options: .init(pageSize: 500, failurePolicy: FailurePolicy(maxAttempts: 3, then: .park)),
        logger: logger
    )
}

/// Runs the read models with the application's other services until SIGTERM.
func runProjections(_ readModels: [SQLiteReadModel], logger: Logger) async throws {
    let projections = try ProjectionGroup(readModels)
    let services = ServiceGroup(services: [projections], gracefulShutdownSignals: [.sigterm], logger: logger)
    try await services.run()
}

/// Places an order, then reads it back from the read model: read-your-writes.
func placeAndReadBack(orders: AggregateRepository<Order>, summaries: SQLiteReadModel) async throws -> String? {
    let result = try await orders.execute(.place(customer: "ada", total: 30), on: "7")
    // The command has answered; the read model catches up asynchronously. Wait for its position.
    try await summaries.waitUntil(position: result.position, timeout: .seconds(5))
    return try await summaries.read { db in
        try String.fetchOne(db, sql: "SELECT status FROM order_summary WHERE id = ?", arguments: ["7"])
    }
}

/// Lists what a read model is doing, and deals with its parked events.
func inspect(_ summaries: SQLiteReadModel) async throws {
    let status = await summaries.status()
    print(status.state, status.position, status.head, status.lag, status.parkedCount)
    for parked in try await summaries.parkedEvents(after: .start, limit: 100) {
        print(parked.position, parked.streamID, parked.eventType, parked.attempts, parked.error)
    }
    let stillParked = try await summaries.retryAllParked()   // after fixing the projector
    for position in stillParked {
        try await summaries.dropParked(at: position)         // or give up on them for good
    }
}

/// A source that also notices other processes' appends, by polling `PRAGMA data_version`.
func crossProcessSource(_ store: SQLiteEventStore) -> ProjectionSource {
    ProjectionSource(reader: store) { store.headUpdates(pollInterval: .milliseconds(250)) }
}

/// Rebuilds a read model from position 0 beside the one serving queries, then swaps it in.
func rebuild(_ summaries: SQLiteReadModel) async throws {
    let progress = try await summaries.rebuild()
    print("rebuilt \(progress.eventsDone) events at \(Int(progress.eventsPerSecond)) events/s")
}
