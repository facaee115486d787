import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

/// A `ChronicleProjectionCrash` child process (built next to the test binary).
struct ProjectionChild {
    let process: ChildProcess
    /// The exit status (the signal's number if killed; -1 if it did not exit within 10 minutes).
    let exited: Task<Int32, Never>

    init(storePath: String, directory: String, pageSize: Int, blockAt: GlobalPosition, marker: String) throws {
        let process = try ChildProcess(
            try builtProduct("ChronicleProjectionCrash"), [storePath, directory, "\(pageSize)", "\(blockAt.value)", marker]
        )
        self.process = process
        exited = Task { (try? await process.result(timeout: .seconds(600)).status) ?? -1 }
    }

    /// SIGKILL: no cleanup, no rollback, no flushing, like a crash or a power-less OOM kill.
    func kill() async -> Int32 {
        process.kill()
        return await exited.value
    }
}

@Suite struct ProjectionCrashTests {
    /// The checkpoint committed in the read-model file, read with a plain connection.
    static func committedCheckpoint(_ directory: String) throws -> Int64 {
        var configuration = Configuration()
        configuration.readonly = true  // never create the file before the child does
        configuration.busyMode = .timeout(10)  // the child may hold the lock (WAL recovery, a checkpoint)
        let queue = try DatabaseQueue(path: (directory as NSString).appendingPathComponent("counters.sqlite"), configuration: configuration)
        defer { try? queue.close() }
        return try queue.read { db in try Int64.fetchOne(db, sql: "SELECT position FROM chronicle_checkpoint") ?? -1 }
    }

    @Test func aProjectionKilledInTheMiddleOfAPageResumesWithoutDoubleCounting() async throws {
        try await withProjectionStore { store, directory in
            let count = 2_000
            try await Fixtures.append(1...count, to: store)
            let readModels = directory.subdirectory("read-models")
            let marker = directory.subdirectory("blocked")

            // Page size 100: the child commits pages up to 1200, then blocks at 1250, halfway
            // through the page 1201...1300 whose first 49 events are written but not committed.
            let child = try ProjectionChild(storePath: store.path, directory: readModels, pageSize: 100, blockAt: 1_250, marker: marker)
            try await eventually("the child to block mid-page") { FileManager.default.fileExists(atPath: marker) }
            #expect(await child.kill() != 0)
            #expect(try Self.committedCheckpoint(readModels) == 1_200)

            // Restart in this process: the uncommitted half page is gone, the model resumes at 1200.
            let model = try SQLiteReadModel(CounterProjector(), directory: readModels, source: .observing(store), options: .init(pageSize: 100), logger: Fixtures.logger)
            #expect(await model.status().position == 1_200)
            try await whileRunning(model) {
                try await model.waitUntil(position: GlobalPosition(Int64(count)), timeout: .seconds(60))
            }
            #expect(await model.status().parkedCount == 0)
            #expect(try await model.counters() == Fixtures.expectedCounters(1...count))
            #expect(try await model.counters() == Fixtures.cleanReplay(of: store))
        }
    }

    @Test func repeatedKillsAtArbitraryMomentsLeaveAModelEqualToACleanReplay() async throws {
        try await withProjectionStore { store, directory in
            let count = 3_000
            try await Fixtures.append(1...count, to: store)
            let readModels = directory.subdirectory("read-models")
            // Each child is killed as soon as it has committed past the next threshold, wherever
            // it is then (between pages, mid-page, mid-commit).
            for threshold in [300, 1_100, 1_900] {
                let child = try ProjectionChild(storePath: store.path, directory: readModels, pageSize: 37, blockAt: 0, marker: directory.subdirectory("unused"))
                try await eventually("the child to commit past \(threshold)", timeout: .seconds(60)) {
                    (try? Self.committedCheckpoint(readModels)).map { $0 >= Int64(threshold) } ?? false
                }
                _ = await child.kill()
                let checkpoint = try Self.committedCheckpoint(readModels)
                #expect(checkpoint >= Int64(threshold))
            }
            let model = try SQLiteReadModel(CounterProjector(), directory: readModels, source: .observing(store), logger: Fixtures.logger)
            try await whileRunning(model) {
                try await model.waitUntil(position: GlobalPosition(Int64(count)), timeout: .seconds(60))
            }
            #expect(await model.status().parkedCount == 0)
            #expect(try await model.counters() == Fixtures.expectedCounters(1...count))
        }
    }
}

/// The projection conformance suite's crash case on SQLite read models: runner processes killed
/// with SIGKILL at random moments, at least 20 times.
@Suite struct ProjectionCrashConformanceTests {
    @Test func sqliteReadModelsSurviveRandomKills() async throws {
        try await withProjectionStore { store, directory in
            let count = 1_500
            try await Fixtures.append(1...count, to: store)
            let readModels = directory.subdirectory("read-models")
            let file = (readModels as NSString).appendingPathComponent("recorded.sqlite")
            /// Reads the committed state with a plain read-only connection (never creates the file).
            @Sendable func read<T>(_ empty: T, _ body: @escaping @Sendable (GRDB.Database) throws -> T) throws -> T {
                guard FileManager.default.fileExists(atPath: file) else { return empty }
                var configuration = Configuration()
                configuration.readonly = true
                configuration.busyMode = .timeout(10)  // the runner may hold the lock (WAL recovery, a checkpoint)
                let queue = try DatabaseQueue(path: file, configuration: configuration)
                defer { try? queue.close() }
                return try queue.read { db in
                    guard try db.tableExists("applied") else { return empty }
                    return try body(db)
                }
            }
            try await ProjectionConformance.runnersKilledAtRandomMomentsLeaveAModelEqualToACleanReplay(
                kills: 20,
                .init(
                    eventCount: count,
                    startRunner: { pageSize in
                        let process = try ChildProcess(try builtProduct("ChronicleProjectionCrash"), ["record", store.path, readModels, "\(pageSize)"])
                        return .init(kill: {
                            process.kill()
                            _ = try await process.result(timeout: .seconds(60))
                        })
                    },
                    committed: {
                        GlobalPosition(try read(0) { db in try Int64.fetchOne(db, sql: "SELECT MAX(position) FROM chronicle_checkpoint") ?? 0 })
                    },
                    applied: {
                        try read([]) { db in try Int64.fetchAll(db, sql: "SELECT position FROM applied ORDER BY rowid").map { GlobalPosition($0) } }
                    }
                )
            )
        }
    }
}
