public import Chronicle
public import CoreMetrics
import Foundation
public import Tracing

/// An event store wrapped with metrics and tracing: a decorator, so the stores stay free of
/// cross-cutting concerns.
///
/// Every append runs in a `chronicle.append` span (stream ids, event count, expected versions,
/// correlation and causation ids, resulting position) and records:
/// - `chronicle_appends_total` (dimension `outcome`: `ok`, `conflict`, `error`),
/// - `chronicle_events_appended_total`,
/// - `chronicle_append_conflicts_total`,
/// - `chronicle_append_duration` (a timer, nanoseconds),
/// - `chronicle_append_events` (a recorder: events per append call).
///
/// Reads run in `chronicle.read` spans.
///
/// ```swift
/// let store = InstrumentedEventStore(try SQLiteEventStore(path: "app.sqlite"))
/// ```
///
/// Metrics go to `MetricsSystem`'s factory and spans to `InstrumentationSystem.tracer` unless
/// others are injected (tests inject `TestMetrics` and an `InMemoryTracer`).
public struct InstrumentedEventStore<Base: EventStore>: EventStore {
    /// The wrapped store.
    public let base: Base
    private let tracer: any Tracer
    private let appendsOK: Counter
    private let appendsConflict: Counter
    private let appendsError: Counter
    private let eventsAppended: Counter
    private let conflicts: Counter
    private let appendDuration: CoreMetrics.Timer
    private let eventsPerAppend: Recorder

    /// Wraps `base`. `labelPrefix` prefixes every metric label (default `chronicle`).
    public init(_ base: Base, metrics: any MetricsFactory = MetricsSystem.factory, tracer: (any Tracer)? = nil, labelPrefix: String = "chronicle") {
        self.base = base
        self.tracer = tracer ?? InstrumentationSystem.tracer
        appendsOK = Counter(label: "\(labelPrefix)_appends_total", dimensions: [("outcome", "ok")], factory: metrics)
        appendsConflict = Counter(label: "\(labelPrefix)_appends_total", dimensions: [("outcome", "conflict")], factory: metrics)
        appendsError = Counter(label: "\(labelPrefix)_appends_total", dimensions: [("outcome", "error")], factory: metrics)
        eventsAppended = Counter(label: "\(labelPrefix)_events_appended_total", factory: metrics)
        conflicts = Counter(label: "\(labelPrefix)_append_conflicts_total", factory: metrics)
        appendDuration = CoreMetrics.Timer(label: "\(labelPrefix)_append_duration", factory: metrics)
        eventsPerAppend = Recorder(label: "\(labelPrefix)_append_events", factory: metrics)
    }

    /// Appends to one or more streams atomically (see ``Chronicle/EventWriter/append(_:)``) (traced).
    public func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        try await tracer.withSpan("chronicle.append", ofKind: .producer) { span in
            let count = appends.reduce(0) { $0 + $1.events.count }
            span.attributes["chronicle.streams"] = appends.map(\.streamID.rawValue).joined(separator: ",")
            span.attributes["chronicle.event_count"] = count
            span.attributes["chronicle.expected_versions"] = appends.map(\.expectedVersion.description).joined(separator: ",")
            if let metadata = appends.first?.events.first?.metadata {
                if let correlation = metadata.correlationID { span.attributes["chronicle.correlation_id"] = correlation }
                if let causation = metadata.causationID { span.attributes["chronicle.causation_id"] = causation }
            }
            let start = ContinuousClock.now
            do {
                let results = try await base.append(appends)
                appendDuration.recordNanoseconds(start.duration(to: .now).nanoseconds)
                appendsOK.increment()
                let written = results.filter { !$0.wasAlreadyStored }.reduce(0) { $0 + Int($1.version.value - $1.firstVersion.value + 1) }
                eventsAppended.increment(by: written)
                eventsPerAppend.record(count)
                if let last = results.last { span.attributes["chronicle.position"] = Int(last.position.value) }
                return results
            } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
                appendDuration.recordNanoseconds(start.duration(to: .now).nanoseconds)
                appendsConflict.increment()
                conflicts.increment()
                span.attributes["chronicle.conflict"] = true
                throw error
            } catch {
                appendDuration.recordNanoseconds(start.duration(to: .now).nanoseconds)
                appendsError.increment()
                throw error
            }
        }
    }

    /// Reads a stream's events (see ``Chronicle/EventReader/readStream(_:from:direction:limit:)``) (traced).
    public func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try await traced("chronicle.read", ["chronicle.stream": .string(stream.rawValue)]) {
            try await base.readStream(stream, from: start, direction: direction, limit: limit)
        }
    }

    /// Reads a stream's events with their payloads in place (see
    /// ``Chronicle/EventReader/readStreamInPlace(_:from:limit:_:)``) (traced, like ``readStream(_:from:direction:limit:)``).
    public func readStreamInPlace(
        _ stream: StreamID, from start: StreamVersion, limit: Int,
        _ body: (_ event: RecordedEvent, _ payload: UnsafeRawBufferPointer) throws -> Void
    ) async throws -> Int {
        try await tracer.withSpan("chronicle.read", ofKind: .client) { span in
            span.attributes = ["chronicle.stream": .string(stream.rawValue)]
            return try await base.readStreamInPlace(stream, from: start, limit: limit, body)
        }
    }

    /// Reads the global log after a position (see ``Chronicle/EventReader/readAll(after:limit:)``) (traced).
    public func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await traced("chronicle.read", ["chronicle.stream": "$all", "chronicle.after": .int64(position.value)]) {
            try await base.readAll(after: position, limit: limit)
        }
    }

    /// Reads a category's events after a position (see ``Chronicle/EventReader/readCategory(_:after:limit:)``) (traced).
    public func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await traced("chronicle.read", ["chronicle.category": .string(category), "chronicle.after": .int64(position.value)]) {
            try await base.readCategory(category, after: position, limit: limit)
        }
    }

    /// Reads the events matching a query (see ``Chronicle/EventReader/readEvents(matching:after:limit:)``) (traced).
    public func readEvents(matching query: EventQuery, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await traced("chronicle.read", ["chronicle.query": .string(query.description), "chronicle.after": .int64(position.value)]) {
            try await base.readEvents(matching: query, after: position, limit: limit)
        }
    }

    /// The stream's current version (see ``Chronicle/EventReader/streamVersion(of:)``) (traced).
    public func streamVersion(of stream: StreamID) async throws -> StreamVersion {
        try await base.streamVersion(of: stream)
    }

    /// Lists streams (see ``Chronicle/EventReader/streams(category:after:limit:)``) (traced).
    public func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        try await base.streams(category: category, after: after, limit: limit)
    }

    /// The position of the last event (see ``Chronicle/EventReader/headPosition()``) (traced).
    public func headPosition() async throws -> GlobalPosition {
        try await base.headPosition()
    }

    private func traced<T: Sendable>(_ name: String, _ attributes: SpanAttributes, _ body: () async throws -> T) async throws -> T {
        try await tracer.withSpan(name, ofKind: .client) { span in
            span.attributes = attributes
            return try await body()
        }
    }
}

extension InstrumentedEventStore: AppendObservable where Base: AppendObservable {
    /// The wrapped store's notifier.
    public var appendNotifier: AppendNotifier { base.appendNotifier }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : product + attoseconds / 1_000_000_000
    }
}
