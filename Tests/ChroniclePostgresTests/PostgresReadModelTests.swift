import Chronicle
import ChroniclePostgres
import ChronicleTestSupport
import ChronicleTesting
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// Positions whose apply throws (shared by a test and its projector).
final class PoisonedPositions: Sendable {
    let positions = Mutex<Set<GlobalPosition>>([])
    func set(_ new: Set<GlobalPosition>) { positions.withLock { $0 = new } }
    func contains(_ position: GlobalPosition) -> Bool { positions.withLock { $0.contains(position) } }
}

struct PoisonedEvent: Error, CustomStringConvertible {
    let position: GlobalPosition
    var description: String { "poison at \(position)" }
}

/// Records every applied position (`applied`, in apply order) and a count per stream (`totals`).
struct AppliedPositionsProjector: PostgresProjector {
    let name: String
    let poison: PoisonedPositions

    var migrations: [PostgresReadModelMigration] {
        [
            PostgresReadModelMigration(1, sql: { tables in
                ["CREATE TABLE \(tables("applied")) (seq bigserial PRIMARY KEY, position bigint NOT NULL, stream text NOT NULL)"]
            }),
            PostgresReadModelMigration(2, sql: { tables in
                ["CREATE TABLE \(tables("totals")) (stream text PRIMARY KEY, count bigint NOT NULL)"]
            }),
        ]
    }

    func apply(_ events: [RecordedEvent], on connection: PostgresConnection, tables: PostgresReadModelTables) async throws {
        for event in events {
            if poison.contains(event.position) { throw PoisonedEvent(position: event.position) }
            var binds = PostgresBindings()
            binds.append(event.position.value)
            binds.append(event.streamID.rawValue)
            try await connection.statement(PostgresQuery(unsafeSQL: "INSERT INTO \(tables("applied")) (position, stream) VALUES ($1, $2)", binds: binds), logger: connection.logger)
            var totals = PostgresBindings()
            totals.append(event.streamID.rawValue)
            try await connection.statement(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO \(tables("totals")) (stream, count) VALUES ($1, 1) ON CONFLICT (stream) DO UPDATE SET count = \(tables("totals")).count + 1",
                    binds: totals
                ),
                logger: connection.logger
            )
        }
    }
}

/// The positions applied to the serving generation, in apply order.
func appliedPositions(_ model: PostgresReadModel) async throws -> [GlobalPosition] {
    try await model.read { connection, tables in
        var positions: [GlobalPosition] = []
        for try await position in try await connection.statement(PostgresQuery(unsafeSQL: "SELECT position FROM \(tables("applied")) ORDER BY seq"), logger: connection.logger).decode(Int64.self) {
            positions.append(GlobalPosition(position))
        }
        return positions
    }
}

func positions(_ range: ClosedRange<Int64>) -> [GlobalPosition] { range.map { GlobalPosition($0) } }


