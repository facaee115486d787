import Chronicle

/// One line of an order: a catalogue item, how many, at what unit price (cents).
struct OrderLine: Codable, Sendable, Equatable {
    var sku: String
    var quantity: Int
    var unitPrice: Int
}

struct OrderPlaced: Codable, Sendable, Equatable {
    var customer: String
    var lines: [OrderLine]
    var total: Int
    var card: String
}

struct OrderPaid: Codable, Sendable, Equatable {
    var amount: Int
}

struct OrderShipped: Codable, Sendable, Equatable {
    var carrier: String
    var tracking: String
}

struct OrderCancelled: Codable, Sendable, Equatable {
    var reason: String
}

enum OrderEvent: RegisteredEvent {
    case placed(OrderPlaced)
    case paid(OrderPaid)
    case shipped(OrderShipped)
    case cancelled(OrderCancelled)

    static let registry = EventTypeRegistry<OrderEvent>()
        .register(OrderPlaced.self, as: "OrderPlaced", version: 1, OrderEvent.placed)
        .register(OrderPaid.self, as: "OrderPaid", version: 1, OrderEvent.paid)
        .register(OrderShipped.self, as: "OrderShipped", version: 1, OrderEvent.shipped)
        .register(OrderCancelled.self, as: "OrderCancelled", version: 1, OrderEvent.cancelled)

    var payload: any Encodable & Sendable {
        switch self {
        case .placed(let event): event
        case .paid(let event): event
        case .shipped(let event): event
        case .cancelled(let event): event
        }
    }
}

/// An order: placed synchronously over HTTP, then paid, shipped or cancelled by the fulfilment
/// process manager. Commands from the process manager decide idempotently (a repeated command
/// decides nothing), so redelivered events are harmless.
struct Order: Aggregate {
    enum Command: Sendable {
        case place(customer: String, lines: [OrderLine], card: String)
        case markPaid(amount: Int)
        case markShipped(carrier: String, tracking: String)
        case cancel(reason: String)
    }

    enum Failure: Error, Equatable {
        case alreadyPlaced
        case emptyOrder
        case notPlaced
        case notPaid
        case alreadyPaid
    }

    enum Status: String, Codable, Sendable {
        case none, placed, paid, shipped, cancelled
    }

    static let category = "order"
    static let initial = Order()

    var status = Status.none
    var customer = ""
    var total = 0
    var card = ""
    var lines: [OrderLine] = []

    func decide(_ command: Command) throws -> [OrderEvent] {
        switch command {
        case .place(let customer, let lines, let card):
            guard status == .none else { throw Failure.alreadyPlaced }
            guard !lines.isEmpty else { throw Failure.emptyOrder }
            let total = lines.reduce(0) { $0 + $1.quantity * $1.unitPrice }
            return [.placed(OrderPlaced(customer: customer, lines: lines, total: total, card: card))]
        case .markPaid(let amount):
            switch status {
            case .none: throw Failure.notPlaced
            case .placed: return [.paid(OrderPaid(amount: amount))]
            case .paid, .shipped, .cancelled: return []
            }
        case .markShipped(let carrier, let tracking):
            switch status {
            case .none: throw Failure.notPlaced
            case .placed: throw Failure.notPaid
            case .paid: return [.shipped(OrderShipped(carrier: carrier, tracking: tracking))]
            case .shipped, .cancelled: return []
            }
        case .cancel(let reason):
            switch status {
            case .none: throw Failure.notPlaced
            case .placed: return [.cancelled(OrderCancelled(reason: reason))]
            case .paid, .shipped: throw Failure.alreadyPaid
            case .cancelled: return []
            }
        }
    }

    mutating func evolve(_ event: OrderEvent) {
        switch event {
        case .placed(let placed):
            status = .placed
            customer = placed.customer
            total = placed.total
            card = placed.card
            lines = placed.lines
        case .paid: status = .paid
        case .shipped: status = .shipped
        case .cancelled: status = .cancelled
        }
    }
}
