import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import ChronicleTesting
import Foundation
import GRDB
import Logging
import Testing

@Suite struct SQLiteStreamMaintenanceTests {
    @Test(arguments: StreamMaintenanceConformance.cases)
    func sqliteStoresMaintainStreams(_ conformanceCase: StreamMaintenanceConformance.Case) async throws {
        let clock = StreamMaintenanceConformance.Clock()
        var configuration = SQLiteEventStore.Configuration.quiet()
        configuration.now = clock.now
        try await withTemporaryStore(configuration: configuration) { store, _ in
            try await conformanceCase.run(.init(store: store, clock: clock))
        }
    }

    /// A scavenge overwrites what it erases: neither the file nor its WAL holds the payloads.
    @Test func scavengedPayloadsAreGoneFromTheFileAndItsWAL() async throws {
        try await withTemporaryStore { store, _ in
            let secrets = (0..<20).map { "retired-secret-\($0)-\(UUID().uuidString)" }
            for (index, secret) in secrets.enumerated() {
                try await store.append(EventData(type: "Reading", payload: Data(#"{"value":"\#(secret)"}"#.utf8), metadata: EventMetadata(custom: ["note": secret])), to: "sensor-1", expectedVersion: index == 0 ? .noStream : .any)
            }
            let kept = "kept-\(UUID().uuidString)"
            try await store.append(EventData(type: "Reading", payload: Data(#"{"value":"\#(kept)"}"#.utf8)), to: "sensor-1", expectedVersion: .exactly(20))
            let report = try await store.scavenge(policies: [RetentionPolicy(category: "sensor", maxCount: 1)])
            #expect(report.erasedEvents == 20)
            try await eventually("the WAL is truncated") { try await store.checkpoint() }
            for file in [store.path, store.path + "-wal"] {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
                for secret in secrets { #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(secret) found in \(file)") }
            }
            let file = try Data(contentsOf: URL(fileURLWithPath: store.path))
            #expect(file.range(of: Data(kept.utf8)) != nil, "the kept event is still there")
        }
    }

    /// A projection that counts events per stream: one that passed the scavenged range keeps its
    /// counts; a rebuild afterwards counts only what the policy kept.
    @Test func projectionsPastTheRangeAreUnaffectedAndARebuildFollowsThePolicy() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .quiet())
        try FileManager.default.createDirectory(atPath: directory.path("models"), withIntermediateDirectories: true)
        let model = try SQLiteReadModel(EventCounts(), directory: directory.path("models"), source: .observing(store), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let running = Task { try await model.run() }
        defer { running.cancel() }
        for index in 1...3 { try await store.append((0..<10).map { _ in event("Reading") }, to: StreamID(category: "sensor", id: "\(index)"), expectedVersion: .noStream) }
        try await model.waitUntil(position: try await store.headPosition(), timeout: .seconds(20))
        let report = try await store.scavenge(policies: [RetentionPolicy(category: "sensor", maxCount: 4)])
        #expect(report.erasedEvents == 18)
        let last = try await store.append(event("Reading"), to: "sensor-1", expectedVersion: .exactly(10))
        try await model.waitUntil(position: last.position, timeout: .seconds(20))
        #expect(try await model.read { db in try Int.fetchOne(db, sql: "SELECT n FROM counts WHERE stream = 'sensor-1'") } == 11)
        _ = try await model.rebuild()
        try await model.waitUntil(position: last.position, timeout: .seconds(20))
        #expect(try await model.read { db in try Int.fetchAll(db, sql: "SELECT n FROM counts ORDER BY stream") } == [5, 4, 4])
        running.cancel()
        _ = try? await running.value
        try await store.close()
    }
}

/// Counts events per stream.
struct EventCounts: SQLiteProjector {
    let name = "event-counts"

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in try db.execute(sql: "CREATE TABLE counts (stream TEXT PRIMARY KEY, n INTEGER NOT NULL)") }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        try db.execute(sql: "INSERT INTO counts (stream, n) VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1", arguments: [event.streamID.rawValue])
    }
}
