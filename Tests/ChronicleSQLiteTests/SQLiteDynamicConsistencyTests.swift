import Chronicle
import ChronicleTestSupport
import ChronicleTesting
import Foundation
import GRDB
import Testing

@testable import ChronicleSQLite

/// Conditional appends on SQLite: races in one process, across processes and inside group
/// commit; the query plans; a store made by schema version 1 opening and migrating.
@Suite struct SQLiteDynamicConsistencyTests {
    @Test func sixteenTasksRacingForTheLastSeatLetExactlyOneCommitEachRound() async throws {
        try await withTemporaryStore { store, _ in
            let winners = try await LastSeatRace.run(store, rounds: 200, contenders: 16)
            #expect(winners.count == 200)
            #expect(winners.allSatisfy { $0 == 1 }, "rounds with other than one winner: \(winners.enumerated().filter { $0.element != 1 }.map(\.offset))")
            for round in [0, 99, 199] {
                #expect(try await LastSeatRace.subscriptions(store, course: "race-\(round)") == 3)
            }
        }
    }

    @Test func racesInsideGroupCommitFailOnlyTheLosingAppends() async throws {
        try await withTemporaryStore { store, _ in
            // Each round, 4 courses with one seat left and 4 contenders each, all at once. Every
            // other round another connection holds the write lock until all 16 contenders have
            // read the free seat and queued their appends, so the writer certainly batches
            // winners and losers of different courses into one transaction (the free rounds
            // batch however the scheduler lets them).
            var lockerConfiguration = GRDB.Configuration()
            lockerConfiguration.allowsUnsafeTransactions = true
            let locker = try DatabaseQueue(path: store.path, configuration: lockerConfiguration)
            defer { try? locker.close() }
            let contenders = 16
            for round in 0..<200 {
                let courses = (0..<4).map { "gc-\(round)-\($0)" }
                for course in courses { try await LastSeatRace.openWithOneSeatLeft(store, course: course) }
                let locked = round.isMultiple(of: 2)
                let before = store.groupCommitStatistics
                if locked { try locker.inDatabase { db in try db.execute(sql: "BEGIN EXCLUSIVE") } }
                let race = Task {
                    try await withThrowingTaskGroup(of: (String, Bool).self) { group in
                        for course in courses {
                            for contender in 0..<4 {
                                group.addTask { (course, try await LastSeatRace.tryToTakeSeat(store, course: course, student: "s\(contender)").tookSeat) }
                            }
                        }
                        var won: [String: Int] = [:]
                        for try await (course, took) in group where took { won[course, default: 0] += 1 }
                        return won
                    }
                }
                if locked {
                    // One transaction waits in BEGIN IMMEDIATE with what had arrived; the rest queue.
                    try await eventually("round \(round): all \(contenders) appends in the blocked transaction or queued") {
                        let now = store.groupCommitStatistics
                        return now.transactions - before.transactions == 1 && now.appendCalls - before.appendCalls + now.queuedAppendCalls == contenders
                    }
                    try locker.inDatabase { db in try db.execute(sql: "ROLLBACK") }
                }
                let won = try await race.value
                #expect(courses.allSatisfy { won[$0] == 1 }, "round \(round): winners \(won)")
            }
            // A locked round's 16 calls went in at most two transactions: one carried at least 8.
            #expect(store.groupCommitStatistics.largestBatch >= contenders / 2, "\(store.groupCommitStatistics)")
        }
    }

    @Test func aFailingConditionInAGroupCommitBatchFailsOnlyItsOwnCall() async throws {
        try await withTemporaryStore { store, _ in
            try await store.append(EventData(type: "UserRegistered", payload: Data("{}".utf8), tags: ["username:ada"]), to: "user-1", expectedVersion: .noStream)
            let taken = AppendCondition(failIfEventsMatch: EventQuery(tags: ["username:ada"]), after: nil)
            let free = AppendCondition(failIfEventsMatch: EventQuery(tags: ["username:bob"]), after: nil)
            func register(_ name: String, _ stream: StreamID, _ condition: AppendCondition) -> [StreamAppend] {
                [StreamAppend([EventData(type: "UserRegistered", payload: Data("{}".utf8), tags: ["username:\(name)"])], to: stream, expectedVersion: .noStream, condition: condition)]
            }
            // Three calls in one transaction, as the writer thread batches them: bob, ada (taken),
            // bob again (taken by the first call of the same transaction).
            let calls = [register("bob", "user-2", free), register("ada", "user-3", taken), register("bob", "user-4", free)]
            let path = store.path
            let (outcomes, head) = try await store.pool.writeWithoutTransaction { db in
                try SQLiteAppendTransaction.run(calls, in: db, path: path, recordedAt: 0)
            }
            #expect(head == 2)
            #expect((try? outcomes[0].get())?.first?.position == 2)
            #expect(throws: EventStoreError.self) { try outcomes[1].get() }
            #expect((try? outcomes[1].get()) == nil)
            if case .failure(let error) = outcomes[1] { #expect(error.code == .appendConditionFailed && error.position == 1) }
            if case .failure(let error) = outcomes[2] { #expect(error.code == .appendConditionFailed && error.position == 2) } else { Issue.record("the second bob committed") }
            #expect(try await store.headPosition() == 2)
            #expect(try await store.readStream("user-3").isEmpty)
            #expect(try await store.readEvents(matching: EventQuery(tags: ["username:bob"]), after: .start, limit: 10).map(\.streamID) == ["user-2"])
        }
    }

    @Test func twoProcessesRacingForTheLastSeatLetExactlyOneCommitEachRound() async throws {
        try await withTemporaryStore { store, _ in
            let rounds = 200
            let outputs = try await withThrowingTaskGroup(of: String.self) { group in
                for tag in ["p1", "p2"] {
                    group.addTask {
                        let result = try await ChildProcess.run(try builtProduct("ChronicleStoreStress"), ["seats", store.path, "\(rounds)", "4", tag])
                        #expect(result.status == 0, "ChronicleStoreStress seats \(tag) exited with \(result.status): \(result.stderr)")
                        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                    }
                }
                var outputs: [String] = []
                for try await output in group { outputs.append(output) }
                return outputs
            }
            // Each prints `seats <won> <decisions>`.
            let won = outputs.compactMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } }
            #expect(won.count == 2, "outputs: \(outputs)")
            #expect(won.reduce(0, +) == rounds, "seats won by both processes: \(outputs)")
            // Every round, all 8 contenders read the free seat before any appended: 7 lost the
            // race (their conditions failed) and decided again.
            let decisions = outputs.compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
            #expect(decisions >= (8 + 7) * rounds, "decisions made: \(outputs)")
            for round in 0..<rounds {
                let taken = try await LastSeatRace.subscriptions(store, course: "mp-\(round)")
                #expect(taken == 3, "course mp-\(round) has \(taken) subscriptions")
            }
        }
    }

