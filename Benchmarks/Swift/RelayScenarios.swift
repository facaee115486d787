import Chronicle
import ChronicleRelay
import ChronicleSQLite
import Foundation
import GRDB
import Hummingbird
import Logging
import Synchronization

extension ScenarioRunner {
    /// RELAY1 / RELAY16: the outbound relay (issue 16) delivering to a local receiver, with 1 or
    /// 16 partitions (parallel streams).
    ///
    /// The receiver is a Hummingbird server on loopback in this process: `RelayInbox` (signature
    /// check) over an `SQLiteInbox` in its own file (event id + one row per event, one transaction
    /// per event). The relay is an `SQLiteProcessManager` (checkpoint saved after every event).
    ///
    /// 1. Throughput: `--events` (default 20,000) events over 1,000 streams appended first, then
    ///    the relay catches up from zero; events/s from its start to the last event applied in the
    ///    receiver's inbox (verified: each event once).
    /// 2. Latency: 1,000 more events appended one at a time at about 200 per second while the
    ///    relay follows; each one's time from its append returning to its row committed in the
    ///    receiver; p50 and p99.
    func relay(partitions: Int) async throws {
        let name = "RELAY\(partitions)"
        let total = events(default: 20_000)
        let store = try freshStore()
        let logger = Logger(label: "chronicle.bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let receiverPath = path + ".receiver"
        let relayPath = path + ".relay"
        for file in [receiverPath, relayPath] {
            for suffix in ["", "-wal", "-shm", ".run.lock"] { try? FileManager.default.removeItem(atPath: file + suffix) }
        }
        defer {
            for file in [receiverPath, relayPath] {
                for suffix in ["", "-wal", "-shm", ".run.lock"] { try? FileManager.default.removeItem(atPath: file + suffix) }
            }
        }

        // The receiver.
        let applied = AppliedEvents()
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let database = try DatabasePool(path: receiverPath, configuration: configuration)
        try await database.write { db in
            try db.execute(sql: "CREATE TABLE received (event_id TEXT PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL)")
        }
        let inbox = try SQLiteInbox(database: database) { event, db in
            try db.execute(sql: "INSERT INTO received VALUES (?, ?, ?)", arguments: [event.id.uuidString, event.streamID.rawValue, event.streamVersion.value])
            db.afterNextTransaction { _ in applied.record(event.id) }
        }
        let secret = RelaySecret("bench-secret")
        let router = Router()
        RelayInbox(inbox: inbox, configuration: .init(secrets: [secret]), logger: logger).add(to: router, at: "inbox")
        let ports = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in ports.continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger
        )
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        var portIterator = ports.stream.makeAsyncIterator()
        guard let port = await portIterator.next() else { throw BenchmarkError("the receiver did not start") }

        // 1. Throughput: catch up on `total` events.
        let streams = Workload.streamIDs(1_000)
        var appends: [StreamAppend] = []
        for seq in 0..<total {
            appends.append(StreamAppend([EventData(type: "Deposited", payload: Data(#"{"seq":\#(seq)}"#.utf8))], to: streams[seq % streams.count], expectedVersion: .any))
            if appends.count == 1_000 {
                _ = try await store.append(appends)
                appends.removeAll(keepingCapacity: true)
            }
        }
        if !appends.isEmpty { _ = try await store.append(appends) }
        let relay = try EventRelay(
            name: "bench-relay",
            configuration: .init(endpoint: URL(string: "http://127.0.0.1:\(port)/inbox")!, secret: secret, maxConnections: max(partitions, 1)),
            logger: logger
        )
        let runner = try SQLiteProcessManager(
            relay, path: relayPath, source: .observing(store), failurePolicy: EventRelay.failurePolicy,
            partitioning: try .byStream(partitions), filter: relay.filter, logger: logger
        )
        let head = try await store.headPosition()
        let stopwatch = Stopwatch()
        let running = Task { try await runner.run() }
        try await runner.waitUntil(position: head, timeout: .seconds(3_600))
        let timing = stopwatch.stop()
        let count = try await inbox.count()

        // 2. Latency: one event at a time, ~200/s, while the relay follows.
        var latencies: [Double] = []
        let clock = ContinuousClock()
        for seq in 0..<1_000 {
            let id = UUID()
            let waiter = applied.waiter(for: id)
            let started = clock.now
            _ = try await store.append(EventData(id: id, type: "Deposited", payload: Data(#"{"seq":\#(seq)}"#.utf8)), to: streams[seq % streams.count], expectedVersion: .any)
            await waiter.value
            latencies.append((clock.now - started).seconds * 1000)
            try await Task.sleep(until: started.advanced(by: .milliseconds(5)), clock: clock)
        }
        running.cancel()
        try await running.value
        try await relay.shutdown()
        latencies.sort()

        var report = Report(scenario: name, sync: sync, events: total, timing: timing, ops: total, op: "delivery", verified: count == total)
        report.add("partitions", .int(partitions))
        report.add("latency_p50_ms", .double(percentile(latencies, 0.5), digits: 3))
        report.add("latency_p99_ms", .double(percentile(latencies, 0.99), digits: 3))
        report.add("latency_max_ms", .double(latencies.last ?? .nan, digits: 3))
        report.print()
        try await store.close()
    }
}

/// Which events the benchmark's receiver has committed, and waiters for particular ones.
final class AppliedEvents: Sendable {
    private struct State {
        var done: Set<UUID> = []
        var waiters: [UUID: AsyncStream<Void>.Continuation] = [:]
    }

    private let state = Mutex(State())

    func record(_ id: UUID) {
        let waiter: AsyncStream<Void>.Continuation? = state.withLock { state in
            state.done.insert(id)
            return state.waiters.removeValue(forKey: id)
        }
        waiter?.finish()
    }

    /// A task that ends once `id` is committed.
    func waiter(for id: UUID) -> Task<Void, Never> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        let already: Bool = state.withLock { state in
            if state.done.contains(id) { return true }
            state.waiters[id] = continuation
            return false
        }
        if already { continuation.finish() }
        return Task { for await _ in stream {} }
    }
}
