import ChronicleHTTP
import ChronicleHTTPTestSupport
import ChroniclePostgres
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
@testable import Shop
import Testing

/// The backends the Shop tests run on: SQLite always, PostgreSQL when `CHRONICLE_POSTGRES_URL`
/// is set (a fresh schema per test, dropped afterwards).
enum ShopTestBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static let postgresURL: String? = ProcessInfo.processInfo.environment["CHRONICLE_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// SQLite, and PostgreSQL when a server is configured.
    static var available: [ShopTestBackend] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    var testDescription: String { rawValue }
}

/// Runs the Shop sample on `backend` (a real SQLite file in a temporary directory, or a fresh
/// schema of the PostgreSQL test database) and a real server on an ephemeral loopback port.
func withShop<Value: Sendable>(
    _ backend: ShopTestBackend = .sqlite, configuration: ReadAPIConfiguration = .liveTestClient,
    inventorySnapshots: SnapshotPolicy = ShopApp.inventorySnapshots,
    _ body: @Sendable (ShopApp, any TestClientProtocol) async throws -> Value
) async throws -> Value {
    try await withShopStorage(backend) { storage in
        let shop = try await ShopApp.open(storage, configuration: configuration, inventorySnapshots: inventorySnapshots, logger: quietLogger)
        do {
            try await shop.seedStock()
            let app = try shop.makeApplication(host: "127.0.0.1", port: 0)
            let value = try await app.test(.live) { client in try await body(shop, client) }
            try await shop.close()
            return value
        } catch {
            try? await shop.close()
            throw error
        }
    }
}

/// A fresh storage of `backend` for one test, removed afterwards.
func withShopStorage<Value: Sendable>(_ backend: ShopTestBackend, _ body: (ShopStorage) async throws -> Value) async throws -> Value {
    switch backend {
    case .sqlite:
        let directory = NSTemporaryDirectory() + "chronicle-shop-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await body(.sqlite(directory: directory))
    case .postgres:
        let settings = try PostgresConnectionSettings(url: try #require(ShopTestBackend.postgresURL))
        let schema = try PostgresSchemaName("shop_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))
        do {
            let value = try await body(.postgres(settings, schema: schema))
            try await dropSchemas(of: schema, settings: settings)
            return value
        } catch {
            try? await dropSchemas(of: schema, settings: settings)
            throw error
        }
    }
}

/// Drops a test schema and its read-model generations (`<schema>_rm<N>`).
private func dropSchemas(of schema: PostgresSchemaName, settings: PostgresConnectionSettings) async throws {
    let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-shop-test-cleanup", maximumConnections: 1))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        // The schema name is validated (a-z0-9_), so it can be spliced into the DDL.
        var names = [schema.rawValue]
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT nspname FROM pg_namespace WHERE left(nspname, \(schema.rawValue.count + 3)) = '\(schema.rawValue)_rm'"))
        for try await name in rows.decode(String.self) { names.append(name) }
        for name in names {
            try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(name)\" CASCADE"))
        }
    }
}

extension TestClientProtocol {
    func post(_ uri: String, json: String) async throws -> TestResponse {
        try await execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: json))
    }

    /// Polls the order summary until its status is `status` (the saga runs in the background).
    func waitForOrder(_ id: String, status: String) async throws -> [String: Any] {
        var json: [String: Any] = [:]
        try await eventually("order \(id) to reach \(status)") {
            let response = try await get("/orders/\(id)")
            guard response.status == .ok, let body = try? response.json, body["status"] as? String == status else { return false }
            json = body
            return true
        }
        return json
    }
}

