import Chronicle
import ChronicleSQLite
import Foundation
import GRDB

/// Runs one scenario of the workload against a fresh database file.
struct ScenarioRunner {
    let options: Options

    var sync: String { options.sync }
    var path: String { options.db }

    func run() async throws {
        if let writer = options.writer {
            return try await concurrentWriterChild(id: writer)
        }
        switch options.scenario {
        case "S1": try await appendRoundRobin("S1", eventsPerAppend: 1)
        case "S1c": try await appendConcurrently()
        case "S2": try await appendRoundRobin("S2", eventsPerAppend: 10)
        case "S3": try await bulkImport()
        case "S4a": try await rehydrate("S4a", streams: 1000)
        case "S4b": try await rehydrate("S4b", streams: 10)
        case "S5": try await catchUpProjection()
        case "S5r-pg": try await catchUpWithRunnerOnPostgres()
        case "S5r": try await catchUpWithRunner()
        case "S6": try await concurrentWriters()
        case "LAT": try await appendToVisibleLatency()
        case "RSS": try await replayMemory()
        case "CODEC": try await codecs()
        case "DCB": try await dcb()
        case "DCB-pg": try await dcbOnPostgres()
        case "RELAY1": try await relay(partitions: 1)
        case "RELAY16": try await relay(partitions: 16)
        default: throw BenchmarkError("unknown scenario \(options.scenario)\n\(Options.usage)")
        }
    }

    func events(default value: Int) -> Int { options.events ?? value }

    // MARK: - Database

