// The code of Docs/Projections.md, compiled and run. Change them together.
import Chronicle
import ChronicleSQLite
import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Testing

// MARK: Guide: defining a projector

struct OrderTotals: SQLiteProjector {
    let name = "order-totals"

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in
            try db.create(table: "order_total") { t in
                t.primaryKey("order_id", .text)
                t.column("items", .integer).notNull()
            }
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        switch event.type {
        case "OrderPlaced":
            try db.execute(
                sql: "INSERT INTO order_total (order_id, items) VALUES (?, 0)",
                arguments: [event.streamID.rawValue])
        case "ItemAdded":
            try db.execute(
                sql: "UPDATE order_total SET items = items + 1 WHERE order_id = ?",
                arguments: [event.streamID.rawValue])
        default:
            break  // events this read model does not need
        }
    }
}

// MARK: Guide: hot statements

struct FastOrderTotals: SQLiteProjector {
    let name = "fast-order-totals"

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        OrderTotals().registerMigrations(in: &migrator)
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        guard event.type == "ItemAdded" else { return }
        try SQLiteFastStatement(db, sql: """
            INSERT INTO order_total (order_id, items) VALUES (?, 1)
            ON CONFLICT (order_id) DO UPDATE SET items = items + 1
            """).execute(event.streamID)
    }
}

@Suite struct ProjectionGuideTests {
    @Test func theHotStatementProjectorCountsEveryItemThroughTheRunner() async throws {
        let directory = try ProjectionDirectory()
        let store = try SQLiteEventStore(path: directory.storePath)
        let model = try SQLiteReadModel(
            FastOrderTotals(), directory: directory.subdirectory("read-models"), source: .observing(store), logger: Fixtures.logger)
        let item = { EventData(type: "ItemAdded", payload: Data("{}".utf8)) }
        _ = try await store.append([item(), item(), item()], to: "order-1", expectedVersion: .noStream)
        let last = try await store.append([EventData(type: "OrderPlaced", payload: Data("{}".utf8)), item()], to: "order-2", expectedVersion: .noStream)
        let running = Task { try await model.run() }
        try await model.waitUntil(position: last.position, timeout: .seconds(10))
        let rows = try await model.read { db in
            try Row.fetchAll(db, sql: "SELECT order_id, items FROM order_total ORDER BY order_id").map { [$0[0] as String: $0[1] as Int] }
        }
        #expect(rows == [["order-1": 3], ["order-2": 1]])
        running.cancel()
        _ = try? await running.value
        try await store.close()
    }

    @Test func theGuideRunsAsWritten() async throws {
        let directory = try ProjectionDirectory()
        let logger = Fixtures.logger
        let store = try SQLiteEventStore(path: directory.storePath)
        let readModelDirectory = directory.subdirectory("read-models")

        // MARK: Guide: running it
        let orders = try SQLiteReadModel(
            OrderTotals(),
            directory: readModelDirectory,
            source: .sqlite(store, pollInterval: .milliseconds(250)),
            options: .init(pageSize: 500, failurePolicy: FailurePolicy(maxAttempts: 5, baseDelay: .milliseconds(100), then: .park)),
            logger: logger
        )
        let projections = try SQLiteProjectionGroup([orders])
        let services = ServiceGroup(services: [projections], gracefulShutdownSignals: [.sigterm], cancellationSignals: [], logger: logger)
        let running = Task { try await services.run() }

        // MARK: Guide: read your writes
        let placed = EventData(type: "OrderPlaced", payload: Data("{}".utf8))
        let added = EventData(type: "ItemAdded", payload: Data("{}".utf8))
        let result = try await store.append([placed, added], to: "order-42", expectedVersion: .noStream)
        try await orders.waitUntil(position: result.position, timeout: .seconds(30))
        let items = try await orders.read { db in
            try Int.fetchOne(db, sql: "SELECT items FROM order_total WHERE order_id = ?", arguments: ["order-42"])
        }
        #expect(items == 1)

        // MARK: Guide: status
        let status = await orders.status()
        print(status.state, status.position, status.head, status.lag, status.parkedCount)
        #expect(status.lag == 0)

        // MARK: Guide: parked events
        for parked in try await orders.parkedEvents() {
            print(parked.position, parked.eventType, parked.error, parked.attempts)
        }
        try await orders.retryAllParked()

        // MARK: Guide: rebuild
        let progress = try await orders.rebuild()
        print("rebuilt \(progress.eventsDone) events at \(Int(progress.eventsPerSecond))/s")
        #expect(try await orders.read { db in try Int.fetchOne(db, sql: "SELECT items FROM order_total") } == 1)

        await services.triggerGracefulShutdown()
        try await running.value
        try await store.close()
    }
}
