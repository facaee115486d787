import Chronicle
import ChroniclePostgres
import ChronicleSQLite
import Foundation
import Logging
import PostgresNIO

extension ScenarioRunner {
    /// DCB: tags, tag queries and conditional appends (issue 17) on SQLite (DCB-pg: PostgreSQL).
    ///
    /// 1. Imports `--events` (default 1,000,000) deposits as S3 does (1,000 events per
    ///    transaction), each tagged `t:<seq % 10000>` (10,000 distinct tags, 100 events each) and
    ///    `g:<seq % 100>`: timed, to compare with S3's untagged import.
    /// 2. Queries: 2,000 reads of one random tag from position 0 (100 events each) and 2,000 of
    ///    one tag and one type after a random position; median, p99, and the query plan.
    /// 3. Appends on the loaded store, one event per append to 1,000 streams round-robin, each
    ///    tagged `t:<k>`: 5 blocks of 2,000 plain appends alternating with 5 blocks of 2,000
    ///    appends conditioned on "no event tagged `t:<k>` after the head"; ms per append of each.
    func dcb() async throws {
        let store = try freshStore()
        try await dcb(on: store, name: "DCB") { query in try store.queryPlan(for: query).joined(separator: "; ") }
        try await store.close()
    }

    /// DCB-pg: the same on PostgreSQL (`--db postgres://…`), in a fresh schema `bench_dcb`.
    func dcbOnPostgres() async throws {
        let settings = try PostgresConnectionSettings(url: path)
        let client = PostgresClient(configuration: settings.clientConfiguration(applicationName: "chronicle-bench", maximumConnections: 4))
        let clientTask = Task { await client.run() }
        defer { clientTask.cancel() }
        try await client.query("DROP SCHEMA IF EXISTS bench_dcb CASCADE")
        var logger = Logger(label: "chronicle.bench")
        logger.logLevel = .warning
        let store = PostgresEventStore(client: client, schema: try PostgresSchemaName("bench_dcb"), logger: logger)
        try await store.migrate()
        try await dcb(on: store, name: "DCB-pg") { _ in "event_tags_pk (see PostgresDynamicConsistencyTests)" }
    }

