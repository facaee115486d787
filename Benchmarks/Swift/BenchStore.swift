import Chronicle
import ChroniclePostgres
import ChronicleSQLite
import Foundation
import Logging
import PostgresNIO

/// The store a workload scenario runs on: the SQLite file of `--db PATH`, or, with
/// `--db postgres://…`, a schema of that PostgreSQL server (`bench_<scenario>`, dropped and
/// created fresh by the run that writes it), so S1, S1c, S2, S3, S4a, S4b, S5 and S6 run on both
/// backends through the same code.
final class BenchStore: Sendable {
    let sqlite: SQLiteEventStore?
    let postgres: PostgresEventStore?
    private let client: PostgresClient?
    private let clientTask: Task<Void, Never>?

    private init(sqlite: SQLiteEventStore) {
        self.sqlite = sqlite
        self.postgres = nil
        self.client = nil
        self.clientTask = nil
    }

    private init(postgres: PostgresEventStore, client: PostgresClient, task: Task<Void, Never>) {
        self.sqlite = nil
        self.postgres = postgres
        self.client = client
        self.clientTask = task
    }

    /// The store, whichever backend.
    var store: any EventStore {
        if let sqlite { return sqlite }
        return postgres!
    }

    /// Closes the store (and the PostgreSQL client).
    func close() async throws {
        if let sqlite { try await sqlite.close() }
        clientTask?.cancel()
    }

    /// Runs `sql` (no result) on a pooled connection (never `PostgresClient.query`, which can keep
    /// a connection leased after a failed statement; see `PostgresEventStore.withRows`).
    func execute(_ sql: String) async throws {
        guard let client else { return }
        try await client.withConnection { connection in
            for try await _ in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger) {}
        }
    }

    /// The first column of the first row of `sql`, as text.
    func scalar(_ sql: String) async throws -> String? {
        guard let client else { return nil }
        return try await client.withConnection { connection in
            var first: String?
            for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger).decode(String.self) where first == nil {
                first = value
            }
            return first
        }
    }

    /// Runs `body` in one transaction on one PostgreSQL connection.
    func inTransaction<T>(_ body: (PostgresConnection) async throws -> sending T) async throws -> sending T {
        guard let client else { throw BenchmarkError("not a PostgreSQL store") }
        return try await client.withTransaction(logger: Self.logger, body)
    }

    /// Group commit on PostgreSQL as `--pg-batches` says (``Options/pgBatches``).
    static func appendBatching(_ batches: Int?) -> PostgresAppendBatching {
        guard let batches else { return PostgresAppendBatching() }
        return batches == 0 ? .off : PostgresAppendBatching(concurrentBatches: batches)
    }

    /// Opens the PostgreSQL store on `schema` of the server at `url`; with `fresh`, drops the
    /// schema first and creates the tables.
    static func postgres(url: String, schema: String, fresh: Bool, connections: Int, batches: Int?) async throws -> BenchStore {
        let settings = try PostgresConnectionSettings(url: url)
        // Every connection opened up front and kept (minimum = maximum), and no keep-alive pings:
        // postgres-nio's pool otherwise schedules an idle and a keep-alive timer (a task each)
        // every time a connection returns to it and cancels them at the next lease, which costs
        // about 30 % of the client's CPU per one-statement append (Docs/Postgres.md, Throughput).
        var configuration = settings.clientConfiguration(applicationName: "chronicle-bench", maximumConnections: connections)
        configuration.options.minimumConnections = connections
        configuration.options.keepAliveBehavior = nil
        let client = PostgresClient(configuration: configuration)
        let task = Task { await client.run() }
        let store = PostgresEventStore(client: client, schema: try PostgresSchemaName(schema), logger: Self.logger, appendBatching: appendBatching(batches))
        let opened = BenchStore(postgres: store, client: client, task: task)
        if fresh {
            try await opened.execute("DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE")
            try await store.migrate()
        }
        return opened
    }

    static func sqlite(_ store: SQLiteEventStore) -> BenchStore { BenchStore(sqlite: store) }

    /// The store's and the driver's logger: warnings and worse only.
    private static let logger: Logger = {
        var logger = Logger(label: "chronicle.bench")
        logger.logLevel = .warning
        return logger
    }()
}

extension ScenarioRunner {
    /// Whether `--db` names a PostgreSQL server.
    var isPostgres: Bool { path.hasPrefix("postgres://") || path.hasPrefix("postgresql://") }

    /// The PostgreSQL schema of this scenario's run.
    var postgresSchema: String { "bench_" + options.scenario.lowercased().replacingOccurrences(of: "-", with: "_") }

    /// A fresh store: a new SQLite file, or the scenario's PostgreSQL schema dropped and created.
    func freshBenchStore(connections: Int = 4) async throws -> BenchStore {
        if isPostgres { return try await .postgres(url: path, schema: postgresSchema, fresh: true, connections: connections, batches: options.pgBatches) }
        return .sqlite(try freshStore())
    }

    /// The same store opened again (another process's view, or after the setup).
    func reopenBenchStore(connections: Int = 4) async throws -> BenchStore {
        if isPostgres { return try await .postgres(url: path, schema: postgresSchema, fresh: false, connections: connections, batches: options.pgBatches) }
        return .sqlite(try openStore())
    }

