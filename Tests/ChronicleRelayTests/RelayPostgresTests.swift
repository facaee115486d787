import Chronicle
import ChroniclePostgres
import ChronicleRelay
import ChronicleTestSupport
import Foundation
import PostgresNIO
import Testing

/// The relay on PostgreSQL: its checkpoint and parked deliveries in the store's bookkeeping
/// tables, run by `PostgresProcessManager` with partitions. Skipped when CHRONICLE_POSTGRES_URL is unset.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CHRONICLE_POSTGRES_URL"].map { !$0.isEmpty } ?? false, "CHRONICLE_POSTGRES_URL is not set"))
struct RelayPostgresTests {
    @Test func aRelayOnPostgresDeliversEveryEventOnceInOrderThroughFailures() async throws {
        let settings = try PostgresConnectionSettings(url: ProcessInfo.processInfo.environment["CHRONICLE_POSTGRES_URL"] ?? "")
        let schema = try PostgresSchemaName("t_relay_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))
        let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-relay-test", maximumConnections: 8))
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let store = PostgresEventStore(client: client, schema: schema, logger: silentLogger)
            do {
                try await store.migrate()
                var expected: [String: Int] = [:]
                for _ in 1...3 {
                    for stream in 0..<4 {
                        _ = try await store.append(EventData(type: "OrderPlaced", payload: Data("{}".utf8)), to: StreamID(category: "order", id: "\(stream)"), expectedVersion: .any)
                        expected["order-\(stream)", default: 0] += 1
                    }
                }
                _ = try await store.append(EventData(type: "Refused", payload: Data("{}".utf8)), to: StreamID(category: "audit", id: "1"), expectedVersion: .any)
                let receiver = try TestReceiver(path: directory.path("receiver.sqlite")) { call, _ in call <= 2 ? .status(502) : .inbox }
                try await receiver.start()
                let relay = try EventRelay(
                    name: "pg-relay",
                    configuration: .init(
                        endpoint: receiver.endpoint, secret: TestReceiver.secret, categories: ["order", "audit"],
                        retry: .init(maxAttempts: 5, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50)), randomSeed: 7
                    ),
                    logger: silentLogger
                )
                let runner = try PostgresProcessManager(
                    relay, store: store, leaseConnection: try settings.connectionConfiguration(applicationName: "chronicle-relay-test-lease"),
                    options: .init(failurePolicy: EventRelay.failurePolicy, partitioning: try .byStream(2), filter: relay.filter, leaseRetryInterval: .milliseconds(50)),
                    logger: silentLogger
                )
                let running = Task { try await runner.run() }
                do {
                    let head = try await store.headPosition()
                    try await runner.waitUntil(position: head, timeout: .seconds(30))
                    running.cancel()
                    try await running.value
                } catch {
                    running.cancel()
                    throw error
                }
                try await relay.shutdown()
                await receiver.stop()
                // The audit event reached the inbox too (the receiver stores every event).
                expected["audit-1"] = 1
                #expect(try receiver.deliveryProblem(expected: expected) == nil)
                #expect(receiver.wireCalls == 13 + 2)
            } catch {
                _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema.rawValue)\" CASCADE"))
                throw error
            }
            try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema.rawValue)\" CASCADE"))
        }
    }
}
