import Chronicle
import Foundation
import Synchronization

/// A thread-safe list, for collecting reports from `@Sendable` callbacks.
final class Collected<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])
    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
}

/// A store that lets a competing writer get in first: before each of the first `interference`
/// appends it appends `competing` to the same stream itself, then forwards the append (which
/// then conflicts). It records every expected version it sees.
final class InterferingStore: EventStore, Sendable {
    let base: InMemoryEventStore
    private let state: Mutex<(remaining: Int, expected: [ExpectedVersion])>
    private let competing: @Sendable () -> EventData

    init(_ base: InMemoryEventStore, interference: Int, competing: @escaping @Sendable () -> EventData) {
        self.base = base
        self.state = Mutex((interference, []))
        self.competing = competing
    }

    var expectedVersions: [ExpectedVersion] { state.withLock { $0.expected } }

    func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        let interfere = state.withLock { state in
            state.expected.append(contentsOf: appends.map(\.expectedVersion))
            defer { state.remaining -= 1 }
            return state.remaining > 0
        }
        if interfere {
            try await base.append(competing(), to: appends[0].streamID, expectedVersion: .any)
        }
        return try await base.append(appends)
    }

    func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try await base.readStream(stream, from: start, direction: direction, limit: limit)
    }
    func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await base.readAll(after: position, limit: limit)
    }
    func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await base.readCategory(category, after: position, limit: limit)
    }
    func streamVersion(of stream: StreamID) async throws -> StreamVersion { await base.streamVersion(of: stream) }
    func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        try await base.streams(category: category, after: after, limit: limit)
    }
    func headPosition() async throws -> GlobalPosition { await base.headPosition() }
}

/// A snapshot store whose every operation fails.
struct BrokenSnapshotStore: SnapshotStore {
    struct Broken: Error {}
    func snapshot(of stream: StreamID) async throws -> Snapshot? { throw Broken() }
    func save(_ snapshot: Snapshot) async throws { throw Broken() }
    func deleteSnapshot(of stream: StreamID) async throws { throw Broken() }
}

/// A `FixtureOrder` `ItemAdded` event as raw data, for competing writers.
@Sendable func rawItemAdded(sku: String = "competitor", quantity: Int = 1) -> EventData {
    EventData(type: "ItemAdded", payload: Data(#"{"quantity":\#(quantity),"sku":"\#(sku)"}"#.utf8))
}

// MARK: - The aggregate fixture of this target's tests

// `FixtureOrder` is what the repository, snapshot, codec, upcasting and spec tests of this target run
// on: a schema-version-2 event with a renamed predecessor and a migration, a snapshottable state and
// several domain failures. It is a test fixture, not documentation: the docs' `Order` domain is
// Tests/DocsSnippetsTests/DocsDomain.swift (and the Shop sample's is Samples/Shop).

struct OrderPlaced: Codable, Sendable, Equatable {
    var customer: String
    var currency: String  // added in schema version 2
}

struct ItemAdded: Codable, Sendable, Equatable {
    var sku: String
    var quantity: Int
}

struct OrderShipped: Codable, Sendable, Equatable {
    var carrier: String
}

enum FixtureOrderEvent: RegisteredEvent {
    case placed(OrderPlaced)
    case itemAdded(ItemAdded)
    case shipped(OrderShipped)

    static let registry = EventTypeRegistry<FixtureOrderEvent>()
        .register(OrderPlaced.self, as: "OrderPlaced", version: 2, FixtureOrderEvent.placed)
        .register(ItemAdded.self, as: "ItemAdded", version: 1, FixtureOrderEvent.itemAdded)
        .register(OrderShipped.self, as: "OrderShipped", version: 1, FixtureOrderEvent.shipped)
        // Until version 1 the event was called OrderCreated.
        .upcast(.renameType("OrderCreated", version: 1, to: "OrderPlaced"))
        // Version 2 added the currency; old orders were all in euros.
        .upcast(.migrate("OrderPlaced", from: 1, to: 2) { json in json["currency"] = "EUR" })

    var payload: any Encodable & Sendable {
        switch self {
        case .placed(let event): event
        case .itemAdded(let event): event
        case .shipped(let event): event
        }
    }
}

struct FixtureOrder: SnapshottableAggregate {
    enum Command: Sendable {
        case place(customer: String, currency: String)
        case addItem(sku: String, quantity: Int)
        case ship(carrier: String)
    }

    enum Failure: Error, Equatable {
        case alreadyPlaced
        case notPlaced
        case invalidQuantity(Int)
        case alreadyShipped
        case nothingToShip
    }

    static let category = "order"          // aggregate "42" lives in stream "order-42"
    static let initial = FixtureOrder()
    static let snapshotSchemaVersion = 1   // bump when the stored state's shape changes

    var isPlaced = false
    var isShipped = false
    var items: [String: Int] = [:]

    func decide(_ command: Command) throws -> [FixtureOrderEvent] {
        switch command {
        case .place(let customer, let currency):
            guard !isPlaced else { throw Failure.alreadyPlaced }
            return [.placed(OrderPlaced(customer: customer, currency: currency))]
        case .addItem(let sku, let quantity):
            guard isPlaced else { throw Failure.notPlaced }
            guard !isShipped else { throw Failure.alreadyShipped }
            guard quantity > 0 else { throw Failure.invalidQuantity(quantity) }
            return [.itemAdded(ItemAdded(sku: sku, quantity: quantity))]
        case .ship(let carrier):
            guard isPlaced else { throw Failure.notPlaced }
            if isShipped { return [] }  // shipping twice is a no-op
            guard !items.isEmpty else { throw Failure.nothingToShip }
            return [.shipped(OrderShipped(carrier: carrier))]
        }
    }

    mutating func evolve(_ event: FixtureOrderEvent) {
        switch event {
        case .placed: isPlaced = true
        case .itemAdded(let added): items[added.sku, default: 0] += added.quantity
        case .shipped: isShipped = true
        }
    }
}