    /// What a report says about the backend: SQLite's pragmas as read back from the file, or the
    /// PostgreSQL server's version and durability settings.
    func backendFields(_ opened: BenchStore) async throws -> [(String, ReportValue)] {
        guard isPostgres else { return try pragmaFields() }
        return [
            ("backend", .string("postgresql")),
            ("postgresql", .string(try await opened.scalar("SHOW server_version") ?? "?")),
            ("fsync", .string(try await opened.scalar("SHOW fsync") ?? "?")),
            ("synchronous_commit", .string(try await opened.scalar("SHOW synchronous_commit") ?? "?")),
            ("schema", .string(postgresSchema)),
        ]
    }
}

extension ScenarioRunner {
    /// S5 on PostgreSQL: the workload's catch-up projection with the read model in the store's
    /// schema: each page of 1,000 events read through `readAll`, every payload decoded, then one
    /// transaction on one connection with **one upsert statement per event** (sequential, as the
    /// workload asks) and the checkpoint. The batched way a `PostgresProjector` would write
    /// (`INSERT … SELECT FROM unnest(…)`, one statement per page) is S5r-pg.
    func catchUpProjectionOnPostgres() async throws {
        let total = events(default: 1_000_000)
        let encoder = DepositEncoder()
        let opened = try await freshBenchStore()
        _ = try await writeImport(opened.store, events: total, perTransaction: 1000, encoder: encoder)
        let schema = "\"\(postgresSchema)\""
        try await opened.execute("CREATE TABLE \(schema).s5_stream_summary (stream_id text PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL, last_version bigint NOT NULL)")
        try await opened.execute("CREATE TABLE \(schema).s5_checkpoints (projection_name text PRIMARY KEY, position bigint NOT NULL)")
        let upsert = S5Upsert.statement(table: "\(schema).s5_stream_summary")
        let readCheckpoint = "SELECT position::text FROM \(schema).s5_checkpoints WHERE projection_name = 'summary'"
        let save = """
            INSERT INTO \(schema).s5_checkpoints (projection_name, position) VALUES ('summary', $1)
            ON CONFLICT (projection_name) DO UPDATE SET position = excluded.position
            """
        let store = opened.store
        let preparedUpserts = options.s5Statements == "prepared"
        var breakdown = SummaryProjection.Breakdown()
        let clock = ContinuousClock()
        let ((pages, projected), timing) = try await timed {
            var checkpoint = GlobalPosition(Int64(try await opened.scalar(readCheckpoint) ?? "0") ?? 0)
            var pages = 0
            var projected = 0
            while true {
                let start = clock.now
                let page = try await store.readAll(after: checkpoint, limit: 1000)
                let read = clock.now
                breakdown.reading += read - start
                guard let last = page.last else { break }
                let rows = try page.map { event in (event.streamID.rawValue, Int64(try AccountEvent.deposit(event).amount), event.streamVersion.value) }
                breakdown.decoding += clock.now - read
                try await opened.inTransaction { connection in
                    if preparedUpserts {
                        // The prepared statement names its table without a schema.
                        try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(schema)"), logger: connection.logger)
                        for (stream, amount, version) in rows {
                            _ = try await connection.execute(S5Upsert(stream: stream, amount: amount, version: version), logger: connection.logger)
                        }
                    } else {
                        for (stream, amount, version) in rows {
                            let binds = try S5Upsert(stream: stream, amount: amount, version: version).makeBindings()
                            try await connection.query(PostgresQuery(unsafeSQL: upsert, binds: binds), logger: connection.logger)
                        }
                    }
                    var binds = PostgresBindings()
                    binds.append(last.position.value)
                    try await connection.query(PostgresQuery(unsafeSQL: save, binds: binds), logger: connection.logger)
                }
                checkpoint = last.position
                pages += 1
                projected += page.count
            }
            return (pages, projected)
        }
        let summed = Int(try await opened.scalar("SELECT sum(n)::text FROM \(schema).s5_stream_summary") ?? "0") ?? 0
        let checkpoint = Int64(try await opened.scalar(readCheckpoint) ?? "0") ?? 0
        let head = try await store.headPosition()
        let verified = summed == total && projected == total && checkpoint == head.value
        var report = Report(scenario: "S5", sync: sync, events: projected, timing: timing, ops: pages, op: "page", verified: verified)
        try await addCommonFields(&report, encoder: encoder, on: opened)
        try await opened.close()
        report.add("read_model", .string("the store's schema, one upsert statement per event on one connection"))
        report.add("upserts", .string(preparedUpserts ? "prepared" : "unnamed"))
        report.add("store_read_s", .double(breakdown.reading.seconds, digits: 4))
        report.add("decode_s", .double(breakdown.decoding.seconds, digits: 4))
        report.print()
    }
}

/// S5's upsert as a postgres-nio prepared statement (`--s5-statements prepared`): parsed and
/// planned by the server once per connection, then sent as Bind/Execute only. The table is found
/// through the transaction's `search_path` (the SQL of a prepared statement is fixed).
struct S5Upsert: PostgresPreparedStatement {
    static let sql = statement(table: "s5_stream_summary")

    /// The upsert into `table`: unqualified when prepared, schema-qualified when sent unnamed.
    static func statement(table: String) -> String {
        """
        INSERT INTO \(table) AS s (stream_id, n, total, last_version) VALUES ($1, 1, $2, $3)
        ON CONFLICT (stream_id) DO UPDATE SET n = s.n + 1, total = s.total + excluded.total, last_version = excluded.last_version
        """
    }

    typealias Row = ()

    var stream: String
    var amount: Int64
    var version: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(stream)
        bindings.append(amount)
        bindings.append(version)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}
