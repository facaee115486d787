import Chronicle
import ChroniclePostgres
import ChronicleSQLite
import Foundation
import Logging
import PostgresNIO

/// A store the commands opened: a SQLite file, or a PostgreSQL database given by URL.
struct OpenedStore: Sendable {
    /// The store, for everything the commands do through the `EventReader`/`EventWriter` API.
    let store: any EventStore
    /// The SQLite store, for the commands that exist only there (file size, integrity check,
    /// read models); `nil` on PostgreSQL.
    let sqlite: SQLiteEventStore?
    /// The PostgreSQL store, for the commands that read its read models; `nil` on SQLite.
    var postgres: PostgresEventStore? = nil
    private let closeBody: @Sendable () async throws -> Void
    private let updatesBody: @Sendable (Duration) -> AsyncStream<GlobalPosition>

    /// Where the store lives, for messages.
    let description: String

    static func sqlite(_ store: SQLiteEventStore) -> OpenedStore {
        OpenedStore(
            store: store, sqlite: store, closeBody: { try await store.close() },
            updatesBody: { store.headUpdates(pollInterval: $0) }, description: store.path
        )
    }

    /// Connects to PostgreSQL at `url` (schema `schema`), creating or upgrading its tables.
    static func postgres(url: String, schema: String, connectTimeout: Duration) async throws -> OpenedStore {
        let settings = try PostgresConnectionSettings(url: url)
        let schemaName = try PostgresSchemaName(schema)
        var logger = Logger(label: "chronicle.cli.postgres")
        logger.logLevel = .warning
        let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-cli", maximumConnections: 4), backgroundLogger: logger)
        let running = Task { await client.run() }
        let store = PostgresEventStore(client: client, schema: schemaName, logger: logger)
        do {
            // The pool retries a refused connection for a long time; a command should not.
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask { try await store.migrate(); return true }
                group.addTask { try await Task.sleep(for: connectTimeout); return false }
                let migrated = try await group.next() ?? false
                group.cancelAll()
                if !migrated {
                    throw CLIError("Cannot reach PostgreSQL at \(settings.host):\(settings.port) within \(connectTimeout); check the URL and that the server runs (or raise --connect-timeout).")
                }
            }
        } catch {
            running.cancel()
            throw error
        }
        return OpenedStore(
            store: store, sqlite: nil, postgres: store,
            closeBody: { running.cancel(); await running.value },
            updatesBody: { interval in Self.polledHead(of: store, every: interval) },
            description: "PostgreSQL \(settings.host):\(settings.port)/\(settings.database) (schema \(schemaName))"
        )
    }

    /// Closes the store (and its connections).
    func close() async throws { try await closeBody() }

    /// The head after each change seen: in-process appends at once, other processes' appends by
    /// polling every `interval`.
    func headUpdates(pollInterval interval: Duration) -> AsyncStream<GlobalPosition> { updatesBody(interval) }

    /// Head positions read every `interval` (for PostgreSQL; the SQLite store has its own
    /// `data_version` poll).
    private static func polledHead(of reader: some EventReader, every interval: Duration) -> AsyncStream<GlobalPosition> {
        AsyncStream { continuation in
            let task = Task {
                var last: GlobalPosition?
                while !Task.isCancelled {
                    if let head = try? await reader.headPosition(), head != last {
                        last = head
                        continuation.yield(head)
                    }
                    try? await Task.sleep(for: interval)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
