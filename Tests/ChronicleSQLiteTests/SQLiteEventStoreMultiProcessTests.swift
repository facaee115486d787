import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import Synchronization
import Testing

/// Launches the `ChronicleStoreStress` helper (built next to the test binary) and returns its
/// output once it exits with status 0.
func runStressProcess(path: String, streams: Int, tasks: Int, appendsPerTask: Int, tag: String) async throws -> String {
    let result = try await ChildProcess.run(try builtProduct("ChronicleStoreStress"), [path, "\(streams)", "\(tasks)", "\(appendsPerTask)", tag])
    #expect(result.status == 0, "ChronicleStoreStress \(tag) exited with \(result.status): \(result.stderr)")
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite struct SQLiteEventStoreMultiProcessTests {
    @Test func twoProcessesAndThisOneAppendingToOneFileLoseAndDuplicateNothing() async throws {
        let streams: [StreamID] = (0..<4).map { StreamID(category: "acct", id: "\($0)") }
        try await withTemporaryStore { store, _ in
            let (outputs, localCount) = try await withThrowingTaskGroup(of: (String?, Int).self) { group in
                for tag in ["p1", "p2"] {
                    group.addTask {
                        (try await runStressProcess(path: store.path, streams: streams.count, tasks: 4, appendsPerTask: 60, tag: tag), 0)
                    }
                }
                for task in 0..<4 {
                    group.addTask {
                        for iteration in 0..<30 {
                            _ = try await appendWithRetry(store, event("Deposited", "local-\(task)-\(iteration)"), to: streams[(task + iteration) % streams.count])
                        }
                        return (nil, 30)
                    }
                }
                var outputs: [String] = []
                var local = 0
                for try await (output, count) in group {
                    if let output { outputs.append(output) }
                    local += count
                }
                return (outputs, local)
            }
            #expect(outputs.count == 2)
            for output in outputs { #expect(output.hasPrefix("ok 240 "), "\(output)") }
            try await expectConsistentLog(store, expectedCount: 2 * 240 + localCount, streams: streams)
        }
    }

    @Test func aWriterKilledMidAppendLeavesAConsistentLogThatOthersContinue() async throws {
        let streams: [StreamID] = (0..<3).map { StreamID(category: "acct", id: "\($0)") }
        try await withTemporaryStore { store, _ in
            let writer = try ChildProcess(try builtProduct("ChronicleStoreStress"), [store.path, "\(streams.count)", "4", "1000000", "doomed"])
            try await eventually("the doomed writer to append 200 events") { try await store.headPosition() >= 200 }
            writer.kill()
            #expect(try await writer.result().signalled)
            let head = try await store.headPosition()
            try await expectConsistentLog(store, expectedCount: Int(head.value), streams: streams)
            // The survivors go on where the killed writer stopped.
            for stream in streams { _ = try await appendWithRetry(store, event(), to: stream) }
            try await expectConsistentLog(store, expectedCount: Int(head.value) + streams.count, streams: streams)
        }
    }

    @Test func headUpdatesNoticeAppendsFromAnotherProcess() async throws {
        try await withTemporaryStore { store, _ in
            let latest = Mutex(GlobalPosition.start)
            let watcher = Task {
                for await head in store.headUpdates(pollInterval: .milliseconds(20)) {
                    latest.withLock { $0 = head }
                }
            }
            defer { watcher.cancel() }
            let output = try await runStressProcess(path: store.path, streams: 3, tasks: 2, appendsPerTask: 25, tag: "other")
            #expect(output.hasPrefix("ok 50 "))
            // Nothing was appended through this store instance, so only polling can see it.
            #expect(store.appendNotifier.head == .start)
            try await eventually("headUpdates to reach 50") { latest.withLock { $0 } == 50 }
        }
    }

    @Test func headUpdatesStartAtTheHeadAndFollowInProcessAppends() async throws {
        try await withTemporaryStore { store, _ in
            try await store.append([event(), event()], to: "order-1", expectedVersion: .noStream)
            // A long poll interval: in-process appends must arrive through the notifier.
            var updates = store.headUpdates(pollInterval: .seconds(3600)).makeAsyncIterator()
            #expect(await updates.next() == 2)
            try await store.append(event(), to: "order-1", expectedVersion: .exactly(2))
            #expect(await updates.next() == 3)
        }
    }

    @Test func headUpdatesEndWhenTheStoreCloses() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .quiet())
        let updates = store.headUpdates(pollInterval: .milliseconds(10))
        let ended = Task {
            var seen = 0
            for await _ in updates { seen += 1 }
            return seen
        }
        try await store.append(event(), to: "order-1", expectedVersion: .noStream)
        try await eventually("the head to reach 1") { try await store.headPosition() == 1 }
        try await store.close()
        #expect(await ended.value >= 1)
    }
}
