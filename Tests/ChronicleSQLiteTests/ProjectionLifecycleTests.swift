import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Testing

@Suite struct ProjectionLifecycleTests {
    @Test func aServiceGroupShutsTheProjectionsDownGracefully() async throws {
        try await withProjectionStore { store, directory in
            let orders = try SQLiteReadModel(CounterProjector(name: "a"), directory: directory.path, source: .sqlite(store), logger: Fixtures.logger)
            let other = try SQLiteReadModel(CounterProjector(name: "b"), directory: directory.path, source: .sqlite(store), logger: Fixtures.logger)
            let projections = try SQLiteProjectionGroup([orders, other])
            let group = ServiceGroup(services: [projections], gracefulShutdownSignals: [], cancellationSignals: [], logger: Fixtures.logger)
            let running = Task { try await group.run() }
            let position = try await Fixtures.append(1...50, to: store)
            try await orders.waitUntil(position: position, timeout: .seconds(20))
            try await other.waitUntil(position: position, timeout: .seconds(20))
            try await eventually("every projection to run") { await projections.statuses().allSatisfy { $0.state == .running } }
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(await projections.statuses().allSatisfy { $0.state == .stopped && $0.position == position })
        }
    }

    @Test func theStoredStatusIsReadableWithoutRunningTheProjection() async throws {
        try await withProjectionStore { store, directory in
            let model = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), options: .init(partitioning: try .byStream(2)), logger: Fixtures.logger)
            let position = try await Fixtures.append(1...20, to: store)
            try await whileRunning(model) { try await model.waitUntil(position: position, timeout: .seconds(20)) }
            let status = try SQLiteReadModelDirectory(directory.path).status(of: "counters", head: 25)
            #expect(status.position == 20)
            #expect(status.partitionPositions == [20, 20])
            #expect(status.lag == 5)
            #expect(status.state == .stopped)
            #expect(throws: ProjectionError.self) { try SQLiteReadModelDirectory(directory.path).status(of: "missing") }

            // Deleting the files makes the next start rebuild from zero (here with other partitions).
            try SQLiteReadModelDirectory(directory.path).deleteFiles(of: "counters")
            let rebuilt = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            #expect(await rebuilt.status().position == 0)
            try await whileRunning(rebuilt) { try await rebuilt.waitUntil(position: position, timeout: .seconds(20)) }
            #expect(try await rebuilt.counters() == Fixtures.expectedCounters(1...20))
        }
    }

    @Test func runningTwiceAtOnceIsRefused() async throws {
        try await withProjectionStore { store, directory in
            let model = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            try await whileRunning(model) { () async throws in
                try await eventually("the model to run") { await model.status().state == .running }
                await #expect { try await model.run() } throws: { ($0 as? ProjectionError)?.code == .alreadyRunning }
            }
        }
    }
}
