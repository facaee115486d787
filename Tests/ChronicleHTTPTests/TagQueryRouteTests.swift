import Chronicle
import ChronicleHTTP
import ChronicleHTTPTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// `GET /events?tag=&type=`: events by tag (all of them) and type (any of them), paged.
@Suite struct TagQueryRouteTests {
    static func tagged(_ type: String, _ tags: [String]) -> EventData {
        EventData(type: type, payload: Data("{}".utf8), tags: tags)
    }

    @Test func eventsAreReadByTagsAndTypesAndPagedWithNext() async throws {
        let store = InMemoryEventStore()
        try await store.append(Self.tagged("CourseDefined", ["course:c1"]), to: "course-c1", expectedVersion: .noStream)
        try await store.append(Self.tagged("StudentSubscribed", ["course:c1", "student:s1"]), to: "sub-1", expectedVersion: .noStream)
        try await store.append(Self.tagged("StudentSubscribed", ["course:c2", "student:s1"]), to: "sub-2", expectedVersion: .noStream)
        try await store.append(Self.tagged("StudentSubscribed", ["course:c1", "student:s2"]), to: "sub-3", expectedVersion: .noStream)
        try await withReadAPI(store: store) { client in
            let course = try await client.get("/events?tag=course:c1").json
            let events = try #require(course["events"] as? [[String: Any]])
            #expect(events.map { $0["position"] as? Int } == [1, 2, 4])
            #expect(events[1]["tags"] as? [String] == ["course:c1", "student:s1"])
            #expect(course["tag"] as? [String] == ["course:c1"])
            #expect(course["type"] as? [String] == [])
            #expect(course["next"] is NSNull)

            let both = try await client.get("/events?tag=course:c1,student:s1").json
            #expect((both["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [2])
            let typed = try await client.get("/events?tag=student:s1&type=StudentSubscribed,Other").json
            #expect((typed["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [2, 3])
            let typeOnly = try await client.get("/events?type=CourseDefined").json
            #expect((typeOnly["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [1])

            let page1 = try await client.get("/events?tag=course:c1&limit=2").json
            #expect((page1["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [1, 2])
            let next = try #require(page1["next"] as? Int)
            let page2 = try await client.get("/events?tag=course:c1&limit=2&after=\(next)").json
            #expect((page2["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [4])
        }
    }

    @Test func malformedTagQueriesAreRefusedWith400() async throws {
        try await withReadAPI(store: InMemoryEventStore()) { client in
            for path in ["/events", "/events?tag=", "/events?tag=a,,b", "/events?tag=a%20b", "/events?type=A,", "/events?tag=\(String(repeating: "x", count: 129))"] {
                let response = try await client.get(path)
                #expect(response.status == .badRequest, "\(path)")
                let error = try #require(try response.json["error"] as? [String: Any])
                #expect(error["code"] as? String == "invalidParameter", "\(path)")
            }
        }
    }
}
