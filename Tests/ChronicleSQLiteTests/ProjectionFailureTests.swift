import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

@Suite struct ProjectionFailureTests {
    /// Appends events 1...30; event 12 is a poison type.
    private func poison(_ store: SQLiteEventStore) async throws {
        try await Fixtures.append(1...30, to: store) { $0 == 12 ? "Poison" : "Incremented" }
    }

    @Test func aPoisonEventIsParkedAfterItsRetriesWhileLaterEventsApply() async throws {
        try await withProjectionStore { store, directory in
            try await poison(store)
            let switches = CounterSwitches()
            switches.poisonTypes = ["Poison"]
            let sleep = RecordingSleep()
            let policy = FailurePolicy(maxAttempts: 4, baseDelay: .milliseconds(100), maxDelay: .milliseconds(250), then: .park)
            let model = try SQLiteReadModel(
                CounterProjector(switches: switches), directory: directory.path, source: .observing(store),
                options: .init(pageSize: 8, failurePolicy: policy, sleep: sleep.sleep, now: { Date(timeIntervalSince1970: 1_000) }), logger: Fixtures.logger
            )
            try await whileRunning(model) {
                try await model.waitUntil(position: 30, timeout: .seconds(20))
            }
            #expect(switches.attempts(at: 12) == 4)
            #expect(sleep.recorded == [.milliseconds(100), .milliseconds(200), .milliseconds(250)])
            #expect(try await model.counters() == Fixtures.expectedCounters(1...30, skipping: [12]))
            let parked = try await model.parkedEvents()
            #expect(parked.count == 1)
            let event = try #require(parked.first)
            #expect(event.position == 12)
            #expect(event.eventID == Fixtures.uuid(12))
            #expect(event.streamID == Fixtures.stream(12, streams: 7))
            #expect(event.eventType == "Poison")
            #expect(event.attempts == 4)
            #expect(event.error == "poison at 12")
            #expect(event.parkedAt == Date(timeIntervalSince1970: 1_000))
            let status = await model.status()
            #expect(status.parkedCount == 1)
            #expect(status.position == 30)
            #expect(status.lastError?.contains("parked") == true, "\(status.lastError ?? "")")
        }
    }

    @Test func aParkedEventCanBeRetriedAfterAFixAndIsThenRemoved() async throws {
        try await withProjectionStore { store, directory in
            // The poison event is alone in its stream, so applying it late changes nothing else.
            try await Fixtures.append(1...30, to: store, type: { $0 == 12 ? "Poison" : "Incremented" }, stream: { $0 == 12 ? "lonely-12" : Fixtures.stream($0, streams: 7) })
            let switches = CounterSwitches()
            switches.poisonTypes = ["Poison"]
            let model = try SQLiteReadModel(
                CounterProjector(switches: switches), directory: directory.path, source: .observing(store),
                options: .init(failurePolicy: FailurePolicy(maxAttempts: 2, then: .park), sleep: RecordingSleep().sleep), logger: Fixtures.logger
            )
            try await whileRunning(model) { try await model.waitUntil(position: 30, timeout: .seconds(20)) }

            // Still broken: the retry fails, the event stays parked with one more attempt.
            await #expect { try await model.retryParked(at: 12) } throws: { ($0 as? ProjectionError)?.code == .applyFailed }
            #expect(try await model.parkedEvents().first?.attempts == 3)

            // Fixed: the retry applies it and removes it; the model equals a clean replay.
            switches.poisonTypes = []
            try await model.retryParked(at: 12)
            #expect(try await model.parkedEvents().isEmpty)
            #expect(await model.status().parkedCount == 0)
            #expect(try await model.counters() == Fixtures.cleanReplay(of: store))
            await #expect { try await model.retryParked(at: 12) } throws: { ($0 as? ProjectionError)?.code == .parkedEventNotFound }
        }
    }

    @Test func aParkedEventCanBeDropped() async throws {
        try await withProjectionStore { store, directory in
            try await poison(store)
            let switches = CounterSwitches()
            switches.poisonTypes = ["Poison"]
            let model = try SQLiteReadModel(
                CounterProjector(switches: switches), directory: directory.path, source: .observing(store),
                options: .init(failurePolicy: FailurePolicy(maxAttempts: 1, then: .park)), logger: Fixtures.logger
            )
            try await whileRunning(model) { try await model.waitUntil(position: 30, timeout: .seconds(20)) }
            #expect(switches.attempts(at: 12) == 1)
            #expect(try await model.parkedEvents().map(\.position) == [12])
            try await model.dropParked(at: 12)
            #expect(try await model.parkedEvents().isEmpty)
            #expect(await model.status().parkedCount == 0)
            await #expect { try await model.dropParked(at: 12) } throws: { ($0 as? ProjectionError)?.code == .parkedEventNotFound }
            #expect(try await model.counters() == Fixtures.expectedCounters(1...30, skipping: [12]))
        }
    }

    @Test func theStopPolicyFailsTheProjectionBeforeThePoisonEventAndResumeContinues() async throws {
        try await withProjectionStore { store, directory in
            try await poison(store)
            let switches = CounterSwitches()
            switches.poisonTypes = ["Poison"]
            let model = try SQLiteReadModel(
                CounterProjector(switches: switches), directory: directory.path, source: .observing(store),
                options: .init(pageSize: 5, failurePolicy: FailurePolicy(maxAttempts: 3, then: .stop), sleep: RecordingSleep().sleep), logger: Fixtures.logger
            )
            try await whileRunning(model) {
                try await eventually("the model to fail") { await model.status().state == .failed }
                let status = await model.status()
                #expect(status.position == 11)
                #expect(status.parkedCount == 0)
                #expect(status.lastError?.contains("position 12") == true)
                #expect(switches.attempts(at: 12) == 3)
                #expect(switches.attempts(at: 13) == 0)
                // Waiting for a later position fails at once with the cause, not a timeout.
                await #expect { try await model.waitUntil(position: 30, timeout: .seconds(20)) } throws: { ($0 as? ProjectionError)?.code == .failed }
                #expect(try await model.counters() == Fixtures.expectedCounters(1...11))

                switches.poisonTypes = []
                await model.resume()
                try await model.waitUntil(position: 30, timeout: .seconds(20))
            }
            #expect(try await model.counters() == Fixtures.expectedCounters(1...30))
        }
    }

    @Test func aPartitionedProjectionParksOnlyInThePoisonedPartition() async throws {
        try await withProjectionStore { store, directory in
            try await poison(store)
            let switches = CounterSwitches()
            switches.poisonTypes = ["Poison"]
            let partitioning = try ProjectionPartitioning.byStream(3)
            let model = try SQLiteReadModel(
                CounterProjector(switches: switches), directory: directory.path, source: .observing(store),
                options: .init(pageSize: 4, failurePolicy: FailurePolicy(maxAttempts: 2, then: .park), partitioning: partitioning, sleep: RecordingSleep().sleep),
                logger: Fixtures.logger
            )
            try await whileRunning(model) { try await model.waitUntil(position: 30, timeout: .seconds(20)) }
            let parked = try await model.parkedEvents()
            #expect(parked.map(\.position) == [12])
            #expect(parked.first?.partition == partitioning.partition(of: Fixtures.stream(12, streams: 7)))
            #expect(try await model.counters() == Fixtures.expectedCounters(1...30, skipping: [12]))
        }
    }
}