    func dcb(on store: some EventStore, name: String, plan: (EventQuery) throws -> String) async throws {
        let total = events(default: 1_000_000)
        let tagCount = 10_000
        let encoder = DepositEncoder()
        let streamCount = total / 100
        let streams = Workload.streamIDs(streamCount)
        let perTransaction = 1000
        let groups = streamCount / perTransaction
        guard streamCount % perTransaction == 0 else { throw BenchmarkError("DCB needs --events to be a multiple of 100,000") }

        // 1. Tagged import.
        let (_, importTiming) = try await timed {
            var seq = 0
            var batch: [StreamAppend] = []
            for t in 0..<(total / perTransaction) {
                let group = t % groups
                let version = Int64(t / groups + 1)
                batch.removeAll(keepingCapacity: true)
                for s in (group * perTransaction)..<(group * perTransaction + perTransaction) {
                    var event = try encoder.event(seq: seq)
                    event.tags = ["t:\(seq % tagCount)", "g:\(seq % 100)"]
                    batch.append(StreamAppend([event], to: streams[s], expectedVersion: .exactly(StreamVersion(version - 1))))
                    seq += 1
                }
                _ = try await store.append(batch)
            }
        }
        var report = Report(scenario: name + "-import", sync: sync, events: total, timing: importTiming, ops: total / perTransaction, op: "transaction", verified: try await store.headPosition() == GlobalPosition(Int64(total)))
        report.add("payload_bytes_avg", .double(encoder.averagePayloadBytes, digits: 1))
        report.add("tags_per_event", .int(2))
        report.add("distinct_tags", .int(tagCount + 100))
        report.print()

        // 2. Queries.
        var random = SplitMix64(state: 17)
        var byTag: [Double] = []
        var verified = true
        for _ in 0..<2000 {
            let tag = Int(random.next() % UInt64(tagCount))
            let stopwatch = Stopwatch()
            let read = try await store.readEvents(matching: EventQuery(tags: ["t:\(tag)"]), after: .start, limit: 1000)
            byTag.append(stopwatch.stop().seconds * 1000)
            verified = verified && read.count == total / tagCount
        }
        var byTagAndType: [Double] = []
        for _ in 0..<2000 {
            let tag = Int(random.next() % UInt64(tagCount))
            let after = GlobalPosition(Int64(random.next() % UInt64(total)))
            let stopwatch = Stopwatch()
            let read = try await store.readEvents(matching: EventQuery(types: [Deposited.typeName], tags: ["t:\(tag)", "g:\(tag % 100)"]), after: after, limit: 1000)
            byTagAndType.append(stopwatch.stop().seconds * 1000)
            verified = verified && read.allSatisfy { $0.position > after }
        }
        byTag.sort()
        byTagAndType.sort()
        let plan = try plan(EventQuery(types: [Deposited.typeName], tags: ["t:1", "g:1"]))
        var queries = Report(scenario: name + "-query", sync: sync, events: 2000 * (total / tagCount), timing: Timing(seconds: byTag.reduce(0, +) / 1000, cpuSeconds: 0), ops: 2000, op: "query", verified: verified)
        queries.add("store_events", .int(total))
        queries.add("distinct_tags", .int(tagCount))
        queries.add("events_per_query", .int(total / tagCount))
        queries.add("tag_query_ms_p50", .double(percentile(byTag, 0.5), digits: 3))
        queries.add("tag_query_ms_p99", .double(percentile(byTag, 0.99), digits: 3))
        queries.add("tag_type_after_query_ms_p50", .double(percentile(byTagAndType, 0.5), digits: 3))
        queries.add("tag_type_after_query_ms_p99", .double(percentile(byTagAndType, 0.99), digits: 3))
        queries.add("plan_tag_type_query", .string(plan))
        queries.print()

        // 3. Plain vs conditional appends on the loaded store.
        let appendStreams = try Workload.streamIDs(1000).map { stream throws(EventStoreError) in try StreamID("dcb" + stream.rawValue) }
        var versions = [Int64](repeating: 0, count: appendStreams.count)
        var plainSeconds = 0.0, conditionalSeconds = 0.0
        var plainCount = 0, conditionalCount = 0
        var head = try await store.headPosition()
        var seq = total
        for block in 0..<10 {
            let conditional = block % 2 == 1
            let stopwatch = Stopwatch()
            for _ in 0..<2000 {
                let index = seq % appendStreams.count
                var event = try encoder.event(seq: seq)
                let tag = "t:\(seq % tagCount)"
                event.tags = [tag]
                let condition = conditional ? AppendCondition(failIfEventsMatch: EventQuery(tags: [tag]), after: head) : nil
                let results = try await store.append([StreamAppend([event], to: appendStreams[index], expectedVersion: .exactly(StreamVersion(versions[index])), condition: condition)])
                versions[index] += 1
                head = results[0].position
                seq += 1
            }
            let seconds = stopwatch.stop().seconds
            if conditional {
                conditionalSeconds += seconds
                conditionalCount += 2000
            } else {
                plainSeconds += seconds
                plainCount += 2000
            }
        }
        let plainMs = plainSeconds * 1000 / Double(plainCount)
        let conditionalMs = conditionalSeconds * 1000 / Double(conditionalCount)
        var appends = Report(scenario: name + "-append", sync: sync, events: plainCount + conditionalCount, timing: Timing(seconds: plainSeconds + conditionalSeconds, cpuSeconds: 0), ops: plainCount + conditionalCount, op: "append", verified: try await store.headPosition() == GlobalPosition(Int64(seq)))
        appends.add("store_events_before", .int(total))
        appends.add("plain_ms_per_append", .double(plainMs, digits: 5))
        appends.add("conditional_ms_per_append", .double(conditionalMs, digits: 5))
        appends.add("conditional_over_plain", .double(conditionalMs / plainMs, digits: 3))
        appends.print()
    }
}
