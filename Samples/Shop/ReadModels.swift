import Chronicle
import ChronicleSQLite
import Foundation
import GRDB

/// `order-summary`: one row per order, for `GET /orders/{id}`.
struct OrderSummaries: SQLiteProjector {
    let name = "order-summary"

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE order_summary (
                    order_id TEXT NOT NULL PRIMARY KEY, customer TEXT NOT NULL, status TEXT NOT NULL,
                    total INTEGER NOT NULL, items INTEGER NOT NULL, payment TEXT, tracking TEXT,
                    cancel_reason TEXT, updated_position INTEGER NOT NULL
                )
                """)
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        let position = event.position.value
        switch event.category {
        case Order.category:
            guard let id = event.streamID.idWithinCategory else { return }
            for decoded in try JSONEventCodec<OrderEvent>().decode(event) {
                switch decoded {
                case .placed(let placed):
                    try db.execute(
                        sql: "INSERT INTO order_summary (order_id, customer, status, total, items, updated_position) VALUES (?, ?, 'placed', ?, ?, ?)",
                        arguments: [id, placed.customer, placed.total, placed.lines.reduce(0) { $0 + $1.quantity }, position])
                case .paid:
                    try db.execute(sql: "UPDATE order_summary SET status = 'paid', updated_position = ? WHERE order_id = ?", arguments: [position, id])
                case .shipped(let shipped):
                    try db.execute(sql: "UPDATE order_summary SET status = 'shipped', tracking = ?, updated_position = ? WHERE order_id = ?", arguments: [shipped.tracking, position, id])
                case .cancelled(let cancelled):
                    try db.execute(sql: "UPDATE order_summary SET status = 'cancelled', cancel_reason = ?, updated_position = ? WHERE order_id = ?", arguments: [cancelled.reason, position, id])
                }
            }
        case Payment.category:
            for decoded in try JSONEventCodec<PaymentEvent>().decode(event) {
                switch decoded {
                case .captured(let captured):
                    try db.execute(sql: "UPDATE order_summary SET payment = 'captured', updated_position = ? WHERE order_id = ?", arguments: [position, captured.orderId])
                case .declined(let declined):
                    try db.execute(sql: "UPDATE order_summary SET payment = ?, updated_position = ? WHERE order_id = ?", arguments: ["declined: \(declined.reason)", position, declined.orderId])
                }
            }
        default:
            return
        }
    }

    /// The summary of an order, as the JSON the API answers.
    static func find(_ id: String, in db: Database) throws -> [String: JSONValue]? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM order_summary WHERE order_id = ?", arguments: [id]) else { return nil }
        return [
            "orderId": .string(row["order_id"]), "customer": .string(row["customer"]), "status": .string(row["status"]),
            "total": .int(row["total"] as Int64), "items": .int(row["items"] as Int64),
            "payment": (row["payment"] as String?).map(JSONValue.string) ?? .null,
            "tracking": (row["tracking"] as String?).map(JSONValue.string) ?? .null,
            "cancelReason": (row["cancel_reason"] as String?).map(JSONValue.string) ?? .null,
        ]
    }
}

/// `customers`: order counts and spend per customer, for `GET /customers/{id}`.
struct Customers: SQLiteProjector {
    let name = "customers"

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE customer (
                    customer TEXT NOT NULL PRIMARY KEY, placed INTEGER NOT NULL DEFAULT 0, paid INTEGER NOT NULL DEFAULT 0,
                    shipped INTEGER NOT NULL DEFAULT 0, cancelled INTEGER NOT NULL DEFAULT 0, spent INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE customer_order (order_id TEXT NOT NULL PRIMARY KEY, customer TEXT NOT NULL, total INTEGER NOT NULL);
                """)
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        guard event.category == Order.category, let id = event.streamID.idWithinCategory else { return }
        for decoded in try JSONEventCodec<OrderEvent>().decode(event) {
            if case .placed(let placed) = decoded {
                try db.execute(sql: "INSERT INTO customer_order (order_id, customer, total) VALUES (?, ?, ?)", arguments: [id, placed.customer, placed.total])
                try db.execute(sql: "INSERT INTO customer (customer, placed) VALUES (?, 1) ON CONFLICT(customer) DO UPDATE SET placed = placed + 1", arguments: [placed.customer])
                continue
            }
            guard let row = try Row.fetchOne(db, sql: "SELECT customer, total FROM customer_order WHERE order_id = ?", arguments: [id]) else { continue }
            let customer: String = row["customer"]
            let total: Int = row["total"]
            switch decoded {
            case .paid: try db.execute(sql: "UPDATE customer SET paid = paid + 1, spent = spent + ? WHERE customer = ?", arguments: [total, customer])
            case .shipped: try db.execute(sql: "UPDATE customer SET shipped = shipped + 1 WHERE customer = ?", arguments: [customer])
            case .cancelled: try db.execute(sql: "UPDATE customer SET cancelled = cancelled + 1 WHERE customer = ?", arguments: [customer])
            case .placed: break
            }
        }
    }

    static func find(_ customer: String, in db: Database) throws -> [String: JSONValue]? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM customer WHERE customer = ?", arguments: [customer]) else { return nil }
        var result: [String: JSONValue] = ["customer": .string(row["customer"])]
        for column in ["placed", "paid", "shipped", "cancelled", "spent"] { result[column] = .int(row[column] as Int64) }
        return result
    }
}

