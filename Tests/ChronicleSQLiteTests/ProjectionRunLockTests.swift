import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

/// One runner per SQLite projection, across processes: the run lock, standbys, and what opening,
/// rebuilding and reading do while another runner holds it.
@Suite struct ProjectionRunLockTests {
    @Test func twoRunnersStartingTogetherOnAnEmptyDirectoryBuildOneCorrectModel() async throws {
        try await withProjectionStore { store, directory in
            let count = 400
            try await Fixtures.append(1...count, to: store)
            for round in 0..<12 {
                let readModels = directory.subdirectory("round-\(round)")
                let children = try (0..<2).map { _ in
                    try ProjectionChild(storePath: store.path, directory: readModels, pageSize: 7, blockAt: 0, marker: directory.subdirectory("unused"))
                }
                for child in children {
                    #expect(await child.exited.value == 0, "round \(round): a runner failed")
                }
                let model = try SQLiteReadModel(CounterProjector(), directory: readModels, source: .observing(store), logger: Fixtures.logger)
                #expect(await model.status().position == GlobalPosition(Int64(count)), "round \(round)")
                #expect(try await model.counters() == Fixtures.expectedCounters(1...count), "round \(round)")
                let files = try FileManager.default.contentsOfDirectory(atPath: readModels).filter { $0.hasSuffix(".sqlite") && !$0.hasPrefix(".") }
                #expect(files.sorted() == ["counters.g1.sqlite", "counters.sqlite"], "round \(round): \(files)")
            }
        }
    }

    @Test func aStandbyProcessTakesOverWhenTheActiveRunnerIsKilled() async throws {
        try await withProjectionStore { store, directory in
            let count = 600
            try await Fixtures.append(1...count, to: store)
            let readModels = directory.subdirectory("read-models")
            let marker = directory.subdirectory("blocked")
            // The active runner blocks inside a page transaction at 250, holding the run lock.
            let active = try ProjectionChild(storePath: store.path, directory: readModels, pageSize: 20, blockAt: 250, marker: marker)
            try await eventually("the active runner to block mid-page") { FileManager.default.fileExists(atPath: marker) }
            let standby = try ProjectionChild(storePath: store.path, directory: readModels, pageSize: 20, blockAt: 0, marker: directory.subdirectory("unused"))
            // An observer in this process sees the model stay put while the standby waits.
            let observer = try SQLiteReadModel(CounterProjector(), directory: readModels, source: .observing(store), logger: Fixtures.logger)
            #expect(try ProjectionCrashTests.committedCheckpoint(readModels) == 240)
            _ = await active.kill()
            #expect(await standby.exited.value == 0)
            #expect(try ProjectionCrashTests.committedCheckpoint(readModels) == Int64(count))
            #expect(try await observer.counters() == Fixtures.expectedCounters(1...count))
        }
    }

    @Test func twentyKillsOfTheRunnerLeaveAModelEqualToACleanReplay() async throws {
        try await withProjectionStore { store, directory in
            let count = 4_000
            try await Fixtures.append(1...count, to: store)
            let readModels = directory.subdirectory("read-models")
            var kills = 0
            for threshold in stride(from: 150, through: 3_000, by: 150) {
                // Killed wherever it is then: between pages, mid-page, mid-commit.
                let child = try ProjectionChild(storePath: store.path, directory: readModels, pageSize: 37, blockAt: 0, marker: directory.subdirectory("unused"))
                try await eventually("the child to commit past \(threshold)", timeout: .seconds(60)) {
                    (try? ProjectionCrashTests.committedCheckpoint(readModels)).map { $0 >= Int64(threshold) } ?? false
                }
                _ = await child.kill()
                kills += 1
            }
            #expect(kills == 20)
            let model = try SQLiteReadModel(CounterProjector(), directory: readModels, source: .observing(store), logger: Fixtures.logger)
            try await whileRunning(model) {
                try await model.waitUntil(position: GlobalPosition(Int64(count)), timeout: .seconds(60))
            }
            #expect(await model.status().parkedCount == 0)
            #expect(try await model.counters() == Fixtures.cleanReplay(of: store))
        }
    }

    @Test func aSecondInstanceStandsByAndTakesOverWhenTheFirstStops() async throws {
        try await withProjectionStore { store, directory in
            try await Fixtures.append(1...50, to: store)
            let first = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            let second = try SQLiteReadModel(
                CounterProjector(), directory: directory.path, source: .observing(store),
                options: .init(standbyPollInterval: .milliseconds(20)), logger: Fixtures.logger
            )
            let running = Task { try await first.run() }
            try await first.waitUntil(position: 50, timeout: .seconds(20))
            try await whileRunning(second) {
                try await eventually("the second runner to stand by") { await second.status().state == .standby }
                try await Fixtures.append(51...60, to: store)
                try await first.waitUntil(position: 60, timeout: .seconds(20))
                running.cancel()
                try await running.value
                try await Fixtures.append(61...70, to: store)
                try await second.waitUntil(position: 70, timeout: .seconds(20))
                // Applying the last event comes before the partition sees it has caught up (state
                // catchingUp in between), so wait for the state rather than read it once.
                try await eventually("the second runner to run, caught up") { await second.status().state == .running }
            }
            #expect(try await second.counters() == Fixtures.expectedCounters(1...70))
        }
    }

    @Test func aRebuildElsewhereIsRefusedWhileARunnerRunsAndDeletesNothing() async throws {
        try await withProjectionStore { store, directory in
            try await Fixtures.append(1...30, to: store)
            let runner = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            // A generation file of a rebuild in progress (as the runner's process would make it).
            let inProgress = (directory.path as NSString).appendingPathComponent("counters.g7.sqlite")
            try await whileRunning(runner) {
                try await runner.waitUntil(position: 30, timeout: .seconds(20))
                #expect(FileManager.default.createFile(atPath: inProgress, contents: Data()))
                let elsewhere = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
                #expect(FileManager.default.fileExists(atPath: inProgress), "opening deleted another runner's file")
                await #expect { try await elsewhere.rebuild() } throws: { ($0 as? ProjectionError)?.code == .alreadyRunning }
                #expect(try await elsewhere.counters() == Fixtures.expectedCounters(1...30))
            }
            // Nobody runs it now: opening cleans up what an interrupted rebuild left.
            _ = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            #expect(!FileManager.default.fileExists(atPath: inProgress))
        }
    }

    @Test func aReaderFollowsTheSwapWhenTheRunnerRebuilds() async throws {
        try await withProjectionStore { store, directory in
            try await Fixtures.append(1...40, to: store)
            let switches = CounterSwitches()
            let runner = try SQLiteReadModel(CounterProjector(switches: switches), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            let reader = try SQLiteReadModel(CounterProjector(switches: switches), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            try await whileRunning(runner) {
                try await runner.waitUntil(position: 40, timeout: .seconds(20))
                #expect(try await reader.counters() == Fixtures.expectedCounters(1...40))
                switches.factor = 3
                try await runner.rebuild()
                let tripled = Fixtures.expectedCounters(1...40).map { CounterRow(stream: $0.stream, events: $0.events, total: $0.total * 3, lastVersion: $0.lastVersion) }
                #expect(try await runner.counters() == tripled)
                #expect(try await reader.counters() == tripled, "the reader still reads the replaced file")
            }
        }
    }
}
