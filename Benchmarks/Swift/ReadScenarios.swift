import Chronicle
import ChronicleSQLite
import Foundation
import GRDB

extension ScenarioRunner {
    /// S4a (1000 streams × 100) and S4b (10 streams × 10,000): load every aggregate in a fixed
    /// shuffled order (seed 42), one stream read each, decoding every payload.
    func rehydrate(_ name: String, streams streamCount: Int) async throws {
        let total = events(default: 100_000)
        let perStream = total / streamCount
        let streams = Workload.streamIDs(streamCount)
        let encoder = DepositEncoder()
        let setup = try await freshBenchStore()
        try await writeRoundRobinBatched(setup.store, streams: streams, rounds: perStream, perTransaction: 1000, encoder: encoder)
        try await setup.close()

        // Reopen: SQLite's page cache cold, the OS page cache warm (PostgreSQL: a new client, the
        // server's buffers warm).
        let opened = try await reopenBenchStore()
        let store = opened.store
        let order = Workload.shuffledIndices(streamCount, seed: 42)
        let clock = ContinuousClock()
        var reading = Duration.zero
        let (states, timing) = try await timed {
            var states: [AccountState] = []
            states.reserveCapacity(streamCount)
            for index in order {
                var state = AccountState()
                let start = clock.now
                if options.decode == "full" {
                    // Decoded in place and folded as each row is read, as AggregateRepository loads.
                    _ = try await store.readStreamInPlace(streams[index], from: .first, limit: .max) { event, payload in
                        guard case .deposited(let deposited)? = try AccountEvent.codec.decode(event, payload: payload).first else {
                            throw BenchmarkError("event at \(event.position) is not a deposit")
                        }
                        state.evolve(event, amount: deposited.amount)
                    }
                    reading += clock.now - start
                    states.append(state)
                    continue
                }
                let events = try await store.readStream(streams[index])
                reading += clock.now - start
                if options.decode == "amount" {
                    for event in events { state.evolve(event, amount: try scannedAmount(event)) }
                } else {
                    for event in events { state.evolve(event, try AccountEvent.deposit(event)) }
                }
                states.append(state)
            }
            return states
        }
        let loaded = states.reduce(0) { $0 + $1.count }
        let verified = states.allSatisfy { $0.contiguous && $0.count == perStream && $0.version == Int64(perStream) }
            && loaded == streamCount * perStream
            && states.reduce(0) { $0 + $1.sum } == expectedAmountSum(events: streamCount * perStream)
        var report = Report(scenario: name, sync: sync, events: loaded, timing: timing, ops: streamCount, op: "aggregate", verified: verified)
        try await addCommonFields(&report, encoder: encoder, on: opened)
        try await opened.close()
        report.add("aggregates", .int(streamCount))
        if options.decode != "full" { report.add("decode", .string(options.decode)) }
        report.add("aggregates_per_s", .double(Double(streamCount) / timing.seconds, digits: 1))
        // Where the time went: the store's reads (with `full`, decoding and folding in place too) vs decode + fold.
        report.add("store_read_s", .double(reading.seconds, digits: 4))
        report.add("decode_fold_s", .double(timing.seconds - reading.seconds, digits: 4))
        report.print()
    }

    /// S5: a catch-up projection from position 0 in pages of 1000, one upsert per event into
    /// `stream_summary`, the checkpoint written in the same transaction, one commit per page.
    /// The read model lives in the same file, written through its own connection.
    func catchUpProjection() async throws {
        if isPostgres { return try await catchUpProjectionOnPostgres() }
        let total = events(default: 1_000_000)
        let encoder = DepositEncoder()
        let store = try freshStore()
        _ = try await writeImport(store, events: total, perTransaction: 1000, encoder: encoder)
        let readModel = try openConnection()
        try await readModel.write { db in
            try db.execute(sql: SummaryProjection.createTables)
        }
        let projection = SummaryProjection(store: store, readModel: readModel)
        var breakdown = SummaryProjection.Breakdown()
        let ((pages, projected), timing) = try await timed { try await projection.catchUp(&breakdown) }

        let (summed, checkpoint) = try await readModel.read { db in
            (try Int.fetchOne(db, sql: "SELECT sum(n) FROM stream_summary") ?? 0,
             try Int64.fetchOne(db, sql: SummaryProjection.readCheckpoint) ?? 0)
        }
        let head = try await store.headPosition()
        try readModel.close()
        try await store.close()
        let verified = summed == total && projected == total && checkpoint == head.value
        var report = Report(scenario: "S5", sync: sync, events: projected, timing: timing, ops: pages, op: "page", verified: verified)
        try addCommonFields(&report, encoder: encoder)
        report.add("read_model", .string("same file, own GRDB connection"))
        report.add("store_read_s", .double(breakdown.reading.seconds, digits: 4))
        report.add("decode_s", .double(breakdown.decoding.seconds, digits: 4))
        report.print()
    }

