public import Chronicle
import Foundation
public import PostgresNIO

/// Projects events into PostgreSQL tables: what a ``PostgresReadModel`` runs.
///
/// The projector never spells a schema itself: its migrations and its `apply` name every table
/// through the ``PostgresReadModelTables`` they are given. That is what lets a rebuild fill a
/// fresh copy of the tables (a new *generation*, in its own schema) while the old one keeps
/// serving queries, then swap them atomically.
///
/// ```swift
/// struct OrderTotals: PostgresProjector {
///     let name = "order-totals"
///     let migrations = [
///         PostgresReadModelMigration(1, sql: { tables in
///             ["CREATE TABLE \(tables("totals")) (stream text PRIMARY KEY, count bigint NOT NULL)"]
///         }),
///     ]
///     func apply(_ events: [RecordedEvent], on connection: PostgresConnection, tables: PostgresReadModelTables) async throws {
///         for event in events {
///             var binds = PostgresBindings()
///             binds.append(event.streamID.rawValue)
///             try await connection.statement(PostgresQuery(
///                 unsafeSQL: "INSERT INTO \(tables("totals")) VALUES ($1, 1) ON CONFLICT (stream) DO UPDATE SET count = \(tables("totals")).count + 1",
///                 binds: binds), logger: connection.logger)
///         }
///     }
/// }
/// ```
public protocol PostgresProjector: Sendable {
    /// The projection's name: its checkpoints, dead letters, lease and generations are keyed by it.
    /// 1 to 100 characters `A-Z a-z 0-9 _ - .`.
    var name: String { get }

    /// The numbered migrations creating (then changing) the tables, in increasing version order.
    /// Each new generation runs all of them; the serving one runs those it has not run yet.
    var migrations: [PostgresReadModelMigration] { get }

    /// Applies a page of events (in position order) on `connection`, inside the transaction that
    /// also moves the checkpoint: everything commits together or not at all. Throwing rolls the
    /// page back; the runner then applies its events one at a time to find the failing one, and
    /// retries or parks it under the read model's ``FailurePolicy``.
    func apply(_ events: [RecordedEvent], on connection: PostgresConnection, tables: PostgresReadModelTables) async throws
}

/// Names the tables of one generation of a read model: `tables("totals")` is the quoted,
/// schema-qualified name `"chronicle_rm7"."totals"`, ready to splice into SQL.
public struct PostgresReadModelTables: Sendable, Hashable {
    /// The generation's schema name (unquoted), `<store schema>_rm<generation>`.
    public let schemaName: String
    /// The generation number.
    public let generation: Int64

    init(storeSchema: PostgresSchemaName, generation: Int64) {
        self.schemaName = "\(storeSchema.rawValue)_rm\(generation)"
        self.generation = generation
    }

    /// The generation's schema, double-quoted (for `CREATE FUNCTION`, types and the like).
    public var schema: String { Self.quote(schemaName) }

    /// The schema-qualified, double-quoted name of `table` in this generation. Any text is quoted
    /// safely; PostgreSQL identifiers longer than 63 bytes are truncated by the server, so keep
    /// table names short.
    public func callAsFunction(_ table: String) -> String {
        "\(schema).\(Self.quote(table))"
    }

    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// One numbered step of a ``PostgresProjector``'s schema, run in a transaction on a new
/// generation (or on the serving one when it has not run it yet).
public struct PostgresReadModelMigration: Sendable {
    /// The version, from 1, increasing by one step at a time. Never change a shipped migration;
    /// add the next version (or rebuild the read model after changing them).
    public let version: Int
    let run: @Sendable (PostgresConnection, PostgresReadModelTables) async throws -> Void

    /// A migration running `run` on the migration's transaction connection.
    public init(_ version: Int, run: @escaping @Sendable (PostgresConnection, PostgresReadModelTables) async throws -> Void) {
        self.version = version
        self.run = run
    }

    /// A migration running the statements `sql` returns, in order.
    public init(_ version: Int, sql: @escaping @Sendable (PostgresReadModelTables) -> [String]) {
        self.version = version
        self.run = { connection, tables in
            for statement in sql(tables) {
                try await connection.statement(PostgresQuery(unsafeSQL: statement), logger: connection.logger)
            }
        }
    }
}
