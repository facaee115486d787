import AsyncHTTPClient
import Chronicle
import ChronicleRelay
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import NIOCore
import Testing

/// The inbox over real HTTP: verified events are applied exactly once; bad signatures, replayed
/// and stale requests are refused with a clear error and change nothing.
@Suite struct RelayInboxTests {
    static let event = RecordedEvent(
        id: UUID(), streamID: StreamID(category: "order", id: "7"), streamVersion: 1, position: 3, type: "OrderPlaced", schemaVersion: 1,
        payload: Data(#"{"total":12}"#.utf8), metadata: EventMetadata(correlationID: "c-7", causationID: "k-7"),
        recordedAt: Date(timeIntervalSince1970: 1_700_000_000)
    )

    struct Sent {
        let status: Int
        let body: String
    }

    static func post(_ body: [UInt8], signature: String?, to receiver: TestReceiver) async throws -> Sent {
        var request = HTTPClientRequest(url: receiver.endpoint.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Chronicle-Relay", value: "tests")
        if let signature { request.headers.add(name: RelaySignature.header, value: signature) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let answer = try await response.body.collect(upTo: 1 << 20)
        return Sent(status: Int(response.status.code), body: String(buffer: answer))
    }

    static func body(_ event: RecordedEvent = event) -> [UInt8] {
        // What the relay sends: the read API's event JSON.
        Array(#"{"id":"\#(event.id.uuidString.lowercased())","stream":"\#(event.streamID.rawValue)","version":\#(event.streamVersion.value),"position":\#(event.position.value),"type":"\#(event.type)","schemaVersion":1,"recordedAt":"2023-11-14T22:13:20.000Z","metadata":{"correlationId":"c-7","causationId":"k-7","custom":{}},"dataEncoding":"json","data":{"total":12}}"#.utf8)
    }

    static func sign(_ body: [UInt8], secret: RelaySecret = TestReceiver.secret, at date: Date = Date(), delivery: String = UUID().uuidString) -> String {
        RelaySignature.sign(body: body, secret: secret, timestamp: Int64(date.timeIntervalSince1970), deliveryID: delivery)
    }

    func withReceiver(_ body: (TestReceiver) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try TestReceiver(path: directory.path("receiver.sqlite"))
        try await receiver.start()
        do {
            try await body(receiver)
        } catch {
            await receiver.stop()
            throw error
        }
        await receiver.stop()
    }

    @Test func aRedeliveredEventIsAcknowledgedWithoutBeingAppliedTwice() async throws {
        try await withReceiver { receiver in
            let body = Self.body()
            let first = try await Self.post(body, signature: Self.sign(body), to: receiver)
            let again = try await Self.post(body, signature: Self.sign(body), to: receiver)
            #expect(first.status == 200)
            #expect(first.body.contains(#""status":"applied""#))
            #expect(again.status == 200)
            #expect(again.body.contains(#""status":"duplicate""#))
            let rows = try receiver.received()
            #expect(rows.count == 1)
            #expect(rows.first?.id == Self.event.id.uuidString.lowercased())
            #expect(try await receiver.inbox.contains(Self.event.id))
        }
    }

    @Test func badSignaturesAreRefusedWithAClearErrorAndChangeNothing() async throws {
        try await withReceiver { receiver in
            let body = Self.body()
            let wrongSecret = try await Self.post(body, signature: Self.sign(body, secret: RelaySecret("not-the-secret")), to: receiver)
            let tampered = try await Self.post(Array(String(decoding: body, as: UTF8.self).replacingOccurrences(of: "12", with: "99").utf8), signature: Self.sign(body), to: receiver)
            let unsigned = try await Self.post(body, signature: nil, to: receiver)
            let garbled = try await Self.post(body, signature: "t=1,v1=zz", to: receiver)
            for answer in [wrongSecret, tampered, unsigned, garbled] {
                #expect(answer.status == 401)
                #expect(answer.body.contains(#""code":"badSignature""#))
            }
            #expect(wrongSecret.body.contains("does not match"))
            #expect(unsigned.body.contains("no Chronicle-Signature header"))
            #expect(try receiver.received().isEmpty)
            #expect(try await receiver.inbox.count() == 0)
        }
    }

    @Test func replayedAndStaleRequestsAreRefusedAndChangeNothing() async throws {
        try await withReceiver { receiver in
            let body = Self.body()
            let signature = Self.sign(body)
            let original = try await Self.post(body, signature: signature, to: receiver)
            #expect(original.status == 200)
            let replayed = try await Self.post(body, signature: signature, to: receiver)
            #expect(replayed.status == 401)
            #expect(replayed.body.contains(#""code":"replayedRequest""#))

            var other = Self.event
            other.id = UUID()
            let otherBody = Self.body(other)
            let stale = try await Self.post(otherBody, signature: Self.sign(otherBody, at: Date().addingTimeInterval(-3_600)), to: receiver)
            #expect(stale.status == 401)
            #expect(stale.body.contains(#""code":"staleRequest""#))
            #expect(try receiver.received().count == 1)
        }
    }

    @Test func oversizedAndMalformedBodiesAreRefused() async throws {
        try await withReceiver { receiver in
            let large = Array(repeating: UInt8(ascii: " "), count: (1 << 20) + 1)
            let tooLarge = try await Self.post(large, signature: Self.sign(large), to: receiver)
            #expect(tooLarge.status == 413)
            let notAnEvent = Array(#"{"hello":"world"}"#.utf8)
            let malformed = try await Self.post(notAnEvent, signature: Self.sign(notAnEvent), to: receiver)
            #expect(malformed.status == 400)
            #expect(malformed.body.contains(#""code":"malformedEvent""#))
            #expect(try receiver.received().isEmpty)
        }
    }

    @Test func theRelaysWireFormatReadsBackAsTheSameEvent() async throws {
        try await withReceiver { receiver in
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let fixture = try RelayFixture()
            defer { fixture.directory.remove() }
            _ = try await fixture.append(streams: 1, perStream: 1)
            let stored = try #require(try await fixture.store.readAll(after: .start, limit: 1).first)
            let relay = try fixture.relay(to: receiver.endpoint)
            let runner = try fixture.runner(relay)
            try await whileRunning(runner) {
                try await runner.waitUntil(position: stored.position, timeout: .seconds(30))
            }
            try await relay.shutdown()
            let rows = try receiver.received()
            #expect(rows.count == 1)
            #expect(rows.first?.id == stored.id.uuidString.lowercased())
            #expect(rows.first?.stream == stored.streamID.rawValue)
        }
    }
}