@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason)) struct PostgresReadModelTests {
    static func makeModel(
        _ database: PostgresTestDatabase, store: PostgresEventStore, name: String = "totals", poison: PoisonedPositions = PoisonedPositions(),
        failurePolicy: FailurePolicy = FailurePolicy(maxAttempts: 2, baseDelay: .zero, then: .park), pageSize: Int = 5
    ) throws -> PostgresReadModel {
        try PostgresReadModel(
            AppliedPositionsProjector(name: name, poison: poison), store: store,
            leaseConnection: try database.connectionConfiguration(applicationName: database.applicationName + "-lease"),
            options: .init(
                pageSize: pageSize, failurePolicy: failurePolicy, standbyPollInterval: .milliseconds(50),
                leaseRetryInterval: .milliseconds(50), leaseHeartbeatInterval: .milliseconds(200)
            )
        )
    }

    static func append(_ store: PostgresEventStore, _ count: Int, stream: String = "order-1") async throws -> GlobalPosition {
        var last = GlobalPosition.start
        for _ in 0..<count {
            last = try await store.append(testEvent(), to: try StreamID(stream), expectedVersion: .any).position
        }
        return last
    }

    @Test func appliesEventsAndReadsYourWrites() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let model = try Self.makeModel(database, store: store)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await model.run() }
                defer { group.cancelAll() }
                _ = try await Self.append(store, 7)
                let last = try await Self.append(store, 5, stream: "order-2")
                try await model.waitUntil(position: last, timeout: .seconds(30))
                #expect(try await appliedPositions(model) == positions(1...12))
                let totals = try await model.read { connection, tables in
                    var totals: [String: Int64] = [:]
                    for try await (stream, count) in try await connection.statement(PostgresQuery(unsafeSQL: "SELECT stream, count FROM \(tables("totals"))"), logger: connection.logger).decode((String, Int64).self) {
                        totals[stream] = count
                    }
                    return totals
                }
                #expect(totals == ["order-1": 7, "order-2": 5])
                // The model is a projection catalog (for the HTTP read API).
                #expect(try await model.projectionStatuses().map(\.name) == ["totals"])
                #expect(try await model.waitUntil(projection: "totals", reaches: last, timeout: .seconds(5)) == last)
                #expect(try await model.parkedEvents(ofProjection: "other", limit: 10) == nil)
                let status = await model.status()
                #expect(status.position == last)
                #expect(status.state == .running || status.state == .catchingUp)
            }
        }
    }

    @Test func poisonedEventsAreParkedThenRetriedOrDropped() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let poison = PoisonedPositions()
            poison.set([GlobalPosition(3), GlobalPosition(6)])
            let model = try Self.makeModel(database, store: store, poison: poison)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await model.run() }
                defer { group.cancelAll() }
                let last = try await Self.append(store, 8)
                try await model.waitUntil(position: last, timeout: .seconds(30))
                #expect(try await model.parkedEvents().map(\.position) == [GlobalPosition(3), GlobalPosition(6)])
                #expect(await model.status().parkedCount == 2)
                #expect(try await appliedPositions(model) == [1, 2, 4, 5, 7, 8].map { GlobalPosition($0) })
                // Still poisoned: the retry fails and the event stays parked.
                await #expect(throws: ProjectionError.self) { try await model.retryParked(at: GlobalPosition(3)) }
                poison.set([])
                try await model.retryParked(at: GlobalPosition(3))
                try await model.dropParked(at: GlobalPosition(6))
                #expect(try await model.parkedEvents().isEmpty)
                #expect(await model.status().parkedCount == 0)
                #expect(try await appliedPositions(model) == [1, 2, 4, 5, 7, 8, 3].map { GlobalPosition($0) })
                await #expect(throws: ProjectionError.self) { try await model.dropParked(at: GlobalPosition(6)) }
            }
        }
    }

    @Test func stopsOnFailureAndResumes() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let poison = PoisonedPositions()
            poison.set([GlobalPosition(4)])
            let model = try Self.makeModel(database, store: store, poison: poison, failurePolicy: FailurePolicy(maxAttempts: 2, baseDelay: .zero, then: .stop))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await model.run() }
                defer { group.cancelAll() }
                let last = try await Self.append(store, 6)
                try await eventually("the model stops on the poisoned event") { await model.status().state == .failed }
                // Failed once (a clean-clone CI run): the standby poll's checkpoint read, in flight
                // when this instance took the lease, replaced the run's positions with 0. Fixed by
                // `refreshWhileIdle()`; ProjectionEngineStandbyTests reproduces it every time.
                let stopped = await model.status()
                #expect(stopped.position == GlobalPosition(3), "\(stopped)")
                await #expect(throws: ProjectionError.self) { try await model.waitUntil(position: last, timeout: .seconds(5)) }
                poison.set([])
                await model.resume()
                try await model.waitUntil(position: last, timeout: .seconds(30))
                #expect(try await appliedPositions(model) == positions(1...6))
            }
        }
    }

    @Test func restartContinuesFromTheCheckpoint() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let first = try Self.makeModel(database, store: store)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await first.run() }
                let last = try await Self.append(store, 9)
                try await first.waitUntil(position: last, timeout: .seconds(30))
                group.cancelAll()
                try await group.waitForAll()
            }
            #expect(await first.status().state == .stopped)
            let more = try await Self.append(store, 4)
            let second = try Self.makeModel(database, store: database.makeStore())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await second.run() }
                defer { group.cancelAll() }
                try await second.waitUntil(position: more, timeout: .seconds(30))
                #expect(try await appliedPositions(second) == positions(1...13))
            }
        }
    }

    @Test func secondInstanceStandsByAndTakesOver() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            // Two instances, as two processes would have (each hears its own store's appends).
            let storeB = database.makeStore()
            let a = try Self.makeModel(database, store: store)
            let b = try Self.makeModel(database, store: storeB)
            let runA = Task { try await a.run() }
            try await eventually("a runs") { [.running, .catchingUp].contains(await a.status().state) }
            let runB = Task { try await b.run() }
            defer {
                runA.cancel()
                runB.cancel()
            }
            try await eventually("b stands by") { await b.status().state == .standby }
            let last = try await Self.append(store, 6)
            try await a.waitUntil(position: last, timeout: .seconds(30))
            // The standby follows the runner's checkpoints for status and read-your-writes.
            try await b.waitUntil(position: last, timeout: .seconds(30))
            #expect(await b.status().state == .standby)
            runA.cancel()
            _ = try? await runA.value
            try await eventually("b takes over") { [.running, .catchingUp].contains(await b.status().state) }
            let more = try await Self.append(storeB, 5)
            try await b.waitUntil(position: more, timeout: .seconds(30))
            #expect(try await appliedPositions(b) == positions(1...11))
        }
    }

    @Test func rebuildWhileServingSwapsACompleteGeneration() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let model = try Self.makeModel(database, store: store, pageSize: 20)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await model.run() }
                defer { group.cancelAll() }
                let loaded = try await Self.append(store, 300)
                try await model.waitUntil(position: loaded, timeout: .seconds(30))
                let before = try await model.read { _, tables in tables.generation }
                let stop = Atomic<Bool>(false)
                // Readers run through the whole rebuild: they must never see fewer rows than were loaded.
                let reader = Task {
                    var reads = 0
                    var smallest = Int64.max
                    while !stop.load(ordering: .acquiring) {
                        let count = try await model.read { connection, tables in
                            try await connection.statement(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(tables("applied"))"), logger: connection.logger)
                                .decode(Int64.self).first { _ in true } ?? -1
                        }
                        smallest = min(smallest, count)
                        reads += 1
                    }
                    return (reads, smallest)
                }
                let writer = Task { try await Self.append(store, 40, stream: "order-2") }
                let progress = try await model.rebuild()
                let last = try await writer.value
                stop.store(true, ordering: .releasing)
                let (reads, smallest) = try await reader.value
                #expect(reads > 0)
                #expect(smallest >= 300)
                #expect(progress.eventsDone >= 300)
                try await model.waitUntil(position: last, timeout: .seconds(30))
                let after = try await model.read { _, tables in tables.generation }
                #expect(after > before)
                #expect(try await appliedPositions(model).sorted() == positions(1...340))
                #expect(Set(try await appliedPositions(model)).count == 340)
                // The old generation's schema is gone.
                let schemas = try await database.client.query(
                    PostgresQuery(unsafeSQL: "SELECT count(*) FROM pg_namespace WHERE nspname = '\(database.schema.rawValue)_rm\(before)'")
                ).decode(Int64.self).first { _ in true }
                #expect(schemas == 0)
            }
        }
    }

    @Test func aNewRunnerDropsWhatAnInterruptedRebuildLeft() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let model = try Self.makeModel(database, store: store)
            try await model.prepare()
            let schema = database.schema.rawValue
            // What a rebuild killed mid-way leaves: a frozen serving generation and a half-built one.
            let stray = try #require(
                try await database.client.query(PostgresQuery(unsafeSQL: "INSERT INTO \"\(schema)\".read_model_generations (name) VALUES ('totals') RETURNING generation"))
                    .decode(Int64.self).first { _ in true }
            )
            try await database.client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \"\(schema)_rm\(stray)\""))
            try await database.client.query(PostgresQuery(unsafeSQL: "UPDATE \"\(schema)\".read_models SET frozen = true"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await model.run() }
                defer { group.cancelAll() }
                let last = try await Self.append(store, 3)
                try await model.waitUntil(position: last, timeout: .seconds(30))
                #expect(try await appliedPositions(model) == positions(1...3))
            }
            let schemas = try await database.client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM pg_namespace WHERE nspname = '\(schema)_rm\(stray)'"))
                .decode(Int64.self).first { _ in true }
            #expect(schemas == 0)
            let generations = try await database.client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \"\(schema)\".read_model_generations"))
                .decode(Int64.self).first { _ in true }
            #expect(generations == 1)
        }
    }

    @Test func anInstanceThatDoesNotRunRebuildsWhileNobodyRuns() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let model = try Self.makeModel(database, store: store)
            try await model.prepare()
            let before = try await model.read { _, tables in tables.generation }
            let last = try await Self.append(store, 12)
            let progress = try await model.rebuild()
            #expect(progress.eventsDone == last.value)
            #expect(try await model.read { _, tables in tables.generation } > before)
            #expect(try await appliedPositions(model) == positions(1...12))
            #expect(await model.status().position == last)
        }
    }

    @Test func rebuildByAnInstanceThatDoesNotRunIsRefusedWhileAnotherRuns() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let a = try Self.makeModel(database, store: store)
            let b = try Self.makeModel(database, store: database.makeStore())
            let runA = Task { try await a.run() }
            defer { runA.cancel() }
            try await eventually("a runs") { [.running, .catchingUp].contains(await a.status().state) }
            await #expect { try await b.rebuild() } throws: { ($0 as? ProjectionError)?.code == .alreadyRunning }
        }
    }

    @Test func aCheckpointAheadOfARestoredLogStopsTheModelInsteadOfSkippingEvents() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let model = try Self.makeModel(database, store: store)
            let last = try await Self.append(store, 12)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await model.run() }
                defer { group.cancelAll() }
                try await model.waitUntil(position: last, timeout: .seconds(30))
            }
            // The log is "restored" from a backup holding 5 events; the read model's tables stay.
            let schema = "\"\(database.schema.rawValue)\""
            for sql in [
                "DELETE FROM \(schema).events WHERE position > 5", "UPDATE \(schema).log_head SET position = 5",
                "UPDATE \(schema).streams SET version = 5, last_position = 5",
            ] {
                try await database.client.query(PostgresQuery(unsafeSQL: sql))
            }
            let stale = try Self.makeModel(database, store: database.makeStore())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await stale.run() }
                defer { group.cancelAll() }
                try await eventually("the stale model to fail") { await stale.status().state == .failed }
                let status = await stale.status()
                #expect(status.lastError?.contains("checkpointAheadOfLog") == true, "\(status.lastError ?? "")")
                await #expect { try await stale.waitUntil(position: 13, timeout: .seconds(5)) } throws: {
                    ($0 as? ProjectionError)?.code == .checkpointAheadOfLog
                }
            }
            // Nothing was applied twice or skipped: the model still holds exactly what it applied.
            #expect(try await appliedPositions(stale) == positions(1...12))
        }
    }

    @Test func invalidNamesAndMigrationsAreRefused() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            #expect { try Self.makeModel(database, store: store, name: "no spaces") } throws: { ($0 as? ProjectionError)?.code == .invalidName }
            struct Gapped: PostgresProjector {
                let name = "gapped"
                let migrations = [PostgresReadModelMigration(1, sql: { _ in [] }), PostgresReadModelMigration(3, sql: { _ in [] })]
                func apply(_ events: [RecordedEvent], on connection: PostgresConnection, tables: PostgresReadModelTables) async throws {}
            }
            #expect {
                try PostgresReadModel(Gapped(), store: store, leaseConnection: try database.connectionConfiguration(applicationName: "x"))
            } throws: { ($0 as? ProjectionError)?.code == .invalidConfiguration }
        }
    }

    @Test(arguments: ProjectionConformance.cases)
    func readModelStorageConforms(_ conformanceCase: ProjectionConformance.Case) async throws {
        try await PostgresTestDatabase.withStore { store, database in
            try await conformanceCase.run { (name: String, partitions: Int) async throws -> ProjectionConformance.Fixture in
                let poison = PoisonedPositions()
                let model = try PostgresReadModel(
                    AppliedPositionsProjector(name: name, poison: poison), store: store,
                    leaseConnection: try database.connectionConfiguration(applicationName: "conformance"),
                    options: .init(partitioning: partitions > 1 ? try .byStream(partitions) : .none)
                )
                return ProjectionConformance.Fixture(
                    storage: model.engine.storage,
                    applied: { try await appliedPositions(model) },
                    poison: { poison.set($0) }
                )
            }
        }
    }
}
