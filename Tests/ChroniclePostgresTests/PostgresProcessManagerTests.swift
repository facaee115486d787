import Chronicle
import ChroniclePostgres
import ChronicleTestSupport
import Foundation
import Synchronization
import Testing

/// Reacts to `Happened` (counted) and `Poison` events by appending `Reacted` to `reaction-<position>`
/// (ids derived from the trigger); throws on `Poison` while `poisoned` is set.
private struct Echo: ProcessManager {
    final class Counters: Sendable {
        let poisoned: Mutex<Bool>
        let reactions = Mutex(0)
        init(poisoned: Bool) { self.poisoned = Mutex(poisoned) }
    }

    let name = "echo"
    let store: PostgresEventStore
    let counters: Counters

    init(store: PostgresEventStore, poisoned: Bool) {
        self.store = store
        self.counters = Counters(poisoned: poisoned)
    }

    func react(to event: RecordedEvent, context: ProcessContext) async throws {
        if event.type == "Happened" { counters.reactions.withLock { $0 += 1 } }
        if event.type == "Poison", counters.poisoned.withLock({ $0 }) { throw CocoaError(.featureUnsupported) }
        guard event.type == "Happened" || event.type == "Poison" else { return }
        let ids = context.eventIDs("reaction")
        do {
            try await store.append(
                EventData(id: ids(), type: "Reacted", payload: Data(event.streamID.rawValue.utf8), metadata: context.metadata),
                to: StreamID("reaction-\(event.position.value)"), expectedVersion: .noStream
            )
        } catch let error as EventStoreError where error.code == .duplicateEventID || error.code == .wrongExpectedVersion {
            // Delivered again: already done.
        }
    }
}

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresProcessManagerTests {
    @Test func reactsOnceToEachEventParksAPoisonOneAndRetriesItAfterAFix() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let echo = Echo(store: store, poisoned: true)
            let runner = try PostgresProcessManager(
                echo, store: store, leaseConnection: try database.connectionConfiguration(applicationName: database.applicationName + "-lease"),
                options: .init(pageSize: 2, failurePolicy: FailurePolicy(maxAttempts: 2, baseDelay: .zero, then: .park), leaseRetryInterval: .milliseconds(50))
            )
            _ = try await store.append([testEvent("Happened"), testEvent("Poison"), testEvent("Happened")], to: "thing-1", expectedVersion: .noStream)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await runner.run() }
                defer { group.cancelAll() }
                let head = try await store.headPosition()
                try await runner.waitUntil(position: head, timeout: .seconds(20))
                // Two reactions appended (one per Happened), the poison parked after two tries.
                #expect(try await store.streams(category: "reaction", after: nil, limit: 10).count == 2)
                let parked = try await runner.parkedEvents()
                #expect(parked.map(\.position) == [GlobalPosition(2)])
                #expect(parked.first?.attempts == 2)
                // Status and the catalog agree, as the read API serves them.
                let status = try #require(try await runner.projectionStatuses().first)
                #expect(status.name == "echo")
                #expect(status.parkedCount == 1)
                #expect(status.position >= head)
                // After a fix, the parked event is retried: it reacts and leaves the dead letters.
                echo.counters.poisoned.withLock { $0 = false }
                try await runner.retryParked(at: GlobalPosition(2))
                #expect(try await runner.parkedEvents().isEmpty)
                #expect(try await store.streams(category: "reaction", after: nil, limit: 10).count == 3)
            }
        }
    }

    @Test func aSecondRunnerStandsByAndTakesOverWithoutReactingTwice() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let lease = try database.connectionConfiguration(applicationName: database.applicationName + "-lease")
            let options = PostgresProcessManager.Options(leaseRetryInterval: .milliseconds(50), leaseHeartbeatInterval: .milliseconds(100))
            let first = Echo(store: store, poisoned: false)
            let second = Echo(store: store, poisoned: false)
            let active = try PostgresProcessManager(first, store: store, leaseConnection: lease, options: options)
            let standby = try PostgresProcessManager(second, store: store, leaseConnection: lease, options: options)
            _ = try await store.append([testEvent("Happened"), testEvent("Happened")], to: "thing-1", expectedVersion: .noStream)
            try await withThrowingTaskGroup(of: Void.self) { group in
                let activeTask = Task { try await active.run() }
                try await active.waitUntil(position: try await store.headPosition(), timeout: .seconds(20))
                group.addTask { try await standby.run() }
                defer { group.cancelAll() }
                try await eventually("the second runner to stand by") { await standby.status().state == .standby }
                #expect(second.counters.reactions.withLock { $0 } == 0)
                activeTask.cancel()
                _ = await activeTask.result
                _ = try await store.append(testEvent("Happened"), to: "thing-2", expectedVersion: .noStream)
                try await standby.waitUntil(position: try await store.headPosition(), timeout: .seconds(20))
                // The standby took over at the checkpoint: it reacted only to the new event.
                #expect(second.counters.reactions.withLock { $0 } == 1)
                #expect(try await store.streams(category: "reaction", after: nil, limit: 10).count == 3)
            }
        }
    }
}