    /// RSS: peak resident memory while replaying the global log (default 1,000,000 events) with the
    /// paged `allEvents` sequence, decoding every payload. The setup (RR(1000, 1000) in atomic calls
    /// of 1000 events) runs first; the peak mark is reset before the replay.
    func replayMemory() async throws {
        let total = events(default: 1_000_000)
        let streamCount = 1000
        let streams = Workload.streamIDs(streamCount)
        let encoder = DepositEncoder()
        let setup = try freshStore()
        try await writeRoundRobinBatched(setup, streams: streams, rounds: total / streamCount, perTransaction: 1000, encoder: encoder)
        try await setup.close()
        let setupPeak = memoryStatus().peakKiB

        let store = try openStore()
        let reset = resetPeakMemory()
        let before = memoryStatus()
        let ((replayed, sum), timing) = try await timed {
            var replayed = 0
            var sum = 0
            for try await event in store.allEvents(after: .start, pageSize: 1000) {
                sum += try AccountEvent.deposit(event).amount
                replayed += 1
            }
            return (replayed, sum)
        }
        let after = memoryStatus()
        try await store.close()
        let verified = replayed == total && sum == expectedAmountSum(events: total)
        var report = Report(scenario: "RSS", sync: sync, events: replayed, timing: timing, ops: (replayed + 999) / 1000, op: "page", verified: verified)
        try addCommonFields(&report, encoder: encoder)
        report.add("peak_reset", .bool(reset))
        report.add("rss_before_mib", .double(Double(before.currentKiB) / 1024, digits: 1))
        report.add("peak_rss_mib", .double(Double(after.peakKiB) / 1024, digits: 1))
        report.add("rss_after_mib", .double(Double(after.currentKiB) / 1024, digits: 1))
        report.add("setup_peak_rss_mib", .double(Double(setupPeak) / 1024, digits: 1))
        report.print()
    }
}

/// The S5 read model: per-stream count, total and last version, with its checkpoint.
struct SummaryProjection {
    static let name = "summary"
    static let createTables = """
        CREATE TABLE stream_summary (stream_id TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL,
            total INTEGER NOT NULL, last_version INTEGER NOT NULL);
        CREATE TABLE checkpoints (projection_name TEXT PRIMARY KEY NOT NULL, position INTEGER NOT NULL);
        """
    static let readCheckpoint = "SELECT position FROM checkpoints WHERE projection_name = 'summary'"
    static let upsertSummary = """
        INSERT INTO stream_summary (stream_id, n, total, last_version) VALUES (?, 1, ?, ?)
        ON CONFLICT (stream_id) DO UPDATE SET n = n + 1, total = total + excluded.total,
            last_version = excluded.last_version
        """
    static let writeCheckpoint = """
        INSERT INTO checkpoints (projection_name, position) VALUES ('summary', ?)
        ON CONFLICT (projection_name) DO UPDATE SET position = excluded.position
        """

    let store: any EventReader
    let readModel: DatabaseQueue

    /// Projects from the stored checkpoint to the head. Returns the pages and events applied.
    func catchUp(_ breakdown: inout Breakdown) async throws -> (pages: Int, events: Int) {
        var checkpoint = GlobalPosition(try await readModel.read { db in try Int64.fetchOne(db, sql: Self.readCheckpoint) } ?? 0)
        var pages = 0
        var events = 0
        let clock = ContinuousClock()
        while true {
            let start = clock.now
            let page = try await store.readAll(after: checkpoint, limit: 1000)
            let read = clock.now
            breakdown.reading += read - start
            guard let last = page.last else { break }
            let rows = try page.map { event in
                (event.streamID, try AccountEvent.deposit(event).amount, event.streamVersion)
            }
            breakdown.decoding += clock.now - read
            try await readModel.write { db in
                let upsert = try SQLiteFastStatement(db, sql: Self.upsertSummary)
                for (stream, amount, version) in rows {
                    try upsert.execute(stream, amount, version)
                }
                try db.cachedStatement(sql: Self.writeCheckpoint).execute(arguments: [last.position.value])
            }
            checkpoint = last.position
            pages += 1
            events += page.count
        }
        return (pages, events)
    }

    /// Where the catch-up's time went: the store's `readAll` calls and JSON decoding (the rest is
    /// the read-model transaction).
    struct Breakdown {
        var reading = Duration.zero
        var decoding = Duration.zero
    }
}
