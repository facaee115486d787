import Chronicle
import ChronicleInstrumentation
import ChronicleSQLite
import Foundation
import Logging
import MetricsTestKit
import ServiceLifecycle
import Synchronization
import Testing

@Suite struct MetricsReporterTests {
    @Test func projectionStatusAndGroupCommitBatchesBecomeMetrics() async throws {
        let metrics = TestMetrics()
        let statuses = Mutex<[ProjectionStatus]>([
            ProjectionStatus(name: "orders", state: .running, position: 10, head: 15, parkedCount: 2)
        ])
        let commits = Mutex((transactions: 0, appendCalls: 0))
        let reporter = MetricsReporter(
            metrics: metrics, projections: { statuses.withLock { $0 } }, groupCommit: { commits.withLock { $0 } }
        )
        commits.withLock { $0 = (transactions: 4, appendCalls: 12) }
        await reporter.report()
        let dims = [("projection", "orders")]
        #expect(try metrics.expectGauge("chronicle_projection_lag", dims).lastValue == 5)
        #expect(try metrics.expectGauge("chronicle_projection_position", dims).lastValue == 10)
        #expect(try metrics.expectGauge("chronicle_projection_parked", dims).lastValue == 2)
        #expect(try metrics.expectCounter("chronicle_projection_events_total", dims).totalValue == 10)
        #expect(try metrics.expectRecorder("chronicle_group_commit_batch_size").lastValue == 3)

        // The next report counts only the progress since the last one.
        statuses.withLock { $0 = [ProjectionStatus(name: "orders", state: .running, position: 15, head: 15)] }
        commits.withLock { $0 = (transactions: 5, appendCalls: 13) }
        await reporter.report()
        #expect(try metrics.expectCounter("chronicle_projection_events_total", dims).totalValue == 15)
        #expect(try metrics.expectGauge("chronicle_projection_lag", dims).lastValue == 0)
        #expect(try metrics.expectRecorder("chronicle_group_commit_batch_size").lastValue == 1)
        #expect(try metrics.expectCounter("chronicle_group_commit_transactions_total").totalValue == 5)
    }

    /// Waits for the reporter's progress itself, never for a fixed time: under the load of the
    /// parallel suite the reporter's task may not run for many seconds, which is no failure.
    @Test(.timeLimit(.minutes(2))) func theReporterStopsOnGracefulShutdown() async throws {
        let metrics = TestMetrics()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-reporter-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteEventStore(path: directory.appendingPathComponent("events.sqlite").path)
        try await store.append(EventData(type: "A", payload: Data("{}".utf8)), to: "a-1", expectedVersion: .noStream)
        // Every report asks for the statistics once; the second ask comes after the first
        // report has published its metrics.
        let (asks, asked) = AsyncStream.makeStream(of: Void.self)
        let reporter = MetricsReporter(
            interval: .milliseconds(10), metrics: metrics,
            groupCommit: {
                asked.yield()
                let s = store.groupCommitStatistics
                return (s.transactions, s.appendCalls)
            }
        )
        let group = ServiceGroup(services: [reporter], gracefulShutdownSignals: [], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        var reports = asks.makeAsyncIterator()
        _ = await reports.next()
        _ = await reports.next()
        #expect(try metrics.expectCounter("chronicle_group_commit_transactions_total").totalValue >= 1)
        // Shut down gracefully: run() must return.
        await group.triggerGracefulShutdown()
        try await running.value
        try await store.close()
    }
}
