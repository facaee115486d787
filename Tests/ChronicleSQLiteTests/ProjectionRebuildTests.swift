import Chronicle
import ChronicleSQLite
import Foundation
import GRDB
import Synchronization
import Testing

@Suite struct ProjectionRebuildTests {
    /// What a reader saw in one read transaction.
    struct Snapshot: Hashable, Sendable {
        let events: Int64
        let total: Int64
        let checkpoint: Int64
    }

    static func snapshot(_ model: SQLiteReadModel) async throws -> Snapshot {
        try await model.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT coalesce(sum(events), 0) AS events, coalesce(sum(total), 0) AS total FROM counter")!
            let checkpoint = try Int64.fetchOne(db, sql: "SELECT min(position) FROM chronicle_checkpoint") ?? -1
            return Snapshot(events: row["events"], total: row["total"], checkpoint: checkpoint)
        }
    }

    @Test func concurrentReadersSeeOnlyTheOldOrTheNewCompleteModelDuringARebuild() async throws {
        try await withProjectionStore { store, directory in
            let count = 3_000
            try await Fixtures.append(1...count, to: store)
            let switches = CounterSwitches()
            let model = try SQLiteReadModel(CounterProjector(switches: switches), directory: directory.path, source: .observing(store), options: .init(pageSize: 200), logger: Fixtures.logger)
            let oldTotal = Int64(count * (count + 1) / 2)
            try await whileRunning(model) {
                try await model.waitUntil(position: GlobalPosition(Int64(count)), timeout: .seconds(60))
                #expect(try await Self.snapshot(model) == Snapshot(events: Int64(count), total: oldTotal, checkpoint: Int64(count)))

                // The new projector logic doubles amounts: the rebuilt model is told apart by its total.
                switches.factor = 2
                let old = Snapshot(events: Int64(count), total: oldTotal, checkpoint: Int64(count))
                let new = Snapshot(events: Int64(count), total: 2 * oldTotal, checkpoint: Int64(count))
                let done = Flag()
                let seen = try await withThrowingTaskGroup(of: [Snapshot: Int].self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            var seen: [Snapshot: Int] = [:]
                            var readsAfterDone = 0
                            while readsAfterDone < 20 {
                                if done.isSet { readsAfterDone += 1 }
                                seen[try await Self.snapshot(model), default: 0] += 1
                            }
                            return seen
                        }
                    }
                    let progress = try await model.rebuild()
                    done.set()
                    #expect(progress.eventsDone == Int64(count))
                    #expect(progress.eventsTotal == Int64(count))
                    #expect(progress.fractionDone == 1)
                    #expect(progress.eventsPerSecond > 0)
                    #expect(progress.finishedAt != nil)
                    var all: [Snapshot: Int] = [:]
                    for try await partial in group { all.merge(partial, uniquingKeysWith: +) }
                    return all
                }
                #expect(Set(seen.keys).isSubset(of: [old, new]), "readers saw \(seen.keys.filter { $0 != old && $0 != new })")
                #expect(seen[new, default: 0] > 0)
                #expect(try await Self.snapshot(model) == new)
                let status = await model.status()
                #expect(status.state == .running)
                #expect(status.rebuild?.finishedAt != nil)

                // The runner follows the new model after the swap.
                let head = try await Fixtures.append((count + 1)...(count + 10), to: store)
                try await model.waitUntil(position: head, timeout: .seconds(20))
                #expect(try await Self.snapshot(model).events == Int64(count + 10))
            }
            // Only the new generation's files are left, and the link points at it.
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("counters") && $0.hasSuffix(".sqlite") }.sorted()
            #expect(files == ["counters.g2.sqlite", "counters.sqlite"])
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: model.path) == "counters.g2.sqlite")
        }
    }

    @Test func aRebuildWhileEventsArriveSwapsInAModelThatIsNeverBehind() async throws {
        try await withProjectionStore { store, directory in
            try await Fixtures.append(1...2_000, to: store)
            let model = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), options: .init(pageSize: 100), logger: Fixtures.logger)
            try await whileRunning(model) {
                try await model.waitUntil(position: 2_000, timeout: .seconds(60))
                let done = Flag()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var index = 2_001
                        while !done.isSet && index <= 3_000 {
                            try await Fixtures.append(index...index, to: store)
                            index += 1
                        }
                    }
                    group.addTask {
                        // Every read is complete (events counted == checkpoint) and never goes back.
                        var last: Int64 = 2_000
                        while !done.isSet {
                            let snapshot = try await Self.snapshot(model)
                            #expect(snapshot.events == snapshot.checkpoint)
                            #expect(snapshot.checkpoint >= last)
                            last = snapshot.checkpoint
                        }
                    }
                    try await model.rebuild()
                    done.set()
                    try await group.waitForAll()
                }
                let head = try await store.headPosition()
                try await model.waitUntil(position: head, timeout: .seconds(30))
            }
            #expect(try await model.counters() == Fixtures.cleanReplay(of: store))
        }
    }

    @Test func aFailedRebuildLeavesTheServingModelAndDeletesTheNewFile() async throws {
        try await withProjectionStore { store, directory in
            try await Fixtures.append(1...100, to: store)
            let switches = CounterSwitches()
            let model = try SQLiteReadModel(
                CounterProjector(switches: switches), directory: directory.path, source: .observing(store),
                options: .init(pageSize: 10, failurePolicy: FailurePolicy(maxAttempts: 2, then: .stop), sleep: RecordingSleep().sleep), logger: Fixtures.logger
            )
            try await whileRunning(model) { try await model.waitUntil(position: 100, timeout: .seconds(20)) }
            let before = try await model.counters()
            switches.poisonTypes = ["Incremented"]
            // Not running: a rebuild works on its own too.
            await #expect { try await model.rebuild() } throws: { ($0 as? ProjectionError)?.code == .failed }
            #expect(try await model.counters() == before)
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".g") }
            #expect(files.allSatisfy { $0.hasPrefix("counters.g1.") })
            #expect(await model.status().rebuild?.finishedAt == nil)
        }
    }
}
