import ArgumentParser
import Chronicle
import ChronicleHTTP
import ChronicleHTTPTestSupport
import ChronicleTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Shop
import Testing

/// The sample as a template to copy (issue 20, findings 5 and 6), over real HTTP.
@Suite struct ShopHardeningTests {
    static let order = #"{"customer":"ada","items":[{"sku":"tea","quantity":1}],"card":"tok_visa_4242"}"#

    // MARK: JSON-only command routes

    @Test(arguments: [
        "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
        "application/jsonp", "",
    ])
    func aCommandWithAnotherContentTypeAnswers415AndWritesNothing(contentType: String) async throws {
        try await withShop { shop, client in
            let head = try await shop.store.headPosition()
            let headers: HTTPFields = contentType.isEmpty ? [:] : [.contentType: contentType]
            let response = try await client.execute(uri: "/orders", method: .post, headers: headers, body: ByteBuffer(string: Self.order))
            #expect(response.status == .unsupportedMediaType, "\(response.text)")
            #expect(try response.errorBody.code == "unsupportedMediaType")
            #expect(try await shop.store.headPosition() == head)
        }
    }

    @Test(arguments: ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.shop+json"])
    func aCommandWithAJSONContentTypeIsAccepted(contentType: String) async throws {
        try await withShop { _, client in
            let response = try await client.execute(uri: "/orders", method: .post, headers: [.contentType: contentType], body: ByteBuffer(string: Self.order))
            #expect(response.status == .created, "\(response.text)")
        }
    }

    @Test func theJSONMiddlewareGuardsOnlyTheRoutesItIsAddedTo() async throws {
        let routes: (ReadAPI, Router<BasicRequestContext>) -> Void = { _, router in
            router.group("commands").add(middleware: JSONCommandMiddleware()).post("do") { _, _ in "done" }
            router.post("form") { _, _ in "form" }
        }
        try await withReadAPI(store: InMemoryEventStore(), routes: routes) { client in
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            let refused = try await client.execute(uri: "/commands/do", method: .post, headers: form, body: ByteBuffer(string: "a=1"))
            #expect(refused.status == .unsupportedMediaType)
            let json = try await client.execute(uri: "/commands/do", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}"))
            #expect(json.status == .ok)
            let other = try await client.execute(uri: "/form", method: .post, headers: form, body: ByteBuffer(string: "a=1"))
            #expect(other.status == .ok)
        }
    }

    // MARK: No card numbers

    @Test(arguments: [
        "4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242", "4242_4242_4242_4242", "card42424",
        "", String(repeating: "t", count: 65), "tok\u{0}", "tök",
    ])
    func aCardNumberOrAMalformedTokenIsRefusedAndNothingIsStored(card: String) async throws {
        try await withShop { shop, client in
            let head = try await shop.store.headPosition()
            let body = #"{"customer":"ada","items":[{"sku":"tea","quantity":1}],"card":"\#(card)"}"#
            let response = try await client.post("/orders", json: body)
            #expect(response.status == .badRequest, "\(response.text)")
            #expect(try response.errorBody.code == "invalidParameter")
            #expect(!response.text.contains("4242424242424242"))
            #expect(try await shop.store.headPosition() == head)
        }
    }

    @Test func onlyTheCardTokenIsStoredAndServed() async throws {
        try await withShop { shop, client in
            let placed = try await client.post("/orders", json: Self.order)
            #expect(placed.status == .created)
            let id = try #require(try placed.json["orderId"] as? String)
            _ = try await client.waitForOrder(id, status: "shipped")
            let stream = try await client.get("/streams/order-\(id)").json
            let events = try #require(stream["events"] as? [[String: Any]])
            let payload = try #require(events.first?["data"] as? [String: Any])
            #expect(payload["card"] as? String == "tok_visa_4242")
            let summary = try await client.get("/orders/\(id)").json
            #expect(summary["card"] == nil)
        }
    }

    // MARK: The token

    @Test func theTokenComesFromTheEnvironmentOrAFile() throws {
        #expect(try ShopCommand.bearerToken(option: nil, file: nil, environment: [:]) == nil)
        #expect(try ShopCommand.bearerToken(option: nil, file: nil, environment: ["SHOP_TOKEN": "s3cret"]) == "s3cret")
        let file = NSTemporaryDirectory() + "shop-token-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "fr0m-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try ShopCommand.bearerToken(option: nil, file: file, environment: [:]) == "fr0m-file")
        #expect(try ShopCommand.bearerToken(option: "on-the-line", file: nil, environment: [:]) == "on-the-line")
        #expect(throws: ValidationError.self) { try ShopCommand.bearerToken(option: "a", file: nil, environment: ["SHOP_TOKEN": "b"]) }
        #expect(throws: ValidationError.self) { try ShopCommand.bearerToken(option: nil, file: file + "-missing", environment: [:]) }
    }

