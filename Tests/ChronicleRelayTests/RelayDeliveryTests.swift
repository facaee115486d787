import Chronicle
import ChronicleRelay
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import Synchronization
import Testing

/// The outbound relay against real HTTP servers on loopback: every event arrives at least once
/// at the wire and exactly once in the receiver's inbox, in order per stream.
@Suite struct RelayDeliveryTests {
    @Test func aServerThatFailsTheFirstCallsGetsEveryEventOnceInOrder() async throws {
        let fixture = try RelayFixture()
        defer { fixture.directory.remove() }
        let expected = try await fixture.append(streams: 3, perStream: 4)
        let receiver = try TestReceiver(path: fixture.directory.path("receiver.sqlite")) { call, _ in call <= 3 ? .status(503) : .inbox }
        try await receiver.start()
        let relay = try fixture.relay(to: receiver.endpoint)
        let runner = try fixture.runner(relay)
        try await whileRunning(runner) {
            try await runner.waitUntil(position: try await fixture.store.headPosition(), timeout: .seconds(30))
        }
        try await relay.shutdown()
        await receiver.stop()
        #expect(try receiver.deliveryProblem(expected: expected) == nil)
        #expect(receiver.wireCalls == 12 + 3)
        #expect(runner.engine.status().parkedCount == 0)
    }

    @Test func aServerThatAnswers500ThenRetryAfterThen200IsRetriedAfterTheDelayItAskedFor() async throws {
        let fixture = try RelayFixture()
        defer { fixture.directory.remove() }
        let expected = try await fixture.append(streams: 1, perStream: 2)
        let receiver = try TestReceiver(path: fixture.directory.path("receiver.sqlite")) { call, _ in
            switch call {
            case 1: .status(500)
            case 2: .status(429, retryAfter: "7")
            default: .inbox
            }
        }
        try await receiver.start()
        // The waits are recorded and shortened: the test checks what the relay asked for.
        let waits = Mutex<[Duration]>([])
        let relay = try fixture.relay(to: receiver.endpoint) { delay in
            waits.withLock { $0.append(delay) }
            try await Task.sleep(for: min(delay, .milliseconds(10)))
        }
        let runner = try fixture.runner(relay)
        try await whileRunning(runner) {
            try await runner.waitUntil(position: try await fixture.store.headPosition(), timeout: .seconds(30))
        }
        try await relay.shutdown()
        await receiver.stop()
        #expect(try receiver.deliveryProblem(expected: expected) == nil)
        let asked = waits.withLock { $0 }
        #expect(asked.count == 2)
        #expect(asked.first.map { $0 >= .milliseconds(5) && $0 <= .milliseconds(10) } == true)  // backoff with jitter
        #expect(asked.last == .seconds(7))  // Retry-After honoured
    }

    @Test func aServerThatTimesOutIsRetriedAndCannotBlockShutdown() async throws {
        let fixture = try RelayFixture()
        defer { fixture.directory.remove() }
        let expected = try await fixture.append(streams: 2, perStream: 2)
        let receiver = try TestReceiver(path: fixture.directory.path("receiver.sqlite")) { call, _ in call == 1 ? .hang : .inbox }
        try await receiver.start()
        let relay = try fixture.relay(to: receiver.endpoint, requestTimeout: .milliseconds(300))
        let runner = try fixture.runner(relay)
        try await whileRunning(runner) {
            try await runner.waitUntil(position: try await fixture.store.headPosition(), timeout: .seconds(30))
        }
        #expect(try receiver.deliveryProblem(expected: expected) == nil)
        // The hung call timed out and its event was sent again (a busy machine may time out more).
        let calls = receiver.calls.withLock { $0.eventIDs }
        #expect(calls.count >= 5)
        #expect(calls.filter { $0 == calls.first }.count >= 2)

        // A relay stuck in a request to a server that never answers stops at once when shut down.
        _ = try await fixture.append(streams: 1, perStream: 1, category: "order", type: "OrderShipped")
        let hanging = try TestReceiver(path: fixture.directory.path("hanging.sqlite")) { _, _ in .hang }
        try await hanging.start()
        let stuck = try fixture.relay(to: hanging.endpoint, name: "stuck-relay", requestTimeout: .seconds(600))
        let stuckRunner = try fixture.runner(stuck)
        let task = Task { try await stuckRunner.run() }
        try await eventually("the request to hang at the server") { hanging.wireCalls == 1 }
        let clock = ContinuousClock()
        let stopping = clock.now
        task.cancel()
        try await task.value
        #expect(clock.now - stopping < .seconds(5))
        try await stuck.shutdown()
        try await relay.shutdown()
        await hanging.stop()
        await receiver.stop()
    }

