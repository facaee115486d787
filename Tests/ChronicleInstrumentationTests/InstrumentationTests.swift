import Chronicle
import ChronicleInstrumentation
import ChronicleSQLite
import Foundation
import InMemoryTracing
import MetricsTestKit
import Testing

struct Deposited: Codable, Sendable, Equatable { var amount: Int }

enum AccountEvent: RegisteredEvent {
    case deposited(Deposited)
    static let registry = EventTypeRegistry<AccountEvent>()
        .register(Deposited.self, as: "Deposited", version: 1, AccountEvent.deposited)
    var payload: any Encodable & Sendable {
        switch self { case .deposited(let event): event }
    }
}

struct Account: Aggregate {
    enum Failure: Error, Equatable { case notPositive }
    static let category = "account"
    static let initial = Account()
    var balance = 0

    func decide(_ amount: Int) throws -> [AccountEvent] {
        guard amount > 0 else { throw Failure.notPositive }
        return [.deposited(Deposited(amount: amount))]
    }

    mutating func evolve(_ event: AccountEvent) {
        switch event { case .deposited(let d): balance += d.amount }
    }
}

@Suite struct InstrumentationTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-instr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func makeStore() throws -> SQLiteEventStore {
        try SQLiteEventStore(path: directory.appendingPathComponent("events.sqlite").path)
    }

    @Test func appendsAreCountedTimedAndTraced() async throws {
        let metrics = TestMetrics()
        let tracer = InMemoryTracer()
        let sqlite = try makeStore()
        let store = InstrumentedEventStore(sqlite, metrics: metrics, tracer: tracer)
        let meta = EventMetadata(correlationID: "req-1", causationID: "cmd-1")
        try await store.append([EventData(type: "A", payload: Data("{}".utf8), metadata: meta), EventData(type: "B", payload: Data("{}".utf8))], to: "order-1", expectedVersion: .noStream)
        await #expect(throws: EventStoreError.self) {
            try await store.append(EventData(type: "C", payload: Data("{}".utf8)), to: "order-1", expectedVersion: .noStream)
        }
        #expect(try metrics.expectCounter("chronicle_appends_total", [("outcome", "ok")]).totalValue == 1)
        #expect(try metrics.expectCounter("chronicle_appends_total", [("outcome", "conflict")]).totalValue == 1)
        #expect(try metrics.expectCounter("chronicle_append_conflicts_total").totalValue == 1)
        #expect(try metrics.expectCounter("chronicle_events_appended_total").totalValue == 2)
        #expect(try metrics.expectTimer("chronicle_append_duration").values.count == 2)
        #expect(try metrics.expectRecorder("chronicle_append_events").lastValue == 2)

        let spans = tracer.finishedSpans.filter { $0.operationName == "chronicle.append" }
        #expect(spans.count == 2)
        #expect(spans[0].attributes["chronicle.correlation_id"]?.toSpanAttribute() == .string("req-1"))
        #expect(spans[0].attributes["chronicle.causation_id"]?.toSpanAttribute() == .string("cmd-1"))
        #expect(spans[0].attributes["chronicle.position"]?.toSpanAttribute() == .int64(2))
        #expect(spans[1].errors.count == 1)
        try await sqlite.close()
    }

    @Test func commandsCarryACorrelationIDFromCommandToEventsAndSpans() async throws {
        let metrics = TestMetrics()
        let tracer = InMemoryTracer()
        let sqlite = try makeStore()
        let store = InstrumentedEventStore(sqlite, metrics: metrics, tracer: tracer)
        let accounts = InstrumentedRepository(AggregateRepository<Account>(store: store), metrics: metrics, tracer: tracer, newCorrelationID: { "corr-fixed" })

        let result = try await accounts.execute(5, on: "1")
        #expect(result.version == 1)
        let stored = try await sqlite.readStream("account-1")
        #expect(stored.first?.metadata.correlationID == "corr-fixed")

        // A reaction to the event (as a process manager does) keeps the correlation id and names its cause.
        let reaction = try await accounts.execute(7, on: "2", metadata: .causedBy(stored[0]))
        let reacted = try await sqlite.readStream("account-2")
        #expect(reacted.first?.metadata.correlationID == "corr-fixed")
        #expect(reacted.first?.metadata.causationID == stored[0].id.uuidString.lowercased())
        #expect(reaction.version == 1)

        // A domain rejection passes through unchanged and is counted as rejected.
        await #expect(throws: Account.Failure.notPositive) { try await accounts.execute(-1, on: "1") }
        #expect(try metrics.expectCounter("chronicle_commands_total", [("aggregate", "account"), ("outcome", "ok")]).totalValue == 2)
        #expect(try metrics.expectCounter("chronicle_commands_total", [("aggregate", "account"), ("outcome", "rejected")]).totalValue == 1)

        let commandSpans = tracer.finishedSpans.filter { $0.operationName == "chronicle.command" }
        #expect(commandSpans.count == 3)
        #expect(commandSpans.allSatisfy { $0.attributes["chronicle.correlation_id"]?.toSpanAttribute() == .string("corr-fixed") })
        // Append spans are children of their command's span.
        let appendSpans = tracer.finishedSpans.filter { $0.operationName == "chronicle.append" }
        #expect(appendSpans.count == 2)
        #expect(appendSpans.allSatisfy { span in commandSpans.contains { $0.spanContext.spanID == span.spanContext.parentSpanID } })
        try await sqlite.close()
    }
}
