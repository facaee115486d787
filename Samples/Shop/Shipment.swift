import Chronicle

struct ShipmentDispatched: Codable, Sendable, Equatable {
    var orderId: String
    var carrier: String
    var tracking: String
}

enum ShipmentEvent: RegisteredEvent {
    case dispatched(ShipmentDispatched)

    static let registry = EventTypeRegistry<ShipmentEvent>()
        .register(ShipmentDispatched.self, as: "ShipmentDispatched", version: 1, ShipmentEvent.dispatched)

    var payload: any Encodable & Sendable {
        switch self {
        case .dispatched(let event): event
        }
    }
}

/// The shipment of one order (`shipment-<orderId>`). Dispatching twice decides nothing.
struct Shipment: Aggregate {
    enum Command: Sendable {
        case dispatch(orderId: String, carrier: String)
    }

    static let category = "shipment"
    static let initial = Shipment()

    var dispatched = false

    func decide(_ command: Command) throws -> [ShipmentEvent] {
        guard !dispatched else { return [] }
        switch command {
        case .dispatch(let orderId, let carrier):
            // The tracking number is derived from the order: deciding stays pure.
            return [.dispatched(ShipmentDispatched(orderId: orderId, carrier: carrier, tracking: "TRK-\(orderId.uppercased())"))]
        }
    }

    mutating func evolve(_ event: ShipmentEvent) {
        dispatched = true
    }
}
