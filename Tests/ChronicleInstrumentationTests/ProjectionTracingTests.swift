import Chronicle
import ChronicleSQLite
import Foundation
import GRDB
import InMemoryTracing
import Logging
import Testing

/// Counts events in a table.
struct CountingProjector: SQLiteProjector {
    let name = "traced-counts"
    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("1") { db in try db.execute(sql: "CREATE TABLE n (id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL)") }
    }
    func apply(_ event: RecordedEvent, in db: Database) throws {
        try db.execute(sql: "INSERT INTO n (id, count) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET count = count + 1")
    }
}

@Suite struct ProjectionTracingTests {
    @Test func eachProjectionPageRunsInASpanNamingItsProjectionAndPositions() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-trace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteEventStore(path: directory.appendingPathComponent("events.sqlite").path)
        let tracer = InMemoryTracer()
        let model = try SQLiteReadModel(
            CountingProjector(), directory: directory.path, source: .sqlite(store),
            options: .init(pageSize: 4, tracer: tracer), logger: Logger(label: "test")
        )
        let events = (1...10).map { _ in EventData(type: "Tick", payload: Data("{}".utf8)) }
        let result = try await store.append(events, to: "clock-1", expectedVersion: .noStream)
        let runner = Task { try await model.run() }
        try await model.waitUntil(position: result.position, timeout: .seconds(30))
        runner.cancel()
        _ = try? await runner.value

        let pages = tracer.finishedSpans.filter { $0.operationName == "chronicle.projection.page" && $0.attributes["chronicle.event_count"] != nil }
        #expect(pages.count == 3)  // 4 + 4 + 2 events
        #expect(pages.allSatisfy { $0.attributes["chronicle.projection"]?.toSpanAttribute() == .string("traced-counts") })
        #expect(pages.map { $0.attributes["chronicle.event_count"]?.toSpanAttribute() } == [.int64(4), .int64(4), .int64(2)])
        #expect(pages.last?.attributes["chronicle.position"]?.toSpanAttribute() == .int64(10))
        try await store.close()
    }
}
