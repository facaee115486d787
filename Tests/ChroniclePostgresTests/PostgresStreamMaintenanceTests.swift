import Chronicle
import ChroniclePostgres
import ChronicleTesting
import Foundation
import PostgresNIO
import Testing

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresStreamMaintenanceTests {
    @Test(arguments: StreamMaintenanceConformance.cases)
    func postgresStoresMaintainStreams(_ conformanceCase: StreamMaintenanceConformance.Case) async throws {
        try await PostgresTestDatabase.withStore { _, database in
            let clock = StreamMaintenanceConformance.Clock()
            try await conformanceCase.run(.init(store: database.makeStore(now: clock.now), clock: clock))
        }
    }

    /// A read model that passed the scavenged range keeps its counts; a rebuild afterwards counts
    /// only what the policy kept (the PostgreSQL twin of the SQLite store's test).
    @Test func readModelsPastTheRangeAreUnaffectedAndARebuildFollowsThePolicy() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let model = try PostgresReadModelTests.makeModel(database, store: store, name: "sensor-counts", pageSize: 20)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await model.run() }
                defer { group.cancelAll() }
                for index in 1...3 {
                    try await store.append((0..<10).map { _ in testEvent("Reading") }, to: StreamID(category: "sensor", id: "\(index)"), expectedVersion: .noStream)
                }
                try await model.waitUntil(position: try await store.headPosition(), timeout: .seconds(30))
                let report = try await store.scavenge(policies: [RetentionPolicy(category: "sensor", maxCount: 4)])
                #expect(report.erasedEvents == 18)
                let last = try await store.append(testEvent("Reading"), to: "sensor-1", expectedVersion: .exactly(10))
                try await model.waitUntil(position: last.position, timeout: .seconds(30))
                #expect(try await Self.counts(model) == [11, 10, 10])
                _ = try await model.rebuild()
                try await model.waitUntil(position: last.position, timeout: .seconds(30))
                #expect(try await Self.counts(model) == [5, 4, 4])
            }
        }
    }

    /// The per-stream counts of the serving generation, in stream order.
    static func counts(_ model: PostgresReadModel) async throws -> [Int64] {
        try await model.read { connection, tables in
            var counts: [Int64] = []
            let rows = try await connection.statement(PostgresQuery(unsafeSQL: "SELECT count FROM \(tables("totals")) ORDER BY stream"), logger: connection.logger)
            for try await count in rows.decode(Int64.self) { counts.append(count) }
            return counts
        }
    }
}
