/// What each page's commit runs inside: a tracing span, a timer, a log line. The engine calls it
/// around every ``ProjectionStorage/commit(_:partition:from:to:)`` (a page, or one event retried
/// alone), for every backend, so instrumentation is written once rather than in each storage.
///
/// ChronicleInstrumentation's `ProjectionPageScope.span(tracer:)` puts each page in a
/// `chronicle.projection.page` span; the SQLite and PostgreSQL read models set it from their
/// options' `tracer`.
///
/// ```swift
/// var options = ProjectionEngine.Options()
/// options.pageScope = ProjectionPageScope { page, commit in
///     let started = ContinuousClock.now
///     try await commit()
///     print("\(page.projection) \(page.eventCount) events in \(ContinuousClock.now - started)")
/// }
/// ```
public struct ProjectionPageScope: Sendable {
    /// The page being committed.
    public struct Page: Sendable, Equatable {
        /// The projection's name.
        public var projection: String
        /// The partition whose checkpoint moves.
        public var partition: Int
        /// The checkpoint before the page.
        public var after: GlobalPosition
        /// The checkpoint after the page (the last position it covers, filtered events included).
        public var position: GlobalPosition
        /// The events applied (after filtering).
        public var eventCount: Int

        /// Creates a page description.
        public init(projection: String, partition: Int, after: GlobalPosition, position: GlobalPosition, eventCount: Int) {
            self.projection = projection
            self.partition = partition
            self.after = after
            self.position = position
            self.eventCount = eventCount
        }
    }

    /// Runs `commit` (exactly once, and rethrows what it throws) in the scope.
    public let around: @Sendable (Page, _ commit: () async throws -> Void) async throws -> Void

    /// Creates a scope; `around` must call `commit` exactly once and rethrow its error, which the
    /// engine uses to retry, park or stop.
    public init(_ around: @escaping @Sendable (Page, _ commit: () async throws -> Void) async throws -> Void) {
        self.around = around
    }
}

/// The options of a runner built on ``ProjectionEngine`` (`SQLiteReadModel.Options`,
/// `PostgresReadModel.Options`, `PostgresProcessManager.Options`): what every runner shares is
/// one ``ProjectionEngine/Options`` value, ``engine``, and its members read and write through the
/// runner's options too (`options.pageSize = 100`), so each runner adds only its own settings.
@dynamicMemberLookup
public protocol ProjectionRunnerOptions: Sendable {
    /// Page size, failure policy, partitioning, filter, start, time and waits, and the page scope.
    var engine: ProjectionEngine.Options { get set }
}

extension ProjectionRunnerOptions {
    /// A member of ``engine`` (`options.pageSize`, `options.failurePolicy`, `options.sleep`…).
    public subscript<Value>(dynamicMember member: WritableKeyPath<ProjectionEngine.Options, Value>) -> Value {
        get { engine[keyPath: member] }
        set { engine[keyPath: member] = newValue }
    }
}
