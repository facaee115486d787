import Chronicle
import Foundation
import Testing

// JSONEventCodec's default payload coders (ChronicleJSONEncoder/Decoder, tested on their own in
// ChronicleJSONTests): the codec writes Foundation's bytes, reports Foundation's errors, and a
// caller's own JSONEncoder/JSONDecoder replaces them.

struct FastDeposited: Codable, Equatable, Sendable {
    var seq: Int
    var amount: Int
    var currency: String
    var memo: String
}

enum FastLedgerEvent: RegisteredEvent {
    case deposited(FastDeposited)
    static let registry = EventTypeRegistry<FastLedgerEvent>().register(FastDeposited.self, as: "Deposited", version: 1, FastLedgerEvent.deposited)
    var payload: any Encodable & Sendable {
        switch self {
        case .deposited(let event): event
        }
    }
}

struct Stamped: Codable, Equatable, Sendable { var at: Date }

enum StampedEvent: RegisteredEvent {
    case stamped(Stamped)
    static let registry = EventTypeRegistry<StampedEvent>().register(Stamped.self, as: "Stamped", version: 1, StampedEvent.stamped)
    var payload: any Encodable & Sendable {
        switch self {
        case .stamped(let event): event
        }
    }
}

@Suite struct FastJSONEventCodecTests {
    @Test func theDefaultCodecWritesFoundationsBytesAndReadsThemBack() throws {
        let event = FastLedgerEvent.deposited(FastDeposited(seq: 42, amount: 43, currency: "EUR", memo: "rent / \"march\""))
        let id = UUID()
        let fast = try JSONEventCodec<FastLedgerEvent>().encode(event, id: id, metadata: .none)
        let foundation = try JSONEventCodec<FastLedgerEvent>(encoder: JSONEncoder()).encode(event, id: id, metadata: .none)
        #expect(fast == foundation)
        let stored = RecordedEvent(
            id: id, streamID: "ledger-1", streamVersion: 1, position: 1, type: fast.type, schemaVersion: fast.schemaVersion,
            payload: fast.payload, metadata: .none, recordedAt: Date(timeIntervalSince1970: 0)
        )
        #expect(try JSONEventCodec<FastLedgerEvent>().decode(stored) == [event])
    }

    @Test func theDefaultCodecReportsFoundationsDecodingError() throws {
        let stored = RecordedEvent(
            id: UUID(), streamID: "ledger-1", streamVersion: 1, position: 1, type: "Deposited", schemaVersion: 1,
            payload: Data(#"{"seq":1,"amount":"x","currency":"EUR","memo":""}"#.utf8), metadata: .none, recordedAt: Date(timeIntervalSince1970: 0)
        )
        func underlying(_ codec: JSONEventCodec<FastLedgerEvent>) -> String {
            do {
                _ = try codec.decode(stored)
                return "no error"
            } catch {
                return String(describing: error.underlying.map { String(describing: $0) } ?? "none")
            }
        }
        #expect(underlying(JSONEventCodec()) == underlying(JSONEventCodec(decoder: JSONDecoder())))
        #expect(underlying(JSONEventCodec()).contains("typeMismatch"))
    }

    @Test func aCallersOwnEncoderAndDecoderAreUsedAsGiven() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        let codec = JSONEventCodec<StampedEvent>(encoder: encoder, decoder: decoder)
        let event = StampedEvent.stamped(Stamped(at: Date(timeIntervalSince1970: 100)))
        let data = try codec.encode(event, id: UUID(), metadata: .none)
        #expect(String(decoding: data.payload, as: UTF8.self) == #"{"at":100}"#)
        let stored = RecordedEvent(
            id: data.id, streamID: "s", streamVersion: 1, position: 1, type: data.type, schemaVersion: 1,
            payload: data.payload, metadata: .none, recordedAt: Date(timeIntervalSince1970: 0)
        )
        #expect(try codec.decode(stored) == [event])
        // The default codec writes Foundation's default (seconds since 2001).
        let defaultData = try JSONEventCodec<StampedEvent>().encode(event, id: UUID(), metadata: .none)
        #expect(String(decoding: defaultData.payload, as: UTF8.self) == #"{"at":-978307100}"#)
    }
}
