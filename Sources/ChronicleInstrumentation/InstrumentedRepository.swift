public import Chronicle
public import CoreMetrics
public import Foundation
public import Tracing

/// An ``AggregateRepository`` whose commands are traced and measured.
///
/// Each command runs in a `chronicle.command` span (aggregate category, stream, command type,
/// correlation id, attempts, resulting version and position; domain rejections and failures are
/// recorded on the span) and records:
/// - `chronicle_commands_total` (dimensions `aggregate`, `outcome`: `ok`, `rejected` — a domain
///   error from `decide` —, `conflict` — retries exhausted —, `error`),
/// - `chronicle_command_duration` (a timer, dimension `aggregate`).
///
/// Every command gets a correlation id: the caller's, or a new one, stamped on its events, so a
/// process manager reacting to them (with `EventMetadata.causedBy(_:)`) carries it on.
///
/// ```swift
/// let orders = InstrumentedRepository(AggregateRepository<Order>(store: store))
/// let result = try await orders.execute(.place(customer: "ada"), on: "42")
/// ```
public struct InstrumentedRepository<A: Aggregate>: Sendable {
    /// The wrapped repository.
    public let base: AggregateRepository<A>
    private let tracer: any Tracer
    private let outcomes: [String: Counter]
    private let duration: CoreMetrics.Timer
    private let newCorrelationID: @Sendable () -> String

    /// Wraps `base`. `newCorrelationID` makes the correlation id of commands that come without one.
    public init(
        _ base: AggregateRepository<A>, metrics: any MetricsFactory = MetricsSystem.factory, tracer: (any Tracer)? = nil,
        newCorrelationID: @escaping @Sendable () -> String = { UUID().uuidString.lowercased() }
    ) {
        self.base = base
        self.tracer = tracer ?? InstrumentationSystem.tracer
        self.newCorrelationID = newCorrelationID
        var outcomes: [String: Counter] = [:]
        for outcome in ["ok", "rejected", "conflict", "error"] {
            outcomes[outcome] = Counter(label: "chronicle_commands_total", dimensions: [("aggregate", A.category), ("outcome", outcome)], factory: metrics)
        }
        self.outcomes = outcomes
        duration = CoreMetrics.Timer(label: "chronicle_command_duration", dimensions: [("aggregate", A.category)], factory: metrics)
    }

    /// Loads an aggregate (see ``AggregateRepository/load(_:)``).
    public func load(_ id: String) async throws -> LoadedAggregate<A> {
        try await base.load(id)
    }

    /// Runs a command, traced and measured (see ``AggregateRepository/execute(_:on:metadata:)``).
    /// Errors pass through unchanged.
    public func execute(_ command: A.Command, on id: String, metadata: EventMetadata = .none) async throws -> CommandResult<A> {
        try await execute(command, onStream: A.streamID(for: id), metadata: metadata)
    }

    /// Runs a command on the aggregate stored in `stream`, traced and measured.
    public func execute(_ command: A.Command, onStream stream: StreamID, metadata: EventMetadata = .none) async throws -> CommandResult<A> {
        var metadata = metadata
        if metadata.correlationID == nil { metadata.correlationID = newCorrelationID() }
        let correlation = metadata.correlationID!
        return try await tracer.withSpan("chronicle.command", ofKind: .server) { span in
            span.attributes["chronicle.aggregate"] = A.category
            span.attributes["chronicle.stream"] = stream.rawValue
            span.attributes["chronicle.command"] = String(describing: type(of: command))
            span.attributes["chronicle.correlation_id"] = correlation
            if let causation = metadata.causationID { span.attributes["chronicle.causation_id"] = causation }
            let start = ContinuousClock.now
            defer { duration.recordNanoseconds(start.duration(to: .now).nanoseconds) }
            do {
                let result = try await base.execute(command, onStream: stream, metadata: metadata)
                span.attributes["chronicle.attempts"] = result.attempts
                span.attributes["chronicle.version"] = Int(result.version.value)
                span.attributes["chronicle.position"] = Int(result.position.value)
                span.attributes["chronicle.event_count"] = result.events.count
                outcomes["ok"]!.increment()
                return result
            } catch let error as EventStoreError {
                outcomes[error.code == .wrongExpectedVersion ? "conflict" : "error"]!.increment()
                throw error
            } catch {
                outcomes["rejected"]!.increment()
                span.attributes["chronicle.rejected"] = String(describing: error)
                throw error
            }
        }
    }
}
