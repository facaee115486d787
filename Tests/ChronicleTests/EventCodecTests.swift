import Chronicle
import Foundation
import Testing

/// Builds a recorded event as a store would, for codec tests.
func recorded(
    _ type: String, version: Int = 1, payload: String, stream: StreamID = "order-1", streamVersion: StreamVersion = 3,
    position: GlobalPosition = 17, id: UUID = UUID(uuidString: "00000000-0000-0000-0000-0000000000AA")!
) -> RecordedEvent {
    RecordedEvent(
        id: id, streamID: stream, streamVersion: streamVersion, position: position, type: type, schemaVersion: version,
        payload: Data(payload.utf8), metadata: .none, recordedAt: Date(timeIntervalSince1970: 0)
    )
}

func recorded(_ data: EventData, stream: StreamID = "order-1", streamVersion: StreamVersion = 1, position: GlobalPosition = 1) -> RecordedEvent {
    RecordedEvent(
        id: data.id, streamID: stream, streamVersion: streamVersion, position: position, type: data.type,
        schemaVersion: data.schemaVersion, payload: data.payload, metadata: data.metadata, recordedAt: Date(timeIntervalSince1970: 0)
    )
}

/// Catches an `EventStoreError`, failing the test if something else (or nothing) is thrown.
func storeError(_ body: () throws -> Void) -> EventStoreError? {
    do {
        try body()
        Issue.record("expected an EventStoreError, nothing was thrown")
    } catch let error as EventStoreError {
        return error
    } catch {
        Issue.record("expected an EventStoreError, got \(error)")
    }
    return nil
}

struct Unregistered: Codable, Sendable, Equatable { var note: String }

enum LooseEvent: RegisteredEvent {
    case registered(ItemAdded)
    case unregistered(Unregistered)

    static let registry = EventTypeRegistry<LooseEvent>()
        .register(ItemAdded.self, as: "ItemAdded", version: 1, LooseEvent.registered)

    var payload: any Encodable & Sendable {
        switch self {
        case .registered(let event): event
        case .unregistered(let event): event
        }
    }
}

struct Ping: RegisteredEvent {
    var count: Int
    static let registry = EventTypeRegistry<Ping>().register(Ping.self, as: "Ping", version: 3)
    var payload: any Encodable & Sendable { self }
}

@Suite struct EventCodecTests {
    let codec = JSONEventCodec<FixtureOrderEvent>()
    let id = UUID(uuidString: "00000000-0000-0000-0000-000000000001")!

    @Test func encodingUsesTheRegisteredNameVersionAndSortedJSON() throws {
        let metadata = EventMetadata(correlationID: "req-1", causationID: "cmd-1")
        let data = try codec.encode(.placed(OrderPlaced(customer: "ada", currency: "EUR")), id: id, metadata: metadata)
        #expect(data == EventData(
            id: id, type: "OrderPlaced", schemaVersion: 2,
            payload: Data(#"{"currency":"EUR","customer":"ada"}"#.utf8), metadata: metadata
        ))
    }

    @Test func encodedEventsDecodeToEqualEvents() throws {
        let events: [FixtureOrderEvent] = [
            .placed(OrderPlaced(customer: "ada", currency: "GBP")),
            .itemAdded(ItemAdded(sku: "tea", quantity: 3)),
            .shipped(OrderShipped(carrier: "post")),
        ]
        for event in events {
            let data = try codec.encode(event, id: UUID(), metadata: .none)
            #expect(try codec.decode(recorded(data)) == [event])
        }
    }

    @Test func aTypeThatIsItsOwnPayloadRoundTrips() throws {
        let codec = JSONEventCodec<Ping>()
        let data = try codec.encode(Ping(count: 4), id: id, metadata: .none)
        #expect(data.type == "Ping")
        #expect(data.schemaVersion == 3)
        #expect(try codec.decode(recorded(data)) == [Ping(count: 4)])
    }

    @Test func unknownTypeNamesTheStreamVersionPositionAndType() {
        let event = recorded("OrderCancelled", payload: "{}", stream: "order-9", streamVersion: 5, position: 41)
        let error = storeError { _ = try codec.decode(event) }
        #expect(error?.code == .unknownEventType)
        #expect(error?.streamID == "order-9")
        #expect(error?.streamVersion == 5)
        #expect(error?.position == 41)
        #expect(error?.eventType == "OrderCancelled")
        #expect(error?.eventID == event.id)
        #expect(error?.message.contains("order-9 version 5, position 41, type \"OrderCancelled\"") == true)
    }

    @Test func skippingUnknownTypesDecodesThemToNoEvents() throws {
        let lenient = codec.skippingUnknownTypes()
        #expect(try lenient.decode(recorded("OrderCancelled", payload: "{}")) == [])
        #expect(try lenient.decode(recorded("ItemAdded", payload: #"{"sku":"a","quantity":1}"#)) == [.itemAdded(ItemAdded(sku: "a", quantity: 1))])
    }

    @Test func skippingUnknownTypesStillRejectsUndecodablePayloads() {
        let error = storeError { _ = try codec.skippingUnknownTypes().decode(recorded("ItemAdded", payload: #"{"sku":1}"#)) }
        #expect(error?.code == .undecodablePayload)
    }

    @Test func undecodablePayloadNamesTheStreamVersionPositionAndType() {
        let event = recorded("ItemAdded", payload: #"{"sku":"tea"}"#, stream: "order-3", streamVersion: 2, position: 9)
        let error = storeError { _ = try codec.decode(event) }
        #expect(error?.code == .undecodablePayload)
        #expect(error?.streamID == "order-3")
        #expect(error?.streamVersion == 2)
        #expect(error?.position == 9)
        #expect(error?.eventType == "ItemAdded")
        #expect(error?.underlying is DecodingError)
    }

    @Test func payloadThatIsNotJSONIsUndecodable() {
        let error = storeError { _ = try codec.decode(recorded("ItemAdded", payload: "not json")) }
        #expect(error?.code == .undecodablePayload)
    }

    @Test func aSchemaVersionNewerThanRegisteredIsUndecodable() {
        let error = storeError { _ = try codec.decode(recorded("ItemAdded", version: 2, payload: #"{"sku":"a","quantity":1}"#)) }
        #expect(error?.code == .undecodablePayload)
        #expect(error?.message.contains("newer than the registered version 1") == true)
    }

    @Test func anOlderSchemaVersionWithoutUpcasterIsUndecodable() {
        let error = storeError { _ = try codec.decode(recorded("OrderShipped", version: 0, payload: #"{"carrier":"x"}"#)) }
        #expect(error?.code == .undecodablePayload)
        #expect(error?.message.contains("no upcaster") == true)
    }

    @Test func encodingAnUnregisteredPayloadFailsAsUnencodable() {
        let error = storeError { _ = try JSONEventCodec<LooseEvent>().encode(.unregistered(Unregistered(note: "x")), id: id, metadata: .none) }
        #expect(error?.code == .unencodableEvent)
        #expect(error?.eventID == id)
        #expect(error?.message.contains("Unregistered") == true)
    }

    @Test func theRegistryListsItsTypes() {
        #expect(FixtureOrderEvent.registry.registrations.map(\.name) == ["ItemAdded", "OrderPlaced", "OrderShipped"])
        #expect(FixtureOrderEvent.registry.registration(named: "OrderPlaced")?.schemaVersion == 2)
        #expect(FixtureOrderEvent.registry.registration(for: ItemAdded(sku: "a", quantity: 1))?.name == "ItemAdded")
    }
}