    @Test func a400ParksTheEventAtOnceAndOtherStreamsContinue() async throws {
        let fixture = try RelayFixture()
        defer { fixture.directory.remove() }
        let expected = try await fixture.append(streams: 3, perStream: 2)
        let poisoned = Mutex<String?>(nil)
        let refuse = Mutex(true)
        let receiver = try TestReceiver(path: fixture.directory.path("receiver.sqlite")) { _, eventID in
            // The first event of stream order-1 is refused (400) while `refuse` holds.
            if refuse.withLock({ $0 }), poisoned.withLock({ $0 }) == eventID { return .status(400) }
            return .inbox
        }
        let first = try #require(try await fixture.store.readStream(StreamID(category: "order", id: "1"), limit: 1).first)
        poisoned.withLock { $0 = first.id.uuidString.lowercased() }
        try await receiver.start()
        let relay = try fixture.relay(to: receiver.endpoint)
        let runner = try fixture.runner(relay, partitions: 2)
        try await whileRunning(runner) {
            try await runner.waitUntil(position: try await fixture.store.headPosition(), timeout: .seconds(30))
            let parked = try await runner.parkedEvents()
            #expect(parked.map(\.position) == [first.position])
            #expect(parked.first?.attempts == 1)
            #expect(parked.first?.error.contains("HTTP 400") == true)
            #expect(runner.engine.status().parkedCount == 1)
            // Every other event arrived.
            #expect(receiver.calls.withLock { $0.eventIDs.filter { $0 == first.id.uuidString.lowercased() }.count } == 1)
            #expect(try receiver.received().count == 5)

            // The receiver is fixed: retrying the parked event delivers it (at least once on the wire, once in the inbox).
            refuse.withLock { $0 = false }
            try await runner.retryParked(at: first.position)
            #expect(try await runner.parkedEvents().isEmpty)
        }
        try await relay.shutdown()
        await receiver.stop()
        let rows = try receiver.received()
        #expect(rows.count == 6)
        #expect(Set(rows.map(\.id)).count == 6)
        #expect(Dictionary(grouping: rows, by: \.stream).mapValues(\.count) == expected)
    }

    @Test func aServerThatIsDownOpensTheCircuitThenAProbeClosesItAndEverythingArrivesOnceInOrder() async throws {
        let fixture = try RelayFixture()
        defer { fixture.directory.remove() }
        let expected = try await fixture.append(streams: 4, perStream: 3)
        let receiver = try TestReceiver(path: fixture.directory.path("receiver.sqlite"))
        try await receiver.start()
        let endpoint = receiver.endpoint
        await receiver.stop()  // down: connections are refused
        let logs = LogRecorder()
        let relay = try fixture.relay(
            to: endpoint, retry: .init(maxAttempts: 1000, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50)),
            breaker: .init(failureThreshold: 3, coolDown: .milliseconds(300)), logger: logs.logger
        )
        let runner = try fixture.runner(relay, partitions: 2)
        try await whileRunning(runner) {
            try await eventually("the circuit to open") { runner.engine.status().circuit?.state == .open }
            let opened = try #require(runner.engine.status().circuit)
            #expect(opened.consecutiveFailures >= 3)
            #expect(opened.endpoint == endpoint.absoluteString)
            try await eventually("a half-open probe while it is down") { logs.contains("half-open") }
            #expect(runner.engine.status().position == .start)

            try await receiver.start()  // back, on the same port
            try await runner.waitUntil(position: try await fixture.store.headPosition(), timeout: .seconds(30))
            #expect(runner.engine.status().circuit?.state == .closed)
            #expect(logs.contains("Relay circuit closed"))
        }
        try await relay.shutdown()
        await receiver.stop()
        #expect(try receiver.deliveryProblem(expected: expected) == nil)
        #expect(receiver.wireCalls == 12)  // nothing was sent twice once it was back
        #expect(runner.engine.status().parkedCount == 0)
    }

    @Test func aSlowServerSeesNoMoreConcurrentDeliveriesThanPartitions() async throws {
        let fixture = try RelayFixture()
        defer { fixture.directory.remove() }
        let expected = try await fixture.append(streams: 16, perStream: 2)
        let receiver = try TestReceiver(path: fixture.directory.path("receiver.sqlite")) { _, _ in .slow(.milliseconds(40)) }
        try await receiver.start()
        let relay = try fixture.relay(to: receiver.endpoint)
        let runner = try fixture.runner(relay, partitions: 4)
        try await whileRunning(runner) {
            try await runner.waitUntil(position: try await fixture.store.headPosition(), timeout: .seconds(60))
        }
        try await relay.shutdown()
        await receiver.stop()
        #expect(try receiver.deliveryProblem(expected: expected) == nil)
        let maxInFlight = receiver.calls.withLock { $0.maxInFlight }
        #expect(maxInFlight <= 4)
        #expect(maxInFlight >= 2)  // the partitions do deliver in parallel
    }
}
