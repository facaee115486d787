import Chronicle
import ChronicleTestSupport
import Foundation
import Synchronization
import Testing

@testable import ChroniclePostgres

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresConnectionLossTests {
    @Test func theStoreKeepsWorkingAfterItsPooledBackendsAreTerminated() async throws {
        try await PostgresTestDatabase.withStore(maximumConnections: 4) { store, database in
            try await store.append(testEvent(), to: "order-1", expectedVersion: .noStream)
            // Hold four pooled connections at once (each statement lasts 200 ms on the server), so
            // the pool has backends to terminate besides the one asking.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 { group.addTask { for try await _ in try await database.client.query("SELECT pg_sleep(0.2)") {} } }
                try await group.waitForAll()
            }
            #expect(try await database.terminateBackends(applicationName: database.applicationName) >= 1)
            // Each call either succeeds or fails with a typed error; none may hang.
            try await eventually("the store reads again", timeout: .seconds(30)) {
                do {
                    return try await store.readAll(after: .start, limit: 10).count == 1
                } catch let error as EventStoreError {
                    _ = error.code
                    return false
                }
            }
            try await store.append(testEvent(), to: "order-1", expectedVersion: .exactly(1))
            #expect(try await store.headPosition() == 2)
        }
    }

    /// Every pooled statement (reads, `execute`, `scalar`) leases through `withRows`. A statement
    /// that fails after the server has described its rows (division by zero at the first row)
    /// comes back in one read; `PostgresClient.query` leaks its connection for ever when that read
    /// is handled before the caller's task has attached to the statement's future, which a busy
    /// machine makes likely (with the pooled reads on `PostgresClient.query`, 4 of 7 runs of this
    /// test under four busy processes hung on the exhausted pool). 8 tasks × 100 such statements on
    /// a two-connection pool, then the store still reads.
    @Test func statementsFailingAfterTheirRowsAreDescribedGiveTheirConnectionBack() async throws {
        try await PostgresTestDatabase.withStore(maximumConnections: 2) { store, _ in
            try await store.append(testEvent(), to: "order-1", expectedVersion: .noStream)
            let failures = Mutex(0)
            let readBack = Mutex<Int?>(nil)
            let work = Task {
                let failed = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<8 {
                        group.addTask {
                            var failed = 0
                            for _ in 0..<100 {
                                do {
                                    try await store.withRows("SELECT 1 / (0 * x) FROM generate_series(1, 5) AS x", []) { rows in
                                        for try await _ in rows {}
                                    }
                                } catch {
                                    #expect(PostgresFailure.sqlState(of: error) == "22012", "\(String(reflecting: error))")
                                    failed += 1
                                }
                            }
                            return failed
                        }
                    }
                    return try await group.reduce(0, +)
                }
                failures.withLock { $0 = failed }
                let count = try await store.readAll(after: .start, limit: 10).count
                readBack.withLock { $0 = count }
            }
            // A leaked lease hangs the task rather than failing it: wait with a deadline, never on
            // the task itself.
            try await eventually("800 failed statements, then a read, on a two-connection pool", timeout: .seconds(60)) {
                readBack.withLock { $0 } != nil
            }
            try await work.value
            #expect(failures.withLock { $0 } == 800)
            #expect(readBack.withLock { $0 } == 1)
            #expect(try await store.headPosition() == 1)
        }
    }
}
