import Chronicle
import ChronicleTesting
import Testing

@Suite struct AggregateSpecTests {
    let placed = FixtureOrderEvent.placed(OrderPlaced(customer: "ada", currency: "EUR"))
    let tea = FixtureOrderEvent.itemAdded(ItemAdded(sku: "tea", quantity: 2))

    private func failure(_ body: () throws -> Void) -> AggregateSpecFailure? {
        do {
            try body()
            Issue.record("the spec should have failed")
        } catch let failure as AggregateSpecFailure {
            return failure
        } catch {
            Issue.record("unexpected \(error)")
        }
        return nil
    }

    @Test func aMatchingSpecPassesAndReturnsTheNewState() throws {
        let state = try AggregateSpec<FixtureOrder>.given(placed).when(.addItem(sku: "tea", quantity: 2)).then(tea)
        #expect(state.items == ["tea": 2])
    }

    @Test func expectingNoEventsPassesWhenNothingHappens() throws {
        try AggregateSpec<FixtureOrder>
            .given(placed, tea, .shipped(OrderShipped(carrier: "post")))
            .when(.ship(carrier: "post"))
            .then()
    }

    @Test func anExtraEventFailsWithADiff() {
        let failure = failure {
            try AggregateSpec<FixtureOrder>.given(placed).when(.addItem(sku: "tea", quantity: 2)).then()
        }
        let text = failure?.description ?? ""
        #expect(text.contains("FixtureOrder spec failed: the events differ"))
        #expect(text.contains("expected 0 events, got 1:"))
        #expect(text.contains("+ [0] extra:"))
        #expect(text.contains("ItemAdded(sku: \"tea\", quantity: 2)"))
        #expect(text.contains("given 1 event:"))
        #expect(text.contains("when "))
        #expect(text.contains("AggregateSpecTests.swift:"))
    }

    @Test func aMissingOrDifferentEventFailsWithADiff() {
        let failure = failure {
            try AggregateSpec<FixtureOrder>.given(placed).when(.addItem(sku: "tea", quantity: 2))
                .then(.itemAdded(ItemAdded(sku: "tea", quantity: 3)), tea)
        }
        let text = failure?.description ?? ""
        #expect(text.contains("✗ [0] expected:"))
        #expect(text.contains("quantity: 3"))
        #expect(text.contains("- [1] missing:"))
        #expect(text.contains("✗ [0] expected: FixtureOrderEvent.itemAdded(ItemAdded(sku: \"tea\", quantity: 3))"))
        #expect(!text.contains("ChronicleTests.FixtureOrderEvent"))
    }

    @Test func expectingEventsWhenDecideThrowsNamesTheError() {
        let failure = failure {
            try AggregateSpec<FixtureOrder>.given().when(.addItem(sku: "tea", quantity: 2)).then(tea)
        }
        #expect(failure?.message.contains("expected 1 event but decide threw") == true)
        #expect(failure?.message.contains("notPlaced") == true)
        #expect(failure?.message.contains("given no events") == true)
    }

    @Test func anExpectedErrorPasses() throws {
        try AggregateSpec<FixtureOrder>.given(placed).when(.addItem(sku: "tea", quantity: 0)).thenThrows(FixtureOrder.Failure.invalidQuantity(0))
        try AggregateSpec<FixtureOrder>.given(placed).when(.place(customer: "b", currency: "EUR")).thenThrows { $0 is FixtureOrder.Failure }
    }

    @Test func anotherErrorOrNoErrorFails() {
        let wrong = failure {
            try AggregateSpec<FixtureOrder>.given(placed).when(.addItem(sku: "tea", quantity: 0)).thenThrows(FixtureOrder.Failure.notPlaced)
        }
        #expect(wrong?.message.contains("invalidQuantity(0)") == true)
        let none = failure {
            try AggregateSpec<FixtureOrder>.given(placed).when(.addItem(sku: "tea", quantity: 2)).thenThrows(FixtureOrder.Failure.notPlaced)
        }
        #expect(none?.message.contains("but decide returned 1 event:") == true)
    }

    @Test func anEventThatWouldNotSurviveItsCodecFailsTheSpec() {
        let failure = failure {
            try AggregateSpec<Note>.given().when("hello").then(.unregistered(Unregistered(note: "hello")))
        }
        #expect(failure?.message.contains("do not survive their codec") == true)
        #expect(failure?.message.contains("unencodableEvent") == true)
    }
}

/// An aggregate that emits an event whose payload type was never registered.
struct Note: Aggregate {
    static let category = "note"
    static let initial = Note()
    func decide(_ command: String) throws -> [LooseEvent] { [.unregistered(Unregistered(note: command))] }
    mutating func evolve(_ event: LooseEvent) {}
}
