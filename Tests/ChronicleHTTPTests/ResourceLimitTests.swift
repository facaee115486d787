import ChronicleHTTPTestSupport
import ChronicleTestSupport
@testable import ChronicleHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import Testing

/// The bounds of issue 20 (findings 1–4), each against a real server on loopback with raw
/// sockets, short configured timeouts, and waits on conditions with deadlines.
@Suite struct ResourceLimitTests {
    /// A command route that reads its body, counting the requests that reached it.
    static func commandRoute(_ started: Counter) -> (ReadAPI, Router<BasicRequestContext>) -> Void {
        { _, router in
            router.post("/commands") { request, _ in
                started.increment()
                var request = request
                let body = try await request.collectBody(upTo: .max)
                return "got \(body.readableBytes)"
            }
        }
    }

    // MARK: Finding 1: timeouts on connections

    @Test func aHalfSentHeaderBlockIsClosedAfterTheIdleTimeout() async throws {
        try await withServedReadAPI(store: try await sampleStore(), configure: { $0.idleTimeout = .milliseconds(300) }) { _, client in
            let connection = try RawConnection(port: try #require(client.port))
            try connection.send("GET /head HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            let start = ContinuousClock.now
            let answer = try await connection.readUntilClosed()
            #expect(answer.isEmpty, "no answer to half a request: \(answer)")
            #expect(ContinuousClock.now - start >= .milliseconds(250), "closed by the timeout, not at once")
        }
    }

    @Test func aConnectionThatSendsNothingIsClosedAfterTheIdleTimeout() async throws {
        try await withServedReadAPI(store: try await sampleStore(), configure: { $0.idleTimeout = .milliseconds(300) }) { _, client in
            let connection = try RawConnection(port: try #require(client.port))
            #expect(try await connection.readUntilClosed().isEmpty)
        }
    }

    @Test func aBodyThatStopsArrivingAnswers408AndTheConnectionIsClosed() async throws {
        let started = Counter()
        try await withServedReadAPI(
            store: try await sampleStore(),
            configure: { $0.bodyReadTimeout = .milliseconds(300); $0.idleTimeout = .seconds(60) },
            routes: Self.commandRoute(started)
        ) { _, client in
            let connection = try RawConnection(port: try #require(client.port))
            try connection.send("POST /commands HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            let answer = try await connection.readUntilClosed()
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(answer.contains(#""code":"requestTimeout""#), "\(answer)")
        }
        #expect(started.value == 1)
    }

    @Test func aTrickledBodyIsCutOffAtTheBodyReadDeadline() async throws {
        // Each byte resets the idle timer, so only a deadline on the whole body stops this client.
        let started = Counter()
        try await withServedReadAPI(
            store: try await sampleStore(),
            configure: { $0.bodyReadTimeout = .milliseconds(500); $0.idleTimeout = .seconds(60) },
            routes: Self.commandRoute(started)
        ) { _, client in
            let connection = try RawConnection(port: try #require(client.port))
            try connection.send("POST /commands HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            var received: [UInt8] = []
            // The client's behaviour, not a wait: one byte every 20 ms would take 20 s.
            for _ in 0..<1000 {
                let (bytes, closed) = connection.readAvailable()
                received += bytes
                if closed { break }
                try? connection.send("x")
                try await Task.sleep(for: .milliseconds(20))
            }
            let answer = String(decoding: received, as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(answer.contains(#""code":"requestTimeout""#), "\(answer)")
        }
    }

    @Test func aRouteThatTakesNoBodyAnswersWithoutWaitingForOne() async throws {
        // Before: the body-limit middleware collected every declared body, so /head waited for
        // the 90 bytes that never come. (The idle timeout is long: the answer must not need it.)
        try await withServedReadAPI(store: try await sampleStore(), configure: { $0.idleTimeout = .seconds(60) }) { _, client in
            let connection = try RawConnection(port: try #require(client.port))
            try connection.send("GET /head HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            let answer = try await connection.read(until: #"{"head":5}"#)
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        }
    }

    // MARK: Finding 2: bounded graceful shutdown

    @Test func gracefulShutdownEndsInBoundedTimeWhileAClientHoldsARequestOpen() async throws {
        var configuration = ReadAPIConfiguration()
        configuration.maximumGracefulShutdownDuration = .milliseconds(300)
        configuration.maximumCancellationDuration = nil  // never fatalError inside the test runner
        configuration.idleTimeout = .seconds(120)         // neither timeout may be what ends it
        configuration.bodyReadTimeout = .seconds(120)
        let api = try ReadAPI(reader: try await sampleStore(), configuration: configuration, logger: quietLogger)
        let router = api.makeRouter()
        let started = Counter()
        Self.commandRoute(started)(api, router)
        let ports = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, server: api.httpServer,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ports.continuation.yield(channel.localAddress?.port ?? 0) },
            logger: quietLogger
        )
        let group = ServiceGroup(configuration: api.serviceGroupConfiguration(services: [app], logger: quietLogger))
        let finished = Counter()
        // Unstructured, so that a server that never stops fails this test instead of hanging it.
        let running = Task {
            try await group.run()
            finished.increment()
        }
        var portIterator = ports.stream.makeAsyncIterator()
        let port = try #require(await portIterator.next())
        let connection = try RawConnection(port: port)
        try connection.send("POST /commands HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        try await eventually("the command route to wait for the rest of the body") { started.value == 1 }

        await group.triggerGracefulShutdown()
        try await eventually("the server to stop despite the open request", timeout: .seconds(20)) { finished.value == 1 }
        try await running.value
        _ = try await connection.readUntilClosed()
    }

    // MARK: Finding 3: live feeds and pages

    @Test func feedsBeyondTheMaximumAreRefusedWith503AndRetryAfter() async throws {
        try await withServedReadAPI(
            store: try await sampleStore(),
            configure: { $0.maximumConcurrentFeeds = 2; $0.feedHeartbeat = .milliseconds(100); $0.feedRetryMilliseconds = 3000 }
        ) { api, client in
            let port = try #require(client.port)
            var feeds: [RawConnection] = []
            for _ in 0..<2 {
                let feed = try RawConnection(port: port)
                try feed.send("GET /feed?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try await feed.read(until: "id: 5\n")
                feeds.append(feed)
            }
            let refused = try await client.get("/feed?after=0")
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "3")
            let error = try refused.errorBody
            #expect(error.code == "tooManyFeeds")
            #expect(error.fields["limit"] as? Int == 2)
            #expect(api.statistics.openFeeds == 2)
            #expect(api.statistics.refusedFeeds == 1)

            // A client that leaves frees its place (noticed at the next heartbeat).
            feeds.removeFirst()
            try await eventually("the closed feed to be released") { api.statistics.openFeeds == 1 }
            let another = try RawConnection(port: port)
            try another.send("GET /feed?after=4 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await another.read(until: "id: 5\n").hasPrefix("HTTP/1.1 200"))
        }
    }

    /// A store of `count` events of about `size` bytes each.
    static func largeStore(events count: Int, size: Int) async throws -> InMemoryEventStore {
        let store = InMemoryEventStore()
        let blob = String(repeating: "x", count: size)
        for batch in stride(from: 0, to: count, by: 100) {
            let events = (batch..<min(batch + 100, count)).map { jsonEvent("Blob", #"{"n":\#($0),"blob":"\#(blob)"}"#) }
            try await store.append(events, to: StreamID(category: "blob", id: "\(batch)"), expectedVersion: .noStream)
        }
        return store
    }

    @Test func aFeedClientThatDoesNotReadIsDroppedHavingHeldOnlyBoundedBytes() async throws {
        let (count, size) = (600, 32 * 1024)
        let total = count * size
        let logs = LogRecorder()
        try await withServedReadAPI(
            store: try await Self.largeStore(events: count, size: size), logger: logs.logger,
            configure: { $0.writeTimeout = .milliseconds(300); $0.writeChunkSize = 16 * 1024; $0.feedHeartbeat = .seconds(60) }
        ) { api, client in
            let connection = try RawConnection(port: try #require(client.port), receiveBuffer: 4096)
            try connection.send("GET /feed?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
            // The client never reads: the server must give up on it, not buffer the log for it.
            try await eventually("the feed to drop the client that does not read") { api.statistics.droppedSlowClients == 1 }
            try await eventually("the dropped feed to free its place") { api.statistics.openFeeds == 0 }
            let statistics = api.statistics
            // A piece is flushed once it reaches 16 KiB, so it holds less than that plus one event's message.
            #expect(statistics.largestWrite < 16 * 1024 + size + 1024, "one piece (or one event) at a time, not a page: \(statistics)")
            // The socket holds a few MB; the rest of the 19 MB log was never handed over.
            #expect(statistics.bytesWritten < Int64(total), "what the client never read was not all buffered: \(statistics)")
            // The connection was closed by the server: reading now ends (after what the socket held).
            let received = try await connection.readUntilClosed()
            #expect(received.hasPrefix("HTTP/1.1 200"))
        }
        #expect(logs.aboutRequests(atLeast: .info).isEmpty, "a slow client is not a server fault: \(logs.aboutRequests(atLeast: .info).map(\.message))")
        #expect(logs.all.contains { $0.level == .debug && $0.message.contains("Dropping a client that does not read") })
    }

    @Test func aPageClientThatDoesNotReadIsLetGoInBoundedTime() async throws {
        let (count, size) = (200, 32 * 1024)
        try await withServedReadAPI(
            store: try await Self.largeStore(events: count, size: size),
            configure: { $0.writeTimeout = .milliseconds(300); $0.idleTimeout = .milliseconds(500); $0.maximumResponseBytes = 16 * 1024 * 1024 }
        ) { api, client in
            let connection = try RawConnection(port: try #require(client.port), receiveBuffer: 4096)
            try connection.send("GET /all?after=0&limit=200 HTTP/1.1\r\nHost: x\r\n\r\n")
            // Normally a write waits for the socket and the client is dropped at the write
            // timeout. NIO applies backpressure on its event loop, after the writes: on a starved
            // machine a (byte-capped) page can be handed over whole before the loop catches up;
            // the connection is then closed by the idle timeout once the answer is written.
            // Encoding 6 MB of events takes a while in a debug build on a loaded machine.
            try await eventually("the server to let go of the client that does not read", timeout: .seconds(120)) {
                api.statistics.droppedSlowClients == 1 || api.statistics.bytesWritten >= Int64(count * size)
            }
            #expect(api.statistics.largestWrite <= 64 * 1024, "written in pieces: \(api.statistics)")
            // Either way the server closes the connection (reading now only drains what the socket holds).
            _ = try await connection.readUntilClosed()
        }
    }

    @Test func aPageStopsAtTheByteCapAndItsNextContinuesWithoutGaps() async throws {
        let store = try await Self.largeStore(events: 30, size: 1000)
        try await withReadAPI(store: store, configure: { $0.maximumResponseBytes = 5000 }) { client in
            var after = 0
            var positions: [Int] = []
            while true {
                let response = try await client.get("/all?after=\(after)&limit=1000")
                #expect(response.body.readableBytes <= 5000 + 200, "the page's events fit the cap")
                let json = try response.json
                let events = try #require(json["events"] as? [[String: Any]])
                #expect(events.count <= 4, "about 1 KB each, at most 5000 bytes")
                #expect(!events.isEmpty)
                positions += events.compactMap { $0["position"] as? Int }
                guard let next = json["next"] as? Int else { break }
                after = next
            }
            #expect(positions == Array(1...30))
        }
        // One event larger than the cap is still served, alone.
        try await withReadAPI(store: store, configure: { $0.maximumResponseBytes = 10 }) { client in
            let json = try await client.get("/categories/blob/events?limit=5").json
            #expect((json["events"] as? [Any])?.count == 1)
            #expect(json["next"] as? Int == 1)
        }
    }

    @Test func pagesLargerThanOneStoreReadAreReadInStepsWithoutGapsInBothDirections() async throws {
        let store = InMemoryEventStore()
        let events = (1...250).map { jsonEvent("Tick", #"{"n":\#($0)}"#) }
        try await store.append(events, to: "clock-1", expectedVersion: .noStream)
        try await store.append(jsonEvent("Other", "{}"), to: "other-1", expectedVersion: .noStream)
        try await withReadAPI(store: store) { client in
            let forwards = try await client.get("/streams/clock-1?limit=1000").json
            #expect((forwards["events"] as? [[String: Any]])?.compactMap { $0["version"] as? Int } == Array(1...250))
            #expect(forwards["next"] is NSNull)

            let backwards = try await client.get("/streams/clock-1?direction=backwards&limit=240").json
            #expect((backwards["events"] as? [[String: Any]])?.compactMap { $0["version"] as? Int } == Array((11...250).reversed()))
            #expect(backwards["next"] as? Int == 10)
            #expect(backwards["version"] as? Int == 250)

            let all = try await client.get("/all?after=5&limit=1000").json
            #expect((all["events"] as? [[String: Any]])?.compactMap { $0["position"] as? Int } == Array(6...251))
            let category = try await client.get("/categories/clock/events?after=100&limit=120").json
            #expect((category["events"] as? [[String: Any]])?.compactMap { $0["position"] as? Int } == Array(101...220))
            #expect(category["next"] as? Int == 220)
        }
    }

    // MARK: Finding 4: client faults are 400 and debug-level

    @Test func malformedChunkedFramingAnswers400AndLogsNothingAboveDebug() async throws {
        let logs = LogRecorder()
        try await withServedReadAPI(store: try await sampleStore(), logger: logs.logger, routes: Self.commandRoute(Counter())) { _, client in
            let port = try #require(client.port)
            let command = try RawConnection(port: port)
            try command.send("POST /commands HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            let answer = try await command.readUntilClosed()
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
            #expect(answer.contains(#""code":"invalidRequestBody""#), "\(answer)")

            // A route that takes no body answers, then the framing error closes the connection.
            let read = try RawConnection(port: port)
            try read.send("GET /all HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            let readAnswer = try await read.readUntilClosed()
            #expect(!readAnswer.contains(" 500 "), "\(readAnswer)")
        }
        #expect(logs.aboutRequests(atLeast: .info).isEmpty, "\(logs.aboutRequests(atLeast: .info).map(\.message))")
        #expect(logs.all.contains { $0.level == .debug && $0.message.contains("Request body could not be read") })
    }

    @Test func aClientLeavingMidBodyIsLoggedAtDebugOnly() async throws {
        let logs = LogRecorder()
        let started = Counter()
        try await withServedReadAPI(store: try await sampleStore(), logger: logs.logger, routes: Self.commandRoute(started)) { _, client in
            let connection = try RawConnection(port: try #require(client.port))
            try connection.send("POST /commands HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            try await eventually("the route to read the body") { started.value == 1 }
            _ = consume connection  // closes the socket mid-body
            try await eventually("the server to notice") {
                logs.all.contains { $0.message.contains("Request body could not be read") }
            }
        }
        #expect(logs.aboutRequests(atLeast: .info).isEmpty, "\(logs.aboutRequests(atLeast: .info).map(\.message))")
    }

    // MARK: Configuration

    @Test(arguments: [
        "writeTimeout", "idleTimeout", "bodyReadTimeout", "maximumGracefulShutdownDuration", "maximumConcurrentFeeds",
        "writeChunkSize", "maximumResponseBytes", "maximumBodySize", "maximumPageSize", "defaultPageSize", "feedPageSize",
        "feedHeartbeat", "maximumCancellationDuration",
    ])
    func nonsenseSettingsAreRefusedWithATypedError(setting: String) throws {
        var configuration = ReadAPIConfiguration()
        switch setting {
        case "writeTimeout": configuration.writeTimeout = .zero
        case "idleTimeout": configuration.idleTimeout = .seconds(-1)
        case "bodyReadTimeout": configuration.bodyReadTimeout = .seconds(90_000)
        case "maximumGracefulShutdownDuration": configuration.maximumGracefulShutdownDuration = .zero
        case "maximumConcurrentFeeds": configuration.maximumConcurrentFeeds = 0
        case "writeChunkSize": configuration.writeChunkSize = 0
        case "maximumResponseBytes": configuration.maximumResponseBytes = -5
        case "maximumBodySize": configuration.maximumBodySize = -1
        case "maximumPageSize": configuration.maximumPageSize = 0
        case "defaultPageSize": configuration.defaultPageSize = 0
        case "feedHeartbeat": configuration.feedHeartbeat = .zero
        case "maximumCancellationDuration": configuration.maximumCancellationDuration = .seconds(-2)
        default: configuration.feedPageSize = 200_000
        }
        let error = #expect(throws: ReadAPIConfiguration.InvalidValue.self) {
            try ReadAPI(reader: InMemoryEventStore(), configuration: configuration)
        }
        #expect(error?.setting == setting, "\(String(describing: error))")
        #expect(error?.description.contains(setting) == true)
    }

    @Test func theDefaultsAreValid() throws {
        try ReadAPIConfiguration().validate()
        #expect(throws: ReadAPIConfiguration.InvalidValue.self) { try RequestBodyLimitMiddleware<BasicRequestContext>(maximumSize: -1) }
    }
}
