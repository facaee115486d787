import Chronicle
import ChroniclePostgres
import ChronicleRelay
import ChronicleSQLite
import Foundation
import GRDB
import Logging
import PostgresNIO
import ServiceLifecycle

/// Where the shop keeps its events, snapshots, read models and the saga's checkpoint, chosen at
/// startup (`--store`). The rest of the sample is the same code for both.
enum ShopStorage: Sendable, CustomStringConvertible {
    /// Embedded SQLite files in a directory: the event store (with the snapshots), one file per
    /// read model, the saga's checkpoint file.
    case sqlite(directory: String)
    /// A PostgreSQL database: the event store's tables in `schema`, read models in
    /// `<schema>_rm<N>` schemas, the saga's checkpoint beside the read models'. A pool of 20
    /// connections (each read model, the saga and the head watcher also hold one dedicated
    /// connection for their lease).
    case postgres(PostgresConnectionSettings, schema: PostgresSchemaName)

    /// `postgres://user:password@host:port/database` (or `postgresql://`), or a directory for SQLite.
    static func parse(_ location: String, schema: String) throws -> ShopStorage {
        if location.hasPrefix("postgres://") || location.hasPrefix("postgresql://") {
            return .postgres(try PostgresConnectionSettings(url: location), schema: try PostgresSchemaName(schema))
        }
        return .sqlite(directory: location)
    }

    /// Where the data is, for the banner (never the password).
    var description: String {
        switch self {
        case .sqlite(let directory): "data in \(directory)"
        case .postgres(let settings, let schema): "PostgreSQL \(settings.host):\(settings.port)/\(settings.database), schema \(schema)"
        }
    }

    /// Opens (or creates) the storage (the saga's warehouse snapshots as `inventorySnapshots` says): the store migrated, the read models and the saga ready to run.
    /// Opens the store and its runners; with `relay`, the relay's runner too (its checkpoint and
    /// parked deliveries beside the saga's, partitioned by order stream).
    func open(inventorySnapshots: SnapshotPolicy, relay: EventRelay? = nil, logger: Logger) async throws -> ShopBackend {
        switch self {
        case .sqlite(let directory): try Self.openSQLite(directory: directory, inventorySnapshots: inventorySnapshots, relay: relay, logger: logger)
        case .postgres(let settings, let schema): try await Self.openPostgres(settings, schema: schema, inventorySnapshots: inventorySnapshots, relay: relay, logger: logger)
        }
    }

    /// The relay's partitions: deliveries of four order streams at a time.
    static let relayPartitions = 4

    private static func openSQLite(directory: String, inventorySnapshots: SnapshotPolicy, relay: EventRelay?, logger: Logger) throws -> ShopBackend {
        try FileManager.default.createDirectory(atPath: directory + "/read-models", withIntermediateDirectories: true)
        let store = try SQLiteEventStore(path: directory + "/events.sqlite")
        let snapshots = try SQLiteSnapshotStore(sharingFileOf: store)
        let source = ProjectionSource.observing(store)
        var readModels: [String: SQLiteReadModel] = [:]
        for model in ShopApp.readModels {
            readModels[model.name] = try SQLiteReadModel(SQLiteShopProjector(model: model), directory: directory + "/read-models", source: source, logger: logger)
        }
        let group = try SQLiteProjectionGroup(ShopApp.readModels.compactMap { readModels[$0.name] })
        let byName = readModels
        let fulfilment = try SQLiteProcessManager(Fulfilment(store: store, snapshots: snapshots, inventorySnapshots: inventorySnapshots), path: directory + "/fulfilment.sqlite", source: source, logger: logger)
        var runners: [any Service & ProjectionCatalog] = [group, fulfilment]
        if let relay {
            runners.append(try SQLiteProcessManager(
                relay, path: directory + "/\(relay.name).sqlite", source: source, failurePolicy: EventRelay.failurePolicy,
                partitioning: try .byStream(relayPartitions), filter: relay.filter, logger: logger
            ))
        }
        return ShopBackend(
            store: store, snapshots: snapshots, services: runners.map { $0 as any Service }, catalog: CombinedProjectionCatalog(runners.map { $0 as any ProjectionCatalog }),
            fulfilment: fulfilment.engine, readModels: byName,
            query: { name, statement in
                guard let readModel = byName[name] else { throw ShopBackend.UnknownReadModel(name: name) }
                let query = statement { $0 }
                return try await readModel.read { db in
                    try Row.fetchAll(db, sql: query.sql, arguments: StatementArguments(query.arguments.map(SQLiteShopProjector.databaseValue))).map { row in
                        var fields: [String: JSONValue] = [:]
                        for (column, value) in row {
                            fields[column] = switch value.storage {
                            case .int64(let number): .int(number)
                            case .double(let number): .double(number)
                            case .string(let text): .string(text)
                            case .blob, .null: .null
                            }
                        }
                        return fields
                    }
                }
            },
            close: {
                try snapshots.close()
                try await store.close()
            }
        )
    }

