import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

/// Checks the invariants a log must keep whatever the concurrency: positions 1…n, each stream's
/// versions 1…k in position order, no id twice, `expectedCount` events.
func expectConsistentLog(_ store: SQLiteEventStore, expectedCount: Int, streams: [StreamID]) async throws {
    let all = try await store.readAll(after: .start, limit: .max)
    #expect(all.count == expectedCount)
    #expect(all.map(\.position.value) == (0..<all.count).map { Int64($0 + 1) }, "the global log has gaps or is out of order")
    #expect(Set(all.map(\.id)).count == all.count, "an event id appears twice")
    var perStream: [StreamID: [Int64]] = [:]
    for event in all { perStream[event.streamID, default: []].append(event.streamVersion.value) }
    for (stream, versions) in perStream {
        #expect(versions == (0..<versions.count).map { Int64($0 + 1) }, "versions of \(stream) are not contiguous")
        #expect(try await store.streamVersion(of: stream) == StreamVersion(Int64(versions.count)))
    }
    #expect(Set(perStream.keys).isSubset(of: Set(streams)))
    let listed = try await store.streams(category: nil, after: nil, limit: .max)
    #expect(listed.reduce(0) { $0 + Int($1.version.value) } == expectedCount)
    #expect(try await store.headPosition() == GlobalPosition(Int64(expectedCount)))
}

/// Appends one event to `stream` with the exact version just read, retrying on conflict.
/// Returns the number of conflicts met.
func appendWithRetry(_ store: SQLiteEventStore, _ event: EventData, to stream: StreamID) async throws -> Int {
    var conflicts = 0
    while true {
        let version = try await store.streamVersion(of: stream)
        do {
            try await store.append(event, to: stream, expectedVersion: .exactly(version))
            return conflicts
        } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
            conflicts += 1
        }
    }
}

