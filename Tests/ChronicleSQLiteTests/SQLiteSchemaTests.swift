import Chronicle
import Foundation
import GRDB
import Testing

@testable import ChronicleSQLite

@Suite struct SQLiteSchemaTests {
    static let indexedStatements: [(String, String)] = [
        ("readStreamForwards", SQLiteStatements.readStreamForwards),
        ("readStreamBackwards", SQLiteStatements.readStreamBackwards),
        ("readAll", SQLiteStatements.readAll),
        ("readCategory", SQLiteStatements.readCategory),
        ("listStreams", SQLiteStatements.listStreams),
        ("listStreamsInCategory", SQLiteStatements.listStreamsInCategory),
        ("streamVersion", SQLiteStatements.streamVersion),
        ("selectStreamForAppend", SQLiteStatements.selectStreamForAppend),
        ("selectEventByID", SQLiteStatements.selectEventByID),
        ("selectCategoryKey", SQLiteStatements.selectCategoryKey),
        ("headPosition", SQLiteStatements.headPosition),
        ("updateStream", SQLiteStatements.updateStream),
    ]

    @Test(arguments: indexedStatements.map(\.0))
    func everyStatementIsAnIndexSearchWithoutScanOrSort(name: String) async throws {
        let sql = Self.indexedStatements.first { $0.0 == name }!.1
        try await withTemporaryStore { store, _ in
            try await store.append([event(), event()], to: "order-1", expectedVersion: .noStream)
            let queue = try DatabaseQueue(path: store.path, configuration: readOnly())
            defer { try? queue.close() }
            let plan = try await queue.read { db in
                let parameters = sql.filter { $0 == "?" }.count
                return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: StatementArguments(Array(repeating: 1, count: parameters)))
                    .map { $0["detail"] as String? ?? "" }
            }
            #expect(!plan.isEmpty)
            for step in plan {
                #expect(!step.contains("SCAN"), "\(name) scans: \(plan)")
                #expect(!step.contains("TEMP B-TREE"), "\(name) sorts: \(plan)")
            }
        }
    }

    @Test func theSchemaVersionIsTheNumberOfMigrations() {
        #expect(SQLiteEventStore.schemaVersion == SQLiteSchema.migrations.count)
        #expect(SQLiteEventStore.schemaVersion >= 1)
    }

    @Test func tablesAreStrictAndConstraintsNamed() async throws {
        try await withTemporaryStore { store, _ in
            let queue = try DatabaseQueue(path: store.path, configuration: readOnly())
            defer { try? queue.close() }
            let tables = try await queue.read { db in
                try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
                    .map { ($0["name"] as String, $0["sql"] as String) }
            }
            #expect(tables.map(\.0) == ["archived_ranges", "categories", "event_tags", "events", "retention_policies", "store_properties", "streams"])
            for (name, sql) in tables {
                #expect(sql.hasSuffix("STRICT") || sql.hasSuffix("STRICT, WITHOUT ROWID"), "\(name) is not STRICT")
            }
            let events = tables.first { $0.0 == "events" }!.1
            #expect(events.contains("position INTEGER PRIMARY KEY"))
            #expect(!events.contains("AUTOINCREMENT"))
            for constraint in ["events_event_id_unique", "events_stream_version_unique", "events_stream_fk"] {
                #expect(events.contains("CONSTRAINT \(constraint)"))
            }
        }
    }
}
