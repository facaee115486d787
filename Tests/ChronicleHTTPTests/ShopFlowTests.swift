import ChronicleHTTP
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Shop
import Testing

/// Runs the Shop sample on a real SQLite file in a temporary directory and a real server on an
/// ephemeral loopback port.
func withShop<Value: Sendable>(_ body: @Sendable (ShopApp, any TestClientProtocol) async throws -> Value) async throws -> Value {
    let directory = NSTemporaryDirectory() + "chronicle-shop-test-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let shop = try ShopApp(directory: directory, logger: quietLogger)
    try await shop.seedStock()
    let app = shop.makeApplication(host: "127.0.0.1", port: 0)
    let value = try await app.test(.live) { client in try await body(shop, client) }
    try await shop.store.close()
    return value
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
    @Test func placingAnOrderAnswersAtOnceAndTheSagaShipsItAsynchronously() async throws {
        try await withShop { _, client in
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

    @Test(arguments: [
        (#"{"customer":"bob","items":[{"sku":"teapot","quantity":2}],"card":"fail"}"#, "payment declined: card declined"),
        (#"{"customer":"bob","items":[{"sku":"tea","quantity":100},{"sku":"mug","quantity":20},{"sku":"teapot","quantity":5},{"sku":"kettle","quantity":3}],"card":"4242"}"#, "payment declined: amount over the 1000 limit"),
    ])
    func aDeclinedPaymentCancelsTheOrderAndReleasesTheStock(order: String, reason: String) async throws {
        try await withShop { shop, client in
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

    @Test func anOrderBeyondTheStockIsCancelledWithoutCharging() async throws {
        try await withShop { _, client in
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

    @Test func placingTheSameOrderIDTwiceConflicts() async throws {
        try await withShop { _, client in
            let body = #"{"orderId":"retry1","customer":"ada","items":[{"sku":"tea","quantity":1}],"card":"4242"}"#
            #expect(try await client.post("/orders", json: body).status == .created)
            let again = try await client.post("/orders", json: body)
            #expect(again.status == .conflict)
            #expect(try again.errorBody.code == "alreadyPlaced")
        }
    }

    @Test func redeliveringAnEventToTheSagaChangesNothing() async throws {
        try await withShop { shop, client in
            let placed = try await client.post("/orders", json: #"{"customer":"ada","items":[{"sku":"tea","quantity":1}],"card":"4242"}"#)
            let id = try #require(try placed.json["orderId"] as? String)
            _ = try await client.waitForOrder(id, status: "shipped")
            try await shop.fulfilment.waitUntil(position: try await shop.store.headPosition(), timeout: .seconds(20))
            let head = try await shop.store.headPosition()
            // Deliver every event of the order's story again, as after a crash before the checkpoint.
            let saga = Fulfilment(store: shop.store)
            for try await event in shop.store.allEvents() {
                try await saga.react(to: event, context: ProcessContext(trigger: event, processName: saga.name))
            }
            #expect(try await shop.store.headPosition() == head)
        }
    }

    @Test func theDemoRunsTheWholeFlowOverHTTP() async throws {
        try await withShop { _, client in
            let port = try #require(client.port)
            try await ShopDemo.run(port: port, say: { _ in })
        }
    }

    @Test func projectionStatusListsTheReadModelsAndTheSaga() async throws {
        try await withShop { shop, client in
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
