// The domain of Docs/Aggregates.md, verbatim (AggregatesGuideTests checks it): change both together.
import Chronicle

struct OrderPlaced: Codable, Sendable, Equatable {
    var customer: String
    var currency: String  // added in schema version 2
}

struct ItemAdded: Codable, Sendable, Equatable {
    var sku: String
    var quantity: Int
}

struct OrderShipped: Codable, Sendable, Equatable {
    var carrier: String
}

enum OrderEvent: RegisteredEvent {
    case placed(OrderPlaced)
    case itemAdded(ItemAdded)
    case shipped(OrderShipped)

    static let registry = EventTypeRegistry<OrderEvent>()
        .register(OrderPlaced.self, as: "OrderPlaced", version: 2, OrderEvent.placed)
        .register(ItemAdded.self, as: "ItemAdded", version: 1, OrderEvent.itemAdded)
        .register(OrderShipped.self, as: "OrderShipped", version: 1, OrderEvent.shipped)
        // Until version 1 the event was called OrderCreated.
        .upcast(.renameType("OrderCreated", version: 1, to: "OrderPlaced"))
        // Version 2 added the currency; old orders were all in euros.
        .upcast(.migrate("OrderPlaced", from: 1, to: 2) { json in json["currency"] = "EUR" })

    var payload: any Encodable & Sendable {
        switch self {
        case .placed(let event): event
        case .itemAdded(let event): event
        case .shipped(let event): event
        }
    }
}

struct Order: SnapshottableAggregate {
    enum Command: Sendable {
        case place(customer: String, currency: String)
        case addItem(sku: String, quantity: Int)
        case ship(carrier: String)
    }

    enum Failure: Error, Equatable {
        case alreadyPlaced
        case notPlaced
        case invalidQuantity(Int)
        case alreadyShipped
        case nothingToShip
    }

    static let category = "order"          // aggregate "42" lives in stream "order-42"
    static let initial = Order()
    static let snapshotSchemaVersion = 1   // bump when the stored state's shape changes

    var isPlaced = false
    var isShipped = false
    var items: [String: Int] = [:]

    func decide(_ command: Command) throws -> [OrderEvent] {
        switch command {
        case .place(let customer, let currency):
            guard !isPlaced else { throw Failure.alreadyPlaced }
            return [.placed(OrderPlaced(customer: customer, currency: currency))]
        case .addItem(let sku, let quantity):
            guard isPlaced else { throw Failure.notPlaced }
            guard !isShipped else { throw Failure.alreadyShipped }
            guard quantity > 0 else { throw Failure.invalidQuantity(quantity) }
            return [.itemAdded(ItemAdded(sku: sku, quantity: quantity))]
        case .ship(let carrier):
            guard isPlaced else { throw Failure.notPlaced }
            if isShipped { return [] }  // shipping twice is a no-op
            guard !items.isEmpty else { throw Failure.nothingToShip }
            return [.shipped(OrderShipped(carrier: carrier))]
        }
    }

    mutating func evolve(_ event: OrderEvent) {
        switch event {
        case .placed: isPlaced = true
        case .itemAdded(let added): items[added.sku, default: 0] += added.quantity
        case .shipped: isShipped = true
        }
    }
}