    @Test func queryAndConditionStatementsUseTheTagIndex() async throws {
        try await withTemporaryStore { store, _ in
            try await LastSeatRace.openWithOneSeatLeft(store, course: "c1")
            let queries = [
                EventQuery(tags: ["course:c1"]),
                EventQuery(types: ["StudentSubscribed"], tags: ["course:c1", "student:s1"]),
                EventQuery([.init(tags: ["course:c1"]), .init(types: ["CourseOpened"], tags: ["course:c2"])]),
            ]
            let queue = try DatabaseQueue(path: store.path, configuration: readOnlyConfiguration())
            defer { try? queue.close() }
            for query in queries {
                let built = SQLiteEventQuery(query)
                for sql in [built.positionsSQL, built.eventsSQL] {
                    let plan = try await queue.read { db in
                        let parameters = sql.filter { $0 == "?" }.count
                        return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: StatementArguments(Array(repeating: "1", count: parameters)))
                            .map { $0["detail"] as String? ?? "" }
                    }
                    // Scanning a subquery's rows (at most the limit per item, to merge the items
                    // of a UNION) is fine; scanning a table is not.
                    for step in plan where step.hasPrefix("SCAN") {
                        #expect(step.hasPrefix("SCAN (subquery-"), "\(query) scans a table: \(plan)")
                    }
                    #expect(plan.contains { $0.hasPrefix("SEARCH t0 USING PRIMARY KEY (tag=? AND position>? AND position<?)") }, "\(query) does not search the tag index: \(plan)")
                }
            }
        }
    }

    @Test func aStoreMadeBySchemaVersion1OpensMigratesAndKeepsItsEvents() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path("v1.sqlite")
        // A version-1 store, as the previous Chronicle made it.
        let queue = try DatabaseQueue(path: path)
        try await queue.writeWithoutTransaction { db in
            try db.execute(sql: SQLiteSchema.migrations[0])
            try db.execute(sql: "PRAGMA application_id = \(SQLiteSchema.applicationID); PRAGMA user_version = 1")
            try db.execute(sql: "INSERT INTO categories (category_key, name) VALUES (1, 'order')")
            try db.execute(sql: "INSERT INTO streams (stream_key, stream_id, category_key, version, last_position) VALUES (1, 'order-1', 1, 1, 1)")
            try db.execute(
                sql: "INSERT INTO events (position, stream_key, stream_version, category_key, event_id, type, schema_version, payload, metadata, recorded_at) VALUES (1, 1, 1, 1, ?, 'OrderPlaced', 1, ?, NULL, 0)",
                arguments: [Data(repeating: 7, count: 16), Data("{}".utf8)])
        }
        try queue.close()
        let salvaged = try SQLiteEventStore.salvageEvents(path: path) { _ in }
        #expect(salvaged.eventsRead == 1)
        let store = try SQLiteEventStore(path: path, configuration: .quiet())
        #expect(try await store.readAll(after: .start, limit: 10).map(\.tags) == [[]])
        try await store.append(EventData(type: "OrderShipped", payload: Data("{}".utf8), tags: ["order:1"]), to: "order-1", expectedVersion: .exactly(1))
        #expect(try await store.readEvents(matching: EventQuery(tags: ["order:1"]), after: .start, limit: 10).map(\.position) == [2])
        try await store.close()
        let version = try await DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") }
        #expect(version == SQLiteSchema.currentVersion)
    }

    private func readOnlyConfiguration() -> GRDB.Configuration {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        return configuration
    }
}
