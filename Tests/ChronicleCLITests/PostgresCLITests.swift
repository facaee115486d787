import Chronicle
import ChroniclePostgres
import Foundation
import PostgresNIO
import Testing

private let postgresURL = ProcessInfo.processInfo.environment["CHRONICLE_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

/// The same commands on a PostgreSQL store (`--store postgres://…`), and the migration path
/// `chronicle export | chronicle import` from SQLite into PostgreSQL. Skipped (reported as
/// skipped) without a server: run `eval "$(.ci/postgres.sh)"`.
@Suite(.serialized, .enabled(if: postgresURL != nil, "CHRONICLE_POSTGRES_URL is not set: run `eval \"$(.ci/postgres.sh)\"` to start a test server"))
struct PostgresCLITests {
    /// Drops the test's schema afterwards.
    func dropSchema(_ schema: String) async throws {
        let settings = try PostgresConnectionSettings(url: postgresURL!)
        let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-cli-tests", maximumConnections: 1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            _ = try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE"))
            group.cancelAll()
        }
    }

    @Test func aSQLiteStoreMovesIntoPostgresWithExportAndImportIdempotently() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let schema = "cli_\(UUID().uuidString.prefix(8).lowercased())"
        var input = ""
        for i in 0..<40 { input += #"{"type":"Tick","data":{"i":\#(i)},"metadata":{"correlationId":"req-\#(i % 3)"}}"# + "\n" }
        #expect(try await cli.run(["append", "clock-a"], input: input).status == 0)
        #expect(try await cli.run(["append", "clock-b"], input: input).status == 0)
        let exportPath = cli.directory.appendingPathComponent("log.jsonl").path
        #expect(try await cli.run(["export", "--output", exportPath]).status == 0)

        let pg = ["--store", postgresURL!, "--schema", schema]
        do {
            let imported = try await cli.run(["import", "--input", exportPath, "--json"] + pg, store: false)
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(imported.stdout.contains("\"written\":80"))
            let again = try await cli.run(["import", "--input", exportPath, "--json"] + pg, store: false)
            #expect(again.stdout.contains("\"alreadyPresent\":80"), "\(again.stderr)")

            let stats = try await cli.run(["stats", "--json"] + pg, store: false)
            #expect(stats.stdout.contains("\"events\":80"), "\(stats.stderr)")
            let verify = try await cli.run(["verify"] + pg, store: false)
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
            // The Postgres copy exports the same events (ids, streams, versions, positions, data).
            let copy = try await cli.run(["export"] + pg, store: false)
            func strip(_ text: String) -> [String] {
                text.split(separator: "\n").map { String($0).replacing(/"recordedAt":"[^"]*",?/, with: "") }
            }
            #expect(strip(copy.stdout) == strip(try String(contentsOfFile: exportPath, encoding: .utf8)))

            // Appends with expected versions work there too, and a stale one is refused.
            let stale = try await cli.run(["append", "clock-a", "--expected-version", "3"] + pg, input: #"{"type":"Late","data":{}}"#, store: false)
            #expect(stale.status == 1)
            #expect(stale.stderr.contains("expected version"))
            let read = try await cli.run(["read", "clock-a", "--backwards", "--limit", "1", "--json"] + pg, store: false)
            #expect(read.stdout.contains("\"version\":40"))
            // No read model has run in this schema yet.
            let projections = try await cli.run(["projections"] + pg, store: false)
            #expect(projections.status == 0, "\(projections.stderr)")
            #expect(projections.stdout.contains("No read models"), "\(projections.stdout)")
        }
        try await dropSchema(schema)
    }

    /// `chronicle archive` on PostgreSQL: write, truncate, read the tombstones, verify, restore;
    /// stored retention policies; a damaged archive changes nothing.
    @Test func archiveAndStoredPoliciesWorkOnAPostgresStore() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let schema = "cli_\(UUID().uuidString.prefix(8).lowercased())"
        let pg = ["--store", postgresURL!, "--schema", schema]
        do {
            try await CLIArchiveTests.fill(cli, streams: ["order-1", "order-2"], extra: pg)
            let directory = cli.directory.appendingPathComponent("archives").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let done = try await cli.run(["archive", "--before", "16", "--to", directory, "--truncate", "--json"] + pg, store: false)
            #expect(done.status == 0 && done.stdout.contains(#""truncated":15"#), "\(done.stderr)")
            let file = "\(directory)/chronicle-000000000001-000000000015.jsonl.gz"
            let read = try await cli.run(["read", "order-2", "--json"] + pg, store: false)
            #expect(read.stdout.contains("$archived") && read.stderr.contains("are archived in chronicle-000000000001-000000000015.jsonl.gz"), "\(read.stdout)\(read.stderr)")
            #expect(!read.stdout.contains("secret-order-2-5") && read.stdout.contains("secret-order-2-6"))
            #expect(try await cli.run(["verify"] + pg, store: false).status == 0)
            let again = try await cli.run(["archive", "--before", "16", "--to", directory] + pg, store: false)
            #expect(again.status == 1 && again.stderr.contains("are archived already"), "\(again.stderr)")

            var damaged = try Data(contentsOf: URL(fileURLWithPath: file))
            damaged = damaged.prefix(damaged.count - 9)
            let damagedPath = cli.directory.appendingPathComponent("damaged.jsonl.gz").path
            try damaged.write(to: URL(fileURLWithPath: damagedPath))
            let refused = try await cli.run(["archive", "import", damagedPath] + pg, store: false)
            #expect(refused.status == 1 && refused.stderr.contains("truncated"), "\(refused.stderr)")
            #expect(try await cli.run(["archive", "list", "--json"] + pg, store: false).stdout.contains("chronicle-000000000001-000000000015.jsonl.gz"))

            let imported = try await cli.run(["archive", "import", file, "--json"] + pg, store: false)
            #expect(imported.status == 0 && imported.stdout.contains(#""restored":15"#), "\(imported.stderr)")
            #expect(try await cli.run(["read", "order-2", "--json"] + pg, store: false).stdout.contains("secret-order-2-5"))
            #expect(try await cli.run(["read", "--all", "--tag", "n:1", "--json"] + pg, store: false).stdout.split(separator: "\n").count == 2)
            #expect(try await cli.run(["archive", "list"] + pg, store: false).stdout.contains("Nothing is archived."))
            #expect(try await cli.run(["verify"] + pg, store: false).status == 0)

            let set = try await cli.run(["scavenge", "--set-policy", "order:count=4"] + pg, store: false)
            #expect(set.status == 0, "\(set.stderr)")
            let scavenged = try await cli.run(["scavenge", "--json"] + pg, store: false)
            #expect(scavenged.status == 0 && scavenged.stdout.contains(#""erasedEvents":12"#), "\(scavenged.stdout)\(scavenged.stderr)")
            let removed = try await cli.run(["scavenge", "--remove-policy", "order", "--json"] + pg, store: false)
            #expect(removed.status == 0 && removed.stdout == "[]\n", "\(removed.stdout)")
        }
        try await dropSchema(schema)
    }

    @Test func aBadPostgresURLFailsClearly() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let refused = try await cli.run(["stats", "--store", "postgres://nobody@127.0.0.1:1/none", "--connect-timeout", "2"], store: false)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("Cannot reach PostgreSQL at 127.0.0.1:1"))
        let malformed = try await cli.run(["stats", "--store", "postgres://"], store: false)
        #expect(malformed.status == 1)
        #expect(malformed.stderr.contains("Cannot open the PostgreSQL store"))
    }
}

