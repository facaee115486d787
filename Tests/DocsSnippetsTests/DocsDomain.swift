// The domain of Docs/GettingStarted and the DocC articles, verbatim (DocSnippetCheckTests checks
// every ```swift block of the docs against the files of this target): change both together.
import Chronicle

struct OrderPlaced: Codable, Sendable, Equatable {
    var customer: String
    var total: Int
}

struct OrderConfirmed: Codable, Sendable, Equatable {}

struct OrderCancelled: Codable, Sendable, Equatable {
    var reason: String
}

enum OrderEvent: RegisteredEvent {
    case placed(OrderPlaced)
    case confirmed(OrderConfirmed)
    case cancelled(OrderCancelled)

    static let registry = EventTypeRegistry<OrderEvent>()
        .register(OrderPlaced.self, as: "OrderPlaced", version: 1, OrderEvent.placed)
        .register(OrderConfirmed.self, as: "OrderConfirmed", version: 1, OrderEvent.confirmed)
        .register(OrderCancelled.self, as: "OrderCancelled", version: 1, OrderEvent.cancelled)

    var payload: any Encodable & Sendable {
        switch self {
        case .placed(let event): event
        case .confirmed(let event): event
        case .cancelled(let event): event
        }
    }
}

struct Order: Aggregate {
    enum Command: Sendable {
        case place(customer: String, total: Int)
        case confirm
        case cancel(reason: String)
    }

    enum Failure: Error, Equatable {
        case alreadyPlaced, notPlaced, invalidTotal, alreadyCancelled
    }

    static let category = "order"   // order "42" lives in stream "order-42"
    static let initial = Order()

    var isPlaced = false
    var isConfirmed = false
    var isCancelled = false
    var total = 0

    func decide(_ command: Command) throws -> [OrderEvent] {
        switch command {
        case .place(let customer, let total):
            guard !isPlaced else { throw Failure.alreadyPlaced }
            guard total > 0 else { throw Failure.invalidTotal }
            return [.placed(OrderPlaced(customer: customer, total: total))]
        case .confirm:
            guard isPlaced else { throw Failure.notPlaced }
            guard !isCancelled else { throw Failure.alreadyCancelled }
            return isConfirmed ? [] : [.confirmed(OrderConfirmed())]   // confirming twice: no-op
        case .cancel(let reason):
            guard isPlaced else { throw Failure.notPlaced }
            return isCancelled ? [] : [.cancelled(OrderCancelled(reason: reason))]
        }
    }

    mutating func evolve(_ event: OrderEvent) {
        switch event {
        case .placed(let placed):
            isPlaced = true
            total = placed.total
        case .confirmed:
            isConfirmed = true
        case .cancelled:
            isCancelled = true
        }
    }
}
