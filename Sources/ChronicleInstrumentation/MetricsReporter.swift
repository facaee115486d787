public import Chronicle
public import CoreMetrics
public import ServiceLifecycle
import Synchronization

/// Publishes what Chronicle keeps as data — projection status, group-commit batches — as
/// metrics, every `interval`, as a ServiceLifecycle `Service` (it stops on graceful shutdown).
///
/// Per projection (dimension `projection`):
/// - `chronicle_projection_position` and `chronicle_projection_lag` (gauges, events),
/// - `chronicle_projection_parked` (gauge, parked events),
/// - `chronicle_projection_events_total` (counter of checkpoint progress: its rate is the
///   projection's throughput).
///
/// For the store, with `groupCommit`: `chronicle_group_commit_batch_size` (recorder: the mean
/// number of append calls per transaction since the last report) and
/// `chronicle_group_commit_transactions_total`.
///
/// ```swift
/// let reporter = MetricsReporter(
///     projections: { await group.statuses() },
///     groupCommit: { let s = store.groupCommitStatistics; return (s.transactions, s.appendCalls) }
/// )
/// let services = ServiceGroup(services: [group, reporter], logger: logger)
/// ```
public final class MetricsReporter: Service, Sendable {
    private let interval: Duration
    private let metrics: any MetricsFactory
    private let projections: @Sendable () async -> [ProjectionStatus]
    private let groupCommit: (@Sendable () -> (transactions: Int, appendCalls: Int))?
    private struct State {
        var positions: [String: GlobalPosition] = [:]
        var transactions = 0
        var appendCalls = 0
    }
    private let state = Mutex(State())

    /// Creates a reporter. `projections` returns the current statuses (for example
    /// `SQLiteProjectionGroup.statuses()`); `groupCommit` the store's cumulative transactions and append
    /// calls (for example from `SQLiteEventStore.groupCommitStatistics`).
    public init(
        interval: Duration = .seconds(5), metrics: any MetricsFactory = MetricsSystem.factory,
        projections: @escaping @Sendable () async -> [ProjectionStatus] = { [] },
        groupCommit: (@Sendable () -> (transactions: Int, appendCalls: Int))? = nil
    ) {
        self.interval = interval
        self.metrics = metrics
        self.projections = projections
        self.groupCommit = groupCommit
    }

    /// Reports every `interval` until cancelled or a graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.report()
                try? await Task.sleep(for: self.interval)
            }
        }
    }

    /// Reports once, now.
    public func report() async {
        for status in await projections() {
            let dimensions = [("projection", status.name)]
            Gauge(label: "chronicle_projection_position", dimensions: dimensions, factory: metrics).record(status.position.value)
            Gauge(label: "chronicle_projection_lag", dimensions: dimensions, factory: metrics).record(status.lag)
            Gauge(label: "chronicle_projection_parked", dimensions: dimensions, factory: metrics).record(status.parkedCount)
            let progressed: Int64 = state.withLock { state in
                let previous = state.positions[status.name]
                state.positions[status.name] = status.position
                guard let previous else { return status.position.value }
                return max(0, status.position.value - previous.value)
            }
            if progressed > 0 {
                Counter(label: "chronicle_projection_events_total", dimensions: dimensions, factory: metrics).increment(by: progressed)
            }
        }
        if let groupCommit {
            // Read under the lock: two reports at once (run()'s and a caller's) could otherwise
            // store an older total after a newer one and count the difference twice.
            let (transactions, calls): (Int, Int) = state.withLock { state in
                let now = groupCommit()
                defer { state.transactions = now.transactions; state.appendCalls = now.appendCalls }
                return (now.transactions - state.transactions, now.appendCalls - state.appendCalls)
            }
            if transactions > 0 {
                Counter(label: "chronicle_group_commit_transactions_total", factory: metrics).increment(by: transactions)
                Recorder(label: "chronicle_group_commit_batch_size", factory: metrics).record(Double(calls) / Double(transactions))
            }
        }
    }
}
