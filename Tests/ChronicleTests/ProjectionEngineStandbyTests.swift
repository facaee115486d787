import Chronicle
import ChronicleTesting
import Foundation
import Synchronization
import Testing

/// A standby instance re-reads the checkpoints now and then (the PostgreSQL lease loop). When it
/// takes over while such a read is in flight, the read must not replace the positions its own
/// run committed since: a stopped PostgreSQL read model once showed position 0 over a stored 3.
@Suite struct ProjectionEngineStandbyTests {
    @Test func aStandbyRefreshThatFinishesAfterTheRunStartedDoesNotMoveItsPositionsBack() async throws {
        let store = InMemoryEventStore()
        for index in 1...3 {
            try await store.append([EventData(type: "Noted", payload: Data("{}".utf8))], to: StreamID("note-\(index)"), expectedVersion: .any)
        }
        let storage = GatedStorage()
        let engine = try ProjectionEngine(name: "notes", storage: storage, source: .observing(store))
        try await storage.initialize(partitions: 1, at: .start)
        engine.setStandby(true)

        // The standby poll reads the stored checkpoint (0) and is held before it applies it.
        storage.holdNextCheckpointRead()
        let refresh = Task { try await engine.refreshWhileIdle() }
        try await eventually("the standby poll has read the checkpoint") { storage.heldReads == 1 }

        // Meanwhile this instance takes over and applies the log.
        let run = Task { try await engine.run() }
        defer { run.cancel() }
        try await engine.waitUntil(position: GlobalPosition(3), timeout: .seconds(30))

        storage.releaseHeldRead()
        try await refresh.value
        #expect(engine.status().position == GlobalPosition(3))
        #expect(storage.stored == GlobalPosition(3))
    }

    @Test func aStandbyRefreshFollowsTheRunnersCheckpointWhileIdle() async throws {
        let store = InMemoryEventStore()
        let storage = GatedStorage()
        let engine = try ProjectionEngine(name: "notes", storage: storage, source: .observing(store))
        try await storage.initialize(partitions: 1, at: .start)
        try await storage.commit([], partition: 0, from: .start, to: GlobalPosition(7))  // another process ran it
        engine.setStandby(true)
        try await engine.refreshWhileIdle()
        #expect(engine.status().position == GlobalPosition(7))
        #expect(engine.status().state == .standby)
    }
}

/// A one-partition storage in memory whose next checkpoint read can be held after it has read.
private final class GatedStorage: ProjectionStorage {
    private struct State {
        var checkpoint: GlobalPosition?
        var applied: [GlobalPosition] = []
        var holdNext = false
        var held: [CheckedContinuation<Void, Never>] = []
        var heldCount = 0
    }
    private let state = Mutex(State())

    var stored: GlobalPosition? { state.withLock { $0.checkpoint } }
    var heldReads: Int { state.withLock { $0.heldCount } }

    func holdNextCheckpointRead() { state.withLock { $0.holdNext = true } }

    func releaseHeldRead() {
        let waiting = state.withLock { state in
            defer { state.held = [] }
            return state.held
        }
        for continuation in waiting { continuation.resume() }
    }

    func checkpoints(partitions: Int) async throws -> [GlobalPosition]? {
        let (value, hold) = state.withLock { state in
            defer { state.holdNext = false }
            return (state.checkpoint, state.holdNext)
        }
        if hold {
            await withCheckedContinuation { continuation in
                state.withLock { state in
                    state.held.append(continuation)
                    state.heldCount += 1
                }
            }
        }
        return value.map { [$0] }
    }

    func initialize(partitions: Int, at position: GlobalPosition) async throws {
        state.withLock { $0.checkpoint = position }
    }

    func startPosition() async throws -> GlobalPosition { .start }

    func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition) async throws {
        try state.withLock { state in
            guard state.checkpoint == from else { throw ProjectionCheckpointConflict(stored: state.checkpoint) }
            state.applied += events.map(\.position)
            state.checkpoint = to
        }
    }

    func park(_ event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date, from: GlobalPosition) async throws -> Int {
        try await commit([], partition: partition, from: from, to: event.position)
        return 0
    }

    func parkedCount() async throws -> Int { 0 }
    func parkedEvents(after position: GlobalPosition, limit: Int) async throws -> [ParkedEvent] { [] }
    func parkedEvent(at position: GlobalPosition) async throws -> ParkedEvent? { nil }
    func applyParked(_ event: RecordedEvent) async throws -> Int { 0 }
    func recordParkedFailure(at position: GlobalPosition, error: String, at date: Date) async throws {}
    func dropParked(at position: GlobalPosition) async throws -> Int? { nil }
}
