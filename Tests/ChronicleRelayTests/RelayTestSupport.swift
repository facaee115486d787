import Chronicle
import ChronicleRelay
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A logger that logs nothing.
let silentLogger = Logger(label: "relay-tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// Collects log messages (to see circuit changes that status polling may miss).
final class LogRecorder: Sendable {
    let messages = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "relay-tests") { _ in Handler(recorder: self) }
    }

    func contains(_ text: String) -> Bool { messages.withLock { $0.contains { $0.contains(text) } } }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            recorder.messages.withLock { $0.append("\(event.message)") }
        }
    }
}

/// The receiving service of the tests: a real Hummingbird server on loopback whose `POST /inbox`
/// does what `reply` says for each call (fail, hang, wait, or hand the delivery to a real
/// `RelayInbox` over a real `SQLiteInbox`), recording every call that reaches the wire.
final class TestReceiver: Sendable {
    enum Reply: Sendable {
        /// Hand the delivery to the inbox.
        case inbox
        /// Answer this status (with `Retry-After` if given), applying nothing.
        case status(Int, retryAfter: String? = nil)
        /// Never answer (until the receiver stops).
        case hang
        /// Wait this long, then hand the delivery to the inbox.
        case slow(Duration)
    }

    struct Calls {
        var eventIDs: [String] = []
        var inFlight = 0
        var maxInFlight = 0
        var released = false
        /// Hanging calls, resumed when the receiver stops.
        var hanging: [CheckedContinuation<Void, Never>] = []
    }

    static let secret = RelaySecret("relay-test-secret")
    let database: DatabaseQueue
    let inbox: SQLiteInbox
    let relayInbox: RelayInbox
    let reply: @Sendable (_ call: Int, _ eventID: String) -> Reply
    let calls = Mutex(Calls())
    private let server = Mutex<(ServiceGroup, Task<Void, any Error>)?>(nil)
    let port = Mutex(0)

