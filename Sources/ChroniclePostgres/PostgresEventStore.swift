public import Chronicle
public import Foundation
public import Logging
public import PostgresNIO
import Synchronization

/// An event store in PostgreSQL: the scale-out backend, for several application processes
/// writing and reading one log.
///
/// It has the same semantics as the SQLite store (expected versions, atomic multi-stream appends,
/// idempotent re-appends, categories, stream listing) and passes the same conformance suite.
/// Global positions are gap-free in commit order even with many writers on many connections
/// and machines: positions are handed out under the row lock of a one-row counter that is held
/// until commit, so a reader following ``readAll(after:limit:)`` never skips an event that
/// commits late (see `Docs/Postgres.md`).
///
/// The store borrows a `PostgresClient` (a connection pool) that you run, usually in a
/// `ServiceGroup`:
///
/// ```swift
/// let settings = try PostgresConnectionSettings(url: "postgres://app:secret@db:5432/app")
/// let client = PostgresClient(configuration: settings.clientConfiguration())
/// let store = PostgresEventStore(client: client)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { await client.run() }
///     try await store.migrate()
///     try await store.append(event, to: "order-42", expectedVersion: .noStream)
/// }
/// ```
///
/// Appends in this process are announced on ``appendNotifier``; run a ``PostgresHeadWatcher``
/// to hear about appends from other processes too (LISTEN/NOTIFY with a polling fallback).
public final class PostgresEventStore: EventStore, AppendObservable {
    /// The connection pool the store runs its statements on.
    public let client: PostgresClient
    /// The schema holding the store's tables.
    public let schema: PostgresSchemaName
    /// Announces the head after each append committed by this instance (and, with a running
    /// ``PostgresHeadWatcher``, after appends committed by anyone).
    public let appendNotifier = AppendNotifier()

    let sql: PostgresSQL
    let logger: Logger
    private let now: @Sendable () -> Date

    /// How many times an append is retried after a deadlock or a race on an event id.
    static let appendAttempts = 5

    /// How this instance's appends went: in one round trip (``PostgresSQL/appendAssumed``) or
    /// through the full transaction (not qualifying, or the server declined the assumptions).
    package struct AppendPaths: Sendable, Equatable {
        /// Appends written by `append_assumed` in one round trip.
        package var oneRoundTrip = 0
        /// Appends that qualified, but whose assumptions the server declined.
        package var declined = 0

        package init(oneRoundTrip: Int = 0, declined: Int = 0) {
            self.oneRoundTrip = oneRoundTrip
            self.declined = declined
        }
    }
    private let paths = Mutex(AppendPaths())
    private let batcher: PostgresAppendBatcher
    /// How this instance's appends went so far (for tests and diagnostics).
    package var appendPaths: AppendPaths { paths.withLock { $0 } }
    /// The body of the one-round-trip append function as this build writes it (its migration
    /// installs it; a test compares the installed one with it).
    package var appendFunctionBody: String { sql.appendAssumedBody }

    /// Creates a store on `client` in `schema`. Call ``migrate()`` once before use.
    ///
    /// - Parameters:
    ///   - client: the pool; its `run()` must be running while the store is used.
    ///   - schema: where the tables live (one database can hold several stores).
    ///   - logger: for the store's debug messages and the driver's query logs.
    ///   - now: stamps recorded events (inject a fixed clock in tests).
    ///   - appendBatching: whether concurrent appends share statements (group commit): by
    ///     default behind two statements in flight; ``PostgresAppendBatching/off`` runs every
    ///     call alone.
    public init(
        client: PostgresClient, schema: PostgresSchemaName = .chronicle,
        logger: Logger = Logger(label: "chronicle.postgres"), now: @escaping @Sendable () -> Date = { Date() },
        appendBatching: PostgresAppendBatching = PostgresAppendBatching()
    ) {
        self.batcher = PostgresAppendBatcher(appendBatching)
        self.client = client
        self.schema = schema
        self.sql = PostgresSQL(schema: schema)
        self.logger = logger
        self.now = now
    }

