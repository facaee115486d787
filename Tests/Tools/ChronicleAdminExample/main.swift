// An application's admin entry point, as the ChronicleCommandLine docs describe it: the `chronicle`
// commands plus this program's read models, so `projections rebuild` and `parked retry` can run
// their projectors. Used by the CLI tests.
import Chronicle
import ChronicleCommandLine
import ChronicleSQLite
import Foundation
import GRDB
import Logging

/// Counts events per type; events of type `Poison` fail to apply (unless CHRONICLE_CURED is set).
struct EventCounts: SQLiteProjector {
    let name = "event-counts"
    let cured: Bool

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("counts-1") { db in
            try db.execute(sql: "CREATE TABLE counts (type TEXT PRIMARY KEY, n INTEGER NOT NULL)")
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        if event.type == "Poison" && !cured { throw PoisonError() }
        try db.execute(sql: "INSERT INTO counts (type, n) VALUES (?, 1) ON CONFLICT (type) DO UPDATE SET n = n + 1", arguments: [event.type])
    }

    struct PoisonError: Error, CustomStringConvertible {
        var description: String { "poison event refused" }
    }
}

let cured = ProcessInfo.processInfo.environment["CHRONICLE_CURED"] != nil
ChronicleCommandLine.register(ReadModelRegistration(name: "event-counts") { store, directory in
    let options = SQLiteReadModel.Options(failurePolicy: FailurePolicy(maxAttempts: 2, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2), then: .park))
    return try SQLiteReadModel(EventCounts(cured: cured), directory: directory, source: .sqlite(store), options: options, logger: Logger(label: "admin-example"))
})
await ChronicleCommandLine.main()
