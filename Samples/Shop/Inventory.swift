import Chronicle

struct StockAdded: Codable, Sendable, Equatable {
    var sku: String
    var quantity: Int
}

struct StockReserved: Codable, Sendable, Equatable {
    var orderId: String
    var lines: [OrderLine]
}

struct StockReservationRejected: Codable, Sendable, Equatable {
    var orderId: String
    var reason: String
}

struct StockReleased: Codable, Sendable, Equatable {
    var orderId: String
    var lines: [OrderLine]
}

enum InventoryEvent: RegisteredEvent {
    case added(StockAdded)
    case reserved(StockReserved)
    case rejected(StockReservationRejected)
    case released(StockReleased)

    static let registry = EventTypeRegistry<InventoryEvent>()
        .register(StockAdded.self, as: "StockAdded", version: 1, InventoryEvent.added)
        .register(StockReserved.self, as: "StockReserved", version: 1, InventoryEvent.reserved)
        .register(StockReservationRejected.self, as: "StockReservationRejected", version: 1, InventoryEvent.rejected)
        .register(StockReleased.self, as: "StockReleased", version: 1, InventoryEvent.released)

    var payload: any Encodable & Sendable {
        switch self {
        case .added(let event): event
        case .reserved(let event): event
        case .rejected(let event): event
        case .released(let event): event
        }
    }
}

/// The warehouse (one aggregate, `inventory-main`): stock levels and per-order reservations.
/// Reserving or releasing for an order twice decides nothing the second time.
///
/// Every order appends to this one stream, so it grows without end: it is snapshottable (the
/// shop saves a snapshot every ``ShopApp/inventorySnapshotInterval`` events), and loading it
/// reads the latest snapshot and the few events after it instead of the whole stream.
struct Inventory: SnapshottableAggregate {
    static let snapshotSchemaVersion = 1

    enum Command: Sendable {
        case add(sku: String, quantity: Int)
        case reserve(orderId: String, lines: [OrderLine])
        case release(orderId: String)
    }

    static let category = "inventory"
    static let initial = Inventory()

    var available: [String: Int] = [:]
    var reservations: [String: [OrderLine]] = [:]
    var settled: Set<String> = []  // rejected or released orders

    func decide(_ command: Command) throws -> [InventoryEvent] {
        switch command {
        case .add(let sku, let quantity):
            return quantity > 0 ? [.added(StockAdded(sku: sku, quantity: quantity))] : []
        case .reserve(let orderId, let lines):
            guard reservations[orderId] == nil, !settled.contains(orderId) else { return [] }
            var needed: [String: Int] = [:]
            for line in lines { needed[line.sku, default: 0] += line.quantity }
            for (sku, quantity) in needed.sorted(by: { $0.key < $1.key }) where available[sku, default: 0] < quantity {
                return [.rejected(StockReservationRejected(orderId: orderId, reason: "only \(available[sku, default: 0]) \(sku) in stock"))]
            }
            return [.reserved(StockReserved(orderId: orderId, lines: lines))]
        case .release(let orderId):
            guard let lines = reservations[orderId] else { return [] }
            return [.released(StockReleased(orderId: orderId, lines: lines))]
        }
    }

    mutating func evolve(_ event: InventoryEvent) {
        switch event {
        case .added(let added):
            available[added.sku, default: 0] += added.quantity
        case .reserved(let reserved):
            reservations[reserved.orderId] = reserved.lines
            for line in reserved.lines { available[line.sku, default: 0] -= line.quantity }
        case .rejected(let rejected):
            settled.insert(rejected.orderId)
        case .released(let released):
            reservations[released.orderId] = nil
            settled.insert(released.orderId)
            for line in released.lines { available[line.sku, default: 0] += line.quantity }
        }
    }
}
