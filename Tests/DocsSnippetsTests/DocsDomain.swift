// The docs' one domain: the `Order` of the Getting Started article, Docs/Aggregates.md, the
// versioning, read-your-writes and testing articles and Docs/SyncAndAsync.md, verbatim
// (DocSnippetCheckTests checks every ```swift block of the docs against the files under Tests/;
// AggregatesGuideTests checks that the guides' domain blocks are this file's): change them together.
import Chronicle

struct OrderPlaced: Codable, Sendable, Equatable {
    var customer: String
    var total: Int
}

struct OrderConfirmed: Codable, Sendable, Equatable {}

struct OrderCancelled: Codable, Sendable, Equatable {
    var reason: String   // added in schema version 2
}

enum OrderEvent: RegisteredEvent {
    case placed(OrderPlaced)
    case confirmed(OrderConfirmed)
    case cancelled(OrderCancelled)

    static let registry = EventTypeRegistry<OrderEvent>()
        .register(OrderPlaced.self, as: "OrderPlaced", version: 1, OrderEvent.placed)
        .register(OrderConfirmed.self, as: "OrderConfirmed", version: 1, OrderEvent.confirmed)
        .register(OrderCancelled.self, as: "OrderCancelled", version: 2, OrderEvent.cancelled)
        .upcast(OrderEvent.upcasters)   // how events stored by older releases read today

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

extension OrderEvent {
    /// The forms older releases stored, read in today's shapes. The log keeps them forever.
    static let upcasters: [Upcaster] = [
        // The first releases called OrderPlaced OrderCreated.
        .renameType("OrderCreated", version: 1, to: "OrderPlaced"),
        // Version 2 of OrderCancelled added the reason; older cancellations gave none.
        .migrate("OrderCancelled", from: 1, to: 2) { json in json["reason"] = "not recorded" },
    ]
}

extension Order: SnapshottableAggregate {
    static let snapshotSchemaVersion = 1   // bump when the stored state's shape changes
}
