import Chronicle
import ChroniclePostgres
import ChronicleTestSupport
import ChronicleSQLite
import Foundation
import GRDB
import Logging
import Testing

/// Counts events per stream into a SQLite read model.
private struct StreamCountProjector: SQLiteProjector {
    let name = "pg-stream-counts"

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("counts-1") { db in
            try db.execute(sql: "CREATE TABLE counts (stream TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL)")
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        try db.execute(sql: "INSERT INTO counts (stream, n) VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1", arguments: [event.streamID.rawValue])
    }
}

// The projection runner of ChronicleSQLite reads a PostgreSQL log: the watcher turns other
// processes' commits into wake-ups on the store's notifier, which `ProjectionSource.observing`
// follows.
@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresProjectionSourceTests {
    @Test func aSQLiteReadModelFollowsAppendsFromAnotherProcessThroughTheWatcher() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-pg-projection-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await PostgresTestDatabase.withStore { store, database in
            let url = try #require(PostgresTestEnvironment.url)
            // Polling effectively off: only NOTIFY can wake the runner for the other process's appends.
            let watcher = PostgresHeadWatcher(store: store, connection: try database.connectionConfiguration(applicationName: "projection-\(database.schema)"), pollInterval: .seconds(3600))
            let model = try SQLiteReadModel(StreamCountProjector(), directory: directory.path, source: .observing(store), logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await watcher.run() }
                group.addTask { try await model.run() }
                defer { group.cancelAll() }
                try await eventually("the watcher listens") { watcher.status.isListening }
                let writer = try WorkerProcess(["append", url, database.schema.rawValue, "9", "40"])
                #expect(try await writer.waitForExit().status == 0)
                let head = try await store.headPosition()
                #expect(head == 40)
                try await model.waitUntil(position: head, timeout: .seconds(30))
                let counts = try await model.read { db in try Int.fetchOne(db, sql: "SELECT sum(n) FROM counts") }
                #expect(counts == 40)
            }
        }
    }
}
