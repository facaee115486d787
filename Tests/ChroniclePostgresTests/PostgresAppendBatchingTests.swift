import Chronicle
import ChroniclePostgres
import ChronicleTesting
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// Group commit on PostgreSQL (`PostgresAppendBatching`): concurrent one-round-trip appends
/// share a statement, each call stays atomic and contiguous, and a batch the server declines
/// gives every call the answer it would have had alone.
///
/// The batches are made deterministic with a row lock: another transaction holds the `blocker`
/// stream's row, an append to `blocker` takes the only statement slot and waits on it, and the
/// test queues calls (waiting until the store counts them as queued) before it lets go.
@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresAppendBatchingTests {
    static let oneSlot = PostgresAppendBatching(concurrentBatches: 1)

    final class LockFlags: Sendable {
        let locked = Mutex(false)
        let released = Mutex(false)
    }

    /// Holds the `blocker` stream's row lock in a transaction of its own until `body` calls
    /// `release` (or returns).
    static func whileBlockerIsLocked(_ database: PostgresTestDatabase, _ body: @Sendable (_ release: @escaping @Sendable () -> Void) async throws -> Void) async throws {
        let flags = LockFlags()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await database.client.withTransaction(logger: Logger(label: "test")) { connection in
                    let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT version FROM \"\(database.schema.rawValue)\".streams WHERE stream_id = 'blocker' FOR UPDATE"), logger: Logger(label: "test"))
                    for try await _ in rows {}
                    flags.locked.withLock { $0 = true }
                    try await eventually("the test lets go of the blocker's row", timeout: .seconds(120)) { flags.released.withLock { $0 } }
                }
            }
            try await eventually("the blocker's row is locked") { flags.locked.withLock { $0 } }
            defer { flags.released.withLock { $0 = true } }
            try await body { flags.released.withLock { $0 = true } }
            flags.released.withLock { $0 = true }
            try await group.waitForAll()
        }
    }

    /// Starts `append` in `group` and waits until the store counts `queued` calls waiting.
    static func queue(
        _ store: PostgresEventStore, _ group: inout ThrowingTaskGroup<(String, Result<[AppendResult], EventStoreError>), any Error>,
        _ name: String, expecting queued: Int, _ append: @escaping @Sendable () async throws -> [AppendResult]
    ) async throws {
        group.addTask {
            do {
                return (name, .success(try await append()))
            } catch let error as EventStoreError {
                return (name, .failure(error))
            }
        }
        try await eventually("\(queued) append calls queued") { store.groupCommitStatistics.queuedAppendCalls == queued }
    }

    @Test func queuedAppendsShareOneStatementAndEachCallStaysWholeAndContiguous() async throws {
        try await PostgresTestDatabase.withStore(appendBatching: Self.oneSlot) { store, database in
            try await store.append(testEvent(), to: "blocker", expectedVersion: .noStream)
            let outcomes = Mutex<[String: Result<[AppendResult], EventStoreError>]>([:])
            try await Self.whileBlockerIsLocked(database) { release in
                try await withThrowingTaskGroup(of: (String, Result<[AppendResult], EventStoreError>).self) { group in
                    // Takes the only slot, then waits for the row lock.
                    group.addTask { ("blocker", .success([try await store.append(testEvent(), to: "blocker", expectedVersion: .exactly(1))])) }
                    try await eventually("the blocker's append holds the slot") { store.groupCommitStatistics.transactions == 2 }
                    // Single-stream calls of one to three events, and two atomic two-stream calls.
                    for index in 0..<12 {
                        try await Self.queue(store, &group, "s\(index)", expecting: index + 1) {
                            [try await store.append((0...(index % 3)).map { _ in testEvent() }, to: try StreamID("s-\(index)"), expectedVersion: .noStream)]
                        }
                    }
                    for index in 0..<2 {
                        try await Self.queue(store, &group, "pair\(index)", expecting: 13 + index) {
                            try await store.append([
                                StreamAppend([testEvent(), testEvent()], to: try StreamID("pair-a\(index)"), expectedVersion: .noStream),
                                StreamAppend([testEvent()], to: try StreamID("pair-b\(index)"), expectedVersion: .noStream),
                            ])
                        }
                    }
                    // Two calls on a stream already taken into the batch (`s-0`, then its next
                    // version) and one reusing an event id of a queued call wait for the next statement.
                    try await Self.queue(store, &group, "s0-again", expecting: 15) {
                        [try await store.append(testEvent(), to: "s-0", expectedVersion: .exactly(1))]
                    }
                    let shared = UUID()
                    try await Self.queue(store, &group, "id-first", expecting: 16) {
                        [try await store.append(testEvent(id: shared), to: "id-1", expectedVersion: .noStream)]
                    }
                    try await Self.queue(store, &group, "id-again", expecting: 17) {
                        [try await store.append(testEvent(id: shared), to: "id-2", expectedVersion: .noStream)]
                    }
                    release()
                    for try await (name, outcome) in group { outcomes.withLock { $0[name] = outcome } }
                }
            }
            let results = outcomes.withLock { $0 }
            // Setup and the blocker alone; one batch of 15 calls; then the two held back in a
            // batch the server declines (the id is stored by then), so each runs alone: `s-0`'s
            // next version commits, the reused id is refused as a duplicate by the full path.
            let statistics = store.groupCommitStatistics
            #expect(statistics.queuedAppendCalls == 0)
            #expect(statistics.largestBatch == 15)
            #expect(statistics.transactions == 6)
            #expect(statistics.appendCalls == 21)
            #expect(store.appendPaths == .init(oneRoundTrip: 18, declined: 2))
            if case .failure(let error)? = results["id-again"] {
                #expect(error.code == .duplicateEventID)
            } else {
                Issue.record("the reused id was accepted: \(String(describing: results["id-again"]))")
            }
            #expect(try results["s0-again"]?.get().first?.version == 2)

            // Every event is in the log once, gap-free; each call's events are contiguous and
            // its results name them.
            let all = try await store.readAll(after: .start, limit: 1000)
            #expect(all.map(\.position.value) == Array(1...Int64(all.count)))
            for (name, outcome) in results {
                guard case .success(let appended) = outcome else { continue }
                for result in appended {
                    let events = all.filter { $0.position >= result.firstPosition && $0.position <= result.position }
                    #expect(events.allSatisfy { $0.streamID == result.streamID }, "\(name)")
                    #expect(events.map(\.streamVersion.value) == Array(result.firstVersion.value...result.version.value), "\(name)")
                }
                if appended.count == 2 { #expect(appended[1].firstPosition == appended[0].position.next, "\(name)") }
            }
            let expectedCount = 2 + 24 + 6 + 1 + 1
            #expect(all.count == expectedCount)
        }
    }

    @Test func aDeclinedBatchGivesEachCallItsOwnAnswer() async throws {
        try await PostgresTestDatabase.withStore(appendBatching: Self.oneSlot) { store, database in
            try await store.append(testEvent(), to: "blocker", expectedVersion: .noStream)
            let stored = testEvent()
            let original = try await store.append(stored, to: "old", expectedVersion: .noStream)
            let outcomes = Mutex<[String: Result<[AppendResult], EventStoreError>]>([:])
            try await Self.whileBlockerIsLocked(database) { release in
                try await withThrowingTaskGroup(of: (String, Result<[AppendResult], EventStoreError>).self) { group in
                    group.addTask { ("blocker", .success([try await store.append(testEvent(), to: "blocker", expectedVersion: .exactly(1))])) }
                    try await eventually("the blocker's append holds the slot") { store.groupCommitStatistics.transactions == 3 }
                    try await Self.queue(store, &group, "good-1", expecting: 1) {
                        [try await store.append(testEvent(), to: "good-1", expectedVersion: .noStream)]
                    }
                    // A stale version and an exact replay: the server declines the whole batch.
                    try await Self.queue(store, &group, "stale", expecting: 2) {
                        [try await store.append(testEvent(), to: "old", expectedVersion: .exactly(5))]
                    }
                    try await Self.queue(store, &group, "replay", expecting: 3) {
                        [try await store.append(stored, to: "old-replay", expectedVersion: .noStream)]
                    }
                    try await Self.queue(store, &group, "good-2", expecting: 4) {
                        [try await store.append([testEvent(), testEvent()], to: "good-2", expectedVersion: .noStream)]
                    }
                    release()
                    for try await (name, outcome) in group { outcomes.withLock { $0[name] = outcome } }
                }
            }
            let results = outcomes.withLock { $0 }
            #expect(try results["good-1"]?.get().first?.version == 1)
            #expect(try results["good-2"]?.get().first?.version == 2)
            if case .failure(let error)? = results["stale"] {
                #expect(error.code == .wrongExpectedVersion && error.actualVersion == 1)
            } else {
                Issue.record("the stale append succeeded: \(String(describing: results["stale"]))")
            }
            // The same id in another stream: a duplicate, not a replay.
            if case .failure(let error)? = results["replay"] { #expect(error.code == .duplicateEventID) } else { Issue.record("reused id accepted") }
            #expect(original.position == 2)
            let statistics = store.groupCommitStatistics
            #expect(statistics.largestBatch == 4)
            #expect(statistics.queuedAppendCalls == 0)
            #expect(statistics.transactions == 8)
            #expect(store.appendPaths.declined == 3)
            // Blocker (twice), `old`, the good calls alone after the declined batch.
            #expect(store.appendPaths.oneRoundTrip == 5)
            let all = try await store.readAll(after: .start, limit: 100)
            #expect(all.map(\.position.value) == Array(1...Int64(all.count)))
            #expect(all.count == 6)
            #expect(try await store.streamVersion(of: "old") == 1)
            #expect(try await store.streams(category: nil, after: nil, limit: 10).map(\.id.rawValue).sorted() == ["blocker", "good-1", "good-2", "old"])
        }
    }

    /// Many tasks append to their own streams with a pool of many connections: batches form on
    /// their own, and every call's events land once, whole and in order.
    @Test func concurrentAppendersBatchWithoutLosingOrDoublingAnEvent() async throws {
        try await PostgresTestDatabase.withStore(appendBatching: PostgresAppendBatching()) { store, _ in
            let writers = 16, appendsPerWriter = 25
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        let stream = try StreamID("w-\(writer)")
                        for round in 0..<appendsPerWriter {
                            let expected: ExpectedVersion = round == 0 ? .noStream : .exactly(StreamVersion(Int64(round * 2)))
                            let result = try await store.append([testEvent(), testEvent()], to: stream, expectedVersion: expected)
                            #expect(result.version.value == Int64(round * 2 + 2))
                            #expect(result.position.value == result.firstPosition.value + 1)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = writers * appendsPerWriter * 2
            let all = try await store.readAll(after: .start, limit: total + 10)
            #expect(all.map(\.position.value) == Array(1...Int64(total)))
            for writer in 0..<writers {
                let versions = all.filter { $0.streamID.rawValue == "w-\(writer)" }.map(\.streamVersion.value)
                #expect(versions == Array(1...Int64(appendsPerWriter * 2)))
            }
            let statistics = store.groupCommitStatistics
            #expect(statistics.appendCalls == writers * appendsPerWriter)
            #expect(statistics.queuedAppendCalls == 0)
            #expect(store.appendPaths == .init(oneRoundTrip: writers * appendsPerWriter, declined: 0))
        }
    }

    @Test func batchingOffRunsEveryCallAlone() async throws {
        try await PostgresTestDatabase.withStore(appendBatching: .off) { store, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for round in 0..<10 {
                            try await store.append(testEvent(), to: try StreamID("w-\(writer)"), expectedVersion: round == 0 ? .noStream : .exactly(StreamVersion(Int64(round))))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let statistics = store.groupCommitStatistics
            #expect(statistics == GroupCommitStatistics(transactions: 80, appendCalls: 80, largestBatch: 1, queuedAppendCalls: 0))
        }
    }
}
