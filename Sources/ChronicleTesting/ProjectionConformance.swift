public import Chronicle
import Foundation
import Synchronization

/// The behaviour every ``ProjectionStorage`` must show, alone and under the ``ProjectionEngine``,
/// as named cases any test framework can run (the projection counterpart of
/// ``EventStoreConformance``).
///
/// A backend's test gives each case a fresh ``Fixture``: an empty storage whose projector records
/// the position of every event it applies (so double or missing applications show) and throws for
/// the positions the case poisons.
///
/// ```swift
/// @Test(arguments: ProjectionConformance.cases)
/// func sqliteReadModelsConform(_ conformanceCase: ProjectionConformance.Case) async throws {
///     try await conformanceCase.run { name, partitions in try makeFixture(name, partitions) }
/// }
/// ```
public enum ProjectionConformance {
    /// A fresh projection storage and how to watch its effects.
    public struct Fixture: Sendable {
        /// The storage under test, empty (never initialized).
        public var storage: any ProjectionStorage
        /// The positions whose effect is visible, in the order they were applied (a position twice
        /// means an event applied twice).
        public var applied: @Sendable () async throws -> [GlobalPosition]
        /// Makes applying the given positions throw (an empty set heals).
        public var poison: @Sendable (Set<GlobalPosition>) -> Void

        /// Creates a fixture.
        public init(
            storage: any ProjectionStorage, applied: @escaping @Sendable () async throws -> [GlobalPosition],
            poison: @escaping @Sendable (Set<GlobalPosition>) -> Void
        ) {
            self.storage = storage
            self.applied = applied
            self.poison = poison
        }
    }

    /// Makes a fresh fixture for a projection named `name` with `partitions` partitions.
    public typealias MakeFixture = @Sendable (_ name: String, _ partitions: Int) async throws -> Fixture

    /// One named behaviour; run it with fixtures from a ``MakeFixture``.
    public typealias Case = ConformanceCase<MakeFixture>

    /// Every case, in a stable order.
    public static let cases: [Case] = storageCases + engineCases

    // MARK: Helpers

    /// `count` recorded events at positions 1…count, spread over `streams` streams of category `item`.
    static func events(_ count: Int, streams: Int = 3) -> [RecordedEvent] {
        (1...max(1, count)).prefix(count).map { n in
            RecordedEvent(
                id: UUID(), streamID: StreamID(category: "item", id: "\(n % streams)"), streamVersion: StreamVersion(Int64(n)),
                position: GlobalPosition(Int64(n)), type: n % 2 == 0 ? "Even" : "Odd", schemaVersion: 1, payload: Data("{}".utf8),
                metadata: .none, recordedAt: Date(timeIntervalSince1970: 0)
            )
        }
    }

    /// A log of `count` events in an in-memory store (streams `item-0`…, `other-0` for every fifth).
    static func log(_ count: Int) async throws -> InMemoryEventStore {
        let store = InMemoryEventStore()
        for n in 1...count {
            let stream = n % 5 == 0 ? StreamID(category: "other", id: "0") : StreamID(category: "item", id: "\(n % 3)")
            _ = try await store.append([EventData(type: n % 2 == 0 ? "Even" : "Odd", payload: Data("{\"n\":\(n)}".utf8))], to: stream, expectedVersion: .any)
        }
        return store
    }

    static func positions(_ range: ClosedRange<Int64>, except skipped: Set<Int64> = []) -> [GlobalPosition] {
        range.filter { !skipped.contains($0) }.map { GlobalPosition($0) }
    }

    /// Runs `engine` while `body` runs, then stops it.
    static func whileRunning(_ engine: ProjectionEngine, _ body: () async throws -> Void) async throws {
        let running = Task { try await engine.run() }
        do {
            try await body()
        } catch {
            running.cancel()
            _ = try? await running.value
            throw error
        }
        running.cancel()
        try await running.value
    }

    static let fastRetries = FailurePolicy(maxAttempts: 3, baseDelay: .zero, then: .park)
    static let noSleep: @Sendable (Duration) async throws -> Void = { _ in try Task.checkCancellation() }
}

// MARK: - The storage alone