    @Test(arguments: [
        (["--token", ""], [String: String]()), (["--token", "  "], [:]), ([], ["SHOP_TOKEN": ""]), (["--token-file", "EMPTY"], [:]),
    ])
    func anEmptyTokenIsRefusedAtStartup(arguments: [String], environment: [String: String]) throws {
        let file = NSTemporaryDirectory() + "shop-empty-token-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "\n".write(toFile: file, atomically: true, encoding: .utf8)
        let command = try ShopCommand.parse(arguments.map { $0 == "EMPTY" ? file : $0 })
        let error = #expect(throws: ValidationError.self) {
            try ShopCommand.bearerToken(option: command.token, file: command.tokenFile, environment: environment)
        }
        #expect(error?.message.contains("empty") == true)
    }

    @Test func theServerStartedWithAnEnvironmentTokenRequiresItAndTheBannerNeverShowsIt() async throws {
        let token = try #require(try ShopCommand.bearerToken(option: nil, file: nil, environment: ["SHOP_TOKEN": "s3cret-shop-token"]))
        var configuration = ReadAPIConfiguration.liveTestClient
        configuration.bearerTokens = [token]
        try await withShop(configuration: configuration) { shop, client in
            let anonymous = try await client.post("/orders", json: Self.order)
            #expect(anonymous.status == .unauthorized)
            let authorized = try await client.execute(
                uri: "/orders", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer s3cret-shop-token"],
                body: ByteBuffer(string: Self.order))
            #expect(authorized.status == .created)
            let banner = ShopCommand.instructions(port: 8080, storage: shop.storage, authenticated: true)
            #expect(!banner.contains("s3cret-shop-token"))
            #expect(banner.contains("$SHOP_TOKEN"))
        }
    }

    // MARK: HEAD and percent-decoding

    @Test func headIsServedWhereverGetIs() async throws {
        try await withShop { _, client in
            let placed = try await client.post("/orders", json: Self.order)
            let id = try #require(try placed.json["orderId"] as? String)
            _ = try await client.waitForOrder(id, status: "shipped")
            for uri in ["/head", "/orders/\(id)", "/customers/ada", "/customers/ada/notifications", "/inventory", "/streams/order-\(id)", "/projections", "/all?after=0"] {
                let get = try await client.get(uri)
                let head = try await client.execute(uri: uri, method: .head)
                #expect(get.status == .ok, "GET \(uri)")
                #expect(head.status == .ok, "HEAD \(uri): \(head.status)")
                #expect(head.headers[.contentType] == get.headers[.contentType], "HEAD \(uri)")
                #expect(head.body.readableBytes == 0, "HEAD \(uri)")
            }
            #expect(try await client.execute(uri: "/orders/nosuchorder", method: .head).status == .notFound)
        }
    }

    @Test(arguments: ShopTestBackend.available)
    func pathParametersArePercentDecodedOnceForBuiltInAndAppRoutes(backend: ShopTestBackend) async throws {
        try await withShop(backend) { _, client in
            let placed = try await client.post("/orders", json: #"{"orderId":"probe1","customer":"probecust","items":[{"sku":"tea","quantity":1}],"card":"4242"}"#)
            #expect(placed.status == .created)
            let position = try #require(try placed.json["position"] as? Int)
            let plain = try await client.get("/customers/probecust", headers: [.chronicleMinPosition: "\(position)"])
            let encoded = try await client.get("/customers/%70robecust", headers: [.chronicleMinPosition: "\(position)"])
            #expect(encoded.status == .ok, "\(encoded.text)")
            #expect(try encoded.json["customer"] as? String == "probecust")
            #expect(plain.status == .ok)
            #expect(try encoded.json["placed"] as? Int == 1)
            #expect(try await client.get("/orders/%70robe1", headers: [.chronicleMinPosition: "\(position)"]).json["orderId"] as? String == "probe1")
            #expect(try await client.get("/streams/order-%70robe1").json["stream"] as? String == "order-probe1")
            // One rule for a malformed escape too: 400 on both kinds of route.
            for uri in ["/customers/%zzcust", "/streams/order-%zz"] {
                let response = try await client.get(uri)
                #expect(response.status == .badRequest, "\(uri): \(response.text)")
                #expect(try response.errorBody.code == "invalidParameter")
            }
        }
    }

    // MARK: Inventory snapshots

    @Test(arguments: ShopTestBackend.available)
    func theSagaLoadsTheInventoryFromSnapshots(backend: ShopTestBackend) async throws {
        try await withShop(backend) { shop, client in
            // Grow inventory-main past a snapshot interval without snapshots (as an old shop would have it).
            let plain = AggregateRepository<Inventory>(store: shop.store)
            let seeded = try await shop.store.streamVersion(of: Inventory.streamID(for: ShopApp.warehouse)).value
            for _ in seeded..<(ShopApp.inventorySnapshotInterval - 1) {
                _ = try await plain.execute(.add(sku: "tea", quantity: 1), on: ShopApp.warehouse)
            }
            #expect(try await shop.backend.snapshots.snapshot(of: Inventory.streamID(for: ShopApp.warehouse)) == nil)
            // The saga's reservations cross the interval: the saga saves the snapshot.
            for _ in 0..<2 {
                let placed = try await client.post("/orders", json: Self.order)
                let id = try #require(try placed.json["orderId"] as? String)
                _ = try await client.waitForOrder(id, status: "shipped")
            }
            let snapshot = try await shop.backend.snapshots.snapshot(of: Inventory.streamID(for: ShopApp.warehouse))
            #expect(snapshot?.version.value ?? 0 >= ShopApp.inventorySnapshotInterval)
            // Loading the warehouse now reads only the events after the snapshot.
            let loaded = try await shop.inventory.load(ShopApp.warehouse)
            #expect(loaded.eventsRead < 10)
            let replayed = try await plain.load(ShopApp.warehouse).state
            #expect(loaded.state.available == replayed.available)
            // And the HTTP view of the stock agrees with a full replay.
            let stock = try await client.get("/inventory").json
            #expect(stock["version"] as? Int == Int(loaded.version.value))
        }
    }
}