    private static func openPostgres(
        _ settings: PostgresConnectionSettings, schema: PostgresSchemaName, inventorySnapshots: SnapshotPolicy, relay: EventRelay?, logger: Logger
    ) async throws -> ShopBackend {
        let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-shop", maximumConnections: 20), backgroundLogger: logger)
        let running = Task { await client.run() }
        do {
            let store = PostgresEventStore(client: client, schema: schema, logger: logger)
            try await store.migrate()
            let snapshots = PostgresSnapshotStore(sharingSchemaOf: store)
            let lease = try settings.connectionConfiguration(applicationName: "chronicle-shop")
            var readModels: [String: PostgresReadModel] = [:]
            for model in ShopApp.readModels {
                let readModel = try PostgresReadModel(PostgresShopProjector(model: model), store: store, leaseConnection: lease, logger: logger)
                try await readModel.prepare()
                readModels[model.name] = readModel
            }
            let ordered = ShopApp.readModels.compactMap { readModels[$0.name] }
            let byName = readModels
            let fulfilment = try PostgresProcessManager(Fulfilment(store: store, snapshots: snapshots, inventorySnapshots: inventorySnapshots), store: store, leaseConnection: lease, logger: logger)
            // Appends of other shop processes wake this one's runners (LISTEN/NOTIFY, polling as a fallback).
            let watcher = PostgresHeadWatcher(store: store, connection: lease, logger: logger)
            var runners: [any Service & ProjectionCatalog] = ordered + [fulfilment]
            if let relay {
                runners.append(try PostgresProcessManager(
                    relay, store: store, leaseConnection: lease,
                    options: .init(failurePolicy: EventRelay.failurePolicy, partitioning: try .byStream(relayPartitions), filter: relay.filter), logger: logger
                ))
            }
            return ShopBackend(
                store: store, snapshots: snapshots, services: runners.map { $0 as any Service } + [watcher],
                catalog: CombinedProjectionCatalog(runners.map { $0 as any ProjectionCatalog }),
                fulfilment: fulfilment.engine, readModels: byName,
                query: { name, statement in
                    guard let readModel = byName[name] else { throw ShopBackend.UnknownReadModel(name: name) }
                    return try await readModel.read { connection, tables in
                        let query = statement { tables($0) }
                        let rows = try await connection.statement(
                            PostgresQuery(unsafeSQL: PostgresShopProjector.numbered(query.sql), binds: PostgresShopProjector.bindings(query.arguments)),
                            logger: connection.logger
                        )
                        var result: [[String: JSONValue]] = []
                        for try await row in rows {
                            var fields: [String: JSONValue] = [:]
                            for cell in row { fields[cell.columnName] = try PostgresShopProjector.value(of: cell) }
                            result.append(fields)
                        }
                        return result
                    }
                },
                close: {
                    running.cancel()
                    await running.value
                }
            )
        } catch {
            running.cancel()
            await running.value
            throw error
        }
    }
}

