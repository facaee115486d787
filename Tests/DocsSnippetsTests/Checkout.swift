// The process manager of Docs/SyncAndAsync.md, verbatim: change both together.
import Chronicle
import ChronicleSQLite
import Logging

struct PaymentCharged: Codable, Sendable, Equatable {
    var amount: Int
}

struct PaymentDeclined: Codable, Sendable, Equatable {
    var reason: String
}

enum PaymentEvent: RegisteredEvent {
    case charged(PaymentCharged)
    case declined(PaymentDeclined)

    static let registry = EventTypeRegistry<PaymentEvent>()
        .register(PaymentCharged.self, as: "PaymentCharged", version: 1, PaymentEvent.charged)
        .register(PaymentDeclined.self, as: "PaymentDeclined", version: 1, PaymentEvent.declined)

    var payload: any Encodable & Sendable {
        switch self {
        case .charged(let event): event
        case .declined(let event): event
        }
    }
}

/// The payment of order `id` lives in stream `payment-id`. The limit comes in with the command:
/// deciding stays pure.
struct Payment: Aggregate {
    enum Command: Sendable {
        case charge(amount: Int, limit: Int)
    }

    static let category = "payment"
    static let initial = Payment()

    var isSettled = false

    func decide(_ command: Command) throws -> [PaymentEvent] {
        switch command {
        case .charge(let amount, let limit):
            if isSettled { return [] }   // redelivered: already charged or declined
            if amount > limit { return [.declined(PaymentDeclined(reason: "over the limit of \(limit)"))] }
            return [.charged(PaymentCharged(amount: amount))]
        }
    }

    mutating func evolve(_ event: PaymentEvent) {
        isSettled = true
    }
}

/// Reacts to events with commands: charge placed orders, then confirm the paid ones and
/// compensate the declined ones by cancelling them.
struct Checkout: ProcessManager {
    let name = "checkout"
    let orders: AggregateRepository<Order>
    let payments: AggregateRepository<Payment>
    let limit: Int

    private let orderEvents = JSONEventCodec<OrderEvent>().skippingUnknownTypes()
    private let paymentEvents = JSONEventCodec<PaymentEvent>().skippingUnknownTypes()

    init(orders: AggregateRepository<Order>, payments: AggregateRepository<Payment>, limit: Int) {
        self.orders = orders
        self.payments = payments
        self.limit = limit
    }

    func react(to event: RecordedEvent, context: ProcessContext) async throws {
        guard let id = event.streamID.idWithinCategory else { return }
        switch event.category {
        case Order.category:
            for case .placed(let placed) in try orderEvents.decode(event) {
                try await context.execute(.charge(amount: placed.total, limit: limit), on: id, using: payments)
            }
        case Payment.category:
            for paymentEvent in try paymentEvents.decode(event) {
                switch paymentEvent {
                case .charged:
                    try await context.execute(.confirm, on: id, using: orders)
                case .declined(let declined):
                    try await context.execute(.cancel(reason: "payment declined: \(declined.reason)"), on: id, using: orders)
                }
            }
        default:
            break
        }
    }
}

/// The runner that delivers the log to `checkout`: its checkpoint and parked events live in a
/// small SQLite file of its own.
func checkoutRunner(_ checkout: Checkout, store: SQLiteEventStore, directory: String, logger: Logger) throws -> SQLiteProcessManager {
    try SQLiteProcessManager(
        checkout, path: directory + "/checkout.sqlite",
        source: .sqlite(store),   // in-process appends at once; other processes' by polling
        failurePolicy: FailurePolicy(maxAttempts: 5, baseDelay: .milliseconds(100), then: .park),
        logger: logger
    )
}
