import Chronicle
import ChroniclePostgres
import ChronicleTestSupport
import Foundation
import PostgresNIO
import Synchronization
import Testing

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresHeadWatcherTests {
    /// The latest head a `headUpdates()` listener has seen.
    final class HeadListener: Sendable {
        let latest = Mutex(GlobalPosition.start)
        var head: GlobalPosition { latest.withLock { $0 } }
    }

    /// Runs `body` with a watcher (on `store`) running and a listener following `headUpdates()`.
    static func withWatcher(
        _ store: PostgresEventStore, _ database: PostgresTestDatabase, connection: PostgresConnection.Configuration,
        pollInterval: Duration, _ body: @Sendable (PostgresHeadWatcher, HeadListener) async throws -> Void
    ) async throws {
        let watcher = PostgresHeadWatcher(store: store, connection: connection, pollInterval: pollInterval, reconnectDelay: .milliseconds(20))
        let listener = HeadListener()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await watcher.run() }
            group.addTask {
                for await head in store.headUpdates() { listener.latest.withLock { $0 = head } }
            }
            defer { group.cancelAll() }
            try await body(watcher, listener)
        }
    }

    @Test func appendsFromAnotherProcessWakeListenersThroughNotify() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            // Another store instance stands for another process: its appends do not touch
            // `store.appendNotifier`, and polling is effectively off, so only NOTIFY can deliver.
            let otherProcess = database.makeStore()
            let name = "listen-\(database.schema)"
            try await Self.withWatcher(store, database, connection: database.connectionConfiguration(applicationName: name), pollInterval: .seconds(3600)) { watcher, listener in
                try await eventually("the watcher listens") { watcher.status.isListening }
                let result = try await otherProcess.append([testEvent(), testEvent()], to: "order-1", expectedVersion: .noStream)
                try await eventually("the listener hears head \(result.position)") { listener.head == result.position }
                let next = try await otherProcess.append(testEvent(), to: "order-1", expectedVersion: .exactly(2))
                try await eventually("the listener hears head \(next.position)") { listener.head == next.position }
                #expect(watcher.status.polls == 0)
            }
        }
    }

    @Test func theWatcherRelistensAfterItsBackendIsTerminated() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let otherProcess = database.makeStore()
            let name = "relisten-\(database.schema)"
            try await Self.withWatcher(store, database, connection: database.connectionConfiguration(applicationName: name), pollInterval: .seconds(3600)) { watcher, listener in
                try await eventually("the watcher listens") { watcher.status.isListening }
                #expect(try await database.terminateBackends(applicationName: name) == 1)
                // While nobody listens, a commit happens; the re-listen must catch it by reading the head.
                let missed = try await otherProcess.append(testEvent(), to: "order-1", expectedVersion: .noStream)
                try await eventually("the watcher listens again") { watcher.status.listenSessions >= 2 && watcher.status.isListening }
                try await eventually("the listener hears the head committed while deaf") { listener.head >= missed.position }
                let after = try await otherProcess.append(testEvent(), to: "order-1", expectedVersion: .exactly(1))
                try await eventually("the listener hears the next notification") { listener.head == after.position }
                #expect(watcher.status.polls == 0)
            }
        }
    }

    @Test func pollingDeliversHeadsWhenListeningIsImpossible() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let otherProcess = database.makeStore()
            var broken = try database.connectionConfiguration(applicationName: "broken")
            broken.password = "not-the-password"
            try await Self.withWatcher(store, database, connection: broken, pollInterval: .milliseconds(50)) { watcher, listener in
                let result = try await otherProcess.append(testEvent(), to: "order-1", expectedVersion: .noStream)
                try await eventually("polling finds head \(result.position)") { listener.head == result.position }
                #expect(!watcher.status.isListening)
                #expect(watcher.status.polls > 0)
            }
        }
    }

    @Test func inProcessAppendsNotifyWithoutAWatcher() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let listener = HeadListener()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for await head in store.headUpdates() { listener.latest.withLock { $0 = head } } }
                defer { group.cancelAll() }
                let result = try await store.append(testEvent(), to: "order-1", expectedVersion: .noStream)
                try await eventually("the listener hears the append") { listener.head == result.position }
            }
        }
    }
}
