import Chronicle
import ChroniclePostgres
import ChronicleTestSupport
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// Where the PostgreSQL tests connect: `CHRONICLE_POSTGRES_URL` (printed by `.ci/postgres.sh`).
enum PostgresTestEnvironment {
    static let url: String? = ProcessInfo.processInfo.environment["CHRONICLE_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// Whether a server is configured. Suites that need one are skipped (reported as skipped,
    /// never silently passing) when it is not.
    static var isConfigured: Bool { url != nil }

    static let skipReason: Comment = "CHRONICLE_POSTGRES_URL is not set: run `eval \"$(.ci/postgres.sh)\"` to start a test server"

    static var settings: PostgresConnectionSettings {
        get throws { try PostgresConnectionSettings(url: url ?? "") }
    }
}

/// A fresh schema of the test database for one test, with a running client. Dropped afterwards.
struct PostgresTestDatabase: Sendable {
    let settings: PostgresConnectionSettings
    let schema: PostgresSchemaName
    let client: PostgresClient
    let applicationName: String

    /// A new store instance on the test schema (as another process would have).
    func makeStore(now: @escaping @Sendable () -> Date = { Date() }, appendBatching: PostgresAppendBatching = PostgresAppendBatching()) -> PostgresEventStore {
        PostgresEventStore(client: client, schema: schema, now: now, appendBatching: appendBatching)
    }

    /// A dedicated-connection configuration whose backend is findable by `applicationName`.
    func connectionConfiguration(applicationName: String) throws -> PostgresConnection.Configuration {
        try settings.connectionConfiguration(applicationName: applicationName)
    }

    /// A connection of its own (outside the pool), findable as `<applicationName>-<role>`.
    func dedicatedConnection(_ role: String, id: Int) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            configuration: connectionConfiguration(applicationName: "\(applicationName)-\(role)"), id: id, logger: Logger(label: "chronicle.test.\(role)")
        )
    }

    /// Terminates every backend of this database whose application name is `applicationName`;
    /// returns how many were terminated.
    @discardableResult
    func terminateBackends(applicationName: String) async throws -> Int {
        var count = 0
        let rows = try await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = \(applicationName) AND pid <> pg_backend_pid()")
        for try await terminated in rows.decode(Bool.self) where terminated { count += 1 }
        return count
    }

    /// Runs `body` with a migrated store in a new schema and drops the schema afterwards.
    static func withStore(
        maximumConnections: Int = 20,
        appendBatching: PostgresAppendBatching = PostgresAppendBatching(),
        _ body: @Sendable (PostgresEventStore, PostgresTestDatabase) async throws -> Void
    ) async throws {
        let settings = try PostgresTestEnvironment.settings
        let schema = try PostgresSchemaName("t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20))
        let applicationName = "chronicle-test-\(schema)"
        let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: applicationName, maximumConnections: maximumConnections))
        let database = PostgresTestDatabase(settings: settings, schema: schema, client: client, applicationName: applicationName)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let store = database.makeStore(appendBatching: appendBatching)
            do {
                try await store.migrate()
                try await body(store, database)
            } catch {
                try? await database.dropSchema()
                throw error
            }
            try await database.dropSchema()
        }
    }

    /// Drops the test's schemas on a connection of its own, so a test whose pool is exhausted (a
    /// leaked lease) still cleans up and fails instead of hanging here.
    func dropSchema() async throws {
        let connection = try await dedicatedConnection("cleanup", id: 0)
        do {
            // The schema name is validated (a-z0-9_), so it can be spliced into the DDL.
            try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema.rawValue)\" CASCADE"), logger: connection.logger)
            // Read models keep each generation in a schema of its own, `<schema>_rm<N>`.
            var generations: [String] = []
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT nspname FROM pg_namespace WHERE left(nspname, \(schema.rawValue.count + 3)) = '\(schema.rawValue)_rm'"), logger: connection.logger
            )
            for try await name in rows.decode(String.self) { generations.append(name) }
            for name in generations {
                try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(name)\" CASCADE"), logger: connection.logger)
            }
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}

/// An event with a small payload.
func testEvent(_ type: String = "Happened", _ text: String = "x", id: UUID = UUID(), metadata: EventMetadata = .none) -> EventData {
    EventData(id: id, type: type, payload: Data(text.utf8), metadata: metadata)
}

/// A child process running ChroniclePostgresWorker, with its standard output collected.
struct WorkerProcess: Sendable {
    private let child: ChildProcess

    init(_ arguments: [String]) throws {
        child = try ChildProcess(try builtProduct("ChroniclePostgresWorker"), arguments)
    }

    /// What it has printed so far.
    var stdout: String { child.stdoutSoFar }
    var pid: Int32 { child.pid }
    var isRunning: Bool { child.isRunning }

    /// SIGKILL: the process dies without any clean-up (its sockets are closed by the kernel).
    func killAbruptly() { child.kill() }

    /// Waits until the process has exited (it is killed at `timeout`, which fails the test).
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(60)) async throws -> ChildProcess.Result {
        try await child.result(timeout: timeout)
    }
}
