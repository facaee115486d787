import Chronicle
import Foundation

/// One SQL statement of a read model, in the SQL that SQLite and PostgreSQL both run: `?`
/// placeholders, bound to `arguments` (integers, text or null).
struct ShopStatement: Sendable {
    var sql: String
    var arguments: [JSONValue]

    init(_ sql: String, _ arguments: [JSONValue] = []) {
        self.sql = sql
        self.arguments = arguments
    }
}

/// Names a read model's tables: bare names in a SQLite read-model file, schema-qualified names of
/// the serving generation in PostgreSQL.
typealias ShopTables = (String) -> String

/// One of the shop's read models, written once for both backends: its tables, and for each event
/// the statements that apply it. The backend runs them in the transaction that moves the read
/// model's checkpoint (``ShopStorage`` wires a `SQLiteReadModel` or a `PostgresReadModel`).
/// Every statement works on the rows alone (lookups are subqueries), so applying is a pure
/// function of the event.
protocol ShopReadModel: Sendable {
    /// The projection's name.
    var name: String { get }
    /// The statements creating the tables (the first migration).
    func schema(_ table: ShopTables) -> [String]
    /// The statements applying `event`.
    func statements(for event: RecordedEvent, _ table: ShopTables) throws -> [ShopStatement]
}

/// `order-summary`: one row per order, for `GET /orders/{id}`.
struct OrderSummaries: ShopReadModel {
    let name = "order-summary"

    func schema(_ table: ShopTables) -> [String] {
        ["""
        CREATE TABLE \(table("order_summary")) (
            order_id TEXT NOT NULL PRIMARY KEY, customer TEXT NOT NULL, status TEXT NOT NULL,
            total BIGINT NOT NULL, items BIGINT NOT NULL, payment TEXT, tracking TEXT,
            cancel_reason TEXT, updated_position BIGINT NOT NULL
        )
        """]
    }

    func statements(for event: RecordedEvent, _ table: ShopTables) throws -> [ShopStatement] {
        let position = JSONValue.int(event.position.value)
        let summary = table("order_summary")
        switch event.category {
        case Order.category:
            guard let id = event.streamID.idWithinCategory else { return [] }
            return try JSONEventCodec<OrderEvent>().decode(event).map { decoded in
                switch decoded {
                case .placed(let placed):
                    ShopStatement(
                        "INSERT INTO \(summary) (order_id, customer, status, total, items, updated_position) VALUES (?, ?, 'placed', ?, ?, ?)",
                        [.string(id), .string(placed.customer), .int(Int64(placed.total)), .int(Int64(placed.lines.reduce(0) { $0 + $1.quantity })), position])
                case .paid:
                    ShopStatement("UPDATE \(summary) SET status = 'paid', updated_position = ? WHERE order_id = ?", [position, .string(id)])
                case .shipped(let shipped):
                    ShopStatement("UPDATE \(summary) SET status = 'shipped', tracking = ?, updated_position = ? WHERE order_id = ?", [.string(shipped.tracking), position, .string(id)])
                case .cancelled(let cancelled):
                    ShopStatement("UPDATE \(summary) SET status = 'cancelled', cancel_reason = ?, updated_position = ? WHERE order_id = ?", [.string(cancelled.reason), position, .string(id)])
                }
            }
        case Payment.category:
            return try JSONEventCodec<PaymentEvent>().decode(event).map { decoded in
                switch decoded {
                case .captured(let captured):
                    ShopStatement("UPDATE \(summary) SET payment = 'captured', updated_position = ? WHERE order_id = ?", [position, .string(captured.orderId)])
                case .declined(let declined):
                    ShopStatement("UPDATE \(summary) SET payment = ?, updated_position = ? WHERE order_id = ?", [.string("declined: \(declined.reason)"), position, .string(declined.orderId)])
                }
            }
        default:
            return []
        }
    }

    /// The query of one order's summary.
    static func find(_ id: String, _ table: ShopTables) -> ShopStatement {
        ShopStatement("SELECT order_id, customer, status, total, items, payment, tracking, cancel_reason FROM \(table("order_summary")) WHERE order_id = ?", [.string(id)])
    }

    /// A row of ``find(_:_:)`` as the JSON the API answers.
    static func json(_ row: [String: JSONValue]) -> [String: JSONValue] {
        [
            "orderId": row["order_id"] ?? .null, "customer": row["customer"] ?? .null, "status": row["status"] ?? .null,
            "total": row["total"] ?? .null, "items": row["items"] ?? .null, "payment": row["payment"] ?? .null,
            "tracking": row["tracking"] ?? .null, "cancelReason": row["cancel_reason"] ?? .null,
        ]
    }
}

/// `customers`: order counts and spend per customer, for `GET /customers/{id}`.
struct Customers: ShopReadModel {
    let name = "customers"

    func schema(_ table: ShopTables) -> [String] {
        [
            """
            CREATE TABLE \(table("customer")) (
                customer TEXT NOT NULL PRIMARY KEY, placed BIGINT NOT NULL DEFAULT 0, paid BIGINT NOT NULL DEFAULT 0,
                shipped BIGINT NOT NULL DEFAULT 0, cancelled BIGINT NOT NULL DEFAULT 0, spent BIGINT NOT NULL DEFAULT 0
            )
            """,
            "CREATE TABLE \(table("customer_order")) (order_id TEXT NOT NULL PRIMARY KEY, customer TEXT NOT NULL, total BIGINT NOT NULL)",
        ]
    }

