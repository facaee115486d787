// The snippets of Docs/Aggregates.md that are not the domain (that is DocsDomain.swift), verbatim:
// change both together.
import Chronicle

/// Places and confirms order 42, tries an invalid order 43, and loads order 42 back.
func placeAndConfirm(in store: some EventStore) async throws -> LoadedAggregate<Order> {
    let orders = AggregateRepository<Order>(store: store)

    let placed = try await orders.execute(.place(customer: "ada", total: 30), on: "42",
                                          metadata: EventMetadata(correlationID: "req-7"))
    print(placed.version)      // 1
    let confirmed = try await orders.execute(.confirm, on: "42")
    print(confirmed.position)  // global position of the last event: wait for projections to reach it

    do {
        _ = try await orders.execute(.place(customer: "bob", total: 0), on: "43")
    } catch let failure as Order.Failure {
        print(failure)         // invalidTotal: domain errors arrive unchanged, and nothing was written
    }

    return try await orders.load("42")   // state, version, position
}