    /// What group commit has done since the store was created: one-round-trip statements
    /// (``GroupCommitStatistics/transactions``) and the append calls they carried
    /// (``PostgresAppendBatching``). Calls that take the full transaction are not counted.
    public var groupCommitStatistics: GroupCommitStatistics { batcher.counter.snapshot }

    /// The LISTEN/NOTIFY channel on which commits announce the new head (`<schema>_head`).
    public var notificationChannel: String { sql.channel }

    // MARK: Migrations

    /// Creates or upgrades the schema's tables. Safe to call from several processes at once (an
    /// advisory lock serialises migrators) and on every start.
    ///
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/unsupportedSchema`` when the
    ///   schema was migrated by a newer Chronicle.
    public func migrate() async throws {
        do {
            try await inTransaction { connection in
                try await self.execute(self.sql.migrationLock, [self.schema.rawValue], on: connection)
                try await self.execute(self.sql.createSchema, [], on: connection)
                try await self.execute(self.sql.createMigrationsTable, [], on: connection)
                let applied = try await self.scalar(self.sql.appliedMigrations, [], on: connection) ?? 0
                if applied > PostgresSQL.latestMigration {
                    throw EventStoreError(.unsupportedSchema, "Schema \(self.schema) is at migration \(applied), newer than this Chronicle knows (\(PostgresSQL.latestMigration)). Upgrade Chronicle.")
                }
                for migration in self.sql.migrations where migration.version > applied {
                    for statement in migration.statements {
                        try await self.execute(statement, [], on: connection)
                    }
                    try await self.execute(self.sql.recordMigration, [Int64(migration.version)], on: connection)
                    self.logger.debug("applied migration", metadata: ["schema": "\(self.schema)", "migration": "\(migration.version)"])
                }
                return .commit(())
            }
        } catch {
            throw PostgresFailure.map(error, while: "migrating schema \(schema)")
        }
    }

    // MARK: EventWriter

