import Chronicle
import ChronicleSQLite
import Foundation
import GRDB
import Testing

/// Requests one shipment per paid order, and counts the orders it has seen in its own state.
struct ShipPaidOrders: SQLiteProcessManager {
    let name = "ship-paid-orders"

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in
            try db.execute(sql: "CREATE TABLE paid_order (order_id TEXT PRIMARY KEY)")
        }
    }

    func react(to event: RecordedEvent, in db: Database) throws -> [StreamAppend] {
        guard event.type == "OrderPaid", let order = event.streamID.idWithinCategory else { return [] }
        try db.execute(sql: "INSERT INTO paid_order (order_id) VALUES (?)", arguments: [order])
        let requested = EventData(type: "ShipmentRequested", payload: Data(order.utf8))
        return [StreamAppend([requested], to: StreamID(category: "shipment", id: order), expectedVersion: .noStream)]
    }
}

@Suite struct ProjectionProcessManagerTests {
    static func payOrders(_ orders: ClosedRange<Int>, in store: SQLiteEventStore) async throws {
        for order in orders {
            try await store.append(EventData(type: "OrderPaid", payload: Data("{}".utf8)), to: StreamID(category: "order", id: "\(order)"), expectedVersion: .any)
        }
    }

    static func shipments(_ orders: ClosedRange<Int>, in store: SQLiteEventStore) async throws -> [RecordedEvent] {
        var all: [RecordedEvent] = []
        for order in orders { all += try await store.readStream(StreamID(category: "shipment", id: "\(order)")) }
        return all
    }

    @Test func aProcessManagerAppendsItsReactionsWithCausationAndDerivedIDs() async throws {
        try await withProjectionStore { store, directory in
            try await Self.payOrders(1...3, in: store)
            let manager = try SQLiteProcessManagerRunner(ShipPaidOrders(), store: store, directory: directory.path, source: .sqlite(store), logger: Fixtures.logger)
            let running = Task { try await manager.run() }
            #expect(try await eventually { try await Self.shipments(1...3, in: store).count == 3 })
            try await Self.payOrders(4...4, in: store)
            #expect(try await eventually { try await Self.shipments(1...4, in: store).count == 4 })
            #expect(try await eventually { try await manager.pendingCount() == 0 })
            running.cancel()
            try await running.value

            let paid = try await store.readAll(after: .start, limit: 100).filter { $0.type == "OrderPaid" }
            let shipments = try await Self.shipments(1...4, in: store)
            for (trigger, shipment) in zip(paid, shipments) {
                #expect(shipment.metadata.causationID == trigger.id.uuidString.lowercased())
                #expect(shipment.id != trigger.id)
                #expect(shipment.id.uuidString.dropFirst(14).first == "8")  // version 8: derived, not random
            }
            #expect(try await manager.readModel.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM paid_order") } == 4)
        }
    }

    @Test func redeliveringEveryReactionFromScratchAppendsNothingTwice() async throws {
        try await withProjectionStore { store, directory in
            try await Self.payOrders(1...5, in: store)
            let first = try SQLiteProcessManagerRunner(ShipPaidOrders(), store: store, directory: directory.path, source: .sqlite(store), logger: Fixtures.logger)
            let running = Task { try await first.run() }
            #expect(try await eventually { try await Self.shipments(1...5, in: store).count == 5 })
            running.cancel()
            try await running.value
            let head = try await store.headPosition()

            // Forget every checkpoint: the manager reacts to every event again, with the same ids.
            try SQLiteReadModel.deleteFiles(name: "ship-paid-orders", directory: directory.path)
            let again = try SQLiteProcessManagerRunner(ShipPaidOrders(), store: store, directory: directory.path, source: .sqlite(store), logger: Fixtures.logger)
            try await whileRunning(again.readModel) {
                try await again.readModel.waitUntil(position: head, timeout: .seconds(20))
            }
            #expect(try await again.pendingCount() == 5)
            #expect(try await again.dispatchPending() == 5)
            #expect(try await again.pendingCount() == 0)
            #expect(try await store.headPosition() == head)
            #expect(try await Self.shipments(1...5, in: store).count == 5)
        }
    }

    @Test func reactionsCommittedBeforeACrashAreAppendedOnRestart() async throws {
        try await withProjectionStore { store, directory in
            try await Self.payOrders(1...3, in: store)
            let manager = try SQLiteProcessManagerRunner(ShipPaidOrders(), store: store, directory: directory.path, source: .sqlite(store), logger: Fixtures.logger)
            // Only the state and outbox half runs (as if the process died before dispatching).
            try await whileRunning(manager.readModel) {
                try await manager.readModel.waitUntil(position: 3, timeout: .seconds(20))
            }
            #expect(try await manager.pendingCount() == 3)
            #expect(try await Self.shipments(1...3, in: store).isEmpty)
            let running = Task { try await manager.run() }
            #expect(try await eventually { try await Self.shipments(1...3, in: store).count == 3 })
            running.cancel()
            try await running.value
            #expect(try await manager.pendingCount() == 0)
        }
    }
}
