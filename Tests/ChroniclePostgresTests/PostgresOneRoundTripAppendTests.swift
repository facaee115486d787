import Chronicle
import ChroniclePostgres
import ChronicleTesting
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// The one-round-trip append (`append_assumed`): appends that expect exact versions are written
/// by one statement; everything else, and every assumption the server declines, goes through the
/// full transaction with the same answers.
@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresOneRoundTripAppendTests {
    @Test func exactVersionAppendsTakeOneRoundTripWithTheFullPathsResults() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let first = try await store.append([testEvent(), testEvent()], to: "order-1", expectedVersion: .noStream)
            let second = try await store.append(testEvent(), to: "order-2", expectedVersion: .exactly(0))
            let third = try await store.append([
                StreamAppend([testEvent()], to: "order-2", expectedVersion: .exactly(1)),
                StreamAppend([testEvent(), testEvent()], to: "order-1", expectedVersion: .exactly(2)),
                StreamAppend([testEvent()], to: "order-3", expectedVersion: .noStream),
            ])
            #expect(store.appendPaths == .init(oneRoundTrip: 3, declined: 0))
            #expect((first.firstVersion, first.version, first.firstPosition, first.position) == (1, 2, 1, 2))
            #expect((second.version, second.position) == (1, 3))
            #expect(third.map(\.firstVersion) == [2, 3, 1])
            #expect(third.map(\.version) == [2, 4, 1])
            #expect(third.map(\.firstPosition) == [4, 5, 7])
            #expect(third.map(\.position) == [4, 6, 7])
            let all = try await store.readAll(after: .start, limit: 100)
            #expect(all.map(\.position.value) == Array(1...7))
            #expect(all.map(\.streamID) == ["order-1", "order-1", "order-2", "order-2", "order-1", "order-1", "order-3"])
            #expect(all.map(\.streamVersion.value) == [1, 2, 1, 2, 3, 4, 1])
            #expect(try await store.headPosition() == 7)
            let streams = try await store.streams(category: nil, after: nil, limit: 10)
            #expect(streams.map(\.id) == ["order-1", "order-2", "order-3"])
            #expect(streams.map(\.version) == [4, 2, 1])
            #expect(streams.map(\.lastPosition) == [6, 4, 7])
        }
    }

    @Test func aDeclinedAssumptionIsAnsweredByTheFullPathAndWritesNothingExtra() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let original = testEvent()
            let written = try await store.append(original, to: "order-1", expectedVersion: .noStream)
            // A stale expected version: declined, then the full path's error; a new stream's
            // placeholder row does not survive either attempt.
            await #expect {
                try await store.append(testEvent(), to: "order-1", expectedVersion: .exactly(0))
            } throws: { error in
                (error as? EventStoreError)?.code == .wrongExpectedVersion && (error as? EventStoreError)?.actualVersion == 1
            }
            await #expect(throws: EventStoreError.self) {
                try await store.append([
                    StreamAppend([testEvent()], to: "order-9", expectedVersion: .noStream),
                    StreamAppend([testEvent()], to: "order-1", expectedVersion: .exactly(7)),
                ])
            }
            // An exact replay: declined (the id is stored), answered with the original result.
            let replay = try await store.append(original, to: "order-1", expectedVersion: .noStream)
            #expect(replay.wasAlreadyStored && (replay.version, replay.position) == (written.version, written.position))
            // The same id in another stream: declined, then refused.
            await #expect {
                try await store.append(original, to: "order-2", expectedVersion: .noStream)
            } throws: { error in
                (error as? EventStoreError)?.code == .duplicateEventID
            }
            #expect(store.appendPaths == .init(oneRoundTrip: 1, declined: 4))
            #expect(try await store.headPosition() == 1)
            #expect(try await store.streams(category: nil, after: nil, limit: 10).map(\.id) == ["order-1"])
        }
    }

    @Test func aDeletedStreamIsRecreatedThroughTheFullPath() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            try await store.append([testEvent(), testEvent()], to: "order-1", expectedVersion: .noStream)
            _ = try await store.deleteStream("order-1", expectedVersion: .exactly(2))
            // Deleted: it reads as no stream, but its row is at version 2, so `append_assumed`
            // declines and the planner, reading the row, continues after the deleted events.
            let recreated = try await store.append(testEvent(), to: "order-1", expectedVersion: .noStream)
            #expect(recreated.version == 3 && recreated.position == 3)
            #expect(store.appendPaths == .init(oneRoundTrip: 1, declined: 1))
            #expect(try await store.readStream("order-1").map(\.streamVersion.value) == [3])
        }
    }

    @Test func appendsWithoutTheFunctionUseTheFullPath() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            // A schema migrated by an older Chronicle has neither function.
            try await database.client.query(PostgresQuery(unsafeSQL: "DROP FUNCTION \"\(database.schema.rawValue)\".append_assumed"))
            try await database.client.query(PostgresQuery(unsafeSQL: "DROP FUNCTION \"\(database.schema.rawValue)\".append_assumed_small"))
            let results = try await store.append([
                StreamAppend([testEvent()], to: "order-1", expectedVersion: .noStream),
                StreamAppend([testEvent()], to: "order-2", expectedVersion: .noStream),
            ])
            #expect(results.map(\.position) == [1, 2])
            #expect(store.appendPaths == .init(oneRoundTrip: 0, declined: 1))
            #expect(try await store.readAll(after: .start, limit: 10).map(\.streamID) == ["order-1", "order-2"])
        }
    }

    /// A declined `append_assumed` is a statement that fails after the server described its row;
    /// run through `PostgresClient.query`, such a failure can keep its pooled connection for ever
    /// (postgres-nio 1.x). On a one-connection pool, hundreds of declines in a row must each give
    /// the connection back, or the next statement waits for ever (the deadline ends the test).
    @Test func declinedAppendsGiveTheirConnectionBack() async throws {
        try await PostgresTestDatabase.withStore(maximumConnections: 1) { store, _ in
            try await store.append(testEvent(), to: "order-1", expectedVersion: .noStream)
            let finished = Mutex(0)
            let work = Task {
                for _ in 0..<300 {
                    do {
                        try await store.append(testEvent(), to: "order-1", expectedVersion: .exactly(7))
                    } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
                        finished.withLock { $0 += 1 }
                    }
                }
            }
            try await eventually("300 declined appends on a one-connection pool", timeout: .seconds(120)) { finished.withLock { $0 } == 300 }
            try await work.value
            #expect(store.appendPaths == .init(oneRoundTrip: 1, declined: 300))
            #expect(try await store.streamVersion(of: "order-1") == 1)
        }
    }

    @Test func appendsThatCannotBePlannedWithoutReadingSkipTheFunction() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            try await store.append(testEvent(), to: "order-1", expectedVersion: .any)
            try await store.append(testEvent(), to: "order-1", expectedVersion: .streamExists)
            // The same stream twice in one call.
            _ = try await store.append([
                StreamAppend([testEvent()], to: "order-1", expectedVersion: .exactly(2)),
                StreamAppend([testEvent()], to: "order-1", expectedVersion: .exactly(3)),
            ])
            #expect(store.appendPaths == .init(oneRoundTrip: 0, declined: 0))
            #expect(try await store.streamVersion(of: "order-1") == 4)
        }
    }

    /// Both functions (`append_assumed` for larger calls, planned per call, and
    /// `append_assumed_small`, planned once per session on index paths) carry this build's body
    /// and their plan settings (JIT compilation off in both).
    @Test func theInstalledFunctionsAreTheOnesThisBuildWrites() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let rows = try await database.client.query(PostgresQuery(unsafeSQL: """
                SELECT p.proname, p.prosrc, array_to_string(p.proconfig, ',') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = '\(database.schema.rawValue)' AND p.proname LIKE 'append_assumed%' ORDER BY p.proname
                """))
            var functions: [(String, String, String)] = []
            for try await function in rows.decode((String, String, String).self) { functions.append(function) }
            #expect(functions.map(\.0) == ["append_assumed", "append_assumed_small"])
            for (_, body, _) in functions {
                #expect(body.trimmingCharacters(in: .whitespacesAndNewlines) == store.appendFunctionBody.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            #expect(functions.first?.2 == "plan_cache_mode=force_custom_plan,jit=off")
            #expect(functions.last?.2 == "plan_cache_mode=force_generic_plan,enable_seqscan=off,enable_hashjoin=off,enable_mergejoin=off,jit=off")
            // The streams table keeps room on its pages for the appends' updates of its rows.
            let options = try await database.client.query(PostgresQuery(unsafeSQL: """
                SELECT coalesce(array_to_string(c.reloptions, ','), '') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = '\(database.schema.rawValue)' AND c.relname = 'streams'
                """))
            var streamsOptions: [String] = []
            for try await option in options.decode(String.self) { streamsOptions.append(option) }
            #expect(streamsOptions == ["fillfactor=50"])
        }
    }

    /// A store migrated by an earlier build (through migration 13: functions that JIT-compile,
    /// `streams` packed full) gets migration 14 when it is migrated again, its events untouched.
    @Test func aStoreFromBeforeMigration14GetsItsSettingsWithItsEventsIntact() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            for index in 0..<20 {
                try await store.append([testEvent(), testEvent()], to: try StreamID("order-\(index % 5)"), expectedVersion: index < 5 ? .noStream : .exactly(StreamVersion(Int64(index / 5 * 2))))
            }
            let schema = "\"\(database.schema.rawValue)\""
            for statement in [
                "ALTER TABLE \(schema).streams RESET (fillfactor)",
                "ALTER FUNCTION \(schema).append_assumed RESET jit",
                "ALTER FUNCTION \(schema).append_assumed_small RESET jit",
                "DELETE FROM \(schema).schema_migrations WHERE version = 14",
            ] {
                try await database.client.query(PostgresQuery(unsafeSQL: statement))
            }
            #expect(try await Self.settings(database) == ["plan_cache_mode=force_custom_plan", "plan_cache_mode=force_generic_plan,enable_seqscan=off,enable_hashjoin=off,enable_mergejoin=off", ""])
            try await store.migrate()
            #expect(try await Self.settings(database) == ["plan_cache_mode=force_custom_plan,jit=off", "plan_cache_mode=force_generic_plan,enable_seqscan=off,enable_hashjoin=off,enable_mergejoin=off,jit=off", "fillfactor=50"])
            #expect(try await store.readAll(after: .start, limit: 100).count == 40)
            try await store.append(testEvent(), to: "order-0", expectedVersion: .exactly(8))
            #expect(try await store.headPosition() == 41)
        }
    }

    /// Both functions' settings, then the `streams` table's storage options.
    private static func settings(_ database: PostgresTestDatabase) async throws -> [String] {
        let rows = try await database.client.query(PostgresQuery(unsafeSQL: """
            SELECT setting FROM (
                SELECT 1 AS kind, p.proname::text AS name, coalesce(array_to_string(p.proconfig, ','), '') AS setting
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = '\(database.schema.rawValue)' AND p.proname LIKE 'append_assumed%'
                UNION ALL
                SELECT 2, c.relname::text, coalesce(array_to_string(c.reloptions, ','), '')
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = '\(database.schema.rawValue)' AND c.relname = 'streams'
            ) AS s ORDER BY kind, name
            """))
        var settings: [String] = []
        for try await setting in rows.decode(String.self) { settings.append(setting) }
        return settings
    }

    /// Small calls (up to 100 events) and larger ones take the one-round-trip path through their
    /// own function, with the same results, on a store grown after the session's first append
    /// (a plan made for the empty tables must still find rows by index).
    @Test func smallAndLargeCallsBothTakeOneRoundTrip() async throws {
        try await PostgresTestDatabase.withStore(maximumConnections: 1) { store, _ in
            try await store.append(testEvent(), to: "first", expectedVersion: .noStream)
            let large = try await store.append((0..<150).map { _ in testEvent() }, to: "bulk", expectedVersion: .noStream)
            #expect((large.firstPosition, large.position, large.version) == (2, 151, 150))
            for index in 0..<300 {
                let result = try await store.append(testEvent(), to: try StreamID("small-\(index % 30)"), expectedVersion: index < 30 ? .noStream : .exactly(StreamVersion(Int64(index / 30))))
                #expect(result.position.value == Int64(152 + index))
            }
            let edge = try await store.append((0..<100).map { _ in testEvent() }, to: "edge", expectedVersion: .noStream)
            #expect(edge.version == 100)
            #expect(store.appendPaths == .init(oneRoundTrip: 303, declined: 0))
            #expect(try await store.streamVersion(of: "small-29") == 10)
            #expect(try await store.headPosition() == 551)
        }
    }

    /// Many tasks on many connections append with exact versions to a few streams, re-reading on
    /// every conflict: no version is lost or doubled, the log is gap-free, and both paths ran.
    @Test func racingExactVersionAppendsKeepVersionsAndPositionsWhole() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let streams: [StreamID] = (0..<4).map { try! StreamID("race-\($0)") }
            let writers = 12, appendsPerWriter = 40
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var generator = SeededRandomNumberGenerator(seed: UInt64(writer + 1))
                        for _ in 0..<appendsPerWriter {
                            let stream = streams[Int(generator.next() % UInt64(streams.count))]
                            while true {
                                let version = try await store.streamVersion(of: stream)
                                do {
                                    try await store.append(testEvent(), to: stream, expectedVersion: version == .initial ? .noStream : .exactly(version))
                                    break
                                } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
                                    continue
                                }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = writers * appendsPerWriter
            let all = try await store.readAll(after: .start, limit: total + 10)
            #expect(all.map(\.position.value) == Array(1...Int64(total)))
            for stream in streams {
                let versions = all.filter { $0.streamID == stream }.map(\.streamVersion.value)
                #expect(versions == (0..<versions.count).map { Int64($0 + 1) })
                #expect(try await store.streamVersion(of: stream).value == Int64(versions.count))
            }
            let paths = store.appendPaths
            #expect(paths.oneRoundTrip + paths.declined >= total)
            #expect(paths.oneRoundTrip > 0)
        }
    }
}