    init(path: String, reply: @escaping @Sendable (_ call: Int, _ eventID: String) -> Reply = { _, _ in .inbox }) throws {
        database = try DatabaseQueue(path: path)
        try database.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS received (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, stream TEXT NOT NULL, version INTEGER NOT NULL
                )
                """)
        }
        inbox = try SQLiteInbox(database: database) { event, db in
            try db.execute(
                sql: "INSERT INTO received (event_id, stream, version) VALUES (?, ?, ?)",
                arguments: [event.id.uuidString.lowercased(), event.streamID.rawValue, event.streamVersion.value]
            )
        }
        relayInbox = RelayInbox(inbox: inbox, configuration: .init(secrets: [Self.secret]), logger: silentLogger)
        self.reply = reply
    }

    var endpoint: URL { URL(string: "http://127.0.0.1:\(port.withLock { $0 })/inbox")! }

    /// Starts the server (on `port`, or an ephemeral one the first time).
    func start() async throws {
        let router = Router()
        router.post("inbox") { request, _ in try await self.handle(request) }
        let ports = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port.withLock { $0 })),
            onServerRunning: { channel in ports.continuation.yield(channel.localAddress?.port ?? 0) }, logger: silentLogger
        )
        calls.withLock { $0.released = false }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: silentLogger))
        let task = Task { try await group.run() }
        var iterator = ports.stream.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw CancellationError() }
        port.withLock { $0 = bound }
        server.withLock { $0 = (group, task) }
    }

    /// Stops the server (hanging calls are released first); connections are then refused.
    func stop() async {
        let hanging = calls.withLock { calls in
            calls.released = true
            defer { calls.hanging = [] }
            return calls.hanging
        }
        for call in hanging { call.resume() }
        guard let (group, task) = server.withLock({ value in defer { value = nil }; return value }) else { return }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    private func handle(_ request: Request) async throws -> Response {
        let eventID = request.headers[HTTPField.Name("Chronicle-Event-Id")!] ?? ""
        let call: Int = calls.withLock { calls in
            calls.eventIDs.append(eventID)
            calls.inFlight += 1
            calls.maxInFlight = max(calls.maxInFlight, calls.inFlight)
            return calls.eventIDs.count
        }
        defer { calls.withLock { $0.inFlight -= 1 } }
        switch reply(call, eventID) {
        case .inbox:
            return try await relayInbox.respond(to: request)
        case .status(let code, let retryAfter):
            var headers: HTTPFields = [:]
            if let retryAfter { headers[.retryAfter] = retryAfter }
            return Response(status: .init(code: code), headers: headers)
        case .hang:
            // A server that never answers, until it stops.
            await withCheckedContinuation { (call: CheckedContinuation<Void, Never>) in
                let released = calls.withLock { calls in
                    if !calls.released { calls.hanging.append(call) }
                    return calls.released
                }
                if released { call.resume() }
            }
            return Response(status: .serviceUnavailable)
        case .slow(let delay):
            try await Task.sleep(for: delay)
            return try await relayInbox.respond(to: request)
        }
    }

    /// Calls that reached the wire.
    var wireCalls: Int { calls.withLock { $0.eventIDs.count } }

    /// What the inbox applied, in order: (event id, stream, version).
    func received() throws -> [(id: String, stream: String, version: Int64)] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT event_id, stream, version FROM received ORDER BY seq").map { ($0["event_id"], $0["stream"], $0["version"]) }
        }
    }

    /// Checks that the inbox applied exactly `expected` (stream → number of events), each event
    /// once, each stream's events in version order 1, 2, 3…; returns a description of what is
    /// wrong, or `nil`.
    func deliveryProblem(expected: [String: Int]) throws -> String? {
        let rows = try received()
        var versions: [String: [Int64]] = [:]
        for row in rows { versions[row.stream, default: []].append(row.version) }
        if Set(rows.map(\.id)).count != rows.count { return "an event was applied twice: \(rows.map(\.id))" }
        for (stream, count) in expected {
            let got = versions[stream] ?? []
            if got != (1...Int64(max(1, count))).prefix(count).map({ $0 }) { return "stream \(stream) applied versions \(got), expected 1...\(count)" }
        }
        if Set(versions.keys) != Set(expected.keys) { return "streams \(versions.keys.sorted()) applied, expected \(expected.keys.sorted())" }
        return nil
    }
}

/// A store with events, a relay run by an `SQLiteProcessManager`, and a receiver.
struct RelayFixture {
    let directory: TemporaryDirectory
    let store: SQLiteEventStore

    init() throws {
        directory = try TemporaryDirectory()
        var configuration = SQLiteEventStore.Configuration()
        configuration.logger = silentLogger
        store = try SQLiteEventStore(path: directory.path("store.sqlite"), configuration: configuration)
    }

    /// Appends `perStream` events to each of `streams` streams `order-0`…, interleaved
    /// (version 1 of every stream, then version 2…). Returns stream → count.
    @discardableResult
    func append(streams: Int, perStream: Int, category: String = "order", type: String = "OrderPlaced") async throws -> [String: Int] {
        for version in 1...perStream {
            for stream in 0..<streams {
                let id = try StreamID("\(category)-\(stream)")
                _ = try await store.append(
                    EventData(type: type, payload: Data(#"{"n":\#(version)}"#.utf8), metadata: EventMetadata(correlationID: "c-\(stream)")),
                    to: id, expectedVersion: .any
                )
            }
        }
        return Dictionary(uniqueKeysWithValues: (0..<streams).map { ("\(category)-\($0)", perStream) })
    }

    /// A relay to `endpoint` with fast retries (the backoff shortened, not skipped).
    func relay(
        to endpoint: URL, name: String = "test-relay", requestTimeout: Duration = .seconds(5), retry: RelayRetryPolicy = .init(maxAttempts: 6, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50)),
        breaker: CircuitBreakerPolicy = .init(failureThreshold: 100, coolDown: .milliseconds(100)),
        categories: Set<String>? = ["order"], sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        logger: Logger = silentLogger
    ) throws -> EventRelay {
        try EventRelay(
            name: name,
            configuration: .init(
                endpoint: endpoint, secret: TestReceiver.secret, categories: categories, connectTimeout: .seconds(1), requestTimeout: requestTimeout,
                retry: retry, circuitBreaker: breaker, sleep: sleep, randomSeed: 42
            ),
            logger: logger
        )
    }

    /// The runner of `relay`, its bookkeeping in this fixture's directory.
    func runner(_ relay: EventRelay, partitions: Int = 1) throws -> SQLiteProcessManager {
        try SQLiteProcessManager(
            relay, path: directory.path("\(relay.name).sqlite"), source: .observing(store), failurePolicy: EventRelay.failurePolicy,
            partitioning: try .byStream(partitions), filter: relay.filter, standbyPollInterval: .milliseconds(20), logger: silentLogger
        )
    }
}

/// Runs `runner` while `body` runs, then stops it (and checks that it stops promptly).
func whileRunning<T: Sendable>(_ runner: SQLiteProcessManager, _ body: () async throws -> T) async throws -> T {
    let task = Task { try await runner.run() }
    do {
        let value = try await body()
        task.cancel()
        try await task.value
        return value
    } catch {
        task.cancel()
        _ = try? await task.value
        throw error
    }
}
