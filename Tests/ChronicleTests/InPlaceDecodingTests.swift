import Chronicle
import ChronicleJSON
import Foundation
import Testing

/// `EventCodec.decode(_:payload:)` (payload bytes handed over in place, as
/// `EventReader.readStreamInPlace` reads them) against `decode(_:)` of the same event: the same
/// events, and the same errors, for every path through the codec.
@Suite struct InPlaceDecodingTests {
    /// The event as `readStreamInPlace` hands it over: every field but the payload.
    private func header(_ event: RecordedEvent) -> RecordedEvent {
        var header = event
        header.payload = Data()
        return header
    }

    /// What a decode gave: its events, or its error's code and message.
    private enum Outcome<Event: Equatable>: Equatable {
        case events([Event])
        case failed(EventStoreError.Code, String, GlobalPosition?, String?)
    }

    private func outcome<Event: Equatable>(_ body: () throws -> [Event]) -> Outcome<Event> {
        do {
            return .events(try body())
        } catch let error as EventStoreError {
            return .failed(error.code, error.message, error.position, error.eventType)
        } catch {
            return .failed(.storageFailure, "not an EventStoreError: \(error)", nil, nil)
        }
    }

    private func expectSameOutcome<Codec: EventCodec>(_ codec: Codec, _ event: RecordedEvent, sourceLocation: SourceLocation = #_sourceLocation)
    where Codec.Event: Equatable {
        let copied = outcome { try codec.decode(event) }
        let inPlace = outcome { try event.payload.withUnsafeBytes { try codec.decode(header(event), payload: $0) } }
        #expect(inPlace == copied, sourceLocation: sourceLocation)
    }

    private static let orderEvents: [RecordedEvent] = [
        recorded("OrderPlaced", version: 2, payload: #"{"currency":"GBP","customer":"ada"}"#),
        recorded("ItemAdded", payload: #"{"sku":"tea","quantity":3}"#),
        recorded("OrderShipped", payload: #"{"carrier":"post"}"#),
        // Upcast: renamed, then migrated.
        recorded("OrderCreated", version: 1, payload: #"{"customer":"bob"}"#),
        recorded("OrderPlaced", version: 1, payload: #"{"customer":"cy"}"#),
        // Errors: unknown type, a missing field, not JSON, versions without a path.
        recorded("OrderTeleported", payload: "{}", stream: "order-9", streamVersion: 5, position: 41),
        recorded("ItemAdded", payload: #"{"sku":"tea"}"#, stream: "order-3", streamVersion: 2, position: 9),
        recorded("ItemAdded", payload: "not json"),
        recorded("ItemAdded", version: 2, payload: #"{"sku":"a","quantity":1}"#),
        recorded("OrderShipped", version: 0, payload: #"{"carrier":"x"}"#),
        // What the fast JSON path leaves to Foundation: an integer written with an exponent.
        recorded("ItemAdded", payload: #"{"sku":"tea","quantity":1e1}"#),
    ]

    @Test(arguments: orderEvents)
    func eachEventDecodesInPlaceAsItDoesCopied(_ event: RecordedEvent) {
        expectSameOutcome(JSONEventCodec<FixtureOrderEvent>(), event)
        expectSameOutcome(JSONEventCodec<FixtureOrderEvent>().skippingUnknownTypes(), event)
        // Foundation's coders: PayloadDecoder's default copies the bytes.
        expectSameOutcome(JSONEventCodec<FixtureOrderEvent>(encoder: JSONEncoder(), decoder: JSONDecoder()), event)
    }

    @Test func theBytesAreDecodedNotTheHeadersPayload() throws {
        let codec = JSONEventCodec<FixtureOrderEvent>()
        let event = recorded("ItemAdded", payload: #"{"sku":"stale","quantity":1}"#)
        let bytes = Data(#"{"sku":"fresh","quantity":2}"#.utf8)
        let decoded = try bytes.withUnsafeBytes { try codec.decode(event, payload: $0) }
        #expect(decoded == [.itemAdded(ItemAdded(sku: "fresh", quantity: 2))])
        let upcast = recorded("OrderCreated", version: 1, payload: "")
        let placed = try Data(#"{"customer":"dee"}"#.utf8).withUnsafeBytes { try codec.decode(upcast, payload: $0) }
        #expect(placed == [.placed(OrderPlaced(customer: "dee", currency: "EUR"))])
    }

    @Test func splitsDropsAndRenamesUpcastInPlaceAsCopied() {
        let codec = JSONEventCodec<CustomerEvent>()
        for event in [
            recorded("CustomerSignedUp", version: 1, payload: #"{"name":"Ada"}"#),
            recorded("CustomerRegistered", version: 3, payload: #"{"fullName":"Ada","tier":"gold"}"#),
            recorded("CustomerMoved", version: 1, payload: #"{"street":"1 Main","city":"Lyon","country":"FR"}"#),
            recorded("CustomerPinged", version: 1, payload: "{}"),
        ] {
            expectSameOutcome(codec, event)
        }
    }

    @Test func aTombstoneDecodesToNoEvents() throws {
        let codec = JSONEventCodec<FixtureOrderEvent>()
        let tombstone = recorded(RecordedEvent.erasedType, payload: "")
        #expect(try Data().withUnsafeBytes { try codec.decode(tombstone, payload: $0) } == [])
    }

    /// A codec of a user's own, without `decode(_:payload:)`: the default copies the bytes in.
    private struct PayloadEchoCodec: EventCodec {
        func encode(_ event: String, id: UUID, metadata: EventMetadata) throws(EventStoreError) -> EventData {
            EventData(id: id, type: "Echo", payload: Data(event.utf8), metadata: metadata)
        }

        func decode(_ recorded: RecordedEvent) throws(EventStoreError) -> [String] {
            [recorded.type + ":" + String(decoding: recorded.payload, as: UTF8.self)]
        }
    }

    @Test func aCodecWithoutItsOwnInPlaceDecodeGetsTheBytesCopied() throws {
        let event = recorded("Echo", payload: "")
        let decoded = try Data("hello".utf8).withUnsafeBytes { try PayloadEchoCodec().decode(event, payload: $0) }
        #expect(decoded == ["Echo:hello"])
    }

    @Test func chronicleJSONDecoderDecodesBytesAsItDecodesData() throws {
        let decoder = ChronicleJSONDecoder()
        for text in [
            #"{"sku":"tea","quantity":3}"#,
            #"{"sku":"t\u00e9a \"x\"","quantity":-7}"#,
            #" { "quantity" : 1e1 , "sku" : "exponent, left to Foundation" } "#,
        ] {
            let data = Data(text.utf8)
            let fromData = try decoder.decode(ItemAdded.self, from: data)
            let fromBytes = try data.withUnsafeBytes { try decoder.decode(ItemAdded.self, fromBytes: $0) }
            #expect(fromBytes == fromData, "\(text)")
        }
        for text in [#"{"sku":"tea"}"#, "[1]", "", #"{"sku":"tea","quantity":3"#] {
            let data = Data(text.utf8)
            let fromData = String(describing: #expect(throws: DecodingError.self) { try decoder.decode(ItemAdded.self, from: data) })
            let fromBytes = String(describing: #expect(throws: DecodingError.self) {
                try data.withUnsafeBytes { try decoder.decode(ItemAdded.self, fromBytes: $0) }
            })
            #expect(fromBytes == fromData, "\(text)")
        }
    }
}
