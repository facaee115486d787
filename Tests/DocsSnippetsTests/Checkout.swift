// The process manager of Docs/SyncAndAsync.md, verbatim: change both together.
import Chronicle

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
struct CheckoutSaga: Sendable {
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

    func handle(_ event: RecordedEvent) async throws {
        guard let id = event.streamID.idWithinCategory else { return }
        let metadata = EventMetadata.causedBy(event)   // same correlation id; caused by this event
        switch event.category {
        case Order.category:
            for case .placed(let placed) in try orderEvents.decode(event) {
                _ = try await payments.execute(.charge(amount: placed.total, limit: limit), on: id, metadata: metadata)
            }
        case Payment.category:
            for paymentEvent in try paymentEvents.decode(event) {
                switch paymentEvent {
                case .charged:
                    _ = try await orders.execute(.confirm, on: id, metadata: metadata)
                case .declined(let declined):
                    _ = try await orders.execute(.cancel(reason: "payment declined: \(declined.reason)"), on: id, metadata: metadata)
                }
            }
        default:
            break
        }
    }
}

/// Delivers the events after `checkpoint` to the saga in log order and returns the new checkpoint.
/// Store the checkpoint durably after each event: an event handled but not checkpointed before a
/// crash is delivered again, which the idempotent commands make harmless.
func deliver(to saga: CheckoutSaga, from store: some EventReader, after checkpoint: GlobalPosition) async throws -> GlobalPosition {
    var checkpoint = checkpoint
    for try await event in store.allEvents(after: checkpoint) {
        try await saga.handle(event)
        checkpoint = event.position
    }
    return checkpoint
}
