import Chronicle
import ChroniclePostgres
import ChronicleTestSupport
import Foundation
import PostgresNIO
import Testing

// Several processes run the same projection; the lease lets exactly one work, the fenced
// checkpoint (committed with the projection's writes) lets a successor continue exactly where
// the dead one committed last.
@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresCompetingRunnersTests {
    static func createProjectedTable(_ database: PostgresTestDatabase) async throws {
        try await database.client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \"\(database.schema.rawValue)\".projected (position bigint NOT NULL, event_id uuid NOT NULL, runner text NOT NULL)"))
    }

    static func projectedRows(_ database: PostgresTestDatabase) async throws -> [(position: Int64, runner: String)] {
        var rows: [(Int64, String)] = []
        let result = try await database.client.query(PostgresQuery(unsafeSQL: "SELECT position, runner FROM \"\(database.schema.rawValue)\".projected ORDER BY position"))
        for try await row in result.decode((Int64, String).self) { rows.append(row) }
        return rows
    }

    @Test func aSuccessorProcessContinuesFromTheCheckpointWhenTheActiveProjectorIsKilled() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            try await Self.createProjectedTable(database)
            let url = try #require(PostgresTestEnvironment.url)
            let checkpoints = PostgresCheckpointStore(sharingSchemaOf: store)
            let runners = try ["a", "b"].map { try WorkerProcess(["project", url, database.schema.rawValue, "orders-view", $0]) }
            defer { for runner in runners { runner.killAbruptly() } }
            try await eventually("one runner holds the lease") { runners.contains { $0.stdout.contains("acquired") } }
            #expect(runners.filter { $0.stdout.contains("acquired") }.count == 1)
            let active = runners.firstIndex { $0.stdout.contains("acquired") }!
            let standby = 1 - active

            let total: Int64 = 240
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Appends keep arriving while the active runner is killed mid-flight.
                for writer in 0..<4 {
                    group.addTask {
                        for i in 0..<Int(total) / 4 {
                            try await store.append(testEvent("OrderPlaced", "\(writer)/\(i)"), to: StreamID(category: "order", id: "\(writer)"), expectedVersion: .any)
                        }
                    }
                }
                try await eventually("the active runner has committed some pages") { try await checkpoints.position(of: "orders-view").value >= 40 }
                runners[active].killAbruptly()
                try await runners[active].waitForExit()
                try await eventually("the standby takes over") { runners[standby].stdout.contains("acquired") }
                try await group.waitForAll()
            }
            try await eventually("the successor reaches the head") { try await checkpoints.position(of: "orders-view").value == total }

            let rows = try await Self.projectedRows(database)
            #expect(rows.map(\.position) == Array(1...total), "every event projected exactly once")
            let byRunner = Dictionary(grouping: rows, by: \.runner)
            #expect(byRunner.keys.count == 2, "both runners did part of the work")
            #expect(runners[standby].isRunning)
        }
    }

    @Test func aStaleRunnerIsFencedAndItsEffectsRolledBack() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            try await Self.createProjectedTable(database)
            let checkpoints = PostgresCheckpointStore(sharingSchemaOf: store)
            let table = "\"\(database.schema.rawValue)\".projected"
            for i in 1...5 { try await store.append(testEvent("E", "\(i)"), to: "order-1", expectedVersion: .any) }
            try await checkpoints.advance("view", from: .start, to: 5) { connection in
                try await connection.statement(PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES (5, gen_random_uuid(), 'new')"), logger: connection.logger)
            }
            // A runner that read the checkpoint at 0 before the other one moved it.
            await #expect {
                try await checkpoints.advance("view", from: .start, to: 3) { connection in
                    try await connection.statement(PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES (3, gen_random_uuid(), 'stale')"), logger: connection.logger)
                }
            } throws: { ($0 as? PostgresLeaseError)?.code == .fenced }
            #expect(try await checkpoints.position(of: "view") == 5)
            #expect(try await Self.projectedRows(database).map(\.runner) == ["new"])
            await #expect {
                try await checkpoints.advance("view", from: 5, to: 4) { _ in }
            } throws: { ($0 as? EventStoreError)?.code == .invalidArgument }
            try await checkpoints.reset("view")
            #expect(try await checkpoints.position(of: "view") == .start)
        }
    }

    @Test func followingCommitsEachPageWithItsCheckpointAndStopsWhereAsked() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            try await Self.createProjectedTable(database)
            let checkpoints = PostgresCheckpointStore(sharingSchemaOf: store)
            let table = "\"\(database.schema.rawValue)\".projected"
            try await store.append((1...10).map { testEvent("E", "\($0)") }, to: "order-1", expectedVersion: .noStream)
            struct Boom: Error {}
            // A failing page is applied event by event: the events before the failing one commit,
            // the checkpoint stays just before it (without a failure policy: stop at once).
            await #expect(throws: Boom.self) {
                try await checkpoints.follow("view", pageSize: 4) { events, connection in
                    try await connection.statement(PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES (\(events[0].position.value), gen_random_uuid(), 'x')"), logger: connection.logger)
                    if events.contains(where: { $0.position == 6 }) { throw Boom() }
                }
            }
            #expect(try await checkpoints.position(of: "view") == 5)
            #expect(try await Self.projectedRows(database).map(\.position) == [1, 5])
            try await checkpoints.follow("view", pageSize: 4, stopAt: 10) { events, connection in
                try await connection.statement(PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES (\(events[0].position.value), gen_random_uuid(), 'x')"), logger: connection.logger)
            }
            #expect(try await checkpoints.position(of: "view") == 10)
            #expect(try await Self.projectedRows(database).map(\.position) == [1, 5, 6, 10])
        }
    }
}
