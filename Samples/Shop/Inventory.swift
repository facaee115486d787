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

/// The warehouse (one aggregate, `inventory-main`): stock levels.
///
/// Every order appends to this one stream, so it grows without end. Two things keep an order's
/// cost flat however long it gets:
/// - the state is only the stock per sku: it is as small after a million orders as after one
///   (no per-order memory);
/// - it is snapshottable: the shop saves a snapshot every ``ShopApp/inventorySnapshotInterval``
///   events, and loading reads the latest snapshot and the few events after it.
///
/// Reserving or releasing twice for one order never happens twice in the stream: only the
/// fulfilment saga sends these commands, through ``ProcessContext/execute(_:on:using:)``, whose
/// event ids derive from the triggering event; a redelivered trigger decides again and its events
/// get the same ids, which the store recognises (nothing is appended).
struct Inventory: SnapshottableAggregate {
    static let snapshotSchemaVersion = 1

    enum Command: Sendable {
        case add(sku: String, quantity: Int)
        case reserve(orderId: String, lines: [OrderLine])
        /// Gives back what `reserve` took for the order (its lines, as reserved).
        case release(orderId: String, lines: [OrderLine])
    }

    static let category = "inventory"
    static let initial = Inventory()

    var available: [String: Int] = [:]

    func decide(_ command: Command) throws -> [InventoryEvent] {
        switch command {
        case .add(let sku, let quantity):
            return quantity > 0 ? [.added(StockAdded(sku: sku, quantity: quantity))] : []
        case .reserve(let orderId, let lines):
            var needed: [String: Int] = [:]
            for line in lines { needed[line.sku, default: 0] += line.quantity }
            for (sku, quantity) in needed.sorted(by: { $0.key < $1.key }) where available[sku, default: 0] < quantity {
                return [.rejected(StockReservationRejected(orderId: orderId, reason: "only \(available[sku, default: 0]) \(sku) in stock"))]
            }
            return [.reserved(StockReserved(orderId: orderId, lines: lines))]
        case .release(let orderId, let lines):
            return lines.isEmpty ? [] : [.released(StockReleased(orderId: orderId, lines: lines))]
        }
    }

    mutating func evolve(_ event: InventoryEvent) {
        switch event {
        case .added(let added):
            available[added.sku, default: 0] += added.quantity
        case .reserved(let reserved):
            for line in reserved.lines { available[line.sku, default: 0] -= line.quantity }
        case .rejected:
            break
        case .released(let released):
            for line in released.lines { available[line.sku, default: 0] += line.quantity }
        }
    }
}
