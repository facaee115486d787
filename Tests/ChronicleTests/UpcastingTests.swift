import Chronicle
import Foundation
import Testing

// A domain whose history went through several shapes:
// - "CustomerSignedUp" v1 {"name"} was renamed to "CustomerRegistered" (same shape, v1)
// - "CustomerRegistered" v2 added "tier" (default "basic"); v3 renamed "name" to "fullName"
// - "CustomerMoved" v1 {"street","city","country"} was split into AddressChanged + CountryChanged
// - "CustomerPinged" v1 events are obsolete and dropped
struct CustomerRegistered: Codable, Sendable, Equatable { var fullName: String; var tier: String }
struct AddressChanged: Codable, Sendable, Equatable { var street: String; var city: String }
struct CountryChanged: Codable, Sendable, Equatable { var country: String }

enum CustomerEvent: RegisteredEvent {
    case registered(CustomerRegistered)
    case addressChanged(AddressChanged)
    case countryChanged(CountryChanged)

    static let registry = EventTypeRegistry<CustomerEvent>()
        .register(CustomerRegistered.self, as: "CustomerRegistered", version: 3, CustomerEvent.registered)
        .register(AddressChanged.self, as: "AddressChanged", version: 1, CustomerEvent.addressChanged)
        .register(CountryChanged.self, as: "CountryChanged", version: 1, CustomerEvent.countryChanged)
        .upcast([
            .renameType("CustomerSignedUp", version: 1, to: "CustomerRegistered"),
            .migrate("CustomerRegistered", from: 1, to: 2) { json in json["tier"] = "basic" },
            .migrate("CustomerRegistered", from: 2, to: 3) { json in json.renameField("name", to: "fullName") },
            .split("CustomerMoved", version: 1) { json in
                [
                    UpcastingEvent(type: "AddressChanged", schemaVersion: 1, payload: ["street": json["street"] ?? nil, "city": json["city"] ?? nil]),
                    UpcastingEvent(type: "CountryChanged", schemaVersion: 1, payload: ["country": json["country"] ?? nil]),
                ]
            },
            Upcaster("CustomerPinged", version: 1) { _ in [] },
        ])

    var payload: any Encodable & Sendable {
        switch self {
        case .registered(let event): event
        case .addressChanged(let event): event
        case .countryChanged(let event): event
        }
    }
}

struct CyclicEvent: RegisteredEvent {
    static let registry = EventTypeRegistry<CyclicEvent>()
        .register(CyclicEvent.self, as: "Current", version: 1)
        .upcast(.renameType("A", version: 1, to: "B"))
        .upcast(.renameType("B", version: 1, to: "A"))
        .upcast(Upcaster("Stuck", version: 1) { [$0] })
        .upcast(.migrate("Failing", from: 1, to: 2) { _ in throw UpcastRefused() })
    var payload: any Encodable & Sendable { self }
}

struct UpcastRefused: Error {}

/// Events stored in their old shapes, written as raw `EventData` to a real store and read back
/// through the codec.
@Suite struct UpcastingTests {
    let codec = JSONEventCodec<CustomerEvent>()

    private func storeOld(_ events: [(type: String, version: Int, json: String)], in stream: StreamID = "customer-1") async throws -> [RecordedEvent] {
        let store = InMemoryEventStore()
        try await store.append(
            events.map { EventData(type: $0.type, schemaVersion: $0.version, payload: Data($0.json.utf8)) },
            to: stream, expectedVersion: .noStream
        )
        return try await store.readStream(stream)
    }

