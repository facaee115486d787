import Chronicle
import ChronicleConsole
import ChronicleHTTP
import ChronicleRelay
import Foundation
import Hummingbird
import Logging

/// The shop, wired: an event store (embedded SQLite or PostgreSQL, see ``ShopStorage``), three
/// read models, the fulfilment process manager, and an HTTP server with the command route
/// `POST /orders`, the app's query routes and Chronicle's read API. One code path for both
/// backends: only ``ShopStorage/open(logger:)`` knows which one runs.
struct ShopApp: Sendable {
    /// The warehouse aggregate's id (`inventory-main`).
    static let warehouse = "main"
    /// Unit prices in cents.
    static let catalogue: [String: Int] = ["tea": 450, "mug": 1200, "teapot": 3500, "kettle": 6000]
    /// Stock put in the warehouse when the shop first starts.
    static let initialStock: [String: Int] = ["tea": 100, "mug": 20, "teapot": 5, "kettle": 3]
    /// The read models, in the order the API lists them.
    static let readModels: [any ShopReadModel] = [OrderSummaries(), Customers(), Notifications()]
    /// A snapshot of the inventory every this many events: loading `inventory-main` then reads at
    /// most this many events, however long the stream grows.
    static let inventorySnapshotInterval: Int64 = 100
    /// The default snapshot policy of the inventory (every ``inventorySnapshotInterval`` events).
    static let inventorySnapshots = SnapshotPolicy.every(inventorySnapshotInterval)

    let storage: ShopStorage
    let backend: ShopBackend
    let api: ReadAPI
    /// The web console at `/console`.
    let console: ChronicleConsole
    let orders: AggregateRepository<Order>
    let inventory: AggregateRepository<Inventory>
    let logger: Logger

    /// The event store.
    var store: any EventStore & AppendObservable { backend.store }
    /// The fulfilment saga's engine: wait on it to know the saga has reacted to a position.
    var fulfilment: ProjectionEngine { backend.fulfilment }

    /// Opens (or creates) the shop's storage.
    ///
    /// - Parameter inventorySnapshots: when the warehouse's snapshots are saved (``SnapshotPolicy/never``
    ///   only to measure what they save).
    static func open(
        _ storage: ShopStorage, configuration: ReadAPIConfiguration = .init(), console: ConsoleConfiguration = .init(),
        inventorySnapshots: SnapshotPolicy = inventorySnapshots, relay: EventRelay? = nil, logger: Logger
    ) async throws -> ShopApp {
        let backend = try await storage.open(inventorySnapshots: inventorySnapshots, relay: relay, logger: logger)
        do {
            return try ShopApp(
                storage: storage, backend: backend, configuration: configuration, console: console, inventorySnapshots: inventorySnapshots, logger: logger
            )
        } catch {
            try? await backend.close()
            throw error
        }
    }

    private init(
        storage: ShopStorage, backend: ShopBackend, configuration: ReadAPIConfiguration, console: ConsoleConfiguration,
        inventorySnapshots: SnapshotPolicy, logger: Logger
    ) throws {
        self.storage = storage
        self.backend = backend
        api = try ReadAPI(reader: backend.store, projections: backend.catalog, configuration: configuration, logger: logger)
        self.console = try ChronicleConsole(api: api, configuration: console)
        orders = AggregateRepository(store: backend.store)
        inventory = Self.inventoryRepository(store: backend.store, snapshots: backend.snapshots, policy: inventorySnapshots)
        self.logger = logger
    }

    /// The warehouse's repository: loads from the latest snapshot and saves one as `policy` says
    /// (every ``inventorySnapshotInterval`` events by default).
    /// ``SnapshotPolicy/never`` neither saves nor reads snapshots (the whole stream is folded at
    /// every load, as before the shop had them).
    static func inventoryRepository(store: some EventStore, snapshots: some SnapshotStore, policy: SnapshotPolicy) -> AggregateRepository<Inventory> {
        guard policy.interval != nil else { return AggregateRepository(store: store) }
        return AggregateRepository(store: store, snapshots: snapshots, configuration: .init(snapshotPolicy: policy))
    }

    /// Closes the store and its connections (once the application has stopped).
    func close() async throws {
        try await backend.close()
    }

    /// Stocks the warehouse the first time the shop starts.
    func seedStock() async throws {
        guard try await store.streamVersion(of: Inventory.streamID(for: Self.warehouse)) == .initial else { return }
        for (sku, quantity) in Self.initialStock.sorted(by: { $0.key < $1.key }) {
            _ = try await inventory.execute(.add(sku: sku, quantity: quantity), on: Self.warehouse)
        }
    }

