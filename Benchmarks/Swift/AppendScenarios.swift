import Chronicle
import ChronicleSQLite
import Foundation

extension ScenarioRunner {
    /// S1 (k = 1) and S2 (k = 10): RR(1000, M, k), one append call per stream and round.
    ///
    /// With `--prefill N` (S1 on SQLite): the fresh file first gets N events in 1,000 other streams
    /// (RR(1000, N/1000) in atomic calls of 1,000 events, untimed), so the timed appends run
    /// against a store that already holds N events; the verification reads the log after N.
    func appendRoundRobin(_ name: String, eventsPerAppend k: Int) async throws {
        let streamCount = 1000
        let total = events(default: 100_000)
        let rounds = total / streamCount / k
        let streams = Workload.streamIDs(streamCount)
        let encoder = DepositEncoder()
        if options.prefill != nil && isPostgres { throw BenchmarkError("--prefill runs on SQLite only") }
        let opened = try await freshBenchStore()
        let store = opened.store
        var prefillFields: [(String, ReportValue)] = []
        if let prefill = options.prefill {
            prefillFields = try await prefillStore(store, events: prefill, firstStream: streamCount)
        }
        let prefilled = Int64(options.prefill ?? 0)
        let ioBefore = processIO()
        let (appends, timing) = try await timed {
            try await writeRoundRobin(store, streams: streams, rounds: rounds, eventsPerAppend: k, encoder: encoder)
        }
        let ioAfter = processIO()
        let written = rounds * k * streamCount
        let verified = try await verifyLog(store, events: written, streams: streamCount, perStream: Int64(rounds * k), after: prefilled)
        var report = Report(scenario: name, sync: sync, events: written, timing: timing, ops: appends, op: "append", verified: verified)
        report.extra += prefillFields
        if options.prefill != nil, !ioAfter.isEmpty {
            // What the timed appends asked of the kernel, per append: a count that the machine's
            // load does not move (SQLite's page-cache misses are reads; WAL frames are writes).
            func perAppend(_ key: String, scale: Double = 1) -> ReportValue {
                .double(Double((ioAfter[key] ?? 0) - (ioBefore[key] ?? 0)) / scale / Double(max(appends, 1)), digits: 2)
            }
            report.add("read_calls_per_append", perAppend("syscr"))
            report.add("read_kib_per_append", perAppend("rchar", scale: 1024))
            report.add("write_calls_per_append", perAppend("syscw"))
            report.add("written_kib_per_append", perAppend("wchar", scale: 1024))
        }
        try await addCommonFields(&report, encoder: encoder, on: opened)
        try await opened.close()
        report.print()
    }

    /// S1's untimed prefill: `total` events in the 1,000 streams `stream(first) ..< stream(first + 1000)`
    /// (none of S1's own), written as RR(1000, total/1000) in atomic calls of 1,000 events. Returns the
    /// report's fields: `prefill`, the setup's seconds and the file's bytes (db + WAL) after it.
    func prefillStore(_ store: some EventStore, events total: Int, firstStream first: Int) async throws -> [(String, ReportValue)] {
        let streams = (first..<(first + 1000)).map(Workload.streamID)
        if total > 0 { log("prefill: writing \(total) events in 1000 streams (untimed)") }
        let (_, timing) = try await timed {
            try await writeRoundRobinBatched(store, streams: streams, rounds: total / 1000, perTransaction: 1000, encoder: DepositEncoder())
        }
        let head = try await store.headPosition()
        guard head == GlobalPosition(Int64(total)) else {
            throw BenchmarkError("prefill: head at \(head.value) after writing \(total) events")
        }
        if total > 0 { log("prefill: \(total) events in \(String(format: "%.1f", timing.seconds)) s") }
        // The load averages as the timed appends start (a long prefill moves them from the run's start).
        let loadavg = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
        return [
            ("prefill", .int(total)), ("prefill_streams", .int(1000)),
            ("prefill_s", .double(timing.seconds, digits: 1)),
            ("prefill_bytes_db_plus_wal", .int(file() + file("-wal"))),
            ("loadavg_at_timed_start", .string(loadavg)),
        ]
    }

