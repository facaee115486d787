import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

@Suite struct ProjectionRunnerTests {
    @Test func anInProcessAppendBecomesVisibleWithoutPolling() async throws {
        try await withProjectionStore { store, directory in
            // No poll interval: only the store's append notifier can wake the runner.
            let model = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            try await whileRunning(model) {
                for round in 1...20 {
                    let position = try await Fixtures.append(round...round, to: store)
                    try await model.waitUntil(position: position, timeout: .seconds(20))
                    let counters = try await model.counters()
                    #expect(counters == Fixtures.expectedCounters(1...round))
                }
                let status = await model.status()
                #expect(status.position == 20)
                #expect(status.head == 20)
                #expect(status.lag == 0)
                #expect(status.parkedCount == 0)
            }
        }
    }

    @Test func catchUpAppliesEveryEventOnceAcrossRestarts() async throws {
        try await withProjectionStore { store, directory in
            try await Fixtures.append(1...1_234, to: store)
            let options = SQLiteReadModel.Options(pageSize: 100)
            do {
                let model = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), options: options, logger: Fixtures.logger)
                try await whileRunning(model) {
                    try await model.waitUntil(position: 1_234, timeout: .seconds(30))
                }
                #expect(await model.status().state == .stopped)
            }
            let head = try await Fixtures.append(1_235...1_300, to: store)
            let reopened = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), options: options, logger: Fixtures.logger)
            #expect(await reopened.status().position == 1_234)
            try await whileRunning(reopened) {
                try await reopened.waitUntil(position: head, timeout: .seconds(30))
            }
            #expect(try await reopened.counters() == Fixtures.expectedCounters(1...1_300))
        }
    }

    @Test func waitUntilThrowsATypedTimeoutWhenThePositionIsNotReached() async throws {
        try await withProjectionStore { store, directory in
            let model = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            try await whileRunning(model) {
                do {
                    try await model.waitUntil(position: 5, timeout: .milliseconds(50))
                    Issue.record("waitUntil returned for a position never appended")
                } catch let error as ProjectionError {
                    #expect(error.code == .timeout)
                    #expect(error.position == 5)
                    #expect(error.projection == "counters")
                }
            }
        }
    }

    @Test func theReadModelLivesInItsOwnFileBehindALink() async throws {
        try await withProjectionStore { store, directory in
            let model = try SQLiteReadModel(CounterProjector(name: "orders.v2"), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: model.path)
            #expect(model.path.hasSuffix("orders.v2.sqlite"))
            #expect(target == "orders.v2.g1.sqlite")
            // Any SQLite client can open the link and read the tables and the checkpoint.
            let position = try await Fixtures.append(1...3, to: store)
            try await whileRunning(model) { try await model.waitUntil(position: position, timeout: .seconds(20)) }
            let queue = try DatabaseQueue(path: model.path)
            let checkpoint = try await queue.read { db in try Int64.fetchOne(db, sql: "SELECT position FROM chronicle_checkpoint") }
            #expect(checkpoint == 3)
        }
    }

    @Test(arguments: ["", ".hidden", "has space", "slash/name", String(repeating: "x", count: 101)])
    func anUnusableNameIsRejectedWithATypedError(name: String) throws {
        let directory = try ProjectionDirectory()
        #expect {
            try SQLiteReadModel(CounterProjector(name: name), directory: directory.path, source: .polling(InMemoryEventStore(), interval: .seconds(1)), logger: Fixtures.logger)
        } throws: { ($0 as? ProjectionError)?.code == .invalidName }
    }

    @Test func reopeningWithOtherPartitionsIsRefusedAndNothingIsLost() async throws {
        try await withProjectionStore { store, directory in
            let position = try await Fixtures.append(1...10, to: store)
            let model = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            try await whileRunning(model) { try await model.waitUntil(position: position, timeout: .seconds(20)) }
            let partitioned = SQLiteReadModel.Options(partitioning: try .byStream(4))
            #expect {
                try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), options: partitioned, logger: Fixtures.logger)
            } throws: { ($0 as? ProjectionError)?.code == .incompatibleReadModel }
            let again = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            #expect(try await again.counters() == Fixtures.expectedCounters(1...10))
        }
    }

    @Test func aPartitionedProjectionEqualsTheUnpartitionedOne() async throws {
        try await withProjectionStore { store, directory in
            try await Fixtures.append(1...600, streams: 23, to: store)
            let plain = try SQLiteReadModel(CounterProjector(), directory: directory.subdirectory("plain"), source: .observing(store), options: .init(pageSize: 64), logger: Fixtures.logger)
            let partitioned = try SQLiteReadModel(
                CounterProjector(), directory: directory.subdirectory("partitioned"), source: .observing(store),
                options: .init(pageSize: 64, partitioning: try .byStream(4)), logger: Fixtures.logger
            )
            let group = try SQLiteProjectionGroup([plain])
            let head = try await Fixtures.append(601...900, streams: 23, to: store)
            let task = Task { try await group.run() }
            try await whileRunning(partitioned) {
                try await plain.waitUntil(position: head, timeout: .seconds(30))
                try await partitioned.waitUntil(position: head, timeout: .seconds(30))
            }
            task.cancel()
            try await task.value
            let expected = Fixtures.expectedCounters(1...900, streams: 23)
            #expect(try await plain.counters() == expected)
            #expect(try await partitioned.counters() == expected)
            let status = await partitioned.status()
            #expect(status.partitionCount == 4)
            #expect(status.partitionPositions == Array(repeating: head, count: 4))
            // Every partition got some streams.
            let partitioning = try ProjectionPartitioning.byStream(4)
            #expect(Set((0..<23).map { partitioning.partition(of: Fixtures.stream($0, streams: 23)) }) == [0, 1, 2, 3])
        }
    }

    @Test func severalProjectionsRunConcurrentlyInAGroup() async throws {
        try await withProjectionStore { store, directory in
            let models = try (1...4).map { index in
                try SQLiteReadModel(CounterProjector(name: "counters-\(index)"), directory: directory.path, source: .observing(store), options: .init(pageSize: 50), logger: Fixtures.logger)
            }
            let group = try SQLiteProjectionGroup(models)
            #expect(group["counters-3"] === models[2])
            let task = Task { try await group.run() }
            // Appends from many tasks at once while the projections follow.
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for writer in 0..<8 {
                    tasks.addTask { try await Fixtures.append((writer * 50 + 1)...(writer * 50 + 50), to: store) }
                }
                try await tasks.waitForAll()
            }
            for model in models { try await model.waitUntil(position: 400, timeout: .seconds(30)) }
            let statuses = await group.statuses()
            #expect(statuses.map(\.name) == ["counters-1", "counters-2", "counters-3", "counters-4"])
            #expect(statuses.allSatisfy { $0.position == 400 && $0.lag == 0 })
            task.cancel()
            try await task.value
            let expected = try await models[0].counters()
            #expect(expected.map(\.events).reduce(0, +) == 400)
            for model in models.dropFirst() { #expect(try await model.counters() == expected) }
            #expect(throws: ProjectionError.self) { try SQLiteProjectionGroup([models[0], models[0]]) }
        }
    }

    @Test func appendsByAnotherProcessAreNoticedByPollingTheStore() async throws {
        try await withProjectionStore { store, directory in
            let model = try SQLiteReadModel(
                CounterProjector(), directory: directory.path, source: .sqlite(store, pollInterval: .milliseconds(20)), logger: Fixtures.logger
            )
            try await whileRunning(model) {
                try await eventually("the model to run") { await model.status().state == .running }
                // Another OS process appends 2 × 25 events to the same store file; this process's
                // notifier hears nothing, so only the data_version poll can wake the runner.
                let output = try await runStressProcess(path: store.path, streams: 3, tasks: 2, appendsPerTask: 25, tag: "projection")
                #expect(output.hasPrefix("ok 50 "))
                try await model.waitUntil(position: 50, timeout: .seconds(20))
            }
            #expect(try await model.counters().map(\.events).reduce(0, +) == 50)
        }
    }

    @Test func appendsNobodyAnnouncesAreNoticedByPollingTheHead() async throws {
        try await withProjectionStore { store, directory in
            let source = ProjectionSource.polling(store, interval: .milliseconds(10))
            let model = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: source, logger: Fixtures.logger)
            try await whileRunning(model) {
                try await eventually("the model to run") { await model.status().state == .running }
                let position = try await Fixtures.append(1...5, to: store)
                try await model.waitUntil(position: position, timeout: .seconds(20))
            }
            #expect(try await model.counters() == Fixtures.expectedCounters(1...5))
        }
    }

    @Test func twoRunnersOnTheSameFilesNeverApplyAnEventTwice() async throws {
        try await withProjectionStore { store, directory in
            // Like two processes started by mistake on one directory: separate connections, one file.
            let options = SQLiteReadModel.Options(pageSize: 25, failurePolicy: FailurePolicy(maxAttempts: 1, then: .park))
            let first = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), options: options, logger: Fixtures.logger)
            let second = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), options: options, logger: Fixtures.logger)
            let head = try await whileRunning(first) {
                try await whileRunning(second) {
                    let head = try await Fixtures.append(1...1_000, to: store)
                    // Wait on the file, not on one runner's view: the other runner may have
                    // committed the last pages, and this one is not woken again to notice.
                    try await eventually("the stored status to reach the head", timeout: .seconds(60)) { (try? SQLiteReadModelDirectory(directory.path).status(of: "counters").position) == head }
                    return head
                }
            }
            #expect(head == 1_000)
            #expect(try await first.parkedEvents().isEmpty)
            #expect(try await first.counters() == Fixtures.expectedCounters(1...1_000))
        }
    }

    @Test func statusEncodesAsJSONWithLag() throws {
        let status = ProjectionStatus(name: "p", state: .catchingUp, position: 3, head: 10, parkedCount: 1)
        let json = try JSONEncoder().encode(status)
        let object = try JSONSerialization.jsonObject(with: json) as? [String: Any]
        #expect(object?["lag"] as? Int == 7)
        #expect(try JSONDecoder().decode(ProjectionStatus.self, from: json) == status)
    }

    @Test func failurePolicyBacksOffExponentiallyUpToTheCap() {
        let policy = FailurePolicy(maxAttempts: 6, baseDelay: .milliseconds(100), maxDelay: .milliseconds(500), then: .park)
        #expect((1...5).map { policy.delay(afterAttempt: $0) } == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500), .milliseconds(500)])
        #expect(FailurePolicy(maxAttempts: 0).maxAttempts == 1)
    }
}

