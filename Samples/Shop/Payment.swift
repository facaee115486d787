import Chronicle

struct PaymentCaptured: Codable, Sendable, Equatable {
    var orderId: String
    var amount: Int
}

struct PaymentDeclined: Codable, Sendable, Equatable {
    var orderId: String
    var amount: Int
    var reason: String
}

enum PaymentEvent: RegisteredEvent {
    case captured(PaymentCaptured)
    case declined(PaymentDeclined)

    static let registry = EventTypeRegistry<PaymentEvent>()
        .register(PaymentCaptured.self, as: "PaymentCaptured", version: 1, PaymentEvent.captured)
        .register(PaymentDeclined.self, as: "PaymentDeclined", version: 1, PaymentEvent.declined)

    var payload: any Encodable & Sendable {
        switch self {
        case .captured(let event): event
        case .declined(let event): event
        }
    }
}

/// The payment of one order (`payment-<orderId>`), against a simulated card gateway: the card
/// `fail` and amounts over ``limit`` are declined. Charging twice decides nothing.
struct Payment: Aggregate {
    enum Command: Sendable {
        case charge(orderId: String, amount: Int, card: String)
    }

    /// The largest amount the gateway accepts, in cents.
    static let limit = 100_000
    static let category = "payment"
    static let initial = Payment()

    var decided = false

    func decide(_ command: Command) throws -> [PaymentEvent] {
        guard !decided else { return [] }
        switch command {
        case .charge(let orderId, let amount, let card):
            if card.lowercased() == "fail" {
                return [.declined(PaymentDeclined(orderId: orderId, amount: amount, reason: "card declined"))]
            }
            if amount > Self.limit {
                return [.declined(PaymentDeclined(orderId: orderId, amount: amount, reason: "amount over the \(Self.limit / 100) limit"))]
            }
            return [.captured(PaymentCaptured(orderId: orderId, amount: amount))]
        }
    }

    mutating func evolve(_ event: PaymentEvent) {
        decided = true
    }
}