@Suite struct SQLiteEventStoreConcurrencyTests {
    @Test func concurrentAppendersWithRetriesLoseAndDuplicateNothing() async throws {
        let tasks = 16, iterations = 40
        let streams: [StreamID] = (0..<5).map { StreamID(category: "acct", id: "\($0)") }
        try await withTemporaryStore { store, _ in
            let conflicts = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var conflicts = 0
                        for iteration in 0..<iterations {
                            let stream = streams[(task * 7 + iteration) % streams.count]
                            conflicts += try await appendWithRetry(store, event("Deposited", "\(task)-\(iteration)"), to: stream)
                        }
                        return conflicts
                    }
                }
                var total = 0
                for try await conflicts in group { total += conflicts }
                return total
            }
            try await expectConsistentLog(store, expectedCount: tasks * iterations, streams: streams)
            // Not asserted (it depends on scheduling), but recorded: how contended the run was.
            let statistics = store.groupCommitStatistics
            print("concurrent appenders: \(conflicts) conflicts, \(statistics.transactions) transactions for \(statistics.appendCalls) calls, largest batch \(statistics.largestBatch)")
        }
    }

    /// With both durabilities: `.full` lets a lone append commit (and fsync) on the caller's
    /// thread too, and must still coalesce appends that queue.
    @Test(arguments: [SQLiteEventStore.Durability.normal, .full])
    func groupCommitCoalescesAppendsQueuedWhileATransactionIsInFlight(durability: SQLiteEventStore.Durability) async throws {
        try await withTemporaryStore(configuration: .quiet(durability: durability)) { store, _ in
            // Another connection holds the write lock, so the first transaction waits in
            // BEGIN IMMEDIATE while the other appends queue up behind it.
            var lockerConfiguration = GRDB.Configuration()
            lockerConfiguration.allowsUnsafeTransactions = true
            let locker = try DatabaseQueue(path: store.path, configuration: lockerConfiguration)
            try locker.inDatabase { db in try db.execute(sql: "BEGIN EXCLUSIVE") }
            let calls = 40
            let appends = Task {
                try await withThrowingTaskGroup(of: AppendResult.self) { group in
                    for index in 0..<calls {
                        group.addTask { try await store.append(event(), to: StreamID(category: "order", id: "\(index)"), expectedVersion: .noStream) }
                    }
                    var results: [AppendResult] = []
                    for try await result in group { results.append(result) }
                    return results
                }
            }
            // The first transaction (with whatever had arrived when the writer woke up) is blocked;
            // wait until every other call is queued behind it.
            try await eventually("all calls in the blocked transaction or queued") {
                let statistics = store.groupCommitStatistics
                return statistics.transactions == 1 && statistics.appendCalls + statistics.queuedAppendCalls == calls
            }
            try locker.inDatabase { db in try db.execute(sql: "ROLLBACK") }
            try locker.close()
            let results = try await appends.value
            #expect(Set(results.map(\.position)).count == calls)
            let statistics = store.groupCommitStatistics
            #expect(statistics.appendCalls == calls)
            #expect(statistics.transactions <= 2)
            #expect(statistics.largestBatch >= calls / 2)
            try await expectConsistentLog(store, expectedCount: calls, streams: (0..<calls).map { StreamID(category: "order", id: "\($0)") })
        }
    }

    @Test func groupCommitBatchesNeverExceedTheConfiguredMaximum() async throws {
        var configuration = SQLiteEventStore.Configuration.quiet()
        configuration.maximumBatchSize = 5
        try await withTemporaryStore(configuration: configuration) { store, _ in
            var lockerConfiguration = GRDB.Configuration()
            lockerConfiguration.allowsUnsafeTransactions = true
            let locker = try DatabaseQueue(path: store.path, configuration: lockerConfiguration)
            try locker.inDatabase { db in try db.execute(sql: "BEGIN EXCLUSIVE") }
            let calls = 23
            let appends = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<calls {
                        group.addTask { try await store.append(event(), to: StreamID(category: "order", id: "\(index)"), expectedVersion: .noStream) }
                    }
                    try await group.waitForAll()
                }
            }
            try await eventually("all calls in the blocked transaction or queued") {
                let statistics = store.groupCommitStatistics
                return statistics.transactions == 1 && statistics.appendCalls + statistics.queuedAppendCalls == calls
            }
            try locker.inDatabase { db in try db.execute(sql: "ROLLBACK") }
            try locker.close()
            try await appends.value
            let statistics = store.groupCommitStatistics
            #expect(statistics.largestBatch == 5)
            #expect(statistics.transactions >= 5)
            try await expectConsistentLog(store, expectedCount: calls, streams: (0..<calls).map { StreamID(category: "order", id: "\($0)") })
        }
    }

    @Test func aConflictInACoalescedBatchFailsOnlyItsOwnAppend() async throws {
        try await withTemporaryStore { store, _ in
            try await store.append(event(), to: "order-taken", expectedVersion: .noStream)
            var lockerConfiguration = GRDB.Configuration()
            lockerConfiguration.allowsUnsafeTransactions = true
            let locker = try DatabaseQueue(path: store.path, configuration: lockerConfiguration)
            try locker.inDatabase { db in try db.execute(sql: "BEGIN EXCLUSIVE") }
            let first = Task { try await store.append(event(), to: "order-first", expectedVersion: .noStream) }
            try await eventually("the first transaction to start") { store.groupCommitStatistics.transactions == 2 }
            let good = Task { try await store.append(event(), to: "order-good", expectedVersion: .noStream) }
            let conflicting = Task { try await store.append(event(), to: "order-taken", expectedVersion: .noStream) }
            let duplicate = EventData(type: "Happened", payload: Data())
            let alsoGood = Task { try await store.append([duplicate], to: "order-also-good", expectedVersion: .noStream) }
            try await eventually("three queued calls") { store.groupCommitStatistics.queuedAppendCalls == 3 }
            try locker.inDatabase { db in try db.execute(sql: "ROLLBACK") }
            try locker.close()
            _ = try await first.value
            #expect(try await good.value.version == 1)
            #expect(try await alsoGood.value.version == 1)
            await #expect(throws: EventStoreError.self) { try await conflicting.value }
            #expect(store.groupCommitStatistics.largestBatch == 3)
            #expect(try await store.streamVersion(of: "order-taken") == 1)
            try await expectConsistentLog(store, expectedCount: 4, streams: ["order-taken", "order-first", "order-good", "order-also-good"])
        }
    }
}
