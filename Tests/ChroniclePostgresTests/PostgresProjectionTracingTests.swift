import Chronicle
import ChroniclePostgres
import InMemoryTracing
import Testing
import Tracing

/// A PostgreSQL read model puts each page in the same `chronicle.projection.page` span as a SQLite
/// one (the engine's page scope, ChronicleInstrumentation's `ProjectionPageScope.span`).
@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason)) struct PostgresProjectionTracingTests {
    @Test func eachPageRunsInASpanAndAFailingPageSaysSo() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let tracer = InMemoryTracer()
            let poison = PoisonedPositions()
            poison.set([GlobalPosition(7)])
            let model = try PostgresReadModel(
                AppliedPositionsProjector(name: "traced", poison: poison), store: store,
                leaseConnection: try database.connectionConfiguration(applicationName: database.applicationName + "-lease"),
                options: .init(
                    pageSize: 4, failurePolicy: FailurePolicy(maxAttempts: 1, baseDelay: .zero, then: .park),
                    leaseRetryInterval: .milliseconds(50), tracer: tracer
                )
            )
            // All ten events are in the log before the runner starts, so the pages are 1…4, 5…8, 9…10.
            let last = try await PostgresReadModelTests.append(store, 10)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await model.run() }
                defer { group.cancelAll() }
                try await model.waitUntil(position: last, timeout: .seconds(30))
            }
            let pages = tracer.finishedSpans.filter { $0.operationName == "chronicle.projection.page" }
            func attribute(_ span: FinishedInMemorySpan, _ key: String) -> SpanAttribute? { span.attributes[key]?.toSpanAttribute() }
            #expect(pages.allSatisfy { attribute($0, "chronicle.projection") == .string("traced") })
            // 1…4; 5…8 fails at 7 (inside that one commit the PostgreSQL storage then applies
            // 5 and 6 one by one and reports them committed); 7 is parked (not a page); 8; 9…10.
            #expect(pages.map { attribute($0, "chronicle.outcome") } == [.string("committed"), .string("failed"), .string("committed"), .string("committed")])
            #expect(pages.map { attribute($0, "chronicle.event_count") } == [.int64(4), .int64(4), .int64(1), .int64(2)])
            #expect(pages.map { attribute($0, "chronicle.position") } == [.int64(4), .int64(8), .int64(8), .int64(10)])
            #expect(pages.map { attribute($0, "chronicle.after") } == [.int64(0), .int64(4), .int64(7), .int64(8)])
            #expect(pages[1].errors.count == 1)
            #expect(try await model.parkedEvents().map(\.position) == [GlobalPosition(7)])
        }
    }
}