    /// Appends to one or more streams atomically (see ``Chronicle/EventWriter/append(_:)``).
    public func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        try AppendPlanner.validate(appends)
        guard !appends.isEmpty else { return [] }
        if let results = try await appendOnAssumptions(appends) { return results }
        var attempt = 1
        while true {
            do {
                let (results, head) = try await inTransaction { connection in
                    try await self.appendInTransaction(appends, on: connection)
                }
                if let head { appendNotifier.notify(head: head) }
                return results
            } catch let error as EventStoreError {
                throw error
            } catch where PostgresFailure.isRetryable(error) && attempt < Self.appendAttempts {
                logger.debug("retrying append", metadata: ["attempt": "\(attempt)", "reason": "\(PostgresFailure.summary(of: error))"])
                attempt += 1
            } catch {
                throw PostgresFailure.map(error, while: "appending to \(appends.map(\.streamID.rawValue).joined(separator: ", "))")
            }
        }
    }

    /// One attempt, inside a transaction: lock the streams (sorted), check idempotency and
    /// expected versions, then take the position counter's row lock, insert, and notify.
    /// Returns the results and the new head (`nil` if nothing was written).
    private func appendInTransaction(_ appends: [StreamAppend], on connection: PostgresConnection) async throws -> TransactionEnd<([AppendResult], GlobalPosition?)> {
        // 1. Lock every stream row, creating missing ones at version 0, in one global order.
        let streamIDs = Set(appends.map(\.streamID)).sorted { $0.rawValue.utf8.lexicographicallyPrecedes($1.rawValue.utf8) }
        var versions: [StreamID: StreamVersion] = [:]
        var deleted: Set<StreamID> = []
        let locked = try await query(sql.lockStreams, [streamIDs.map(\.rawValue), streamIDs.map(\.category)], on: connection)
        for try await (id, version, isDeleted) in locked.decode((String, Int64, Bool).self) {
            versions[StreamID(unchecked: id)] = try Self.version(version, of: id)
            if isDeleted { deleted.insert(StreamID(unchecked: id)) }
        }

        // 2. Events already stored under these ids: an exact replay succeeds without writing.
        let ids = appends.flatMap { $0.events.map(\.id) }
        let storedEvents = try await Self.events(from: query(sql.eventsWithIDs, [ids], on: connection))
        let stored = Dictionary(storedEvents.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })

        // 3. Conditional appends take the position counter's row lock now (step 5 takes it
        //    anyway), so their conditions see every committed event and nothing commits before
        //    this append ends; the planner (the one rule for every store) checks them.
        var conditions: AppendPlanner.ConditionProbe?
        let conditional = appends.compactMap(\.condition)
        if !conditional.isEmpty {
            let head = GlobalPosition(max(try await scalar(sql.lockHead, [], on: connection) ?? 0, 0))
            var found: [AppendCondition: GlobalPosition] = [:]
            for condition in Set(conditional.map { AppendCondition(failIfEventsMatch: $0.failIfEventsMatch, after: $0.after ?? .start) }) {
                guard let after = condition.after, after < head else { continue }
                found[condition] = try await firstMatch(condition.failIfEventsMatch, after: after, upTo: head, on: connection)
            }
            let firstMatches = found
            conditions = AppendPlanner.ConditionProbe(head: head) { query, after in
                firstMatches[AppendCondition(failIfEventsMatch: query, after: after)]
            }
        }

        // 4. Plan against the locked versions; any failure rolls everything back.
        var planner = AppendPlanner(replayCheck: .beforeWriting)
        for request in appends {
            try planner.plan(request, current: versions[request.streamID] ?? .initial, deleted: deleted.contains(request.streamID), storedEvents: { request.events.compactMap { stored[$0.id] } }, conditions: conditions)
        }
        let newEventCount = planner.newEventCount
        guard newEventCount > 0 else {
            // A pure replay writes nothing: roll back, so no placeholder (version 0) stream row survives.
            return .rollback((planner.results(base: 0), nil))
        }

        // 5. Build the rows and write them in one statement, which takes the position counter's
        //    row lock (held until COMMIT: the next writer waits there, so positions become
        //    visible in the order they are handed out), inserts the events, bumps the streams
        //    and queues the notification.
        let rows = try AppendRows(planner, encoder: ChronicleJSONEncoder())
        let written = try await scalar(sql.writeEvents, rows.writeArguments(recordedAt: now(), channel: sql.channel), on: connection)
        guard let head = written else { throw incompleteWrite() }
        let results = planner.results(base: head - newEventCount)
        return .commit((results, GlobalPosition(head)))
    }

    private func incompleteWrite() -> EventStoreError {
        EventStoreError(.corruptRecord, "The append to schema \(schema) did not write every event and stream row (is the position counter row missing?). Nothing was written; run migrate() and check the schema.")
    }

    /// The common append in one round trip instead of five (BEGIN, lock, id lookup, write,
    /// COMMIT): when every request expects its stream at an exact version (or none), each stream
    /// appears once and no request has a condition, the planner plans against those versions and
    /// the server's `append_assumed` function (``PostgresSQL/appendAssumed``) writes the planned
    /// rows only if the streams are at them, not deleted, and no event id is stored yet.
    /// Concurrent qualifying calls share one statement (``PostgresAppendBatching``).
    ///
    /// Returns `nil`, having written nothing, when the call does not qualify or the server says
    /// an assumption does not hold (or the schema predates the function, or another append raced
    /// on an event id or a lock): ``append(_:)`` then runs the full transaction, which reads
    /// before it plans, so conflicts, replays and deleted streams are answered there.
    private func appendOnAssumptions(_ appends: [StreamAppend]) async throws -> [AppendResult]? {
        guard let assumed = Self.assumedVersions(appends) else { return nil }
        return try await batcher.append(
            appends, assumed: assumed, runBatch: { await self.writeBatch($0) }, runAlone: { try await self.writeAlone($0, assumed: $1) }
        )
    }

    /// The version each request of a qualifying call expects its stream at, or `nil` if the call
    /// does not qualify for the one-round-trip path.
    private static func assumedVersions(_ appends: [StreamAppend]) -> [StreamID: StreamVersion]? {
        var assumed: [StreamID: StreamVersion] = [:]
        for request in appends {
            guard request.condition == nil, assumed[request.streamID] == nil else { return nil }
            switch request.expectedVersion {
            case .exactly(let version): assumed[request.streamID] = version
            case .noStream: assumed[request.streamID] = .initial
            case .any, .streamExists: return nil
            }
        }
        return assumed
    }

    /// One qualifying call in its own statement.
    private func writeAlone(_ appends: [StreamAppend], assumed: [StreamID: StreamVersion]) async throws -> [AppendResult]? {
        do {
            guard let results = try await writeOnAssumptions(appends, assumed: assumed) else {
                paths.withLock { $0.declined += 1 }
                return nil
            }
            paths.withLock { $0.oneRoundTrip += 1 }
            return results
        } catch {
            throw PostgresFailure.map(error, while: "appending to \(appends.map(\.streamID.rawValue).joined(separator: ", "))")
        }
    }

    /// Several calls (disjoint streams and event ids) in one statement, each call's events
    /// contiguous: each call's results, or `nil` if the statement did not commit for any reason
    /// (each call then runs on its own and gets its own answer).
    private func writeBatch(_ calls: [PostgresAppendBatcher.Call]) async -> [[AppendResult]]? {
        var assumed: [StreamID: StreamVersion] = [:]
        for call in calls { assumed.merge(call.assumed) { first, _ in first } }
        let results: [AppendResult]
        do {
            guard let written = try await writeOnAssumptions(calls.flatMap(\.appends), assumed: assumed) else {
                paths.withLock { $0.declined += 1 }
                return nil
            }
            results = written
        } catch {
            logger.debug("batched append runs each call alone", metadata: ["calls": "\(calls.count)", "reason": "\(PostgresFailure.summary(of: error))"])
            return nil
        }
        paths.withLock { $0.oneRoundTrip += calls.count }
        var split: [[AppendResult]] = []
        var start = 0
        for call in calls {
            split.append(Array(results[start..<start + call.appends.count]))
            start += call.appends.count
        }
        return split
    }

    /// Plans `appends` against `assumed` and runs `append_assumed`: the results, or `nil` if the
    /// server declined (nothing written). Other failures throw, unmapped.
    private func writeOnAssumptions(_ appends: [StreamAppend], assumed: [StreamID: StreamVersion]) async throws -> [AppendResult]? {
        var planner = AppendPlanner(replayCheck: .beforeWriting)
        for request in appends {
            try planner.plan(request, current: assumed[request.streamID] ?? .initial, storedEvents: { [] })
        }
        let rows = try AppendRows(planner, encoder: ChronicleJSONEncoder())
        let streams = rows.touched.map(\.stream)
        var arguments = rows.writeArguments(recordedAt: now(), channel: sql.channel)
        arguments.append(streams.map(\.category))
        arguments.append(streams.map { assumed[$0]?.value ?? 0 })
        let written: Int64?
        do {
            written = try await scalar(sql.appendAssumed(PostgresSQL.appendAssumedPlan(events: rows.count)), arguments)
        } catch {
            switch PostgresFailure.sqlState(of: error) {
            case PostgresSQL.assumptionsFailedState, PostgresFailure.State.undefinedFunction, PostgresFailure.State.uniqueViolation,
                 PostgresFailure.State.deadlockDetected, PostgresFailure.State.serializationFailure:
                logger.trace("append planned again after reading", metadata: ["reason": "\(PostgresFailure.summary(of: error))"])
                return nil
            default:
                throw error
            }
        }
        guard let head = written else { throw incompleteWrite() }
        appendNotifier.notify(head: GlobalPosition(head))
        return planner.results(base: head - planner.newEventCount)
    }

    // MARK: EventReader

    /// Reads a stream's events (see ``Chronicle/EventReader/readStream(_:from:direction:limit:)``)
    /// from its truncation point on; a deleted stream throws ``Chronicle/EventStoreError/Code/streamDeleted``.
    public func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        guard limit > 0 else { return [] }
        let statement = direction == .forwards ? sql.readStreamForwards : sql.readStreamBackwards
        let events = try await read("reading stream \(stream)") {
            try await self.withRows(statement, [stream.rawValue, start.value, Int64(limit)], Self.events(from:))
        }
        // A deleted stream reads as no events from its truncation point: say why.
        if events.isEmpty, try await read("reading stream \(stream)", { try await self.scalar(self.sql.streamIsDeleted, [stream.rawValue]) ?? 0 }) > 0 {
            throw StreamMaintenanceRules.deleted(stream)
        }
        return events
    }

    /// Reads the global log after a position (see ``Chronicle/EventReader/readAll(after:limit:)``).
    public func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        guard limit > 0 else { return [] }
        return try await read("reading the log after \(position)") {
            try await self.withRows(self.sql.readAll, [position.value, Int64(limit)], Self.events(from:))
        }
    }

    /// Reads a category's events after a position (see ``Chronicle/EventReader/readCategory(_:after:limit:)``).
    public func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        guard limit > 0 else { return [] }
        return try await read("reading category \(category)") {
            try await self.withRows(self.sql.readCategory, [category, position.value, Int64(limit)], Self.events(from:))
        }
    }

    /// Reads the events matching a query after a position, through the tag index (see
    /// ``Chronicle/EventReader/readEvents(matching:after:limit:)``).
    public func readEvents(matching query: EventQuery, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try query.validate()
        if query.matchesEverything { return try await readAll(after: position, limit: limit) }
        try ReadLimit.check(limit)
        guard limit > 0 else { return [] }
        return try await read("reading events matching \(query)") {
            try await self.withRows(self.sql.readQuery(query), Self.queryBindings(query, after: position, upTo: .max, limit: Int64(limit)), Self.events(from:))
        }
    }

    /// The first position matching `query` in `(after, upTo]`, on `connection`.
    private func firstMatch(_ query: EventQuery, after: GlobalPosition, upTo: GlobalPosition, on connection: PostgresConnection) async throws -> GlobalPosition? {
        if query.matchesEverything { return after < upTo ? after.next : nil }
        let position = try await scalar(sql.queryPositions(query), Self.queryBindings(query, after: after, upTo: upTo.value, limit: 1), on: connection)
        return position.map { GlobalPosition(max($0, 0)) }
    }

    private static func queryBindings(_ query: EventQuery, after: GlobalPosition, upTo: Int64, limit: Int64) -> [any PostgresThrowingDynamicTypeEncodable] {
        var values: [any PostgresThrowingDynamicTypeEncodable] = [after.value, upTo, limit]
        for value in PostgresSQL.queryValues(query) {
            switch value {
            case .tag(let tag): values.append(tag)
            case .types(let types): values.append(types)
            }
        }
        return values
    }

    /// The stream's current version (see ``Chronicle/EventReader/streamVersion(of:)``).
    public func streamVersion(of stream: StreamID) async throws -> StreamVersion {
        try await read("reading the version of \(stream)") {
            try await self.withRows(self.sql.streamVersion, [stream.rawValue]) { rows in
                var version = StreamVersion.initial
                for try await value in rows.decode(Int64.self) {
                    version = try Self.version(value, of: stream.rawValue)
                }
                return version
            }
        }
    }

    /// Lists streams (see ``Chronicle/EventReader/streams(category:after:limit:)``).
    public func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        try ReadLimit.check(limit)
        guard limit > 0 else { return [] }
        return try await read("listing streams") {
            var binds = PostgresBindings()
            binds.append(category)
            binds.append(after?.rawValue)
            binds.append(Int64(limit))
            return try await self.withRows(PostgresQuery(unsafeSQL: self.sql.listStreams, binds: binds)) { rows in
                var result: [StreamInfo] = []
                for try await (id, version, last) in rows.decode((String, Int64, Int64).self) {
                    guard let streamID = try? StreamID(id), last >= 0 else {
                        throw EventStoreError(.corruptRecord, "Stream row \(id.debugDescription) in schema \(self.schema) cannot be read back.")
                    }
                    result.append(StreamInfo(id: streamID, version: try Self.version(version, of: id), lastPosition: GlobalPosition(last)))
                }
                return result
            }
        }
    }

    /// The position of the last event (see ``Chronicle/EventReader/headPosition()``).
    public func headPosition() async throws -> GlobalPosition {
        try await read("reading the head position") {
            let head = try await self.scalar(self.sql.headPosition, []) ?? 0
            return GlobalPosition(max(head, 0))
        }
    }

    // MARK: Plumbing

    /// How a transaction body wants its transaction to end, and what it returns.
    enum TransactionEnd<Value: Sendable>: Sendable {
        case commit(Value)
        case rollback(Value)
    }

    /// Runs `body` in a transaction on one pooled connection and ends it as the body says;
    /// ROLLBACK if it throws.
    func inTransaction<Value: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> TransactionEnd<Value>) async throws -> Value {
        try await client.withConnection { connection in
            try await connection.statement("BEGIN", logger: self.logger)
            let end: TransactionEnd<Value>
            do {
                end = try await body(connection)
            } catch {
                do { try await connection.statement("ROLLBACK", logger: self.logger) } catch {
                    self.logger.debug("rollback failed", metadata: ["reason": "\(PostgresFailure.summary(of: error))"])
                }
                throw error
            }
            switch end {
            case .commit(let value):
                try await connection.statement("COMMIT", logger: self.logger)
                return value
            case .rollback(let value):
                try await connection.statement("ROLLBACK", logger: self.logger)
                return value
            }
        }
    }

    /// ``inTransaction(_:)`` whose failures other than an ``EventStoreError`` become one saying
    /// `what` failed (`PostgresFailure.map`).
    func inTransaction<Value: Sendable>(_ what: String, _ body: @Sendable (PostgresConnection) async throws -> TransactionEnd<Value>) async throws -> Value {
        do {
            return try await inTransaction(body)
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw PostgresFailure.map(error, while: what)
        }
    }

    private func read<Result: Sendable>(_ what: String, _ body: @Sendable () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch {
            throw PostgresFailure.map(error, while: what)
        }
    }

    /// Bindings for `values`, in order.
    static func bindings(_ values: [any PostgresThrowingDynamicTypeEncodable]) throws -> PostgresBindings {
        var binds = PostgresBindings(capacity: values.count)
        for value in values { try binds.append(value) }
        return binds
    }

    /// Runs `statement` on `connection` (held by the caller) and returns its rows.
    func query(_ statement: String, _ values: [any PostgresThrowingDynamicTypeEncodable], on connection: PostgresConnection) async throws -> PostgresRowSequence {
        try await connection.statement(PostgresQuery(unsafeSQL: statement, binds: try Self.bindings(values)), logger: logger)
    }

    /// Runs `statement` on a connection leased for it and hands its rows to `body`; the lease
    /// ends when `body` returns or throws. Every pooled statement whose rows are streamed goes
    /// through here; ``scalar(_:_:on:)`` and ``inTransaction(_:)`` lease with `withConnection`
    /// too, for the same reason.
    ///
    /// Never `PostgresClient.query`: when a statement fails after the server has described its
    /// rows and the failure is read before the caller starts iterating (the response comes back
    /// in one read: a backend terminated mid-statement, a statement timeout, `append_assumed`
    /// declining by design), postgres-nio 1.x never returns that query's connection to the pool,
    /// and after `maximumConnections` such failures every statement waits for ever.
    /// `withConnection` gives the connection back however the statement ends.
    func withRows<Value: Sendable>(
        _ statement: String, _ values: [any PostgresThrowingDynamicTypeEncodable], _ body: (PostgresRowSequence) async throws -> Value
    ) async throws -> Value {
        try await withRows(PostgresQuery(unsafeSQL: statement, binds: try Self.bindings(values)), body)
    }

    /// ``withRows(_:_:_:)`` for a query with its bindings made.
    func withRows<Value: Sendable>(_ query: PostgresQuery, _ body: (PostgresRowSequence) async throws -> Value) async throws -> Value {
        try await client.withConnection { connection in
            try await body(connection.statement(query, logger: self.logger))
        }
    }

    /// Runs a statement and drains its rows, on `connection` or on a connection leased for it.
    func execute(_ statement: String, _ values: [any PostgresThrowingDynamicTypeEncodable], on connection: PostgresConnection? = nil) async throws {
        guard let connection else { return try await withRows(statement, values) { for try await _ in $0 {} } }
        for try await _ in try await query(statement, values, on: connection) {}
    }

    /// The first column of the first row of `statement`, as an integer, on `connection` or on a
    /// connection leased for the statement (``withRows(_:_:_:)``).
    ///
    /// The rows are collected on the connection's event loop (``PostgresStatementWatch/all(_:on:logger:)``),
    /// so the caller is resumed once per statement, not again to iterate them: a one-event append
    /// is latency, most of it hand-offs between threads.
    func scalar(_ statement: String, _ values: [any PostgresThrowingDynamicTypeEncodable], on connection: PostgresConnection? = nil) async throws -> Int64? {
        let query = PostgresQuery(unsafeSQL: statement, binds: try Self.bindings(values))
        guard let connection else { return try await client.withConnection { try await self.scalar(query, on: $0) } }
        return try await scalar(query, on: connection)
    }

    private func scalar(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> Int64? {
        try Self.scalar(of: await PostgresStatementWatch.shared.all(query, on: connection, logger: logger))
    }

    private static func scalar(of rows: [PostgresRow]) throws -> Int64? {
        try rows.first?.decode(Int64.self)
    }

    static func version(_ value: Int64, of stream: String) throws -> StreamVersion {
        guard value >= 0 else {
            throw EventStoreError(.corruptRecord, "Stream \(stream.debugDescription) has a negative version \(value).")
        }
        return StreamVersion(value)
    }

    /// Decodes event rows selected with ``PostgresSQL/eventColumnList``.
    static func events(from rows: PostgresRowSequence) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        let decoder = ChronicleJSONDecoder()
        // Cell by cell, not `rows.decode((Int64, UUID, …).self)`: PostgresNIO's decoding of a
        // ten-column tuple (a parameter pack) looks up type metadata at run time for every row.
        for try await row in rows {
            var cells = row.makeIterator()
            let position = try cell(&cells, Int64.self), id = try cell(&cells, UUID.self), stream = try cell(&cells, String.self)
            let version = try cell(&cells, Int64.self), type = try cell(&cells, String.self), schemaVersion = try cell(&cells, Int64.self)
            let payload = try cell(&cells, ByteBuffer.self), metadata = try cell(&cells, String.self)
            let recordedAt = try cell(&cells, Date.self), tags = try cell(&cells, [String].self)
            guard position > 0, version > 0, schemaVersion > 0, schemaVersion <= Int64(Int.max) else {
                throw EventStoreError(.corruptRecord, "The event at position \(position) has an out-of-range position, version or schema version.", eventID: id)
            }
            let decodedMetadata: EventMetadata
            do {
                // Most events carry none, stored as `{}` (jsonb's text of an empty object): no
                // decoder for those (it was half of this loop's time in a profile of S4a).
                decodedMetadata = metadata == "{}" ? .none : try decoder.decode(EventMetadata.Stored.self, from: Data(metadata.utf8)).metadata
            } catch {
                throw EventStoreError(.corruptRecord, "The metadata of the event at position \(position) does not decode.", eventID: id, position: GlobalPosition(position), underlying: error)
            }
            events.append(RecordedEvent(
                id: id, streamID: StreamID(unchecked: stream), streamVersion: StreamVersion(version), position: GlobalPosition(position),
                type: type, schemaVersion: Int(schemaVersion), payload: Data(payload.readableBytesView), metadata: decodedMetadata, recordedAt: recordedAt, tags: tags
            ))
        }
        return events
    }

    /// The next cell of an event row (``PostgresSQL/eventColumnList``), decoded.
    private static func cell<Value: PostgresDecodable>(_ cells: inout PostgresRow.Iterator, _: Value.Type) throws -> Value {
        guard let cell = cells.next() else {
            throw EventStoreError(.corruptRecord, "An event row has fewer columns than the store selects; is the schema older than this build? Run migrate().")
        }
        return try cell.decode(Value.self, context: .default)
    }
}
