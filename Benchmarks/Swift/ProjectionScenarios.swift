import Chronicle
import ChronicleSQLite
import Foundation
import GRDB
import Logging

/// The S5 read model as a Chronicle projector, run by ``SQLiteReadModel`` (LAT and S5r).
struct SummaryProjector: SQLiteProjector {
    let name = "summary"

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE stream_summary (stream_id TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL,
                    total INTEGER NOT NULL, last_version INTEGER NOT NULL)
                """)
        }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        try SQLiteFastStatement(db, sql: SummaryProjection.upsertSummary)
            .execute(event.streamID, try AccountEvent.deposit(event).amount, event.streamVersion)
    }
}

extension ScenarioRunner {
    /// A read model of ``SummaryProjector`` in a fresh directory beside the database file, following `store`.
    func freshReadModel(_ store: SQLiteEventStore, pageSize: Int) throws -> (SQLiteReadModel, directory: String) {
        let directory = path + "-read-models"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var logger = Logger(label: "chronicle.bench")
        logger.logLevel = .warning
        let model = try SQLiteReadModel(
            SummaryProjector(), directory: directory, source: .observing(store),
            options: SQLiteReadModel.Options(pageSize: pageSize), logger: logger)
        return (model, directory)
    }

    /// LAT: append → visible latency with a live projector. One writer appends single events one
    /// at a time (100 streams, round-robin); a ``SQLiteReadModel`` runs ``SummaryProjector``
    /// following the store. Visible = from calling `append` until `waitUntil(position:)` returns
    /// (the read model committed the event). Also reported: until a listener on the store's
    /// `appendNotifier.updates()` saw the head, and the append call alone.
    func appendToVisibleLatency() async throws {
        let total = events(default: 5000)
        let streamCount = 100
        let streams = Workload.streamIDs(streamCount)
        let encoder = DepositEncoder()
        let store = try freshStore()
        let (readModel, directory) = try freshReadModel(store, pageSize: 1000)
        let runner = Task { try await readModel.run() }

        let clock = ContinuousClock()
        let (seen, seenContinuation) = AsyncStream.makeStream(of: (GlobalPosition, ContinuousClock.Instant).self)
        let updates = store.appendNotifier.updates()
        let listener = Task {
            for await head in updates { seenContinuation.yield((head, clock.now)) }
            seenContinuation.finish()
        }
        var seenIterator = seen.makeAsyncIterator()
        _ = await seenIterator.next()  // the initial head

        var visible: [Double] = []
        var notified: [Double] = []
        var returned: [Double] = []
        var versions = [Int64](repeating: 0, count: streamCount)
        let stopwatch = Stopwatch()
        for n in 0..<total {
            let index = n % streamCount
            let event = try encoder.event(seq: n)
            let before = clock.now
            let result = try await store.append(event, to: streams[index], expectedVersion: .exactly(StreamVersion(versions[index])))
            returned.append((clock.now - before).seconds * 1000)
            versions[index] += 1
            try await readModel.waitUntil(position: result.position, timeout: .seconds(10))
            visible.append((clock.now - before).seconds * 1000)
            while let (head, at) = await seenIterator.next() {
                if head >= result.position {
                    notified.append((at - before).seconds * 1000)
                    break
                }
            }
        }
        let timing = stopwatch.stop()
        let projected = try await readModel.read { db in try Int.fetchOne(db, sql: "SELECT sum(n) FROM stream_summary") ?? 0 }
        runner.cancel()
        _ = try? await runner.value
        let verified = try await verifyLog(store, events: total, streams: streamCount, perStream: Int64(total / streamCount))
        try await store.close()
        listener.cancel()
        try? FileManager.default.removeItem(atPath: directory)
        visible.sort()
        notified.sort()
        returned.sort()
        var report = Report(scenario: "LAT", sync: sync, events: total, timing: timing, ops: total, op: "append", verified: verified && projected == total)
        try addCommonFields(&report, encoder: encoder)
        report.add("visible_via", .string("SQLiteReadModel.waitUntil(position:)"))
        report.add("visible_p50_ms", .double(percentile(visible, 0.50), digits: 4))
        report.add("visible_p99_ms", .double(percentile(visible, 0.99), digits: 4))
        report.add("visible_max_ms", .double(visible.last ?? .nan, digits: 4))
        report.add("notified_p50_ms", .double(percentile(notified, 0.50), digits: 4))
        report.add("notified_p99_ms", .double(percentile(notified, 0.99), digits: 4))
        report.add("append_p50_ms", .double(percentile(returned, 0.50), digits: 4))
        report.add("append_p99_ms", .double(percentile(returned, 0.99), digits: 4))
        report.print()
    }

    /// S5r: S5's catch-up run by Chronicle's own projection runner (``SQLiteReadModel``, pages of
    /// 1000, checkpoint in the page's transaction). Deviation from S5: by Chronicle's design the
    /// read model lives in its own file, not in the event store's file.
    func catchUpWithRunner() async throws {
        let total = events(default: 1_000_000)
        let encoder = DepositEncoder()
        let store = try freshStore()
        _ = try await writeImport(store, events: total, perTransaction: 1000, encoder: encoder)
        let head = try await store.headPosition()
        let (readModel, directory) = try freshReadModel(store, pageSize: 1000)
        let (projected, timing) = try await timed {
            let runner = Task { try await readModel.run() }
            try await readModel.waitUntil(position: head, timeout: .seconds(600))
            runner.cancel()
            _ = try? await runner.value
            return try await readModel.read { db in try Int.fetchOne(db, sql: "SELECT sum(n) FROM stream_summary") ?? 0 }
        }
        let status = await readModel.status()
        try await store.close()
        try? FileManager.default.removeItem(atPath: directory)
        let verified = projected == total && status.position == head
        var report = Report(scenario: "S5r", sync: sync, events: total, timing: timing, ops: (total + 999) / 1000, op: "page", verified: verified)
        try addCommonFields(&report, encoder: encoder)
        report.add("read_model", .string("SQLiteReadModel, own file"))
        report.print()
    }
}
