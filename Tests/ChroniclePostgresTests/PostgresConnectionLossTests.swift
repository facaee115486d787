import Chronicle
import ChroniclePostgres
import ChronicleTestSupport
import Foundation
import Testing

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
}