/// A read model that refuses one type of event, for the CLI's read-model commands on PostgreSQL.
struct CLIRefusingProjector: PostgresProjector {
    let name = "cli-counts"
    struct Refused: Error, CustomStringConvertible { var description: String { "refused by the test projector" } }

    var migrations: [PostgresReadModelMigration] {
        [PostgresReadModelMigration(1, sql: { tables in ["CREATE TABLE \(tables("counts")) (n bigint NOT NULL)"] })]
    }

    func apply(_ events: [RecordedEvent], on connection: PostgresConnection, tables: PostgresReadModelTables) async throws {
        for event in events {
            if event.type == "Refused" { throw Refused() }
            try await connection.statement(PostgresQuery(unsafeSQL: "INSERT INTO \(tables("counts")) (n) VALUES (1)"), logger: connection.logger)
        }
    }
}

extension PostgresCLITests {
    @Test func projectionsAndParkedWorkOnAPostgresStore() async throws {
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        let schema = "cli_\(UUID().uuidString.prefix(8).lowercased())"
        let settings = try PostgresConnectionSettings(url: postgresURL!)
        let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-cli-tests", maximumConnections: 4))
        let pg = ["--store", postgresURL!, "--schema", schema]
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let store = PostgresEventStore(client: client, schema: try PostgresSchemaName(schema))
            try await store.migrate()
            for type in ["Counted", "Refused", "Counted"] {
                _ = try await store.append([EventData(type: type, payload: Data("{}".utf8))], to: "tally-1", expectedVersion: .any)
            }
            let model = try PostgresReadModel(
                CLIRefusingProjector(), store: store, leaseConnection: try settings.connectionConfiguration(applicationName: "cli-test-lease"),
                options: .init(failurePolicy: FailurePolicy(maxAttempts: 1, then: .park))
            )
            let running = Task { try await model.run() }
            try await model.waitUntil(position: 3, timeout: .seconds(60))

            let whileRunning = try await cli.run(["projections", "--json"] + pg, store: false)
            #expect(whileRunning.status == 0, "\(whileRunning.stderr)")
            let rows = try JSONSerialization.jsonObject(with: Data(whileRunning.stdout.utf8)) as? [[String: Any]]
            #expect(rows?.count == 1)
            #expect(rows?.first?["name"] as? String == "cli-counts")
            #expect(rows?.first?["position"] as? Int == 3)
            #expect(rows?.first?["parkedCount"] as? Int == 1)
            #expect(rows?.first?["state"] as? String == "running", "the lease is held")
            running.cancel()
            try await running.value

            let stopped = try await cli.run(["projections"] + pg, store: false)
            #expect(stopped.stdout.contains("cli-counts") && stopped.stdout.contains("stopped"), "\(stopped.stdout)\(stopped.stderr)")
            let parked = try await cli.run(["parked", "list", "cli-counts"] + pg, store: false)
            #expect(parked.status == 0, "\(parked.stderr)")
            #expect(parked.stdout.contains("refused by the test projector"), "\(parked.stdout)")
            let dropped = try await cli.run(["parked", "drop", "cli-counts", "2"] + pg, store: false)
            #expect(dropped.status == 0, "\(dropped.stderr)")
            let again = try await cli.run(["parked", "drop", "cli-counts", "2"] + pg, store: false)
            #expect(again.status != 0)
            #expect(again.stderr.contains("no parked event"), "\(again.stderr)")
            let unknown = try await cli.run(["parked", "list", "nothing-here"] + pg, store: false)
            #expect(unknown.status != 0)
        }
        try await dropSchema(schema)
        try await dropSchema("\(schema)_rm1")
    }
}
