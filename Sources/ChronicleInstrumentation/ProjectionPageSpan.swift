public import Chronicle
public import Tracing

extension ProjectionPageScope {
    /// Puts each page of a projection in a `chronicle.projection.page` span (kind consumer) with
    /// the attributes `chronicle.projection`, `chronicle.partition`, `chronicle.after`,
    /// `chronicle.position`, `chronicle.event_count` and `chronicle.outcome` (`committed`, or
    /// `failed` with the error recorded: the engine then commits the events before the failing one,
    /// retries it alone, parks it or stops, each in a span of its own).
    ///
    /// The SQLite and PostgreSQL read models set it from their options' `tracer`; set it on a
    /// ``Chronicle/ProjectionEngine/Options`` for any other runner.
    ///
    /// - Parameter tracer: where the spans go; `nil` means `InstrumentationSystem.tracer` as it is
    ///   when each page commits (a no-op unless the application bootstraps one).
    public static func span(tracer: (any Tracer)? = nil) -> ProjectionPageScope {
        ProjectionPageScope { page, commit in
            let tracer = tracer ?? InstrumentationSystem.tracer
            try await tracer.withSpan("chronicle.projection.page", ofKind: .consumer) { span in
                span.attributes["chronicle.projection"] = page.projection
                span.attributes["chronicle.partition"] = page.partition
                span.attributes["chronicle.after"] = Int(page.after.value)
                span.attributes["chronicle.event_count"] = page.eventCount
                span.attributes["chronicle.position"] = Int(page.position.value)
                do {
                    try await commit()
                    span.attributes["chronicle.outcome"] = "committed"
                } catch {
                    span.attributes["chronicle.outcome"] = "failed"
                    throw error
                }
            }
        }
    }
}

extension ProjectionEngine.Options {
    /// These options with each page in a `chronicle.projection.page` span
    /// (``Chronicle/ProjectionPageScope/span(tracer:)``), unless a page scope is set already:
    /// what the SQLite and PostgreSQL read models run their engines with.
    ///
    /// - Parameter tracer: where the spans go; `nil` means `InstrumentationSystem.tracer`.
    public func withPageSpans(tracer: (any Tracer)?) -> ProjectionEngine.Options {
        var options = self
        if options.pageScope == nil { options.pageScope = .span(tracer: tracer) }
        return options
    }
}