    /// The HTTP application: a ServiceLifecycle `Service` that also runs the read models and the
    /// process manager, and shuts them all down gracefully.
    func makeApplication(host: String, port: Int, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        Application(
            router: try makeRouter(),
            server: api.httpServer,  // the read API's idle and header-read timeouts
            configuration: .init(address: .hostname(host, port: port), serverName: "Chronicle Shop"),
            services: backend.services + [console.sampler],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    /// The runner of the read model called `name`, as the handle a query route reads.
    func readModels(_ names: String...) throws -> [any ProjectionRunner] {
        try names.map { name in
            guard let runner = backend.readModels[name] else { throw ShopBackend.UnknownReadModel(name: name) }
            return runner
        }
    }

    /// The router: the console at `/console` (it signs in its own way, so it comes before the read
    /// API's middleware), Chronicle's read API (HEAD answered wherever GET is, path parameters
    /// decoded once for every route), the command route and the app's queries.
    func makeRouter() throws -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)
        console.addRoutes(to: router)
        router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/console"]) }
        api.addMiddleware(to: router)
        api.addRoutes(to: router)
        // The command side: synchronous, JSON only, answers with the order id and the global position.
        router.group().add(middleware: JSONCommandMiddleware()).post("/orders") { request, context in
            try await self.placeOrder(request, context: context)
        }
        router.get("/inventory") { _, _ in
            let warehouse = try await self.inventory.load(Self.warehouse)
            return Self.json(.object(["available": .object(warehouse.state.available.mapValues { .int(Int64($0)) }), "version": .int(warehouse.version.value)]))
        }
        // The query side: read models, with read-your-writes through Chronicle-Min-Position.
        api.queries("/orders", reading: try self.readModels("order-summary"), on: router).get(":id") { _, context in
            let id = try context.parameters.require("id")
            guard let row = try await self.backend.query("order-summary", { OrderSummaries.find(id, $0) }).first else {
                throw ReadAPIError(.notFound, "No order \(id).")
            }
            return Self.json(.object(OrderSummaries.json(row)))
        }
        api.queries("/customers", reading: try self.readModels("customers"), on: router).get(":id") { _, context in
            let id = try context.parameters.require("id")
            guard let row = try await self.backend.query("customers", { Customers.find(id, $0) }).first else {
                throw ReadAPIError(.notFound, "No customer \(id).")
            }
            return Self.json(.object(row))
        }
        api.queries("/customers", reading: try self.readModels("notifications"), on: router).get(":id/notifications") { _, context in
            let id = try context.parameters.require("id")
            let list = try await self.backend.query("notifications", { Notifications.list(for: id, $0) }).map(Notifications.json)
            return Self.json(.object(["customer": .string(id), "notifications": .array(list)]))
        }
        return router
    }

    /// `POST /orders` body.
    struct PlaceOrderRequest: Decodable {
        struct Item: Decodable {
            var sku: String
            var quantity: Int
        }
        /// Optional client-chosen id: retrying a POST with the same id cannot place two orders.
        var orderId: String?
        var customer: String
        var items: [Item]
        /// The payment provider's token for the card (the client tokenizes it; `fail` is the
        /// simulated gateway's declined card). Never a card number: the shop stores and serves
        /// only this token.
        var card: String
    }

    /// A card token: 1 to 64 of `A-Z a-z 0-9 _ -` with at most 4 digits in a row, `_` and `-`
    /// not counting as a break (a provider token such as `tok_visa_4242`, or a card's last four
    /// digits), so that no card number, however it is grouped, can be stored, logged or served.
    static func isCardToken(_ card: String) -> Bool {
        guard (1...64).contains(card.count), card.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            return false
        }
        var run = 0
        for character in card where character != "_" && character != "-" {
            run = character.isNumber ? run + 1 : 0
            if run > 4 { return false }
        }
        return true
    }

    func placeOrder(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let body = try await request.decode(as: PlaceOrderRequest.self, context: context)
        let id = body.orderId ?? String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12))
        guard !id.isEmpty, id.count <= 40, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw ReadAPIError(.invalidParameter, "orderId must be 1 to 40 ASCII letters or digits.")
        }
        guard !body.customer.isEmpty, body.customer.count <= 100, body.customer.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw ReadAPIError(.invalidParameter, "customer must be 1 to 100 ASCII letters or digits.")
        }
        guard Self.isCardToken(body.card) else {
            throw ReadAPIError(
                .invalidParameter,
                "card must be a payment token (1 to 64 of A-Z a-z 0-9 _ -, at most 4 digits in a row), never a card number: tokenize the card with the payment provider first.",
                details: ["parameter": .string("card")]
            )
        }
        guard (1...50).contains(body.items.count) else {
            throw ReadAPIError(.invalidParameter, "An order has 1 to 50 items.")
        }
        var lines: [OrderLine] = []
        for item in body.items {
            guard let price = Self.catalogue[item.sku] else {
                throw ReadAPIError(.invalidParameter, "Unknown sku \(item.sku.debugDescription); the catalogue has \(Self.catalogue.keys.sorted().joined(separator: ", ")).")
            }
            guard (1...1000).contains(item.quantity) else {
                throw ReadAPIError(.invalidParameter, "Quantity of \(item.sku) must be 1 to 1000.")
            }
            lines.append(OrderLine(sku: item.sku, quantity: item.quantity, unitPrice: price))
        }
        let result: CommandResult<Order>
        do {
            result = try await orders.execute(.place(customer: body.customer, lines: lines, card: body.card), on: id, metadata: EventMetadata(correlationID: "order-\(id)"))
        } catch Order.Failure.alreadyPlaced {
            throw ReadAPIError(status: .conflict, code: "alreadyPlaced", "Order \(id) is already placed.")
        }
        var response = Self.json(.object([
            "orderId": .string(id), "status": .string("placed"), "total": .int(Int64(result.state.total)),
            "position": .int(result.position.value),
        ]), status: .created)
        response.headers[.location] = "/orders/\(id)"
        response.headers[.chroniclePosition] = String(result.position.value)
        return response
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? value.encoded()) ?? Data("null".utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
