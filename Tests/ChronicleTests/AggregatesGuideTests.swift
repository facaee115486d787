import Chronicle
import ChronicleTesting
import Foundation
import Testing

/// The snippets of Docs/Aggregates.md, run.
@Suite struct AggregatesGuideTests {
    @Test func theGuidesRepositoryExampleRuns() async throws {
        let store = InMemoryEventStore()
        let orders = AggregateRepository<Order>(store: store)

        let placed = try await orders.execute(.place(customer: "ada", currency: "EUR"), on: "42",
                                              metadata: EventMetadata(correlationID: "req-7"))
        #expect(placed.version == 1)
        let added = try await orders.execute(.addItem(sku: "tea", quantity: 2), on: "42")
        #expect(added.version == 2)
        let head = await store.headPosition()
        #expect(added.position == head)

        do {
            _ = try await orders.execute(.addItem(sku: "tea", quantity: 0), on: "42")
            Issue.record("expected a domain error")
        } catch let failure as Order.Failure {
            #expect(failure == .invalidQuantity(0))
        }

        let order = try await orders.load("42")
        #expect(order.state.items == ["tea": 2])
        #expect(order.version == 2)
    }

    @Test func theGuidesSpecsPass() throws {
        try AggregateSpec<Order>
            .given(.placed(OrderPlaced(customer: "ada", currency: "EUR")))
            .when(.addItem(sku: "tea", quantity: 2))
            .then(.itemAdded(ItemAdded(sku: "tea", quantity: 2)))

        try AggregateSpec<Order>
            .given()
            .when(.addItem(sku: "tea", quantity: 2))
            .thenThrows(Order.Failure.notPlaced)
    }

    @Test func theGuidesUpcastersReadAnOldOrderCreated() async throws {
        let store = InMemoryEventStore()
        // As written by version 1 of the app:
        try await store.append(
            EventData(type: "OrderCreated", schemaVersion: 1, payload: Data(#"{"customer":"ada"}"#.utf8)),
            to: "order-7", expectedVersion: .noStream
        )
        let order = try await AggregateRepository<Order>(store: store).load("7")
        #expect(order.state.isPlaced)

        let recorded = try await store.readStream("order-7")
        let decoded = try JSONEventCodec<OrderEvent>().decode(recorded[0])
        #expect(decoded == [.placed(OrderPlaced(customer: "ada", currency: "EUR"))])
    }

    @Test func theGuidesDomainCodeIsTheCodeThisTargetCompiles() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let guide = try String(contentsOf: root.appendingPathComponent("Docs/Aggregates.md"), encoding: .utf8)
        let example = try String(contentsOf: root.appendingPathComponent("Tests/ChronicleTests/AggregatesGuideExample.swift"), encoding: .utf8)
        let blocks = guide.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        #expect(blocks.count >= 2)
        for block in blocks.prefix(2) {
            #expect(example.contains(block), "Docs/Aggregates.md and AggregatesGuideExample.swift differ:\n\(block)")
        }
    }
}
