// The read model of the projections, read-your-writes and operations docs, verbatim: change both
// together.
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
        source: .sqlite(store),   // in-process appends at once; other processes' by polling
        options: .init(pageSize: 500, failurePolicy: FailurePolicy(maxAttempts: 3, then: .park)),
        logger: logger
    )
}

/// Runs the read models and the process managers until SIGTERM, then shuts them down gracefully.
func runAsynchronousSide(_ readModels: [SQLiteReadModel], _ processes: [SQLiteProcessManager], logger: Logger) async throws {
    let projections = try SQLiteProjectionGroup(readModels)
    let services = ServiceGroup(services: [projections] + processes, gracefulShutdownSignals: [.sigterm], logger: logger)
    try await services.run()
}

/// Places an order, then reads it back from the read model: read-your-writes.
func placeAndReadBack(orders: AggregateRepository<Order>, summaries: SQLiteReadModel) async throws -> String? {
    let result = try await orders.execute(.place(customer: "ada", total: 30), on: "7")
    // The command has answered; the read model catches up asynchronously. Wait for its position.
    try await summaries.waitUntil(position: result.position, timeout: .seconds(30))
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

/// Rebuilds a read model from position 0 beside the one serving queries, then swaps it in.
func rebuild(_ summaries: SQLiteReadModel) async throws {
    let progress = try await summaries.rebuild()
    print("rebuilt \(progress.eventsDone) events at \(Int(progress.eventsPerSecond)) events/s")
}
