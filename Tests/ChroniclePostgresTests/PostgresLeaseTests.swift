import Chronicle
import ChroniclePostgres
import ChronicleTestSupport
import Foundation
import PostgresNIO
import Synchronization
import Testing

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresLeaseTests {
    /// Counts holders inside their critical section.
    final class Occupancy: Sendable {
        struct State { var active = 0, maxActive = 0, entries: [String] = [] }
        let state = Mutex(State())
        func enter(_ who: String) {
            state.withLock {
                $0.active += 1
                $0.maxActive = max($0.maxActive, $0.active)
                $0.entries.append(who)
            }
        }
        func leave() { state.withLock { $0.active -= 1 } }
        var snapshot: State { state.withLock { $0 } }
    }

    /// A flag set once, read from other tasks.
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    func lease(_ database: PostgresTestDatabase, name: String, applicationName: String) throws -> PostgresLease {
        PostgresLease(
            name: name, schema: database.schema, connection: try database.connectionConfiguration(applicationName: applicationName),
            retryInterval: .milliseconds(20), heartbeatInterval: .milliseconds(50)
        )
    }

    @Test func contendersTakeTurnsAndNeverOverlap() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let occupancy = Occupancy()
            let contenders = try (0..<4).map { try lease(database, name: "projection.orders", applicationName: "lease-\($0)-\(database.schema)") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, lease) in contenders.enumerated() {
                    group.addTask {
                        try await lease.run {
                            occupancy.enter("contender \(index)")
                            defer { occupancy.leave() }
                            // Real work while holding: several round trips to the server.
                            for i in 0..<5 {
                                try await store.append(testEvent("Worked", "\(index)/\(i)"), to: StreamID(category: "work", id: "\(index)"), expectedVersion: .any)
                            }
                            #expect(lease.isHeld)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let state = occupancy.snapshot
            #expect(state.maxActive == 1)
            #expect(state.entries.count == 4)
            #expect(contenders.allSatisfy { !$0.isHeld })
        }
    }

    @Test func leasesWithDifferentNamesAreIndependent() async throws {
        try await PostgresTestDatabase.withStore { _, database in
            let a = try lease(database, name: "a", applicationName: "lease-a-\(database.schema)")
            let b = try lease(database, name: "b", applicationName: "lease-b-\(database.schema)")
            // b is taken while a is held (a's body waits for it), so this cannot finish unless both hold at once.
            try await a.run {
                try await b.run { #expect(a.isHeld && b.isHeld) }
            }
        }
    }

    @Test func aWaitingContenderTakesOverWhenTheHoldersConnectionDies() async throws {
        try await PostgresTestDatabase.withStore { _, database in
            let holderName = "holder-\(database.schema)"
            let holder = try lease(database, name: "projection.orders", applicationName: holderName)
            let successor = try lease(database, name: "projection.orders", applicationName: "successor-\(database.schema)")
            let holderEntered = Flag(), successorEntered = Flag()
            let holderLost = Flag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        try await holder.run {
                            holderEntered.set()
                            while true { try await Task.sleep(for: .seconds(3600)) }
                        }
                    } catch let error as PostgresLeaseError where error.code == .lost {
                        holderLost.set()
                    }
                }
                try await eventually("the holder holds") { holderEntered.isSet }
                group.addTask {
                    try await successor.run { successorEntered.set() }
                }
                #expect(!successorEntered.isSet)
                #expect(try await database.terminateBackends(applicationName: holderName) == 1)
                try await eventually("the successor takes over") { successorEntered.isSet }
                try await eventually("the holder learns it lost the lease") { holderLost.isSet }
                try await group.waitForAll()
            }
        }
    }

    @Test func aKilledHolderProcessReleasesTheLease() async throws {
        try await PostgresTestDatabase.withStore { _, database in
            let url = try #require(PostgresTestEnvironment.url)
            let child = try WorkerProcess(["lease", url, database.schema.rawValue, "projection.orders"])
            defer { child.killAbruptly() }
            try await eventually("the child holds the lease") { child.stdout.contains("acquired") }
            let successor = try lease(database, name: "projection.orders", applicationName: "successor-\(database.schema)")
            let entered = Flag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await successor.run { entered.set() } }
                // The child is alive and holds it: the successor is still waiting.
                #expect(child.isRunning)
                #expect(!entered.isSet)
                child.killAbruptly()
                try await child.waitForExit()
                try await eventually("the successor takes over from the killed process") { entered.isSet }
                try await group.waitForAll()
            }
        }
    }

    @Test func cancellingAWaitingContenderStopsItWaiting() async throws {
        try await PostgresTestDatabase.withStore { _, database in
            let holder = try lease(database, name: "x", applicationName: "holder-\(database.schema)")
            let waiter = try lease(database, name: "x", applicationName: "waiter-\(database.schema)")
            try await holder.run {
                let waiting = Task { try await waiter.run { "ran" } }
                waiting.cancel()
                await #expect(throws: CancellationError.self) { try await waiting.value }
                #expect(!waiter.isHeld)
            }
        }
    }
}
