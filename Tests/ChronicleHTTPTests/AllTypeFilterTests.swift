import ChronicleHTTP
import ChronicleHTTPTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// `GET /all?type=A,B`: `$all` filtered by event type through the live feed's filter and parser.
@Suite struct AllTypeFilterTests {
    @Test func theGlobalLogIsFilteredByEventTypeAndPagedWithNext() async throws {
        let store = InMemoryEventStore()
        for index in 1...6 {
            try await store.append(jsonEvent(index.isMultiple(of: 3) ? "Rare" : "Common", #"{"n":\#(index)}"#), to: "tally-1", expectedVersion: .any)
        }
        try await store.append(jsonEvent("Other", "{}"), to: "tally-2", expectedVersion: .any)
        try await withReadAPI(store: store) { client in
            let rare = try await client.get("/all?type=Rare").json
            #expect((rare["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [3, 6])
            #expect(rare["next"] is NSNull)
            #expect(rare["type"] as? [String] == ["Rare"])
            let two = try await client.get("/all?type=Rare,Other").json
            #expect((two["events"] as? [[String: Any]])?.map { $0["type"] as? String } == ["Rare", "Rare", "Other"])
            // Paged: `next` continues after the last event returned.
            let page1 = try await client.get("/all?type=Common&limit=2").json
            #expect((page1["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [1, 2])
            let next = try #require(page1["next"] as? Int)
            let page2 = try await client.get("/all?type=Common&limit=2&after=\(next)").json
            #expect((page2["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [4, 5])
            let page3 = try await client.get("/all?type=Common&limit=2&after=\(try #require(page2["next"] as? Int))").json
            #expect((page3["events"] as? [[String: Any]])?.isEmpty == true)
            #expect(page3["next"] is NSNull)
            // `$all` under the stream route takes the same filter.
            let dollarAll = try await client.get("/streams/$all?type=Other").json
            #expect((dollarAll["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [7])
        }
    }

    @Test func aMalformedTypeFilterIsRefusedTheSameOnTheFeedAndOnAll() async throws {
        try await withReadAPI(store: InMemoryEventStore()) { client in
            for path in ["/all?type=A,,B", "/feed?type=A,"] {
                let response = try await client.get(path)
                #expect(response.status == .badRequest, "\(path)")
                let message = try #require((try response.json["error"] as? [String: Any])?["message"] as? String)
                #expect(message.contains(ProjectionFilter.eventTypesSyntax), "\(path): \(message)")
            }
        }
    }
}
