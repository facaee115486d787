import Chronicle
import Foundation

// A tiny aggregate for the SQLite-backed aggregate tests: one command can add many events, so
// long streams are written with large multi-event appends.

struct Incremented: Codable, Sendable, Equatable {
    var by: Int
}

enum TallyEvent: RegisteredEvent {
    case incremented(Incremented)

    static let registry = EventTypeRegistry<TallyEvent>()
        .register(Incremented.self, as: "Incremented", version: 1, TallyEvent.incremented)

    var payload: any Encodable & Sendable {
        switch self {
        case .incremented(let event): event
        }
    }
}

struct Tally: SnapshottableAggregate, Equatable {
    enum Command: Sendable {
        case add(count: Int)
        case reset
    }

    struct TooMany: Error, Equatable {}

    static let category = "tally"
    static let initial = Tally()
    static let snapshotSchemaVersion = 1

    var total = 0
    var events = 0

    func decide(_ command: Command) throws -> [TallyEvent] {
        switch command {
        case .add(let count):
            guard count <= 10_000 else { throw TooMany() }
            return (0..<count).map { .incremented(Incremented(by: $0 % 7 + 1)) }
        case .reset:
            return total == 0 ? [] : [.incremented(Incremented(by: -total))]
        }
    }

    mutating func evolve(_ event: TallyEvent) {
        switch event {
        case .incremented(let incremented):
            total += incremented.by
            events += 1
        }
    }
}
