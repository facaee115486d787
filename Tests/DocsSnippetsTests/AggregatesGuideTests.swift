import Chronicle
import ChronicleTesting
import Foundation
import Testing

/// The snippets of Docs/Aggregates.md, run, and the check that every guide shows the one domain of
/// DocsDomain.swift.
@Suite struct AggregatesGuideTests {
    @Test func theGuidesCommandsRun() async throws {
        let store = InMemoryEventStore()
        let order = try await placeAndConfirm(in: store)
        #expect(order.version == 2)
        #expect(order.state.isConfirmed)
        #expect(order.state.total == 30)

        let events = try await store.readStream("order-42")
        #expect(events.map(\.type) == ["OrderPlaced", "OrderConfirmed"])
        #expect(events.first?.metadata.correlationID == "req-7")
        let head = await store.headPosition()
        #expect(order.position == head, "the invalid order 43 wrote nothing")
        #expect(await store.streamVersion(of: "order-43") == .initial)
    }

    @Test func theGuidesUpcastersReadWhatOlderReleasesStored() async throws {
        let store = InMemoryEventStore()
        // As written by older releases of the app:
        try await store.append(
            [
                EventData(type: "OrderCreated", schemaVersion: 1, payload: Data(#"{"customer":"ada","total":30}"#.utf8)),
                EventData(type: "OrderCancelled", schemaVersion: 1, payload: Data("{}".utf8)),
            ],
            to: "order-7", expectedVersion: .noStream
        )
        let order = try await AggregateRepository<Order>(store: store).load("7")
        #expect(order.state.isPlaced)
        #expect(order.state.isCancelled)
        #expect(order.state.total == 30)

        let recorded = try await store.readStream("order-7")
        let codec = JSONEventCodec<OrderEvent>()
        #expect(try codec.decode(recorded[0]) == [.placed(OrderPlaced(customer: "ada", total: 30))])
        #expect(try codec.decode(recorded[1]) == [.cancelled(OrderCancelled(reason: "not recorded"))])
        #expect(OrderEvent.registry.registration(named: "OrderCancelled")?.schemaVersion == 2)
    }

    @Test func theOrderIsSnapshottedEveryNEventsAndLoadsFromTheSnapshot() async throws {
        let snapshots = InMemorySnapshotStore()
        let orders = AggregateRepository<Order>(store: InMemoryEventStore(), snapshots: snapshots,
                                                configuration: .init(snapshotPolicy: .every(2)))
        _ = try await orders.execute(.place(customer: "ada", total: 30), on: "42")
        #expect(await snapshots.snapshot(of: "order-42") == nil)
        _ = try await orders.execute(.confirm, on: "42")
        let snapshot = try #require(await snapshots.snapshot(of: "order-42"))
        #expect(snapshot.version == 2)
        #expect(snapshot.fingerprint == Order.snapshotFingerprint)
        #expect(Order.snapshotFingerprint.hasSuffix("Order@v1"))
        #expect(try JSONDecoder().decode(Order.self, from: snapshot.state).total == 30)

        let loaded = try await orders.load("42")
        #expect(loaded.snapshotVersion == 2)
        #expect(loaded.eventsRead == 0)
        #expect(loaded.state.isConfirmed)
    }

    @Test func aFailingSpecReadsAsTheGuideShows() throws {
        let failure = #expect(throws: AggregateSpecFailure.self) {
            try AggregateSpec<Order>
                .given(.placed(OrderPlaced(customer: "ada", total: 30)))
                .when(.cancel(reason: "changed her mind"))
                .then(.cancelled(OrderCancelled(reason: "too late")), .confirmed(OrderConfirmed()))
        }
        let text = failure?.description ?? ""
        let guide = try String(contentsOf: DocSnippets.root.appendingPathComponent("Docs/Aggregates.md"), encoding: .utf8)
        let example = try #require(guide.components(separatedBy: "A failure reads like:\n\n```\n").dropFirst().first?
            .components(separatedBy: "\n```").first)
        let lines = example.components(separatedBy: "\n")
        #expect(lines.count >= 7)
        for (index, line) in lines.enumerated() {
            // The first line's "OrdersTests.swift:12: " prefix is where the spec stands.
            let expected = index == 0 ? String(line.drop { $0 != " " }.dropFirst()) : line
            #expect(text.contains(expected), "Docs/Aggregates.md shows a line the spec does not print: \(expected)\n\(text)")
        }
    }

    /// Every block of a guide that declares the domain (its events, registry, upcasters or
    /// aggregate) is DocsDomain.swift's code, so all the guides teach one `Order`.
    @Test func everyGuideShowsTheOneDomain() throws {
        let domain = try String(contentsOf: DocSnippets.root.appendingPathComponent("Tests/DocsSnippetsTests/DocsDomain.swift"), encoding: .utf8)
            .components(separatedBy: "\n")
        let declarations = [
            "struct Order:", "struct OrderPlaced:", "struct OrderConfirmed:", "struct OrderCancelled:", "enum OrderEvent:",
            "extension Order:", "extension OrderEvent ", "static let registry = EventTypeRegistry<OrderEvent>",
        ]
        func declaresTheDomain(_ block: DocSnippets.Block) -> Bool {
            block.lines.contains { line in
                let code = line.trimmingCharacters(in: .whitespaces)
                return declarations.contains { code.hasPrefix($0) }
            }
        }
        var shown: [String: Int] = [:]
        for file in try DocSnippets.documents() {
            for block in try DocSnippets.blocks(in: file) where declaresTheDomain(block) {
                #expect(block.marker == nil, "\(block): a block that declares the docs' domain must be checked verbatim")
                #expect(DocSnippets.occurs(block.lines, in: domain), "\(block): this block declares an Order domain other than Tests/DocsSnippetsTests/DocsDomain.swift's")
                shown[file, default: 0] += 1
            }
        }
        #expect(shown["Sources/Chronicle/Chronicle.docc/GettingStarted.md"] == 2)
        #expect(shown["Docs/Aggregates.md"] == 4)
        #expect(shown["Sources/Chronicle/Chronicle.docc/EventVersioning.md"] == 2)
    }

    /// The symbol documentation's examples of the domain (on `Aggregate` and `AggregateSpec`) are
    /// compiled code too.
    @Test func theSymbolDocsShowTheOneDomain() throws {
        let compiled = try DocSnippets.compiledSources()
        var checked = 0
        for file in ["Sources/Chronicle/Aggregate.swift", "Sources/ChronicleTesting/AggregateSpec.swift"] {
            let text = try String(contentsOf: DocSnippets.root.appendingPathComponent(file), encoding: .utf8)
            let comment = text.components(separatedBy: "\n")
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { $0.hasPrefix("///") }
                .map { $0 == "///" ? "" : String($0.dropFirst(4)) }
            for block in comment.joined(separator: "\n").components(separatedBy: "```swift\n").dropFirst() {
                let lines = block.components(separatedBy: "\n```")[0].components(separatedBy: "\n")
                checked += 1
                #expect(compiled.contains { DocSnippets.occurs(lines, in: $0.lines) }, "\(file): this example is in no Swift file under Tests/\n\(lines.joined(separator: "\n"))")
            }
        }
        #expect(checked == 2)
    }
}
