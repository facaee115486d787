import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import ChronicleTesting
import Foundation
import GRDB
import Testing

struct SQLiteInboxTests {
    @Test(arguments: InboxConformance.cases)
    func sqliteInboxesConform(_ conformanceCase: InboxConformance.Case) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path("receiver.sqlite")
        // A pool per inbox instance: several connections (as several processes would have) on one file.
        let configuration = {
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            return configuration
        }()
        let setup = try DatabasePool(path: path, configuration: configuration)
        try await setup.write { try $0.execute(sql: "CREATE TABLE effect (event_id TEXT NOT NULL)") }
        try await conformanceCase.run(.init(
            makeInbox: { fails in
                try SQLiteInbox(database: try DatabasePool(path: path, configuration: configuration)) { event, db in
                    try db.execute(sql: "INSERT INTO effect VALUES (?)", arguments: [event.id.uuidString])
                    if fails(event) { throw InboxConformance.HandlerFailure() }
                }
            },
            effects: { try await setup.read { try String.fetchAll($0, sql: "SELECT event_id FROM effect") }.compactMap(UUID.init(uuidString:)) }
        ))
    }
}