    func statements(for event: RecordedEvent, _ table: ShopTables) throws -> [ShopStatement] {
        guard event.category == Order.category, let id = event.streamID.idWithinCategory else { return [] }
        let customer = table("customer"), orders = table("customer_order")
        // The order's customer and total, looked up in the same statement.
        let ofOrder = "customer = (SELECT customer FROM \(orders) WHERE order_id = ?)"
        return try JSONEventCodec<OrderEvent>().decode(event).flatMap { decoded -> [ShopStatement] in
            switch decoded {
            case .placed(let placed):
                [
                    ShopStatement("INSERT INTO \(orders) (order_id, customer, total) VALUES (?, ?, ?)", [.string(id), .string(placed.customer), .int(Int64(placed.total))]),
                    ShopStatement("INSERT INTO \(customer) AS c (customer, placed) VALUES (?, 1) ON CONFLICT (customer) DO UPDATE SET placed = c.placed + 1", [.string(placed.customer)]),
                ]
            case .paid:
                [ShopStatement("UPDATE \(customer) SET paid = paid + 1, spent = spent + (SELECT total FROM \(orders) WHERE order_id = ?) WHERE \(ofOrder)", [.string(id), .string(id)])]
            case .shipped:
                [ShopStatement("UPDATE \(customer) SET shipped = shipped + 1 WHERE \(ofOrder)", [.string(id)])]
            case .cancelled:
                [ShopStatement("UPDATE \(customer) SET cancelled = cancelled + 1 WHERE \(ofOrder)", [.string(id)])]
            }
        }
    }

    /// The query of one customer's row.
    static func find(_ customer: String, _ table: ShopTables) -> ShopStatement {
        ShopStatement("SELECT customer, placed, paid, shipped, cancelled, spent FROM \(table("customer")) WHERE customer = ?", [.string(customer)])
    }
}

/// `notifications`: the notification projector. It records, exactly once per event, the message
/// a customer gets (an outbox a mailer would deliver), for `GET /customers/{id}/notifications`.
struct Notifications: ShopReadModel {
    let name = "notifications"

    func schema(_ table: ShopTables) -> [String] {
        [
            """
            CREATE TABLE \(table("notification")) (
                position BIGINT NOT NULL PRIMARY KEY, customer TEXT NOT NULL, order_id TEXT NOT NULL,
                kind TEXT NOT NULL, message TEXT NOT NULL
            )
            """,
            "CREATE TABLE \(table("notification_order")) (order_id TEXT NOT NULL PRIMARY KEY, customer TEXT NOT NULL)",
        ]
    }

    func statements(for event: RecordedEvent, _ table: ShopTables) throws -> [ShopStatement] {
        guard event.category == Order.category, let id = event.streamID.idWithinCategory else { return [] }
        let notification = table("notification"), orders = table("notification_order")
        return try JSONEventCodec<OrderEvent>().decode(event).flatMap { decoded -> [ShopStatement] in
            let (kind, message): (String, String) = switch decoded {
            case .placed(let placed): ("placed", "Thanks \(placed.customer)! Order \(id) is placed (\(Self.money(placed.total))).")
            case .paid(let paid): ("paid", "Payment of \(Self.money(paid.amount)) for order \(id) received.")
            case .shipped(let shipped): ("shipped", "Order \(id) is on its way with \(shipped.carrier), tracking \(shipped.tracking).")
            case .cancelled(let cancelled): ("cancelled", "Order \(id) was cancelled: \(cancelled.reason).")
            }
            var statements: [ShopStatement] = []
            if case .placed(let placed) = decoded {
                statements.append(ShopStatement("INSERT INTO \(orders) (order_id, customer) VALUES (?, ?)", [.string(id), .string(placed.customer)]))
            }
            // The customer comes from the order's first event; nothing is written for an unknown order.
            statements.append(ShopStatement(
                "INSERT INTO \(notification) (position, customer, order_id, kind, message) SELECT ?, customer, ?, ?, ? FROM \(orders) WHERE order_id = ?",
                [.int(event.position.value), .string(id), .string(kind), .string(message), .string(id)]))
            return statements
        }
    }

    /// The query of a customer's notifications, oldest first.
    static func list(for customer: String, _ table: ShopTables) -> ShopStatement {
        ShopStatement("SELECT position, order_id, kind, message FROM \(table("notification")) WHERE customer = ? ORDER BY position", [.string(customer)])
    }

    /// A row of ``list(for:_:)`` as the JSON the API answers.
    static func json(_ row: [String: JSONValue]) -> JSONValue {
        .object(["position": row["position"] ?? .null, "orderId": row["order_id"] ?? .null, "kind": row["kind"] ?? .null, "message": row["message"] ?? .null])
    }

    static func money(_ cents: Int) -> String {
        "\(cents / 100).\(String(format: "%02d", cents % 100)) EUR"
    }
}
