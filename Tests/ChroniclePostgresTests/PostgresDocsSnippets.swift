// The ```swift blocks of Docs/Postgres.md, verbatim, so they compile (DocsSnippetsTests checks
// that every block of the docs appears in compiled code). The behaviour they show is tested
// by the suites of this target.
import Chronicle
import ChroniclePostgres
import ChronicleSQLite
import GRDB
import Logging
import PostgresNIO
import ServiceLifecycle

/// A read model in PostgreSQL tables (for the snippets).
struct OrdersView: Sendable {
    func apply(_ events: [RecordedEvent], on connection: PostgresConnection) async throws {
        for event in events {
            try await connection.statement("INSERT INTO orders_view (position) VALUES (\(event.position.value))", logger: connection.logger)
        }
    }
}

/// A SQLite read model (for the snippets).
struct OrdersProjector: SQLiteProjector {
    let name = "orders"
    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("orders-1") { db in try db.execute(sql: "CREATE TABLE orders (id TEXT PRIMARY KEY)") }
    }
    func apply(_ event: RecordedEvent, in db: Database) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO orders (id) VALUES (?)", arguments: [event.streamID.rawValue])
    }
}

struct OrderCounts: PostgresProjector {
    let name = "order-counts"
    var migrations: [PostgresReadModelMigration] {
        [PostgresReadModelMigration(1, sql: { tables in
            ["CREATE TABLE \(tables("counts")) (stream text PRIMARY KEY, count bigint NOT NULL)"]
        })]
    }
    func apply(_ events: [RecordedEvent], on connection: PostgresConnection, tables: PostgresReadModelTables) async throws {
        for event in events {
            var binds = PostgresBindings()
            binds.append(event.streamID.rawValue)
            try await connection.statement(PostgresQuery(unsafeSQL: """
                INSERT INTO \(tables("counts")) (stream, count) VALUES ($1, 1)
                ON CONFLICT (stream) DO UPDATE SET count = \(tables("counts")).count + 1
                """, binds: binds), logger: connection.logger)
        }
    }
}

enum PostgresDocsSnippets {
    static func readModel(store: PostgresEventStore, client: PostgresClient, watcher: PostgresHeadWatcher, settings: PostgresConnectionSettings, event: EventData, logger: Logger) async throws {
        let counts = try PostgresReadModel(OrderCounts(), store: store,
                                           leaseConnection: try settings.connectionConfiguration(applicationName: "order-counts"),
                                           logger: logger)
        let group = ServiceGroup(services: [client, watcher, counts], logger: logger)
        // …
        let result = try await store.append(event, to: "order-42", expectedVersion: .noStream)
        try await counts.waitUntil(position: result.position, timeout: .seconds(5))   // read your writes
        let total = try await counts.read { connection, tables in
            try await connection.statement(PostgresQuery(unsafeSQL: "SELECT coalesce(sum(count), 0)::bigint FROM \(tables("counts"))"),
                                       logger: connection.logger).decode(Int64.self).first { _ in true } ?? 0
        }
        _ = (group, total)
    }

    static func configuration(logger: Logger, event: EventData) async throws {
        let settings = try PostgresConnectionSettings(url: "postgres://app:secret@db.internal:5432/app")
        let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "orders-api"))
        let store = PostgresEventStore(client: client, schema: try PostgresSchemaName("orders"))
        let watcher = PostgresHeadWatcher(store: store, connection: try settings.connectionConfiguration(applicationName: "orders-api-listen"))

        // The client and the watcher are long-running services.
        let group = ServiceGroup(services: [client, watcher], logger: logger)
        Task { try await group.run() }
        try await store.migrate()           // creates or upgrades the schema; safe from many processes
        try await store.append(event, to: "order-42", expectedVersion: .noStream)
    }

    static func lease(store: PostgresEventStore, settings: PostgresConnectionSettings) async throws {
        let lease = PostgresLease(name: "projection.orders-view", schema: store.schema,
                                  connection: try settings.connectionConfiguration(applicationName: "orders-view"))
        let checkpoints = PostgresCheckpointStore(sharingSchemaOf: store)
        while !Task.isCancelled {
            do {
                try await lease.run {
                    try await checkpoints.follow("orders-view") { events, connection in
                        // update the read model with `connection`: same transaction as the checkpoint
                    }
                }
            } catch let error as PostgresLeaseError where error.code == .lost || error.code == .fenced {
                continue   // contend again
            }
        }
    }

    static func deadLetters(store: PostgresEventStore, checkpoints: PostgresCheckpointStore, ordersView: OrdersView) async throws {
        let deadLetters = PostgresDeadLetterStore(sharingSchemaOf: store)
        try await checkpoints.follow("orders-view", failurePolicy: .default, deadLetters: deadLetters) { events, connection in
            try await ordersView.apply(events, on: connection)
        }
        let parked = try await deadLetters.parkedEvents(of: "orders-view")
        try await deadLetters.retry("orders-view", at: parked[0].position) { event, connection in  // unparks on success
            try await ordersView.apply([event], on: connection)
        }
        try await deadLetters.drop("orders-view", at: parked[1].position)
    }

    static func projectionSource(store: PostgresEventStore, client: PostgresClient, settings: PostgresConnectionSettings, logger: Logger) throws {
        let watcher = PostgresHeadWatcher(store: store, connection: try settings.connectionConfiguration())
        let model = try SQLiteReadModel(OrdersProjector(), directory: "/var/lib/orders",
                                        source: .observing(store), logger: logger)
        let group = ServiceGroup(services: [client, watcher, model], logger: logger)
        _ = group
    }

    static func importing(postgresStore: PostgresEventStore) async throws {
        let source = try SQLiteEventStore(path: "events.sqlite")
        let summary = try await postgresStore.importEvents(from: source, batchSize: 500)
        // summary.written, summary.alreadyPresent; run it again after an interruption
        _ = summary
    }
}

/// Docs/SyncAndAsync.md: the inbox of a receiver on PostgreSQL.
func syncAndAsyncPostgresInboxSnippet(store: PostgresEventStore) -> PostgresInbox {
    let inbox = PostgresInbox(sharingSchemaOf: store) { event, connection in /* the receiver's writes, on `connection` */ }
    return inbox
}

/// Docs/Postgres.md, Throughput: a client for an append-heavy service.
func appendHeavyClientConfiguration(_ settings: PostgresConnectionSettings) -> PostgresClient.Configuration {
    var configuration = settings.clientConfiguration(maximumConnections: 8)
    configuration.options.minimumConnections = 8      // no idle timers
    configuration.options.keepAliveBehavior = nil     // no keep-alive timers
    return configuration
}