    /// Deletes the database file and its WAL and shared-memory files.
    func removeDatabase() {
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: path + suffix)
        }
    }

    /// Opens the store on the database file with the run's durability. The store sets
    /// `journal_mode=WAL`, `synchronous` and a 5 s busy timeout on every connection and reads
    /// them back (opening fails otherwise).
    func openStore() throws -> SQLiteEventStore {
        var configuration = SQLiteEventStore.Configuration()
        configuration.durability = sync == "FULL" ? .full : .normal
        configuration.busyTimeout = .seconds(5)
        return try SQLiteEventStore(path: path, configuration: configuration)
    }

    /// A fresh file with the store's schema (creation is untimed).
    func freshStore() throws -> SQLiteEventStore {
        removeDatabase()
        return try openStore()
    }

    /// A plain connection to the same file (read-model writes of S5, pragma read-back).
    func openConnection() throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        let sync = self.sync
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
        }
        return try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Pragmas as read back from the file: journal mode (persistent) and this connection's
    /// synchronous level (the store checks its own connections when opening).
    func pragmaFields() throws -> [(String, ReportValue)] {
        let queue = try openConnection()
        defer { try? queue.close() }
        let (journal, synchronous, version) = try queue.read { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "?",
                try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1,
                try String.fetchOne(db, sql: "SELECT sqlite_version()") ?? "?"
            )
        }
        return [
            ("journal_mode", .string(journal)), ("synchronous", .int(synchronous)),
            ("sqlite", .string(version)), ("db", .string(path)),
        ]
    }

    func file(_ suffix: String = "") -> Int {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix)
        return (attributes?[.size] as? NSNumber)?.intValue ?? 0
    }

    // MARK: - Writing the generators' data

    /// RR(N, M, k), each append its own call (and transaction), with exact expected versions
    /// from the writer's own state.
    func writeRoundRobin(_ store: some EventStore, streams: [StreamID], rounds: Int, eventsPerAppend k: Int, encoder: DepositEncoder) async throws -> Int {
        var seq = 0
        var appends = 0
        for round in 0..<rounds {
            for stream in streams {
                var events: [EventData] = []
                events.reserveCapacity(k)
                for _ in 0..<k {
                    events.append(try encoder.event(seq: seq))
                    seq += 1
                }
                try await store.append(events, to: stream, expectedVersion: .exactly(StreamVersion(Int64(round * k))))
                appends += 1
            }
        }
        return appends
    }

    /// RR(N, M, 1) written with `perTransaction` events per atomic append call (untimed setups).
    func writeRoundRobinBatched(_ store: some EventStore, streams: [StreamID], rounds: Int, perTransaction: Int, encoder: DepositEncoder) async throws {
        var seq = 0
        var batch: [StreamAppend] = []
        batch.reserveCapacity(perTransaction)
        for round in 0..<rounds {
            for stream in streams {
                batch.append(StreamAppend([try encoder.event(seq: seq)], to: stream, expectedVersion: .exactly(StreamVersion(Int64(round)))))
                seq += 1
                if batch.count == perTransaction {
                    _ = try await store.append(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
        }
        if !batch.isEmpty { _ = try await store.append(batch) }
    }

    /// IMP(T, B): T/B atomic append calls of B streams with one event each. Returns the calls made.
    func writeImport(_ store: some EventStore, events total: Int, perTransaction b: Int, encoder: DepositEncoder) async throws -> Int {
        let streamCount = total / 100
        guard streamCount >= b, streamCount % b == 0, total % b == 0 else {
            throw BenchmarkError("IMP needs T/100 to be a multiple of B=\(b) (T=\(total))")
        }
        let streams = Workload.streamIDs(streamCount)
        let groups = streamCount / b
        var seq = 0
        var batch: [StreamAppend] = []
        batch.reserveCapacity(b)
        for t in 0..<(total / b) {
            let group = t % groups
            let version = Int64(t / groups + 1)
            batch.removeAll(keepingCapacity: true)
            for s in (group * b)..<(group * b + b) {
                batch.append(StreamAppend([try encoder.event(seq: seq)], to: streams[s], expectedVersion: .exactly(StreamVersion(version - 1))))
                seq += 1
            }
            _ = try await store.append(batch)
        }
        return total / b
    }

    // MARK: - Verification (untimed, through the public API)

    /// What a full read of the global log found.
    struct LogCheck {
        var events = 0
        var positionsGapFree = true
        var versionsContiguous = true
        /// Last version of every stream.
        var versions: [String: Int64] = [:]
    }

    /// Reads the global log after position `after` (by default the whole log) in pages: positions
    /// must be `after` + 1, 2, 3… and every stream's versions 1, 2, 3… in log order.
    func checkLog(_ store: some EventReader, after: Int64 = 0) async throws -> LogCheck {
        var check = LogCheck()
        var expectedPosition = after + 1
        for try await event in store.allEvents(after: GlobalPosition(after), pageSize: 1000) {
            if event.position.value != expectedPosition { check.positionsGapFree = false }
            expectedPosition = event.position.value + 1
            let last = check.versions[event.streamID.rawValue] ?? 0
            if event.streamVersion.value != last + 1 { check.versionsContiguous = false }
            check.versions[event.streamID.rawValue] = event.streamVersion.value
            check.events += 1
        }
        return check
    }

    /// `events` events gap-free after position `after` (by default the whole log), in `streams`
    /// streams each at version `perStream` with contiguous versions, and the store's own view of
    /// each stream agrees.
    func verifyLog(_ store: some EventReader, events: Int, streams: Int, perStream: Int64, after: Int64 = 0) async throws -> Bool {
        let check = try await checkLog(store, after: after)
        var ok = check.events == events && check.positionsGapFree && check.versionsContiguous
        ok = ok && check.versions.count == streams && check.versions.values.allSatisfy { $0 == perStream }
        let head = try await store.headPosition()
        ok = ok && head == GlobalPosition(after + Int64(events))
        if let (id, _) = check.versions.first {
            let version = try await store.streamVersion(of: StreamID(id))
            ok = ok && version == StreamVersion(perStream)
        }
        if !ok {
            log("verification failed: \(check.events) events, gap-free \(check.positionsGapFree), contiguous \(check.versionsContiguous), \(check.versions.count) streams")
        }
        return ok
    }
}
