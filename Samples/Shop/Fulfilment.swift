import Chronicle
import Foundation

/// The fulfilment process manager (saga): the asynchronous path after an order is placed.
///
/// ```
/// OrderPlaced          → Inventory.reserve
/// StockReserved        → Payment.charge
/// StockReservationRejected → Order.cancel                     (compensation: nothing to undo)
/// PaymentCaptured      → Order.markPaid, Shipment.dispatch
/// PaymentDeclined      → Inventory.release, Order.cancel       (compensation)
/// ShipmentDispatched   → Order.markShipped
/// ```
///
/// Every command goes through ``ProcessContext/execute(_:on:using:)``: its events get ids derived
/// from the triggering event and carry its correlation and causation ids.
struct Fulfilment: ProcessManager {
    let name = "fulfilment"
    let orders: AggregateRepository<Order>
    let inventory: AggregateRepository<Inventory>
    let payments: AggregateRepository<Payment>
    let shipments: AggregateRepository<Shipment>

    static let carrier = "ChronoPost"

    /// The environment variable naming the simulated payment gateway's outage file: while that
    /// file exists, charging fails (a transient failure: the saga retries, then parks the event;
    /// once the file is gone, retrying it in the console or the CLI charges the order). For
    /// trying the console's retry, and for its browser tests.
    static let gatewayOutageVariable = "SHOP_GATEWAY_OUTAGE_FILE"

    /// The simulated gateway is down.
    struct GatewayUnavailable: Error, CustomStringConvertible {
        var file: String
        var description: String { "payment gateway unavailable (simulated outage: \(file) exists)" }
    }

    /// Throws ``GatewayUnavailable`` while the outage file exists.
    static func checkGateway() throws {
        guard let file = ProcessInfo.processInfo.environment[gatewayOutageVariable], !file.isEmpty else { return }
        if FileManager.default.fileExists(atPath: file) { throw GatewayUnavailable(file: file) }
    }

    /// The saga over `store`; the warehouse loads from and saves snapshots in `snapshots`, so
    /// each reservation reads at most ``ShopApp/inventorySnapshotInterval`` events of
    /// `inventory-main`, however many orders came before.
    init(store: some EventStore, snapshots: some SnapshotStore, inventorySnapshots: SnapshotPolicy = ShopApp.inventorySnapshots) {
        orders = AggregateRepository(store: store)
        inventory = ShopApp.inventoryRepository(store: store, snapshots: snapshots, policy: inventorySnapshots)
        payments = AggregateRepository(store: store)
        shipments = AggregateRepository(store: store)
    }

    func react(to event: RecordedEvent, context: ProcessContext) async throws {
        switch event.category {
        case Order.category:
            guard let orderId = event.streamID.idWithinCategory else { return }
            for case .placed(let placed) in try JSONEventCodec<OrderEvent>().decode(event) {
                try await context.execute(.reserve(orderId: orderId, lines: placed.lines), on: ShopApp.warehouse, using: inventory)
            }
        case Inventory.category:
            for decoded in try JSONEventCodec<InventoryEvent>().decode(event) {
                switch decoded {
                case .reserved(let reserved):
                    try Self.checkGateway()
                    let order = try await orders.load(reserved.orderId).state
                    try await context.execute(.charge(orderId: reserved.orderId, amount: order.total, card: order.card), on: reserved.orderId, using: payments)
                case .rejected(let rejected):
                    try await context.execute(.cancel(reason: "out of stock: \(rejected.reason)"), on: rejected.orderId, using: orders)
                case .added, .released:
                    break
                }
            }
        case Payment.category:
            for decoded in try JSONEventCodec<PaymentEvent>().decode(event) {
                switch decoded {
                case .captured(let captured):
                    try await context.execute(.markPaid(amount: captured.amount), on: captured.orderId, using: orders)
                    try await context.execute(.dispatch(orderId: captured.orderId, carrier: Self.carrier), on: captured.orderId, using: shipments)
                case .declined(let declined):
                    // Compensation: give the stock back (the order's lines, as reserved), then cancel the order.
                    let order = try await orders.load(declined.orderId).state
                    try await context.execute(.release(orderId: declined.orderId, lines: order.lines), on: ShopApp.warehouse, using: inventory)
                    try await context.execute(.cancel(reason: "payment declined: \(declined.reason)"), on: declined.orderId, using: orders)
                }
            }
        case Shipment.category:
            for case .dispatched(let dispatched) in try JSONEventCodec<ShipmentEvent>().decode(event) {
                try await context.execute(.markShipped(carrier: dispatched.carrier, tracking: dispatched.tracking), on: dispatched.orderId, using: orders)
            }
        default:
            break
        }
    }
}
