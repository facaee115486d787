import Chronicle
import ChroniclePostgres
import Foundation
import Synchronization
import Testing

// The classic bug of event stores on a database sequence: writer A takes position 10, writer B
// takes 11 and commits first; a catch-up reader reads 11, moves its checkpoint past 10, and
// never sees A's event when it commits. PostgresEventStore hands positions out under the row
// lock of a one-row counter held until commit, so commits become visible in position order.
// These tests hammer that with many connections and several OS processes while a reader
// follows the log and checks that every event it reads is exactly the one after the last.
@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresGlobalOrderTests {
    /// What a following reader observed.
    struct Observation: Sendable {
        var last: GlobalPosition = .start
        var skips: [String] = []
        var reads = 0
        var partialReads = 0
    }

    /// Follows `readAll` until `total` events were read, recording any position that is not
    /// exactly the previous one plus one.
    static func follow(_ store: PostgresEventStore, total: Int64) async throws -> Observation {
        var observation = Observation()
        let deadline = ContinuousClock.now + .seconds(120)
        while observation.last.value < total {
            let page = try await store.readAll(after: observation.last, limit: 50)
            observation.reads += 1
            if !page.isEmpty && page.last!.position.value < total { observation.partialReads += 1 }
            for event in page {
                if event.position.value != observation.last.value + 1 {
                    observation.skips.append("read \(event.position) right after \(observation.last)")
                }
                observation.last = event.position
            }
            if ContinuousClock.now > deadline {
                Issue.record("the reader stopped at \(observation.last) of \(total)")
                break
            }
            if page.isEmpty { await Task.yield() }
        }
        return observation
    }

    /// Checks the final log: positions 1...total, and every stream's versions 1...n in position order.
    static func expectGapFreeLog(_ store: PostgresEventStore, total: Int64) async throws {
        var positions: [Int64] = []
        var versions: [StreamID: [Int64]] = [:]
        for try await event in store.allEvents(pageSize: 500) {
            positions.append(event.position.value)
            versions[event.streamID, default: []].append(event.streamVersion.value)
        }
        #expect(positions == Array(1...total))
        for (stream, seen) in versions {
            #expect(seen == Array(1...Int64(seen.count)), "stream \(stream) has versions \(seen)")
            #expect(try await store.streamVersion(of: stream).value == Int64(seen.count))
        }
        #expect(try await store.headPosition().value == total)
    }

    @Test func concurrentWritersOnManyConnectionsNeverLetAFollowingReaderSkipAPosition() async throws {
        try await PostgresTestDatabase.withStore(maximumConnections: 24) { store, _ in
            let writers = 16, appendsPerWriter = 30
            // Appends of 1 to 3 events, so positions are reserved in blocks of varying size.
            let total = Int64((0..<appendsPerWriter).map { $0 % 3 + 1 }.reduce(0, +) * writers)
            async let observed = Self.follow(store, total: total)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for i in 0..<appendsPerWriter {
                            let events = (0...(i % 3)).map { testEvent("Wrote", "\(writer)/\(i)/\($0)") }
                            try await store.append(events, to: StreamID(category: "w\(writer)", id: "\(i % 2)"), expectedVersion: .any)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let observation = try await observed
            #expect(observation.skips.isEmpty, "\(observation.skips.prefix(5))")
            #expect(observation.last.value == total)
            #expect(observation.partialReads > 0, "the reader should have read while writers were still writing")
            try await Self.expectGapFreeLog(store, total: total)
        }
    }

    @Test func writersInSeveralProcessesInterleaveIntoOneGapFreeLog() async throws {
        try await PostgresTestDatabase.withStore(maximumConnections: 12) { store, database in
            let perProcess = 160, inProcessWriters = 4, perInProcessWriter = 40
            let total = Int64(2 * perProcess + inProcessWriters * perInProcessWriter)
            let url = try #require(PostgresTestEnvironment.url)
            async let observed = Self.follow(store, total: total)
            let workers = try (1...2).map { try WorkerProcess(["append", url, database.schema.rawValue, "\($0)", "\(perProcess)"]) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<inProcessWriters {
                    group.addTask {
                        for i in 0..<perInProcessWriter {
                            try await store.append(testEvent("Wrote", "\(writer)/\(i)"), to: StreamID(category: "local", id: "\(writer)"), expectedVersion: .any)
                        }
                    }
                }
                try await group.waitForAll()
            }
            for worker in workers {
                #expect(try await worker.waitForExit().status == 0)
                #expect(worker.stdout.contains("done \(perProcess)"))
            }
            let observation = try await observed
            #expect(observation.skips.isEmpty, "\(observation.skips.prefix(5))")
            #expect(observation.last.value == total)
            try await Self.expectGapFreeLog(store, total: total)
            let processStreams = try await store.streams(category: "proc1", after: nil, limit: 10) + store.streams(category: "proc2", after: nil, limit: 10)
            #expect(processStreams.map(\.version.value).reduce(0, +) == Int64(2 * perProcess))
        }
    }
}
