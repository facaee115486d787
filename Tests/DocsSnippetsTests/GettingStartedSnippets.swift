// The snippets of the Getting Started and Concurrency articles, verbatim: change both together.
import Chronicle
import ChronicleSQLite
import Foundation

/// Runs commands on orders stored in `directory/shop.sqlite`, then reads the stream back.
func gettingStarted(in directory: String) async throws {
    let store = try SQLiteEventStore(path: directory + "/shop.sqlite")
    let orders = AggregateRepository<Order>(store: store)

    let placed = try await orders.execute(.place(customer: "ada", total: 30), on: "42",
                                          metadata: EventMetadata(correlationID: "req-1"))
    print(placed.version, placed.position)   // 1 1

    do {
        _ = try await orders.execute(.place(customer: "bob", total: 10), on: "42")
    } catch Order.Failure.alreadyPlaced {
        // a domain error: nothing was written
    }

    let order = try await orders.load("42")
    print(order.state.total, order.version)   // 30 1

    for try await event in store.events(in: "order-42") {
        print(event.streamVersion, event.type, event.metadata.correlationID ?? "-")
    }
    try await store.close()
}

/// Expected versions and idempotent retries on the raw store.
func appendWithExpectations(to store: SQLiteEventStore) async throws {
    let placed = EventData(type: "OrderPlaced", payload: Data(#"{"customer":"ada","total":30}"#.utf8))
    let first = try await store.append(placed, to: "order-9", expectedVersion: .noStream)

    // A retry of the same event (same id), say after a timeout, writes nothing and succeeds.
    let retry = try await store.append(placed, to: "order-9", expectedVersion: .noStream)
    print(retry.wasAlreadyStored, retry.position == first.position)   // true true

    // Another writer's event with a stale expectation fails, and nothing is written.
    let late = EventData(type: "OrderPlaced", payload: Data(#"{"customer":"bob","total":5}"#.utf8))
    do {
        try await store.append(late, to: "order-9", expectedVersion: .noStream)
    } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
        print(error.actualVersion ?? .initial)   // 1: reload the stream and decide again
    }
}

/// Moves stock between two streams atomically: both appends are written, or neither is.
func moveStock(in store: SQLiteEventStore, from source: StreamVersion) async throws -> [AppendResult] {
    let out = EventData(type: "StockRemoved", payload: Data(#"{"sku":"tea","quantity":2}"#.utf8))
    let into = EventData(type: "StockAdded", payload: Data(#"{"sku":"tea","quantity":2}"#.utf8))
    return try await store.append([
        StreamAppend([out], to: "warehouse-north", expectedVersion: .exactly(source)),
        StreamAppend([into], to: "warehouse-south", expectedVersion: .any),
    ])
}