extension ProjectionConformance {
    static let storageCases: [Case] = [
        Case("aFreshStorageHasNoCheckpointsUntilInitializedAtItsStart") { check, make in
            let fixture = try await make("fresh", 2)
            try check.equal(try await fixture.storage.checkpoints(partitions: 2), nil, "checkpoints before initialize")
            try await fixture.storage.initialize(partitions: 2, at: 7)
            try check.equal(try await fixture.storage.checkpoints(partitions: 2), [7, 7], "checkpoints after initialize at 7")
            try check.equal(try await fixture.storage.startPosition(), 7, "the recorded start")
            try await fixture.storage.initialize(partitions: 2, at: 9)
            try check.equal(try await fixture.storage.checkpoints(partitions: 2), [7, 7], "a second initialize changes nothing")
        },
        Case("aCommitAppliesItsEventsAndMovesTheCheckpointTogether") { check, make in
            let fixture = try await make("commit", 1)
            try await fixture.storage.initialize(partitions: 1, at: .start)
            let page = events(4)
            try await fixture.storage.commit(page, partition: 0, from: .start, to: 6)
            try check.equal(try await fixture.applied(), positions(1...4), "applied positions")
            try check.equal(try await fixture.storage.checkpoints(partitions: 1), [6], "checkpoint (past filtered-out events)")
        },
        Case("aCommitFromAStaleCheckpointConflictsAndAppliesNothing") { check, make in
            let fixture = try await make("stale", 1)
            try await fixture.storage.initialize(partitions: 1, at: .start)
            try await fixture.storage.commit(Array(events(2)), partition: 0, from: .start, to: 2)
            do {
                try await fixture.storage.commit(Array(events(3).suffix(1)), partition: 0, from: 1, to: 3)
                throw check.failure("a commit from checkpoint 1 while it is at 2 succeeded")
            } catch is ProjectionCheckpointConflict {}
            try check.equal(try await fixture.applied(), positions(1...2), "applied positions after the conflict")
            try check.equal(try await fixture.storage.checkpoints(partitions: 1), [2], "checkpoint after the conflict")
        },
        Case("aFailingEventNamesItsIndexAndOnlyACommittedPrefixTakesEffect") { check, make in
            let fixture = try await make("failing", 1)
            try await fixture.storage.initialize(partitions: 1, at: .start)
            fixture.poison([3])
            do {
                try await fixture.storage.commit(events(5), partition: 0, from: .start, to: 5)
                throw check.failure("a page with a poisoned event committed")
            } catch let failure as ProjectionApplyFailure {
                try check.equal(failure.index, 2, "index of the failing event")
                let reached = failure.committedThrough ?? .start
                try check.expect(reached <= 2, "committedThrough \(reached) is before the failing event")
                try check.equal(try await fixture.applied(), positions(1...2).filter { $0 <= reached }, "applied positions after the failure")
                try check.equal(try await fixture.storage.checkpoints(partitions: 1), [reached], "checkpoint after the failure")
            }
        },
        Case("parkingMovesTheCheckpointPastTheEventAndKeepsItForRetryOrDrop") { check, make in
            let fixture = try await make("parking", 1)
            let storage = fixture.storage
            try await storage.initialize(partitions: 1, at: .start)
            let page = events(3)
            fixture.poison([2, 3])
            let date = Date(timeIntervalSince1970: 1_000)
            try await storage.commit([page[0]], partition: 0, from: .start, to: 1)
            try check.equal(try await storage.park(page[1], partition: 0, error: "boom", attempts: 3, at: date, from: 1), 1, "parked count")
            try check.equal(try await storage.park(page[2], partition: 0, error: "bang", attempts: 2, at: date, from: 2), 2, "parked count")
            try check.equal(try await storage.checkpoints(partitions: 1), [3], "checkpoint past the parked events")
            try check.equal(try await storage.parkedCount(), 2, "parked count")
            let parked = try await storage.parkedEvents(after: .start, limit: 10)
            try check.equal(parked.map(\.position), [2, 3], "parked positions")
            try check.equal(parked.map(\.eventID), [page[1].id, page[2].id], "parked ids")
            try check.equal(parked.map(\.attempts), [3, 2], "parked attempts")
            try check.equal(parked.map(\.error), ["boom", "bang"], "parked errors")
            try check.equal(try await storage.parkedEvents(after: 2, limit: 10).map(\.position), [3], "parked after 2")
            try check.equal(try await storage.parkedEvent(at: 2)?.streamID, page[1].streamID, "parked event at 2")
            try check.equal(try await storage.parkedEvent(at: 1), nil, "no parked event at 1")
            // Still failing: nothing changes but the attempt count.
            do {
                _ = try await storage.applyParked(page[1])
                throw check.failure("a parked event that still throws was applied")
            } catch is ProjectionApplyFailure {}
            try await storage.recordParkedFailure(at: 2, error: "boom again", at: date)
            try check.equal(try await storage.parkedEvent(at: 2)?.attempts, 4, "attempts after a failed retry")
            try check.equal(try await fixture.applied(), [1], "applied after a failed retry")
            fixture.poison([])
            try check.equal(try await storage.applyParked(page[1]), 1, "parked count after a retry")
            try check.equal(try await fixture.applied(), [1, 2], "applied after the retry")
            try check.equal(try await storage.dropParked(at: 3), 0, "parked count after a drop")
            try check.equal(try await storage.dropParked(at: 3), nil, "dropping again")
            try check.equal(try await fixture.applied(), [1, 2], "a dropped event is never applied")
        },
        Case("partitionsKeepCheckpointsOfTheirOwn") { check, make in
            let fixture = try await make("partitions", 3)
            try await fixture.storage.initialize(partitions: 3, at: .start)
            try await fixture.storage.commit([], partition: 1, from: .start, to: 10)
            try await fixture.storage.commit([], partition: 2, from: .start, to: 4)
            try check.equal(try await fixture.storage.checkpoints(partitions: 3), [0, 10, 4], "partition checkpoints")
        },
    ]
}

