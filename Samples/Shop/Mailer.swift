import Chronicle
import ChronicleRelay
import ChronicleSQLite
import Foundation
import GRDB
import Hummingbird
import Logging

/// The mailer: a second service, in its own process (`swift run Shop --mailer`), that receives
/// the shop's order events through the shop's outbound relay and sends the customer an email for
/// each (here: records it in its own SQLite file).
///
/// Its `POST /inbox` is ChronicleRelay's ``RelayInbox`` over an ``SQLiteInbox``: the signature is
/// checked, and the event's id and its email are written in one transaction, so an event the
/// relay delivers again (after a timeout, a crash, an outage) is acknowledged and not mailed
/// twice. `GET /emails` lists what was sent, in order.
enum Mailer {
    /// The environment variable holding the secret shared with the shop's relay.
    static let secretVariable = "SHOP_RELAY_SECRET"

    /// Opens the mailer's database in `directory` and builds its HTTP application.
    static func makeApplication(
        directory: String, host: String, port: Int, secret: RelaySecret, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void
    ) throws -> some ApplicationProtocol {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let database = try DatabaseQueue(path: directory + "/mailer.sqlite")
        try database.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS email (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_id TEXT NOT NULL, order_stream TEXT NOT NULL, version INTEGER NOT NULL, subject TEXT NOT NULL
                )
                """)
        }
        let inbox = try SQLiteInbox(database: database) { event, db in
            guard event.category == Order.category else { return }
            try db.execute(
                sql: "INSERT INTO email (event_id, order_stream, version, subject) VALUES (?, ?, ?, ?)",
                arguments: [event.id.uuidString.lowercased(), event.streamID.rawValue, event.streamVersion.value, subject(of: event)]
            )
        }
        let router = Router()
        RelayInbox(inbox: inbox, configuration: .init(secrets: [secret]), logger: logger).add(to: router, at: "inbox")
        router.get("emails") { _, _ -> Response in
            let rows = try database.read { db in
                try Row.fetchAll(db, sql: "SELECT event_id, order_stream, version, subject FROM email ORDER BY seq")
            }
            let emails: [JSONValue] = rows.map { row in
                .object([
                    "eventId": .string(row["event_id"]), "stream": .string(row["order_stream"]),
                    "version": .int(row["version"]), "subject": .string(row["subject"]),
                ])
            }
            let body = try JSONEncoder().encode(JSONValue.object(["emails": .array(emails)]))
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "Chronicle Shop Mailer"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) }, logger: logger
        )
    }

    static func subject(of event: RecordedEvent) -> String {
        let order = event.streamID.idWithinCategory ?? event.streamID.rawValue
        switch event.type {
        case "OrderPlaced": return "We received your order \(order)"
        case "OrderPaid": return "Payment received for order \(order)"
        case "OrderShipped": return "Order \(order) is on its way"
        case "OrderCancelled": return "Order \(order) was cancelled"
        default: return "\(event.type) for order \(order)"
        }
    }
}
