import ChronicleHTTP
import ChronicleHTTPTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The HTTP API's event JSON: metadata in the one spelling users write.
@Suite struct EventJSONRoutesTests {
    @Test func metadataReadsBackInTheSpellingItIsWrittenIn() async throws {
        let store = InMemoryEventStore()
        let metadata = EventMetadata(correlationID: "corr-1", causationID: "cause-1", custom: ["tenant": "acme"])
        try await store.append(jsonEvent("OrderPlaced", "{}", metadata: metadata), to: "order-1", expectedVersion: .noStream)
        // What a user writes (`chronicle append`, `import`, a Swift client encoding EventMetadata).
        let written = Set(try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(metadata)) as? [String: Any]).keys)
        #expect(written == ["correlationId", "causationId", "custom"])
        try await withReadAPI(store: store) { client in
            for path in ["/streams/order-1", "/all", "/all?type=OrderPlaced"] {
                let event = try #require((try await client.get(path).json["events"] as? [[String: Any]])?.first, "\(path)")
                let served = try #require(event["metadata"] as? [String: Any])
                #expect(Set(served.keys) == written, "\(path)")
                // The served object decodes as the metadata it was written from.
                let decoded = try JSONDecoder().decode(EventMetadata.self, from: JSONSerialization.data(withJSONObject: served))
                #expect(decoded == metadata, "\(path)")
            }
        }
    }

    @Test func unknownMetadataKeysAreRefusedWhenDecoding() throws {
        #expect {
            _ = try JSONDecoder().decode(EventMetadata.self, from: Data(#"{"correlationID":"x"}"#.utf8))
        } throws: { error in
            guard let error = error as? EventStoreError else { return false }
            return error.code == .invalidMetadata && error.metadataKey == "correlationID" && error.message.contains(#"did you mean "correlationId""#)
        }
    }
}
