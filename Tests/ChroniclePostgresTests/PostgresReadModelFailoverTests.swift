import Chronicle
import ChroniclePostgres
import ChronicleTestSupport
import Foundation
import PostgresNIO
import Synchronization
import Testing

// Two processes run the same PostgresReadModel: one runs it, the other stands by; killing the
// runner (SIGKILL, no clean-up) lets the standby take over from the last committed checkpoint.
@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresReadModelFailoverTests {
    /// The rows of the worker projector's table in the serving generation.
    static func projectedRows(_ database: PostgresTestDatabase, model name: String) async throws -> [(position: Int64, runner: String)] {
        let schema = "\"\(database.schema.rawValue)\""
        var binds = PostgresBindings()
        binds.append(name)
        let serving = try await database.client.query(PostgresQuery(unsafeSQL: "SELECT serving FROM \(schema).read_models WHERE name = $1", binds: binds))
            .decode(Int64.self).first { _ in true }
        guard let serving else { return [] }
        var rows: [(Int64, String)] = []
        let result = try await database.client.query(PostgresQuery(unsafeSQL: "SELECT position, runner FROM \"\(database.schema.rawValue)_rm\(serving)\".projected ORDER BY seq"))
        for try await row in result.decode((Int64, String).self) { rows.append(row) }
        return rows
    }

    @Test func theStandbyProcessTakesOverWhenTheRunnerIsKilled() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let url = try #require(PostgresTestEnvironment.url)
            let checkpoints = PostgresCheckpointStore(sharingSchemaOf: store)
            let first = try WorkerProcess(["read-model", url, database.schema.rawValue, "orders-view", "a"])
            defer { first.killAbruptly() }
            try await eventually("the first process runs the read model") { first.stdout.contains("running") }
            let second = try WorkerProcess(["read-model", url, database.schema.rawValue, "orders-view", "b"])
            defer { second.killAbruptly() }
            try await eventually("the second process stands by") { second.stdout.contains("standby") }
            #expect(!second.stdout.contains("running"))

            let total: Int64 = 240
            let serving = try await database.client.query(PostgresQuery(unsafeSQL: "SELECT serving FROM \"\(database.schema.rawValue)\".read_models"))
                .decode(Int64.self).first { _ in true }
            let consumer = "orders-view.rm\(try #require(serving))"
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for i in 0..<Int(total) / 4 {
                            try await store.append(testEvent("OrderPlaced", "\(writer)/\(i)"), to: StreamID(category: "order", id: "\(writer)"), expectedVersion: .any)
                        }
                    }
                }
                try await eventually("the runner has committed some pages") { try await checkpoints.position(of: consumer).value >= 40 }
                first.killAbruptly()
                try await first.waitForExit()
                try await eventually("the standby takes over") { second.stdout.contains("running") }
                try await group.waitForAll()
            }
            try await eventually("the successor reaches the head") { try await checkpoints.position(of: consumer).value == total }

            // Equal to a clean replay: every event exactly once, in log order.
            let rows = try await Self.projectedRows(database, model: "orders-view")
            #expect(rows.map(\.position) == Array(1...total))
            #expect(Set(rows.map(\.runner)) == ["a", "b"], "both processes did part of the work")
            #expect(second.isRunning)
        }
    }

    /// The projection conformance suite's crash case on PostgreSQL read models: runner processes
    /// killed with SIGKILL at random moments, at least 20 times.
    @Test func postgresReadModelsSurviveRandomKills() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let url = try #require(PostgresTestEnvironment.url)
            let count = 1_000
            for batch in 0..<(count / 10) {
                let events = (0..<10).map { testEvent("OrderPlaced", "\(batch)/\($0)") }
                try await store.append(events, to: StreamID(category: "order", id: "\(batch % 7)"), expectedVersion: .any)
            }
            let checkpoints = PostgresCheckpointStore(sharingSchemaOf: store)
            let runners = Atomic<Int>(0)
            try await ProjectionConformance.runnersKilledAtRandomMomentsLeaveAModelEqualToACleanReplay(
                kills: 20,
                .init(
                    eventCount: count,
                    startRunner: { pageSize in
                        let id = runners.add(1, ordering: .relaxed).newValue
                        let worker = try WorkerProcess(["read-model", url, database.schema.rawValue, "killed-view", "r\(id)", "\(pageSize)"])
                        return .init(kill: {
                            worker.killAbruptly()
                            try await worker.waitForExit()
                        })
                    },
                    committed: {
                        let serving = try await database.client.query(
                            PostgresQuery(unsafeSQL: "SELECT serving FROM \"\(database.schema.rawValue)\".read_models WHERE name = 'killed-view'")
                        ).decode(Int64.self).first { _ in true }
                        guard let serving else { return GlobalPosition(0) }
                        return try await checkpoints.position(of: "killed-view.rm\(serving)")
                    },
                    applied: { try await Self.projectedRows(database, model: "killed-view").map { GlobalPosition($0.position) } }
                )
            )
        }
    }
}