    /// S1c: the S1 data appended by 16 concurrent tasks, one per group of streams (stream `i`
    /// belongs to group `i % 16`); each task appends to its streams round-robin, one event per call.
    func appendConcurrently() async throws {
        let streamCount = 1000
        let taskCount = 16
        let total = events(default: 100_000)
        let rounds = total / streamCount
        let streams = Workload.streamIDs(streamCount)
        let opened = try await freshBenchStore(connections: taskCount)
        let store = opened.store
        let (results, timing) = try await timed {
            try await withThrowingTaskGroup(of: (appends: Int, bytes: Int, count: Int).self) { group in
                for task in 0..<taskCount {
                    let mine = stride(from: task, to: streamCount, by: taskCount).map { ($0, streams[$0]) }
                    group.addTask {
                        let encoder = DepositEncoder()
                        var appends = 0
                        for round in 0..<rounds {
                            for (index, stream) in mine {
                                let event = try encoder.event(seq: round * streamCount + index)
                                try await store.append(event, to: stream, expectedVersion: .exactly(StreamVersion(Int64(round))))
                                appends += 1
                            }
                        }
                        return (appends, encoder.payloadBytes, encoder.payloadCount)
                    }
                }
                var sum = (appends: 0, bytes: 0, count: 0)
                for try await result in group {
                    sum.appends += result.appends
                    sum.bytes += result.bytes
                    sum.count += result.count
                }
                return sum
            }
        }
        let written = rounds * streamCount
        let statistics = opened.sqlite?.groupCommitStatistics ?? opened.postgres?.groupCommitStatistics
        let verified = try await verifyLog(store, events: written, streams: streamCount, perStream: Int64(rounds))
        var report = Report(scenario: "S1c", sync: sync, events: written, timing: timing, ops: results.appends, op: "append", verified: verified)
        report.extra += try await backendFields(opened)
        try await opened.close()
        report.add("payload_bytes_avg", .double(Double(results.bytes) / Double(max(results.count, 1)), digits: 1))
        report.add("event_type", .string(Deposited.typeName))
        report.add("tasks", .int(taskCount))
        if let statistics {
            report.add("transactions", .int(statistics.transactions))
            report.add("appends_per_transaction", .double(Double(statistics.appendCalls) / Double(max(statistics.transactions, 1)), digits: 2))
            report.add("largest_batch", .int(statistics.largestBatch))
        }
        report.print()
    }

    /// S3: IMP(T, 1000), one atomic multi-stream append call per transaction, then file sizes.
    func bulkImport() async throws {
        let total = events(default: 1_000_000)
        let encoder = DepositEncoder()
        let opened = try await freshBenchStore()
        let (transactions, timing) = try await timed {
            try await writeImport(opened.store, events: total, perTransaction: 1000, encoder: encoder)
        }
        let verified = try await verifyLog(opened.store, events: total, streams: total / 100, perStream: 100)
        if isPostgres {
            var report = Report(scenario: "S3", sync: sync, events: total, timing: timing, ops: transactions, op: "transaction", verified: verified)
            try await addCommonFields(&report, encoder: encoder, on: opened)
            try await opened.close()
            return report.print()
        }
        let leftBytes = file() + file("-wal")
        try await opened.close()
        let queue = try openConnection()
        try await queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try queue.close()
        let checkpointed = file()
        var report = Report(scenario: "S3", sync: sync, events: total, timing: timing, ops: transactions, op: "transaction", verified: verified)
        try addCommonFields(&report, encoder: encoder)
        report.add("bytes_db_plus_wal", .int(leftBytes))
        report.add("bytes_after_checkpoint", .int(checkpointed))
        report.add("bytes_per_event", .double(Double(checkpointed) / Double(total), digits: 1))
        report.print()
    }

    /// The backend's fields (``backendFields(_:)``), the payload size and the event type.
    func addCommonFields(_ report: inout Report, encoder: DepositEncoder, on opened: BenchStore) async throws {
        report.extra += try await backendFields(opened)
        report.add("payload_bytes_avg", .double(encoder.averagePayloadBytes, digits: 1))
        report.add("event_type", .string(Deposited.typeName))
    }

    func addCommonFields(_ report: inout Report, encoder: DepositEncoder) throws {
        report.extra += try pragmaFields()
        report.add("payload_bytes_avg", .double(encoder.averagePayloadBytes, digits: 1))
        report.add("event_type", .string(Deposited.typeName))
    }
}
