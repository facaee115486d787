import Chronicle
import ChroniclePostgres
import Foundation
import Logging
import PostgresNIO

/// The S5 read model as a PostgreSQL projector (S5r on PostgreSQL): each page is folded per stream
/// in memory, then written with one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE`, in the
/// transaction that moves the checkpoint.
struct PostgresSummaryProjector: PostgresProjector {
    let name = "summary"

    var migrations: [PostgresReadModelMigration] {
        [PostgresReadModelMigration(1, sql: { tables in
            ["CREATE TABLE \(tables("stream_summary")) (stream_id text PRIMARY KEY, n bigint NOT NULL, total bigint NOT NULL, last_version bigint NOT NULL)"]
        })]
    }

    func apply(_ events: [RecordedEvent], on connection: PostgresConnection, tables: PostgresReadModelTables) async throws {
        var rows: [String: (n: Int64, total: Int64, last: Int64)] = [:]
        for event in events {
            let amount = Int64(try AccountEvent.deposit(event).amount)
            rows[event.streamID.rawValue, default: (0, 0, 0)].n += 1
            rows[event.streamID.rawValue]!.total += amount
            rows[event.streamID.rawValue]!.last = event.streamVersion.value
        }
        var binds = PostgresBindings()
        binds.append(Array(rows.keys))
        binds.append(rows.values.map(\.n))
        binds.append(rows.values.map(\.total))
        binds.append(rows.values.map(\.last))
        try await connection.query(
            PostgresQuery(unsafeSQL: """
                INSERT INTO \(tables("stream_summary")) (stream_id, n, total, last_version)
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
                ON CONFLICT (stream_id) DO UPDATE SET n = stream_summary.n + excluded.n,
                    total = stream_summary.total + excluded.total, last_version = excluded.last_version
                """, binds: binds),
            logger: connection.logger
        )
    }
}

extension ScenarioRunner {
    /// S5r-pg: S5r on PostgreSQL (`--scenario S5r-pg --db postgres://…`): IMP(T, 1000) into a fresh schema `bench_s5r`
    /// (untimed), then the catch-up of ``PostgresSummaryProjector`` by ``PostgresReadModel``,
    /// pages of 1000, each page and its checkpoint in one PostgreSQL transaction.
    func catchUpWithRunnerOnPostgres() async throws {
        let total = events(default: 1_000_000)
        let settings = try PostgresConnectionSettings(url: path)
        let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-bench", maximumConnections: 8))
        let clientTask = Task { await client.run() }
        defer { clientTask.cancel() }
        let schemaName = "bench_s5r"
        // A fresh schema, and no generation schemas of an earlier run.
        var old: [String] = []
        for try await name in try await client.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_s5r%'").decode(String.self) {
            old.append(name)
        }
        for name in old { try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \"\(name)\" CASCADE")) }
        var logger = Logger(label: "chronicle.bench")
        logger.logLevel = .warning
        let store = PostgresEventStore(client: client, schema: try PostgresSchemaName(schemaName), logger: logger)
        try await store.migrate()
        let encoder = DepositEncoder()
        _ = try await writeImport(store, events: total, perTransaction: 1000, encoder: encoder)
        let head = try await store.headPosition()
        let model = try PostgresReadModel(
            PostgresSummaryProjector(), store: store, leaseConnection: try settings.connectionConfiguration(applicationName: "chronicle-bench-lease"),
            options: .init(pageSize: 1000), logger: logger
        )
        try await model.prepare()
        let (projected, timing) = try await timed {
            let runner = Task { try await model.run() }
            try await model.waitUntil(position: head, timeout: .seconds(1200))
            runner.cancel()
            _ = try? await runner.value
            return try await model.read { connection, tables in
                try await connection.query(PostgresQuery(unsafeSQL: "SELECT sum(n)::bigint FROM \(tables("stream_summary"))"), logger: connection.logger)
                    .decode(Int64.self).first { _ in true } ?? 0
            }
        }
        let status = await model.status()
        let version = try await client.query("SHOW server_version").decode(String.self).first { _ in true } ?? "?"
        let verified = projected == Int64(total) && status.position == head
        var report = Report(scenario: "S5r-pg", sync: sync, events: total, timing: timing, ops: (total + 999) / 1000, op: "page", verified: verified)
        report.add("backend", .string("postgresql"))
        report.add("postgresql", .string(version))
        report.add("payload_bytes_avg", .double(encoder.averagePayloadBytes, digits: 1))
        report.add("event_type", .string(Deposited.typeName))
        report.add("read_model", .string("PostgresReadModel, schema \(schemaName)_rmN"))
        report.print()
    }
}
