import ChronicleHTTP
import ChronicleHTTPTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct ReadRoutesTests {
    @Test func streamEventsAreServedWithEveryFieldAndTheirPayloadEmbedded() async throws {
        let store = try await sampleStore()
        let metadata = EventMetadata(correlationID: "corr-1", causationID: "cause-1", custom: ["tenant": "acme"])
        try await store.append(jsonEvent("OrderShipped", #"{"carrier":"DHL"}"#, metadata: metadata), to: "order-1", expectedVersion: .exactly(2))
        try await withReadAPI(store: store) { client in
            let response = try await client.get("/streams/order-1")
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json; charset=utf-8")
            let json = try response.json
            #expect(json["stream"] as? String == "order-1")
            #expect(json["version"] as? Int == 3)
            #expect(json["next"] is NSNull)
            let events = try #require(json["events"] as? [[String: Any]])
            #expect(events.map { $0["version"] as? Int } == [1, 2, 3])
            let first = events[0]
            #expect(first["type"] as? String == "OrderPlaced")
            #expect(first["position"] as? Int == 1)
            #expect(first["schemaVersion"] as? Int == 1)
            #expect(first["dataEncoding"] as? String == "json")
            #expect((first["data"] as? [String: Any])?["total"] as? Double == 42.5)
            #expect(UUID(uuidString: try #require(first["id"] as? String)) != nil)
            let recordedAt = try #require(first["recordedAt"] as? String)
            #expect((try? Date(recordedAt, strategy: .iso8601)) != nil || recordedAt.hasSuffix("Z"))
            let shipped = events[2]
            let meta = try #require(shipped["metadata"] as? [String: Any])
            #expect(meta["correlationId"] as? String == "corr-1")
            #expect(meta["causationId"] as? String == "cause-1")
            #expect((meta["custom"] as? [String: String]) == ["tenant": "acme"])
        }
    }

    @Test func nonJSONPayloadsAreServedAsBase64() async throws {
        let store = try await sampleStore()
        try await withReadAPI(store: store) { client in
            let json = try await client.get("/streams/blob-1").json
            let event = try #require((json["events"] as? [[String: Any]])?.first)
            #expect(event["dataEncoding"] as? String == "base64")
            #expect(event["data"] as? String == Data([0xFF, 0x00, 0x10]).base64EncodedString())
        }
    }

    @Test func streamsAreReadBackwardsAndPagedWithNext() async throws {
        let store = InMemoryEventStore()
        for index in 1...5 {
            try await store.append(jsonEvent("Counted", #"{"n":\#(index)}"#), to: "counter-1", expectedVersion: .any)
        }
        try await withReadAPI(store: store) { client in
            let page1 = try await client.get("/streams/counter-1?direction=backwards&limit=2").json
            #expect((page1["events"] as? [[String: Any]])?.map { $0["version"] as? Int } == [5, 4])
            #expect(page1["next"] as? Int == 3)
            let page2 = try await client.get("/streams/counter-1?direction=backwards&limit=2&from=3").json
            #expect((page2["events"] as? [[String: Any]])?.map { $0["version"] as? Int } == [3, 2])
            let forwards = try await client.get("/streams/counter-1?from=4&limit=2").json
            #expect((forwards["events"] as? [[String: Any]])?.map { $0["version"] as? Int } == [4, 5])
            #expect(forwards["next"] as? Int == 6)
        }
    }

    @Test func aStreamWithoutEventsIsNotFound() async throws {
        try await withReadAPI(store: try await sampleStore()) { client in
            let response = try await client.get("/streams/order-404")
            #expect(response.status == .notFound)
            #expect(try response.errorBody.code == "notFound")
        }
    }

    @Test func streamsAreListedByCategoryAndPaged() async throws {
        try await withReadAPI(store: try await sampleStore()) { client in
            let all = try await client.get("/streams").json
            #expect((all["streams"] as? [[String: Any]])?.map { $0["id"] as? String } == ["blob-1", "customer-ada", "order-1", "order-2"])
            let page1 = try await client.get("/streams?category=order&limit=1").json
            let streams = try #require(page1["streams"] as? [[String: Any]])
            #expect(streams.map { $0["id"] as? String } == ["order-1"])
            #expect(streams[0]["version"] as? Int == 2)
            #expect(streams[0]["lastPosition"] as? Int == 2)
            #expect(streams[0]["category"] as? String == "order")
            let next = try #require(page1["next"] as? String)
            let page2 = try await client.get("/streams?category=order&limit=1&after=\(next)").json
            #expect((page2["streams"] as? [[String: Any]])?.map { $0["id"] as? String } == ["order-2"])
        }
    }

    @Test func theGlobalLogIsPagedFromAPosition() async throws {
        try await withReadAPI(store: try await sampleStore()) { client in
            let page1 = try await client.get("/all?limit=2").json
            #expect((page1["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [1, 2])
            #expect(page1["head"] as? Int == 5)
            let next = try #require(page1["next"] as? Int)
            let page2 = try await client.get("/all?after=\(next)&limit=2").json
            #expect((page2["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [3, 4])
            // `$all` is the same log under the stream route.
            let dollarAll = try await client.get("/streams/$all?after=4").json
            #expect((dollarAll["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [5])
            #expect(dollarAll["next"] is NSNull)
            #expect(try await client.get("/head").json["head"] as? Int == 5)
        }
    }

    @Test func aCategorysEventsAreReadInPositionOrder() async throws {
        try await withReadAPI(store: try await sampleStore()) { client in
            let json = try await client.get("/categories/order/events").json
            let events = try #require(json["events"] as? [[String: Any]])
            #expect(events.map { $0["stream"] as? String } == ["order-1", "order-1", "order-2"])
            let after = try await client.get("/categories/order/events?after=2").json
            #expect((after["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [4])
        }
    }

    @Test func routesCanLiveUnderAPathPrefix() async throws {
        try await withReadAPI(store: try await sampleStore(), configure: { $0.pathPrefix = "/chronicle" }) { client in
            let prefixed = try await client.get("/chronicle/head")
            let unprefixed = try await client.get("/head")
            #expect(try prefixed.json["head"] as? Int == 5)
            #expect(unprefixed.status == .notFound)
        }
    }
}
