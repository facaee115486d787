import Chronicle
import ChronicleHTTP
import ChronicleSQLite
import Foundation
import Hummingbird
import Logging

/// The shop, wired: an embedded SQLite event store, three read models, the fulfilment process
/// manager, and an HTTP server with the command route `POST /orders`, the app's query routes and
/// Chronicle's read API.
struct ShopApp: Sendable {
    /// The warehouse aggregate's id (`inventory-main`).
    static let warehouse = "main"
    /// Unit prices in cents.
    static let catalogue: [String: Int] = ["tea": 450, "mug": 1200, "teapot": 3500, "kettle": 6000]
    /// Stock put in the warehouse when the shop first starts.
    static let initialStock: [String: Int] = ["tea": 100, "mug": 20, "teapot": 5, "kettle": 3]

    let store: SQLiteEventStore
    let summaries: SQLiteReadModel
    let customers: SQLiteReadModel
    let notifications: SQLiteReadModel
    let readModels: ProjectionGroup
    let fulfilment: ProcessManagerRunner
    let api: ReadAPI
    let orders: AggregateRepository<Order>
    let inventory: AggregateRepository<Inventory>
    let logger: Logger

    /// Opens (or creates) the shop's files in `directory`.
    init(directory: String, configuration: ReadAPIConfiguration = .init(), logger: Logger) throws {
        try FileManager.default.createDirectory(atPath: directory + "/read-models", withIntermediateDirectories: true)
        store = try SQLiteEventStore(path: directory + "/events.sqlite")
        let source = ProjectionSource.observing(store)
        summaries = try SQLiteReadModel(OrderSummaries(), directory: directory + "/read-models", source: source, logger: logger)
        customers = try SQLiteReadModel(Customers(), directory: directory + "/read-models", source: source, logger: logger)
        notifications = try SQLiteReadModel(Notifications(), directory: directory + "/read-models", source: source, logger: logger)
        readModels = try ProjectionGroup([summaries, customers, notifications])
        fulfilment = try ProcessManagerRunner(Fulfilment(store: store), path: directory + "/fulfilment.sqlite", source: source, logger: logger)
        api = try ReadAPI(reader: store, projections: CombinedProjectionCatalog([readModels, fulfilment]), configuration: configuration, logger: logger)
        orders = AggregateRepository(store: store)
        inventory = AggregateRepository(store: store)
        self.logger = logger
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
    func makeApplication(host: String, port: Int, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            router: makeRouter(),
            server: api.httpServer,  // the read API's idle and header-read timeouts
            configuration: .init(address: .hostname(host, port: port), serverName: "Chronicle Shop"),
            services: [readModels, fulfilment],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = api.makeRouter()
        // The command side: synchronous, answers with the order id and the global position.
        router.post("/orders") { request, context in try await self.placeOrder(request, context: context) }
        router.get("/inventory") { _, _ in
            let warehouse = try await self.inventory.load(Self.warehouse)
            return Self.json(.object(["available": .object(warehouse.state.available.mapValues { .int(Int64($0)) }), "version": .int(warehouse.version.value)]))
        }
        // The query side: read models, with read-your-writes through Chronicle-Min-Position.
        api.queries("/orders", reading: ["order-summary"], on: router).get(":id") { _, context in
            let id = try context.parameters.require("id")
            guard let summary = try await self.summaries.read({ db in try OrderSummaries.find(id, in: db) }) else {
                throw ReadAPIError(.notFound, "No order \(id).")
            }
            return Self.json(.object(summary))
        }
        api.queries("/customers", reading: ["customers"], on: router).get(":id") { _, context in
            let id = try context.parameters.require("id")
            guard let customer = try await self.customers.read({ db in try Customers.find(id, in: db) }) else {
                throw ReadAPIError(.notFound, "No customer \(id).")
            }
            return Self.json(.object(customer))
        }
        api.queries("/customers", reading: ["notifications"], on: router).get(":id/notifications") { _, context in
            let id = try context.parameters.require("id")
            let list = try await self.notifications.read { db in try Notifications.list(for: id, in: db) }
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
        var card: String
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