/// What the shop runs on, whichever the ``ShopStorage``.
struct ShopBackend: Sendable {
    /// A query naming a read model that does not exist (a bug in the sample).
    struct UnknownReadModel: Error {
        var name: String
    }

    /// The event store (its appends wake the runners in this process).
    let store: any EventStore & AppendObservable
    /// Where the inventory's snapshots are kept.
    let snapshots: any SnapshotStore
    /// The read models' runners and the saga's, run with the HTTP server.
    let services: [any Service]
    /// Status, parked events and read-your-writes of the read models and the saga.
    let catalog: any ProjectionCatalog
    /// The saga's engine (for waiting until it has reacted to a position).
    let fulfilment: ProjectionEngine
    /// The read models' runners by name: the handles query routes name for read-your-writes.
    let readModels: [String: any ProjectionRunner]
    /// Runs a read model's query (built with its table names) and returns the rows.
    let query: @Sendable (_ readModel: String, _ statement: @escaping @Sendable (ShopTables) -> ShopStatement) async throws -> [[String: JSONValue]]
    /// Closes the store and its connections (after the services stopped).
    let close: @Sendable () async throws -> Void
}

/// A ``ShopReadModel`` in a SQLite read-model file.
struct SQLiteShopProjector: SQLiteProjector {
    let model: any ShopReadModel
    var name: String { model.name }

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        let model = self.model
        migrator.registerMigration("v1") { db in
            for statement in model.schema({ $0 }) { try db.execute(sql: statement) }
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        for statement in try model.statements(for: event, { $0 }) {
            try db.execute(sql: statement.sql, arguments: StatementArguments(statement.arguments.map(Self.databaseValue)))
        }
    }

    static func databaseValue(_ value: JSONValue) -> DatabaseValue {
        switch value {
        case .int(let number): number.databaseValue
        case .double(let number): number.databaseValue
        case .string(let text): text.databaseValue
        case .bool(let flag): flag.databaseValue
        case .null, .array, .object: .null
        }
    }
}

/// A ``ShopReadModel`` in PostgreSQL tables (one generation of a `PostgresReadModel`).
struct PostgresShopProjector: PostgresProjector {
    let model: any ShopReadModel
    var name: String { model.name }

    var migrations: [PostgresReadModelMigration] {
        let model = self.model
        return [PostgresReadModelMigration(1, sql: { tables in model.schema { tables($0) } })]
    }

    func apply(_ events: [RecordedEvent], on connection: PostgresConnection, tables: PostgresReadModelTables) async throws {
        for event in events {
            for statement in try model.statements(for: event, { tables($0) }) {
                try await connection.statement(PostgresQuery(unsafeSQL: Self.numbered(statement.sql), binds: Self.bindings(statement.arguments)), logger: connection.logger)
            }
        }
    }

    /// The statement with PostgreSQL's numbered placeholders (`$1`, `$2`…) for `?` (the
    /// statements have no `?` in literals).
    static func numbered(_ sql: String) -> String {
        var result = ""
        var index = 0
        for character in sql {
            if character == "?" {
                index += 1
                result += "$\(index)"
            } else {
                result.append(character)
            }
        }
        return result
    }

    static func bindings(_ arguments: [JSONValue]) -> PostgresBindings {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument {
            case .int(let number): binds.append(number)
            case .double(let number): binds.append(number)
            case .string(let text): binds.append(text)
            case .bool(let flag): binds.append(flag)
            case .null, .array, .object: binds.appendNull()
            }
        }
        return binds
    }

    static func value(of cell: PostgresCell) throws -> JSONValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .int(try cell.decode(Int64.self))
        case .float4, .float8: return .double(try cell.decode(Double.self))
        case .bool: return .bool(try cell.decode(Bool.self))
        default: return .string(try cell.decode(String.self))
        }
    }
}