    @Test func aRenamedTypeAtVersionOneIsRenamedThenMigratedTwice() async throws {
        let stored = try await storeOld([("CustomerSignedUp", 1, #"{"name":"Ada Lovelace"}"#)])
        #expect(try codec.decode(stored[0]) == [.registered(CustomerRegistered(fullName: "Ada Lovelace", tier: "basic"))])
    }

    @Test func eachOlderVersionIsBroughtToTheCurrentShape() async throws {
        let stored = try await storeOld([
            ("CustomerRegistered", 1, #"{"name":"A"}"#),
            ("CustomerRegistered", 2, #"{"name":"B","tier":"gold"}"#),
            ("CustomerRegistered", 3, #"{"fullName":"C","tier":"silver"}"#),
        ])
        let decoded = try stored.flatMap { try codec.decode($0) }
        #expect(decoded == [
            .registered(CustomerRegistered(fullName: "A", tier: "basic")),
            .registered(CustomerRegistered(fullName: "B", tier: "gold")),
            .registered(CustomerRegistered(fullName: "C", tier: "silver")),
        ])
    }

    @Test func oneStoredEventSplitsIntoSeveralInOrder() async throws {
        let stored = try await storeOld([("CustomerMoved", 1, #"{"street":"1 Main St","city":"Leeds","country":"UK"}"#)])
        #expect(try codec.decode(stored[0]) == [
            .addressChanged(AddressChanged(street: "1 Main St", city: "Leeds")),
            .countryChanged(CountryChanged(country: "UK")),
        ])
    }

    @Test func anUpcasterCanDropObsoleteEvents() async throws {
        let stored = try await storeOld([("CustomerPinged", 1, "{}")])
        #expect(try codec.decode(stored[0]) == [])
    }

    @Test func anUpcastPayloadMissingAFieldIsUndecodable() async throws {
        let stored = try await storeOld([("CustomerMoved", 1, #"{"city":"Leeds","country":"UK"}"#)])
        let error = storeError { _ = try codec.decode(stored[0]) }
        #expect(error?.code == .undecodablePayload)
        #expect(error?.eventType == "CustomerMoved")
        #expect(error?.streamID == "customer-1")
        #expect(error?.message.contains("after upcasting to AddressChanged") == true)
    }

    @Test func upcastersThatCycleAreStoppedWithAnError() throws {
        let codec = JSONEventCodec<CyclicEvent>()
        #expect(storeError { _ = try codec.decode(recorded("A", payload: "{}")) }?.code == .undecodablePayload)
        #expect(storeError { _ = try codec.decode(recorded("Stuck", payload: "{}")) }?.message.contains("never end") == true)
    }

    @Test func anUpcasterThatThrowsMakesThePayloadUndecodable() {
        let error = storeError { _ = try JSONEventCodec<CyclicEvent>().decode(recorded("Failing", payload: "{}")) }
        #expect(error?.code == .undecodablePayload)
        #expect(error?.underlying is UpcastRefused)
    }

    @Test func anUpcastToAnUnknownTypeIsReportedOrSkipped() throws {
        let event = recorded("A", payload: "{}")
        let codec = JSONEventCodec<CustomerEvent>(
            registry: CustomerEvent.registry.upcast(.renameType("Legacy", version: 1, to: "Gone"))
        )
        let legacy = recorded("Legacy", payload: "{}")
        #expect(storeError { _ = try codec.decode(legacy) }?.code == .unknownEventType)
        #expect(try codec.skippingUnknownTypes().decode(legacy) == [])
        #expect(try codec.skippingUnknownTypes().decode(event) == [])
    }

    @Test func aRepositoryFoldsOldShapesThroughTheUpcasters() async throws {
        let store = InMemoryEventStore()
        try await store.append(
            [
                EventData(type: "OrderCreated", schemaVersion: 1, payload: Data(#"{"customer":"ada"}"#.utf8)),
                EventData(type: "ItemAdded", schemaVersion: 1, payload: Data(#"{"sku":"tea","quantity":2}"#.utf8)),
            ],
            to: "order-5", expectedVersion: .noStream
        )
        let orders = AggregateRepository<FixtureOrder>(store: store)
        let result = try await orders.execute(.ship(carrier: "post"), on: "5")
        #expect(result.version == 3)
        #expect(result.state.isShipped)

        // The renamed version-1 event reads as today's OrderPlaced, with the migration's default.
        let recorded = try await store.readStream("order-5")
        let decoded = try JSONEventCodec<FixtureOrderEvent>().decode(recorded[0])
        #expect(decoded == [.placed(OrderPlaced(customer: "ada", currency: "EUR"))])
    }
}

@Suite struct JSONValueTests {
    @Test func integersSurviveARoundTripExactly() throws {
        let json = try JSONValue(parsing: Data(#"{"big":9007199254740993,"half":0.5,"ok":true,"none":null,"list":[1,"a"]}"#.utf8))
        #expect(json["big"] == .int(9_007_199_254_740_993))
        #expect(json["half"] == .double(0.5))
        #expect(json["ok"] == .bool(true))
        #expect(json["none"] == .null)
        #expect(json["list"] == [1, "a"])
        #expect(String(decoding: try json.encoded(), as: UTF8.self) == #"{"big":9007199254740993,"half":0.5,"list":[1,"a"],"none":null,"ok":true}"#)
    }

    @Test func fieldsCanBeAddedRenamedAndRemoved() {
        var json: JSONValue = ["name": "Ada", "age": 36]
        json["tier"] = "gold"
        json.renameField("name", to: "fullName")
        json["age"] = nil
        #expect(json == ["fullName": "Ada", "tier": "gold"])
    }
}
