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
        for i in 0..<40 { input += #"{"type":"Tick","data":{"i":\#(i)},"metadata":{"c":"req-\#(i % 3)"}}"# + "\n" }
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
            // Read models live beside a SQLite file: the command says so instead of guessing.
            let projections = try await cli.run(["projections"] + pg, store: false)
            #expect(projections.status == 1)
            #expect(projections.stderr.contains("SQLite stores only"))
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
