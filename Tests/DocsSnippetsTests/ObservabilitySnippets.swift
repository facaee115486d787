// The observability snippets of the docs, verbatim: change both together.
import Chronicle
import ChronicleInstrumentation
import ChronicleSQLite
import CoreMetrics
import Logging
import Tracing

/// A repository whose commands and appends are measured and traced.
func instrumentedOrders(
    store: SQLiteEventStore,
    metrics: any MetricsFactory = MetricsSystem.factory,
    tracer: any Tracer = InstrumentationSystem.tracer
) -> InstrumentedRepository<Order> {
    let measured = InstrumentedEventStore(store, metrics: metrics, tracer: tracer)
    return InstrumentedRepository(AggregateRepository<Order>(store: measured), metrics: metrics, tracer: tracer)
}

/// A store that logs to the application's logger, never to a global one.
func openLoggedStore(at path: String, logger: Logger) throws -> SQLiteEventStore {
    var logger = logger
    logger[metadataKey: "component"] = "event-store"
    return try SQLiteEventStore(path: path, configuration: .init(logger: logger))
}
