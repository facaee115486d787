import Chronicle
import ChronicleInstrumentation
import ChronicleSQLite
import Foundation
import GRDB
import Logging
import MetricsTestKit
import Testing
import Tracing

/// A directory under the system temp directory, removed by ``remove()``.
struct SnippetDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-docs-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    var path: String { url.path }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func remove() { try? FileManager.default.removeItem(at: url) }
}

let quietLogger = Logger(label: "chronicle.docs.tests", factory: { _ in SwiftLogNoOpLogHandler() })

/// The docs' snippets, run against real SQLite files in temporary directories.
@Suite struct DocsSnippetsTests {
    @Test func gettingStartedStoresTheOrderAndRejectsThePlacingTwice() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        try await gettingStarted(in: directory.path)

        let store = try SQLiteEventStore(path: directory.path("shop.sqlite"), configuration: .init(logger: quietLogger))
        let events = try await store.readStream("order-42")
        #expect(events.map(\.type) == ["OrderPlaced"])
        #expect(events.first?.metadata.correlationID == "req-1")
        try await store.close()
    }

    @Test func expectedVersionsAndRetriesBehaveAsTheConcurrencyArticleSays() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .init(logger: quietLogger))
        try await appendWithExpectations(to: store)
        #expect(try await store.streamVersion(of: "order-9") == 1)
        #expect(try await store.headPosition() == 1)

        let results = try await moveStock(in: store, from: .initial)
        #expect(results.map(\.position) == [2, 3])
        await #expect(throws: EventStoreError.self) { _ = try await moveStock(in: store, from: .initial) }
        #expect(try await store.headPosition() == 3, "the failed atomic append wrote neither stream")
        try await store.close()
    }

    @Test func theCheckoutChargesConfirmsAndCompensatesAndRedeliveryChangesNothing() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .init(logger: quietLogger))
        let orders = AggregateRepository<Order>(store: store)
        let checkout = Checkout(orders: orders, payments: AggregateRepository<Payment>(store: store), limit: 100)
        let runner = try checkoutRunner(checkout, store: store, directory: directory.path, logger: quietLogger)
        let running = Task { try await runner.run() }

        _ = try await orders.execute(.place(customer: "ada", total: 30), on: "1", metadata: EventMetadata(correlationID: "req-1"))
        _ = try await orders.execute(.place(customer: "bob", total: 500), on: "2", metadata: EventMetadata(correlationID: "req-2"))
        // Reactions append events the runner reacts to in turn: wait until it has seen a head that
        // no longer moves.
        var head = GlobalPosition.start
        while head != (try await store.headPosition()) {
            head = try await store.headPosition()
            try await runner.waitUntil(position: head, timeout: .seconds(10))
        }
        running.cancel()

        #expect(try await orders.load("1").state.isConfirmed)
        #expect(try await orders.load("2").state.isCancelled)
        let cancelled = try await store.readStream("order-2").last
        #expect(cancelled?.type == "OrderCancelled")
        #expect(cancelled?.metadata.correlationID == "req-2", "the correlation id follows the request through the process")
        let declined = try await store.readStream("payment-2")
        #expect(declined.map(\.type) == ["PaymentDeclined"])
        #expect(cancelled?.metadata.causationID == declined.first?.id.uuidString.lowercased())
        #expect(await runner.status().parkedCount == 0)

        // Redelivering every event (a lost checkpoint) writes nothing new.
        for try await event in store.allEvents() {
            try await checkout.react(to: event, context: ProcessContext(trigger: event, processName: checkout.name))
        }
        #expect(try await store.headPosition() == head)
        try await store.close()
    }

    @Test func aVacuumIntoBackupOfALiveStoreOpensWithTheSameEvents() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        let store = try openDurableStore(at: directory.path("events.sqlite"), logger: quietLogger)
        let orders = AggregateRepository<Order>(store: store)
        for id in 1...20 {
            _ = try await orders.execute(.place(customer: "c\(id)", total: id), on: "\(id)")
        }
        try backUp(storeAt: directory.path("events.sqlite"), to: directory.path("backup.sqlite"))
        _ = try await orders.execute(.place(customer: "late", total: 1), on: "21")   // the store is still live

        let backup = try SQLiteEventStore(path: directory.path("backup.sqlite"), configuration: .init(logger: quietLogger))
        let original = try await store.readAll(after: .start, limit: 20)
        let copied = try await backup.readAll(after: .start, limit: 100)
        #expect(copied == original)
        try await backup.close()
        try await store.close()
    }

    @Test func instrumentedOrdersRecordTheDocumentedMetricNames() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        let store = try openLoggedStore(at: directory.path("events.sqlite"), logger: quietLogger)
        let metrics = TestMetrics()
        let orders = instrumentedOrders(store: store, metrics: metrics, tracer: NoOpTracer())
        _ = try await orders.execute(.place(customer: "ada", total: 30), on: "1")
        await #expect(throws: Order.Failure.alreadyPlaced) { _ = try await orders.execute(.place(customer: "ada", total: 30), on: "1") }

        #expect(try metrics.expectCounter("chronicle_commands_total", [("aggregate", "order"), ("outcome", "ok")]).totalValue == 1)
        #expect(try metrics.expectCounter("chronicle_commands_total", [("aggregate", "order"), ("outcome", "rejected")]).totalValue == 1)
        #expect(try metrics.expectTimer("chronicle_command_duration", [("aggregate", "order")]).values.count == 2)
        #expect(try metrics.expectCounter("chronicle_appends_total", [("outcome", "ok")]).totalValue == 1)
        #expect(try metrics.expectCounter("chronicle_events_appended_total").totalValue == 1)
        #expect(try metrics.expectTimer("chronicle_append_duration").values.count == 1)
        #expect(try metrics.expectRecorder("chronicle_append_events").lastValue == 1)
        try await store.close()
    }
}