@Suite struct ShopFlowTests {
    @Test(arguments: ShopTestBackend.available)
    func placingAnOrderAnswersAtOnceAndTheSagaShipsItAsynchronously(backend: ShopTestBackend) async throws {
        try await withShop(backend) { _, client in
            let placed = try await client.post("/orders", json: #"{"customer":"ada","items":[{"sku":"tea","quantity":2},{"sku":"mug","quantity":1}],"card":"4242"}"#)
            #expect(placed.status == .created)
            let answer = try placed.json
            let id = try #require(answer["orderId"] as? String)
            let position = try #require(answer["position"] as? Int)
            #expect(answer["total"] as? Int == 2 * 450 + 1200)
            #expect(placed.headers[.location] == "/orders/\(id)")

            // Read your write: the summary reflects the order as soon as the header is honoured.
            let summary = try await client.get("/orders/\(id)", headers: [.chronicleMinPosition: "\(position)"])
            #expect(summary.status == .ok)
            #expect(try summary.json["customer"] as? String == "ada")
            #expect(Int(summary.headers[.chroniclePosition] ?? "") ?? 0 >= position)

            let shipped = try await client.waitForOrder(id, status: "shipped")
            #expect(shipped["payment"] as? String == "captured")
            #expect(shipped["tracking"] as? String == "TRK-\(id.uppercased())")

            // The order's stream tells the story; the saga's events carry the order's correlation id.
            let stream = try await client.get("/streams/order-\(id)").json
            let events = try #require(stream["events"] as? [[String: Any]])
            #expect(events.map { $0["type"] as? String } == ["OrderPlaced", "OrderPaid", "OrderShipped"])
            let paid = try #require(events[1]["metadata"] as? [String: Any])
            #expect(paid["correlationId"] as? String == "order-\(id)")
            #expect(paid["causationId"] is String)

            let head = try await client.get("/head").json["head"] as? Int ?? 0
            let customer = try await client.get("/customers/ada", headers: [.chronicleMinPosition: "\(head)"])
            let ada = try customer.json
            #expect(ada["placed"] as? Int == 1)
            #expect(ada["shipped"] as? Int == 1)
            #expect(ada["spent"] as? Int == 2100)
            let notifications = try await client.get("/customers/ada/notifications", headers: [.chronicleMinPosition: "\(head)"]).json
            #expect((notifications["notifications"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["placed", "paid", "shipped"])
        }
    }

    @Test(arguments: ShopTestBackend.available, [
        (#"{"customer":"bob","items":[{"sku":"teapot","quantity":2}],"card":"fail"}"#, "payment declined: card declined"),
        (#"{"customer":"bob","items":[{"sku":"tea","quantity":100},{"sku":"mug","quantity":20},{"sku":"teapot","quantity":5},{"sku":"kettle","quantity":3}],"card":"4242"}"#, "payment declined: amount over the 1000 limit"),
    ])
    func aDeclinedPaymentCancelsTheOrderAndReleasesTheStock(backend: ShopTestBackend, order: (String, String)) async throws {
        let (order, reason) = order
        try await withShop(backend) { shop, client in
            let stockBefore = try await shop.inventory.load(ShopApp.warehouse).state.available
            let placed = try await client.post("/orders", json: order)
            #expect(placed.status == .created)
            let id = try #require(try placed.json["orderId"] as? String)
            let cancelled = try await client.waitForOrder(id, status: "cancelled")
            #expect(cancelled["cancelReason"] as? String == reason)
            #expect((cancelled["payment"] as? String)?.hasPrefix("declined") == true)
            // Compensation: the reservation was released, so the stock is back where it was.
            try await shop.fulfilment.waitUntil(position: try await shop.store.headPosition(), timeout: .seconds(20))
            #expect(try await shop.inventory.load(ShopApp.warehouse).state.available == stockBefore)
            let inventory = try await client.get("/streams/inventory-main?direction=backwards&limit=2").json
            #expect((inventory["events"] as? [[String: Any]])?.map { $0["type"] as? String } == ["StockReleased", "StockReserved"])
        }
    }

    @Test(arguments: ShopTestBackend.available)
    func anOrderBeyondTheStockIsCancelledWithoutCharging(backend: ShopTestBackend) async throws {
        try await withShop(backend) { _, client in
            let placed = try await client.post("/orders", json: #"{"customer":"cy","items":[{"sku":"kettle","quantity":4}],"card":"4242"}"#)
            let id = try #require(try placed.json["orderId"] as? String)
            let cancelled = try await client.waitForOrder(id, status: "cancelled")
            #expect(cancelled["cancelReason"] as? String == "out of stock: only 3 kettle in stock")
            #expect(cancelled["payment"] is NSNull)
            #expect(try await client.get("/streams/payment-\(id)").status == .notFound)
        }
    }

    @Test(arguments: [
        #"{"customer":"ada","items":[],"card":"1"}"#,
        #"{"customer":"ada","items":[{"sku":"caviar","quantity":1}],"card":"1"}"#,
        #"{"customer":"ada","items":[{"sku":"tea","quantity":0}],"card":"1"}"#,
        #"{"customer":"a d a","items":[{"sku":"tea","quantity":1}],"card":"1"}"#,
        #"{"customer":"ada","items":[{"sku":"tea"}],"card":"1"}"#,
        #"{"orderId":"../x","customer":"ada","items":[{"sku":"tea","quantity":1}],"card":"1"}"#,
        #"not json"#,
    ])
    func aMalformedOrderAnswers400AndWritesNothing(body: String) async throws {
        try await withShop { shop, client in
            let head = try await shop.store.headPosition()
            let response = try await client.post("/orders", json: body)
            #expect(response.status == .badRequest, "\(response.text)")
            #expect(try response.errorBody.code == "invalidParameter")
            #expect(try await shop.store.headPosition() == head)
        }
    }

    @Test(arguments: ShopTestBackend.available)
    func placingTheSameOrderIDTwiceConflicts(backend: ShopTestBackend) async throws {
        try await withShop(backend) { _, client in
            let body = #"{"orderId":"retry1","customer":"ada","items":[{"sku":"tea","quantity":1}],"card":"4242"}"#
            #expect(try await client.post("/orders", json: body).status == .created)
            let again = try await client.post("/orders", json: body)
            #expect(again.status == .conflict)
            #expect(try again.errorBody.code == "alreadyPlaced")
        }
    }

    @Test(arguments: ShopTestBackend.available)
    func redeliveringAnEventToTheSagaChangesNothing(backend: ShopTestBackend) async throws {
        try await withShop(backend) { shop, client in
            // A shipped order, a compensated one (reserved, then released) and a rejected one.
            for (card, items, status) in [("4242", #"[{"sku":"tea","quantity":1}]"#, "shipped"), ("fail", #"[{"sku":"mug","quantity":2}]"#, "cancelled"), ("4242", #"[{"sku":"kettle","quantity":9}]"#, "cancelled")] {
                let placed = try await client.post("/orders", json: #"{"customer":"ada","items":\#(items),"card":"\#(card)"}"#)
                let id = try #require(try placed.json["orderId"] as? String)
                _ = try await client.waitForOrder(id, status: status)
            }
            try await shop.fulfilment.waitUntil(position: try await shop.store.headPosition(), timeout: .seconds(20))
            let head = try await shop.store.headPosition()
            let stock = try await shop.inventory.load(ShopApp.warehouse).state.available
            // Deliver every event of the orders' stories again, as after a crash before the checkpoint:
            // the derived event ids make every command a no-op (no second reservation or release).
            let saga = Fulfilment(store: shop.store, snapshots: shop.backend.snapshots)
            for try await event in shop.store.allEvents() {
                try await saga.react(to: event, context: ProcessContext(trigger: event, processName: saga.name))
            }
            #expect(try await shop.store.headPosition() == head)
            #expect(try await shop.inventory.load(ShopApp.warehouse).state.available == stock)
        }
    }

    @Test(arguments: ShopTestBackend.available)
    func theDemoRunsTheWholeFlowOverHTTP(backend: ShopTestBackend) async throws {
        try await withShop(backend) { _, client in
            let port = try #require(client.port)
            try await ShopDemo.run(port: port, say: { _ in })
        }
    }

    @Test(arguments: ShopTestBackend.available)
    func projectionStatusListsTheReadModelsAndTheSaga(backend: ShopTestBackend) async throws {
        try await withShop(backend) { shop, client in
            try await shop.fulfilment.waitUntil(position: try await shop.store.headPosition(), timeout: .seconds(20))
            let json = try await client.get("/projections").json
            let names = (json["projections"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
            #expect(names == ["order-summary", "customers", "notifications", "fulfilment"])
            let detail = try await client.get("/projections/fulfilment").json
            #expect((detail["parked"] as? [Any])?.isEmpty == true)
        }
    }
}

@Suite struct ProcessContextTests {
    @Test func eventIDsDependOnlyOnTheProcessTheTriggerAndTheStep() {
        let trigger = RecordedEvent(
            id: UUID(uuidString: "7f1c3e9a-0000-4000-8000-000000000001")!, streamID: "order-1", streamVersion: 1, position: 1,
            type: "OrderPlaced", schemaVersion: 1, payload: Data(), metadata: .none, recordedAt: Date()
        )
        let first = ProcessContext(trigger: trigger, processName: "fulfilment").eventIDs("payment-1")
        let again = ProcessContext(trigger: trigger, processName: "fulfilment").eventIDs("payment-1")
        let ids = [first(), first()]
        #expect(ids == [again(), again()])
        #expect(ids[0] != ids[1])
        #expect(ProcessContext(trigger: trigger, processName: "fulfilment").eventIDs("payment-2")() != ids[0])
        #expect(ProcessContext(trigger: trigger, processName: "other").eventIDs("payment-1")() != ids[0])
        #expect(ProcessContext(trigger: trigger, processName: "fulfilment").metadata.causationID == trigger.id.uuidString.lowercased())
    }
}