/// `notifications`: the notification projector. It records, exactly once per event, the message
/// a customer gets (an outbox a mailer would deliver), for `GET /customers/{id}/notifications`.
struct Notifications: SQLiteProjector {
    let name = "notifications"

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE notification (
                    position INTEGER NOT NULL PRIMARY KEY, customer TEXT NOT NULL, order_id TEXT NOT NULL,
                    kind TEXT NOT NULL, message TEXT NOT NULL
                );
                CREATE TABLE notification_order (order_id TEXT NOT NULL PRIMARY KEY, customer TEXT NOT NULL);
                """)
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        guard event.category == Order.category, let id = event.streamID.idWithinCategory else { return }
        for decoded in try JSONEventCodec<OrderEvent>().decode(event) {
            let customer: String
            if case .placed(let placed) = decoded {
                try db.execute(sql: "INSERT INTO notification_order (order_id, customer) VALUES (?, ?)", arguments: [id, placed.customer])
                customer = placed.customer
            } else {
                guard let known = try String.fetchOne(db, sql: "SELECT customer FROM notification_order WHERE order_id = ?", arguments: [id]) else { continue }
                customer = known
            }
            let (kind, message): (String, String) = switch decoded {
            case .placed(let placed): ("placed", "Thanks \(placed.customer)! Order \(id) is placed (\(Self.money(placed.total))).")
            case .paid(let paid): ("paid", "Payment of \(Self.money(paid.amount)) for order \(id) received.")
            case .shipped(let shipped): ("shipped", "Order \(id) is on its way with \(shipped.carrier), tracking \(shipped.tracking).")
            case .cancelled(let cancelled): ("cancelled", "Order \(id) was cancelled: \(cancelled.reason).")
            }
            try db.execute(
                sql: "INSERT INTO notification (position, customer, order_id, kind, message) VALUES (?, ?, ?, ?, ?)",
                arguments: [event.position.value, customer, id, kind, message])
        }
    }

    static func list(for customer: String, in db: Database) throws -> [JSONValue] {
        try Row.fetchAll(db, sql: "SELECT * FROM notification WHERE customer = ? ORDER BY position", arguments: [customer]).map { row in
            .object([
                "position": .int(row["position"] as Int64), "orderId": .string(row["order_id"]),
                "kind": .string(row["kind"]), "message": .string(row["message"]),
            ])
        }
    }

    static func money(_ cents: Int) -> String {
        "\(cents / 100).\(String(format: "%02d", cents % 100)) EUR"
    }
}
