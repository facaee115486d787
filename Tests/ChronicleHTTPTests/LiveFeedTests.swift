import AsyncHTTPClient
@testable import ChronicleHTTP
import ChronicleHTTPTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import ServiceLifecycle
import Testing

/// Reads server-sent events from a streaming HTTP response as they arrive.
struct SSEReader {
    struct Message: Equatable {
        var id: String?
        var data: String
    }

    var body: HTTPClientResponse.Body.AsyncIterator
    var pending = ""
    var comments: [String] = []

    init(_ response: HTTPClientResponse) { body = response.body.makeAsyncIterator() }

    /// The next message (comments are collected in `comments`).
    mutating func next() async throws -> Message? {
        while true {
            if let range = pending.range(of: "\n\n") {
                let block = String(pending[..<range.lowerBound])
                pending = String(pending[range.upperBound...])
                var message = Message(id: nil, data: "")
                var dataLines: [String] = []
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix(":") { comments.append(String(line.dropFirst())); continue }
                    if line.hasPrefix("id: ") { message.id = String(line.dropFirst(4)) }
                    if line.hasPrefix("data: ") { dataLines.append(String(line.dropFirst(6))) }
                }
                if dataLines.isEmpty { continue }
                message.data = dataLines.joined(separator: "\n")
                return message
            }
            guard let chunk = try await body.next() else { return nil }
            pending += String(buffer: chunk)
        }
    }

    /// The next `count` messages.
    mutating func next(_ count: Int) async throws -> [Message] {
        var messages: [Message] = []
        while messages.count < count, let message = try await next() { messages.append(message) }
        return messages
    }
}

/// Opens the feed at `path` on a live server.
func openFeed(_ client: HTTPClient, port: Int, path: String, headers: [(String, String)] = []) async throws -> HTTPClientResponse {
    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    return try await client.execute(request, timeout: .seconds(30))
}

@Suite struct LiveFeedTests {
    @Test func theFeedCatchesUpThenDeliversNewEventsAsTheyAreAppended() async throws {
        let store = try await sampleStore()
        try await withReadAPI(store: store) { testClient in
            let port = try #require(testClient.port)
            try await HTTPClient.withHTTPClient { http in
                let response = try await openFeed(http, port: port, path: "/feed?after=3")
                #expect(response.status == .ok)
                #expect(response.headers.first(name: "content-type") == "text/event-stream; charset=utf-8")
                var feed = SSEReader(response)
                let caughtUp = try await feed.next(2)
                #expect(caughtUp.map(\.id) == ["4", "5"])
                let event = try JSONSerialization.jsonObject(with: Data(caughtUp[0].data.utf8)) as? [String: Any]
                #expect(event?["stream"] as? String == "order-2")
                #expect(event?["position"] as? Int == 4)

                // Nothing polls: this event reaches the open connection because the append wakes it.
                try await store.append(jsonEvent("OrderPaid", #"{"orderId":"2"}"#), to: "order-2", expectedVersion: .exactly(1))
                let live = try await feed.next()
                #expect(live?.id == "6")
                #expect(live?.data.contains(#""type":"OrderPaid""#) == true)
                #expect(feed.comments.contains(" connected"))
            }
        }
    }

    @Test func aReconnectingClientResumesAfterItsLastEventID() async throws {
        let store = try await sampleStore()
        try await withReadAPI(store: store) { testClient in
            let port = try #require(testClient.port)
            try await HTTPClient.withHTTPClient { http in
                // The header wins over the query, as a browser reconnecting to the same URL sends both.
                let response = try await openFeed(http, port: port, path: "/feed?after=0", headers: [("Last-Event-ID", "2")])
                var feed = SSEReader(response)
                #expect(try await feed.next(3).map(\.id) == ["3", "4", "5"])
            }
        }
    }

    @Test func withoutAStartTheFeedSendsOnlyNewEventsAndCanFilterACategory() async throws {
        let store = try await sampleStore()
        try await withReadAPI(store: store) { testClient in
            let port = try #require(testClient.port)
            try await HTTPClient.withHTTPClient { http in
                let response = try await openFeed(http, port: port, path: "/feed?category=order")
                var feed = SSEReader(response)
                try await store.append(jsonEvent("CustomerRegistered", "{}"), to: "customer-bob", expectedVersion: .noStream)
                try await store.append(jsonEvent("OrderPlaced", "{}"), to: "order-3", expectedVersion: .noStream)
                let message = try await feed.next()
                #expect(message?.id == "7")
                #expect(message?.data.contains(#""stream":"order-3""#) == true)
            }
        }
    }

    @Test func theFeedFiltersByEventType() async throws {
        let store = try await sampleStore()
        try await withReadAPI(store: store) { testClient in
            let port = try #require(testClient.port)
            try await HTTPClient.withHTTPClient { http in
                let response = try await openFeed(http, port: port, path: "/feed?type=OrderShipped,OrderPaid")
                var feed = SSEReader(response)
                try await store.append(jsonEvent("OrderPlaced", "{}"), to: "order-8", expectedVersion: .noStream)
                try await store.append(jsonEvent("OrderPaid", "{}"), to: "order-8", expectedVersion: .streamExists)
                let message = try await feed.next()
                #expect(message?.id == "7", "only the OrderPaid event passes")
                #expect(message?.data.contains(#""type":"OrderPaid""#) == true)
            }
        }
    }

    @Test func aMalformedLastEventIDAnswers400() async throws {
        try await withReadAPI(store: try await sampleStore()) { client in
            let response = try await client.get("/feed", headers: [.lastEventID: "yesterday"])
            #expect(response.status == .badRequest)
            #expect(try response.errorBody.code == "invalidParameter")
        }
    }

    @Test func payloadLineBreaksBecomeSeparateDataLines() throws {
        let event = RecordedEvent(
            id: UUID(), streamID: "doc-1", streamVersion: 1, position: 9, type: "Pretty",
            schemaVersion: 1, payload: Data("{\r\n  \"a\": 1,\n  \"b\": [2]\n}".utf8), metadata: .none, recordedAt: Date()
        )
        var buffer = ByteBuffer()
        LiveFeed.appendMessage(for: event, to: &buffer)
        let text = String(buffer: buffer)
        #expect(text.hasPrefix("id: 9\ndata: "))
        #expect(text.hasSuffix("\n\n"))
        let data = text.dropLast(2).split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }.joined(separator: "\n")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
        #expect((json["data"] as? [String: Any])?["b"] as? [Int] == [2])
    }

    @Test func gracefulShutdownEndsOpenFeeds() async throws {
        let store = try await sampleStore()
        let api = try ReadAPI(reader: store, logger: quietLogger)
        let ports = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: api.makeRouter(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                ports.continuation.yield(channel.localAddress?.port ?? 0)
            },
            logger: quietLogger
        )
        let group = ServiceGroup(services: [app], logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var portIterator = ports.stream.makeAsyncIterator()
            let port = try #require(await portIterator.next())
            try await HTTPClient.withHTTPClient { http in
                let response = try await openFeed(http, port: port, path: "/feed?after=4")
                var feed = SSEReader(response)
                #expect(try await feed.next()?.id == "5")
                await group.triggerGracefulShutdown()
                // The server ends the response instead of waiting forever for the feed.
                while try await feed.next() != nil {}
            }
            try await tasks.waitForAll()
        }
    }
}
