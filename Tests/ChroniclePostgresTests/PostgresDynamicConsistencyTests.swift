import Chronicle
import ChronicleTesting
import Foundation
import PostgresNIO
import Testing

@testable import ChroniclePostgres

/// Conditional appends on PostgreSQL: races of tasks and of processes for the last seat of a
/// course, and the query plans of tag queries.
@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresDynamicConsistencyTests {
    @Test func sixteenTasksRacingForTheLastSeatLetExactlyOneCommitEachRound() async throws {
        try await PostgresTestDatabase.withStore(maximumConnections: 20) { store, _ in
            let winners = try await LastSeatRace.run(store, rounds: 200, contenders: 16)
            #expect(winners.count == 200)
            #expect(winners.allSatisfy { $0 == 1 }, "rounds with other than one winner: \(winners.enumerated().filter { $0.element != 1 }.map(\.offset))")
            for round in [0, 99, 199] {
                #expect(try await LastSeatRace.subscriptions(store, course: "race-\(round)") == 3)
            }
        }
    }

    @Test func twoProcessesRacingForTheLastSeatLetExactlyOneCommitEachRound() async throws {
        let url = try #require(PostgresTestEnvironment.url)
        try await PostgresTestDatabase.withStore { store, database in
            let rounds = 200
            let workers = try ["p1", "p2"].map { try WorkerProcess(["seats", url, database.schema.rawValue, "\(rounds)", "4", $0]) }
            var won = 0, decisions = 0
            for worker in workers {
                let result = try await worker.waitForExit(timeout: .seconds(600))
                #expect(result.status == 0, "worker failed: \(result.stderr)")
                let line = worker.stdout.split(separator: "\n").last { $0.hasPrefix("seats ") }
                won += line.flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? -1_000
                decisions += line.flatMap { $0.split(separator: " ").last.flatMap { Int($0) } } ?? 0
            }
            // Every round, all 8 contenders read the free seat before any appended: 7 lost the
            // race (their conditions failed) and decided again.
            #expect(decisions >= (8 + 7) * rounds, "decisions made: \(workers.map(\.stdout))")
            #expect(won == rounds, "seats won by both processes: \(workers.map(\.stdout))")
            for round in 0..<rounds {
                let taken = try await LastSeatRace.subscriptions(store, course: "mp-\(round)")
                #expect(taken == 3, "course mp-\(round) has \(taken) subscriptions")
            }
        }
    }

    @Test func tagQueriesSearchTheTagIndex() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            // Enough rows that the planner prefers the index to a sequential scan.
            for batch in 0..<20 {
                let events = (0..<250).map { index in
                    EventData(type: index % 2 == 0 ? "A" : "B", payload: Data("{}".utf8), tags: ["t:\(batch * 250 + index)", "g:\(index % 10)"])
                }
                try await store.append(events, to: StreamID(unchecked: "bulk-\(batch)"), expectedVersion: .noStream)
            }
            let schema = database.schema.rawValue
            try await database.client.query(PostgresQuery(unsafeSQL: "ANALYZE \"\(schema)\".event_tags"))
            try await database.client.query(PostgresQuery(unsafeSQL: "ANALYZE \"\(schema)\".events"))
            #expect(try await store.readEvents(matching: EventQuery(types: ["A"], tags: ["t:42", "g:2"]), after: .start, limit: 10).map(\.position) == [43])
            let sql = PostgresSQL(schema: database.schema)
            for query in [EventQuery(tags: ["t:42"]), EventQuery(types: ["A"], tags: ["t:42", "g:2"]), EventQuery([.init(tags: ["t:42"]), .init(tags: ["t:43", "g:3"])])] {
                var binds = PostgresBindings()
                binds.append(Int64(0))
                binds.append(Int64.max)
                binds.append(Int64(1))
                for value in PostgresSQL.queryValues(query) {
                    switch value {
                    case .tag(let tag): binds.append(tag)
                    case .types(let types): binds.append(types)
                    }
                }
                let plan = try await explain(database, sql.queryPositions(query), binds)
                #expect(plan.contains("event_tags_pk"), "\(query): \(plan)")
                #expect(!plan.contains("Seq Scan"), "\(query): \(plan)")
            }
        }
    }

    private func explain(_ database: PostgresTestDatabase, _ sql: String, _ binds: PostgresBindings) async throws -> String {
        var lines: [String] = []
        for try await line in try await database.client.query(PostgresQuery(unsafeSQL: "EXPLAIN " + sql, binds: binds)).decode(String.self) { lines.append(line) }
        return lines.joined(separator: "\n")
    }
}
