import ChronicleHTTP
import ChronicleHTTPTestSupport
import ChronicleSQLite
import Foundation
import ServiceLifecycle
import Synchronization
import Testing

/// Fails on events of type `Poison`, records the others.
struct RecordingManager: ProcessManager {
    let name = "recorder"
    let seen: Seen

    final class Seen: Sendable {
        private let positions = Mutex<[GlobalPosition]>([])
        func add(_ position: GlobalPosition) { positions.withLock { $0.append(position) } }
        var all: [GlobalPosition] { positions.withLock { $0 } }
    }

    func react(to event: RecordedEvent, context: ProcessContext) async throws {
        if event.type == "Poison" { throw EventStoreError(.invalidEvent, "cannot react to poison") }
        seen.add(event.position)
    }
}

@Suite struct SQLiteProcessManagerTests {
    @Test func aFailingEventIsRetriedThenParkedAndTheCheckpointSurvivesARestart() async throws {
        let directory = NSTemporaryDirectory() + "chronicle-pm-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteEventStore(path: directory + "/events.sqlite")
        try await store.append([jsonEvent("Fine", "{}"), jsonEvent("Poison", "{}"), jsonEvent("Fine", "{}")], to: "thing-1", expectedVersion: .noStream)

        let seen = RecordingManager.Seen()
        let policy = FailurePolicy(maxAttempts: 3, baseDelay: .zero, maxDelay: .zero, then: .park)
        let runner = try SQLiteProcessManager(RecordingManager(seen: seen), path: directory + "/recorder.sqlite", source: .observing(store), failurePolicy: policy, sleep: { _ in }, logger: quietLogger)
        let group = ServiceGroup(services: [runner], logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await runner.waitUntil(position: 3, timeout: .seconds(20))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(seen.all == [1, 3])
        let parked = try await runner.parkedEvents()
        #expect(parked.map(\.position) == [2])
        #expect(parked.first?.attempts == 3)
        #expect(await runner.status().parkedCount == 1)

        // A new runner on the same file resumes after its checkpoint: nothing is delivered twice.
        try await store.append(jsonEvent("Fine", "{}"), to: "thing-1", expectedVersion: .exactly(3))
        let restarted = try SQLiteProcessManager(RecordingManager(seen: seen), path: directory + "/recorder.sqlite", source: .observing(store), failurePolicy: policy, sleep: { _ in }, logger: quietLogger)
        #expect(await restarted.status().position == 3)
        let again = ServiceGroup(services: [restarted], logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await again.run() }
            try await restarted.waitUntil(position: 4, timeout: .seconds(20))
            await again.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(seen.all == [1, 3, 4])
        try await store.close()
    }
}
