// A helper process for the projection crash tests of ChronicleSQLite: runs a projection over a
// store file until it is killed.
//
// Usage: ChronicleProjectionCrash <store-path> <read-model-directory> <page-size> <block-at-position> <marker-path>
//        ChronicleProjectionCrash record <store-path> <read-model-directory> <page-size>
//
// The projector is the tests' `CounterProjector` (same table, same SQL: keep them in step). When
// it is about to apply the event at <block-at-position> (0 = never) it creates <marker-path> and
// blocks forever inside the page's write transaction, so the parent can SIGKILL it mid-page.
// Otherwise it runs until the read model reaches the store's head, then exits 0.
import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import Logging

ChildProcess.exitWhenOrphaned()  // a crashed test run leaves no helper process behind

struct CounterProjector: SQLiteProjector {
    let name = "counters"
    let blockAt: GlobalPosition
    let markerPath: String

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE counter (
                    stream TEXT NOT NULL PRIMARY KEY,
                    events INTEGER NOT NULL,
                    total INTEGER NOT NULL,
                    last_version INTEGER NOT NULL
                )
                """)
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        if event.position == blockAt {
            _ = FileManager.default.createFile(atPath: markerPath, contents: Data("\(event.position)".utf8))
            while true { sleep(60) }
        }
        let amount = Int64(String(decoding: event.payload, as: UTF8.self)) ?? 0
        let last = try Int64.fetchOne(db, sql: "SELECT last_version FROM counter WHERE stream = ?", arguments: [event.streamID.rawValue]) ?? 0
        guard event.streamVersion.value > last else {
            throw DatabaseError(message: "event \(event.position) applied twice")
        }
        try db.execute(
            sql: """
                INSERT INTO counter (stream, events, total, last_version) VALUES (?, 1, ?, ?)
                ON CONFLICT (stream) DO UPDATE SET events = events + 1, total = total + excluded.total, last_version = excluded.last_version
                """,
            arguments: [event.streamID.rawValue, amount, event.streamVersion.value]
        )
    }
}

/// The `record` mode's projector (the crash conformance case's): records every position it applies
/// in table `applied`, in order, so a double or missing application shows.
struct PositionRecorder: SQLiteProjector {
    let name = "recorded"

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in try db.execute(sql: "CREATE TABLE applied (position INTEGER NOT NULL)") }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        try db.execute(sql: "INSERT INTO applied (position) VALUES (?)", arguments: [event.position.value])
    }
}

let arguments = CommandLine.arguments
if arguments.count == 5, arguments[1] == "record", let pageSize = Int(arguments[4]) {
    // Runs the recorder until killed (the parent decides when: this mode never exits by itself).
    do {
        var configuration = SQLiteEventStore.Configuration()
        configuration.logger = Logger(label: "projection-crash", factory: { _ in SwiftLogNoOpLogHandler() })
        let store = try SQLiteEventStore(path: arguments[2], configuration: configuration)
        let model = try SQLiteReadModel(
            PositionRecorder(), directory: arguments[3], source: .polling(store, interval: .milliseconds(20)),
            options: .init(pageSize: pageSize), logger: configuration.logger
        )
        try await model.run()
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("ChronicleProjectionCrash record: \(error)\n".utf8))
        exit(1)
    }
}
guard arguments.count == 6, let pageSize = Int(arguments[3]), let blockAt = Int64(arguments[4]) else {
    FileHandle.standardError.write(Data("usage: ChronicleProjectionCrash <store-path> <read-model-directory> <page-size> <block-at-position> <marker-path>\n".utf8))
    exit(2)
}
let logger = Logger(label: "projection-crash", factory: { _ in SwiftLogNoOpLogHandler() })

do {
    var configuration = SQLiteEventStore.Configuration()
    configuration.logger = logger
    let store = try SQLiteEventStore(path: arguments[1], configuration: configuration)
    let head = try await store.headPosition()
    let model = try SQLiteReadModel(
        CounterProjector(blockAt: GlobalPosition(blockAt), markerPath: arguments[5]), directory: arguments[2],
        source: .observing(store), options: .init(pageSize: pageSize), logger: logger
    )
    let runner = Task { try await model.run() }
    try await model.waitUntil(position: head, timeout: .seconds(600))
    runner.cancel()
    try await runner.value
    print("done \(head)")
    exit(0)
} catch {
    FileHandle.standardError.write(Data("ChronicleProjectionCrash: \(error)\n".utf8))
    exit(1)
}