// MARK: - Under the engine

extension ProjectionConformance {
    static let engineCases: [Case] = [
        Case("theEngineAppliesEveryEventOnceAndParksAPoisonWhileLaterEventsApply") { check, make in
            let fixture = try await make("engine-park", 1)
            let log = try await log(30)
            fixture.poison([12])
            let engine = try ProjectionEngine(
                name: "engine-park", storage: fixture.storage, source: .observing(log),
                options: .init(pageSize: 7, failurePolicy: fastRetries, sleep: noSleep)
            )
            try await whileRunning(engine) { try await engine.waitUntil(position: 30, timeout: .seconds(30)) }
            try check.equal(try await fixture.applied(), positions(1...30, except: [12]), "applied positions")
            try check.equal(engine.status().parkedCount, 1, "parked count")
            try check.equal(try await fixture.storage.parkedEvents(after: .start, limit: 10).map(\.attempts), [3], "attempts of the parked event")
            fixture.poison([])
            try await engine.retryParked(at: 12)
            try check.equal(try await fixture.applied().sorted(), positions(1...30), "applied after retrying the parked event")
            try check.equal(engine.status().parkedCount, 0, "parked count after the retry")
        },
        Case("aCatalogRetriesAndDropsParkedEventsByProjectionName") { check, make in
            let fixture = try await make("engine-catalog", 1)
            let log = try await log(10)
            fixture.poison([3, 6])
            let engine = try ProjectionEngine(
                name: "engine-catalog", storage: fixture.storage, source: .observing(log),
                options: .init(pageSize: 4, failurePolicy: fastRetries, sleep: noSleep)
            )
            // What the console's retry and drop call: the catalog, by name.
            let catalog = CombinedProjectionCatalog([engine])
            try await whileRunning(engine) { try await engine.waitUntil(position: 10, timeout: .seconds(30)) }
            try check.equal(engine.status().parkedCount, 2, "parked count")
            try check.equal(try await catalog.retryParkedEvent(ofProjection: "other", at: 3), false, "retrying for another name")
            try check.equal(try await catalog.dropParkedEvent(ofProjection: "other", at: 3), false, "dropping for another name")
            do {
                _ = try await catalog.retryParkedEvent(ofProjection: "engine-catalog", at: 3)
                throw check.failure("retrying an event that still fails succeeded")
            } catch let error as ProjectionError where error.code == .applyFailed {}
            try check.equal(engine.status().parkedCount, 2, "parked count after a failed retry")
            fixture.poison([])
            try check.equal(try await catalog.retryParkedEvent(ofProjection: "engine-catalog", at: 3), true, "retrying")
            try check.equal(try await catalog.dropParkedEvent(ofProjection: "engine-catalog", at: 6), true, "dropping")
            try check.equal(engine.status().parkedCount, 0, "parked count after the retry and the drop")
            try check.equal(try await fixture.applied().sorted(), positions(1...10, except: [6]), "applied positions")
            do {
                _ = try await catalog.dropParkedEvent(ofProjection: "engine-catalog", at: 6)
                throw check.failure("dropping an event no longer parked succeeded")
            } catch let error as ProjectionError where error.code == .parkedEventNotFound {}
        },
        Case("theStopPolicyStopsBeforeThePoisonAndResumeGoesOn") { check, make in
            let fixture = try await make("engine-stop", 1)
            let log = try await log(20)
            fixture.poison([9])
            let engine = try ProjectionEngine(
                name: "engine-stop", storage: fixture.storage, source: .observing(log),
                options: .init(pageSize: 4, failurePolicy: FailurePolicy(maxAttempts: 2, baseDelay: .zero, then: .stop), sleep: noSleep)
            )
            try await whileRunning(engine) {
                do {
                    try await engine.waitUntil(position: 20, timeout: .seconds(30))
                    throw check.failure("the projection passed its poison under the stop policy")
                } catch let error as ProjectionError where error.code == .failed {}
                try check.equal(engine.status().state, .failed, "state after the poison")
                try check.equal(engine.status().position, 8, "checkpoint stays before the poison")
                fixture.poison([])
                engine.resume()
                try await engine.waitUntil(position: 20, timeout: .seconds(30))
            }
            try check.equal(try await fixture.applied(), positions(1...20), "applied positions")
        },
        Case("filtersKeepOtherEventsFromTheProjectorButMoveTheCheckpoint") { check, make in
            let byCategory = try await make("engine-category", 1)
            let log = try await log(25)
            let categoryEngine = try ProjectionEngine(
                name: "engine-category", storage: byCategory.storage, source: .observing(log),
                options: .init(pageSize: 4, filter: ProjectionFilter(categories: ["other"]), sleep: noSleep)
            )
            try await whileRunning(categoryEngine) { try await categoryEngine.waitUntil(position: 25, timeout: .seconds(30)) }
            try check.equal(try await byCategory.applied(), [5, 10, 15, 20, 25], "category filter")
            let byType = try await make("engine-type", 1)
            let typeEngine = try ProjectionEngine(
                name: "engine-type", storage: byType.storage, source: .observing(log),
                options: .init(pageSize: 4, filter: ProjectionFilter(categories: ["item"], eventTypes: ["Even"]), sleep: noSleep)
            )
            try await whileRunning(typeEngine) { try await typeEngine.waitUntil(position: 25, timeout: .seconds(30)) }
            try check.equal(try await byType.applied(), [2, 4, 6, 8, 12, 14, 16, 18, 22, 24], "type and category filter")
            try check.equal(try await byType.storage.checkpoints(partitions: 1), [25], "checkpoint past filtered events")
        },
        Case("partitionsApplyTheSameEventsAsOnePartitionInStreamOrder") { check, make in
            let fixture = try await make("engine-partitions", 4)
            let log = try await log(40)
            let engine = try ProjectionEngine(
                name: "engine-partitions", storage: fixture.storage, source: .observing(log),
                options: .init(pageSize: 3, partitioning: try .byStream(4), sleep: noSleep)
            )
            try await whileRunning(engine) { try await engine.waitUntil(position: 40, timeout: .seconds(30)) }
            let applied = try await fixture.applied()
            try check.equal(applied.sorted(), positions(1...40), "every event once")
            let events = try await log.readAll(after: .start, limit: 100)
            for stream in Set(events.map(\.streamID)) {
                let own = Set(events.filter { $0.streamID == stream }.map(\.position))
                let order = applied.filter { own.contains($0) }
                try check.equal(order, order.sorted(), "order within \(stream)")
            }
            try check.equal(engine.status().partitionPositions, [40, 40, 40, 40], "partition checkpoints")
        },
        Case("startingFromNowSkipsWhatWasThereAndKeepsThatStartForRebuilds") { check, make in
            let fixture = try await make("engine-now", 1)
            let log = try await log(10)
            let engine = try ProjectionEngine(
                name: "engine-now", storage: fixture.storage, source: .observing(log), options: .init(start: .now, sleep: noSleep)
            )
            try await whileRunning(engine) {
                try await engine.waitUntil(position: 10, timeout: .seconds(30))
                _ = try await log.append([EventData(type: "Odd", payload: Data("{}".utf8))], to: "item-1", expectedVersion: .any)
                try await engine.waitUntil(position: 11, timeout: .seconds(30))
            }
            try check.equal(try await fixture.applied(), [11], "applied positions")
            try check.equal(try await fixture.storage.startPosition(), 10, "recorded start")
        },
        Case("aRebuildReplaysIntoAFreshCopyAndSwapsItInWhileServing") { check, make in
            let fixture = try await make("engine-rebuild", 1)
            guard fixture.storage is any RebuildableProjectionStorage else { return }
            let log = try await log(30)
            let engine = try ProjectionEngine(
                name: "engine-rebuild", storage: fixture.storage, source: .observing(log), options: .init(pageSize: 4, sleep: noSleep)
            )
            try await whileRunning(engine) {
                try await engine.waitUntil(position: 30, timeout: .seconds(30))
                let progress = try await engine.rebuild()
                try check.equal(progress.eventsDone, 30, "rebuild progress")
                _ = try await log.append([EventData(type: "Odd", payload: Data("{}".utf8))], to: "item-1", expectedVersion: .any)
                try await engine.waitUntil(position: 31, timeout: .seconds(30))
            }
            try check.equal(try await fixture.applied(), positions(1...31), "the serving copy after the rebuild")
        },
    ]
}
