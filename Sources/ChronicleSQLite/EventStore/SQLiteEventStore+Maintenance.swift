public import Chronicle
public import Foundation
import GRDB

extension SQLiteEventStore: StreamMaintenance {
    /// Truncates a stream (see ``Chronicle/StreamMaintenance/truncateStream(_:before:)``), under
    /// the write lock.
    public func truncateStream(_ stream: StreamID, before version: StreamVersion) async throws {
        try await inWriteTransaction("Truncating \(stream)") { db in
            let (key, state) = try Self.state(of: stream, in: db)
            let truncated = try StreamMaintenanceRules.truncation(of: state, stream: stream, before: version)
            try db.execute(sql: SQLiteStatements.setTruncation, arguments: [truncated.truncatedBefore.value, 0, key])
        }
    }

    /// Deletes a stream (see ``Chronicle/StreamMaintenance/deleteStream(_:expectedVersion:)``),
    /// under the write lock.
    @discardableResult
    public func deleteStream(_ stream: StreamID, expectedVersion: ExpectedVersion) async throws -> StreamState {
        try await inWriteTransaction("Deleting \(stream)") { db in
            let (key, state) = try Self.state(of: stream, in: db)
            let deleted = try StreamMaintenanceRules.deletion(of: state, stream: stream, expectedVersion: expectedVersion)
            try db.execute(sql: SQLiteStatements.setTruncation, arguments: [deleted.truncatedBefore.value, 1, key])
            return deleted
        }
    }

    /// A stream's state (see ``Chronicle/StreamMaintenance/streamState(of:)``).
    public func streamState(of stream: StreamID) async throws -> StreamState? {
        try read(operation: "Reading the state of \(stream)") { db in try Self.state(of: stream, in: db).1 }
    }

    /// Applies retention policies and erases the events before every stream's truncation point
    /// (see ``Chronicle/StreamMaintenance/scavenge(policies:now:dryRun:)``).
    ///
    /// One transaction per stream, each under the write lock (appends wait for one stream's
    /// erasure at most). Erased bytes are overwritten in the file (`PRAGMA secure_delete`), and
    /// the WAL is checkpointed and truncated at the end, so a scan of the file and its WAL finds
    /// none of them (a reader holding an old snapshot can keep the WAL from truncating: then
    /// ``checkpoint()`` later).
    public func scavenge(policies: [RetentionPolicy], now: Date, dryRun: Bool) async throws -> ScavengeReport {
        try checkOpen()
        try RetentionPolicy.validate(policies)
        let byCategory = Dictionary(policies.map { ($0.category, $0) }, uniquingKeysWith: { first, _ in first })
        let categories = String(decoding: try JSONEncoder().encode(policies.map(\.category)), as: UTF8.self)
        let candidates: [(StreamID, String)] = try read(operation: "Listing streams to scavenge") { db in
            try Row.fetchAll(db, sql: SQLiteStatements.scavengeCandidates, arguments: [categories]).compactMap { row in
                SQLiteValues.streamID(row[0]).map { ($0, row[1] as String) }
            }
        }
        let nowMilliseconds = SQLiteValues.milliseconds(now)
        var streams: [ScavengeReport.Stream] = []
        var bytes: Int64 = 0
        for (done, (stream, category)) in candidates.enumerated() {
            let policy = byCategory[category]
            let (line, erasedBytes) = try await inWriteTransaction("Scavenging \(stream)") { db in
                try Self.scavenge(stream, policy: policy, now: now, nowMilliseconds: nowMilliseconds, dryRun: dryRun, in: db)
            }
            if let line {
                streams.append(line)
                bytes += erasedBytes
            }
            StreamMaintenanceRules.scavengeProgress?(line, done + 1, candidates.count)
        }
        if !dryRun && !streams.isEmpty { _ = try await checkpoint() }
        return ScavengeReport(dryRun: dryRun, streams: streams, erasedBytes: bytes, head: try await headPosition())
    }

    /// Scavenges one stream inside the caller's transaction: its report line (`nil` if nothing
    /// to erase) and the bytes erased.
    private static func scavenge(
        _ stream: StreamID, policy: RetentionPolicy?, now: Date, nowMilliseconds: Int64, dryRun: Bool, in db: Database
    ) throws -> (ScavengeReport.Stream?, Int64) {
        let (key, found) = try state(of: stream, in: db)
        guard let state = found else { return (nil, 0) }
        var truncatedBefore = state.truncatedBefore
        if let policy {
            var first: StreamVersion?
            if let cutoff = policy.cutoff(now: now) {
                let milliseconds = nowMilliseconds - Int64((now.timeIntervalSince(cutoff) * 1000).rounded())
                if let version = try Int64.fetchOne(db, sql: SQLiteStatements.firstVersionRecordedSince, arguments: [key, milliseconds]) {
                    first = StreamVersion(version)
                }
            }
            truncatedBefore = max(truncatedBefore, policy.truncation(version: state.version, firstVersionAtOrAfterCutoff: first))
        }
        var erased: Int64 = 0
        var erasedBytes: Int64 = 0
        var tags: [(String, Int64)] = []
        for row in try Row.fetchAll(db, sql: SQLiteStatements.erasableEvents, arguments: [key, truncatedBefore.value]) {
            erased += 1
            let position: Int64 = row[0]
            erasedBytes += row[1] as Int64? ?? 0
            if let text = row[2] as String? { tags += SQLiteValues.tags(text).map { ($0, position) } }
        }
        guard erased > 0 else { return (nil, 0) }
        if !dryRun {
            for (tag, position) in tags { try db.execute(sql: SQLiteStatements.deleteTag, arguments: [tag, position]) }
            try db.execute(sql: SQLiteStatements.eraseEvents, arguments: [key, truncatedBefore.value])
            try db.execute(sql: SQLiteStatements.setTruncation, arguments: [truncatedBefore.value, state.isDeleted ? 1 : 0, key])
        }
        return (ScavengeReport.Stream(id: stream, truncatedBefore: truncatedBefore, erasedEvents: erased, isDeleted: state.isDeleted), erasedBytes)
    }

    /// The stored retention policies (see ``Chronicle/StreamMaintenance/retentionPolicies()``).
    public func retentionPolicies() async throws -> [RetentionPolicy] {
        try checkOpen()
        return try read(operation: "Reading the retention policies") { db in
            try Row.fetchAll(db, sql: SQLiteStatements.listPolicies).map { row in
                var policy = RetentionPolicy(category: row[0], maxCount: row[1])
                policy.maxAgeSeconds = row[2]
                return policy
            }
        }
    }

    /// Stores a retention policy (see ``Chronicle/StreamMaintenance/setRetentionPolicy(_:)``).
    public func setRetentionPolicy(_ policy: RetentionPolicy) async throws {
        try policy.validate()
        try await inWriteTransaction("Storing the retention policy of \(policy.category)") { db in
            try db.execute(sql: SQLiteStatements.upsertPolicy, arguments: [policy.category, policy.maxCount, policy.maxAgeSeconds])
        }
    }

    /// Removes a stored retention policy (see ``Chronicle/StreamMaintenance/removeRetentionPolicy(category:)``).
    @discardableResult
    public func removeRetentionPolicy(category: String) async throws -> Bool {
        try await inWriteTransaction("Removing the retention policy of \(category)") { db in
            try db.execute(sql: SQLiteStatements.deletePolicy, arguments: [category])
            return db.changesCount > 0
        }
    }

    /// The stream's key and state, read on `db`.
    static func state(of stream: StreamID, in db: Database) throws -> (Int64, StreamState?) {
        guard let row = try Row.fetchOne(db, sql: SQLiteStatements.selectStreamState, arguments: [stream.rawValue]) else { return (0, nil) }
        guard let key = row[0] as Int64?, let version = row[1] as Int64?, let truncated = row[2] as Int64?, let deleted = row[3] as Int64? else {
            throw EventStoreError(.corruptRecord, "The row of stream \(stream) is damaged. Restore from a backup.", streamID: stream)
        }
        return (key, StreamState(id: stream, version: StreamVersion(version), truncatedBefore: StreamVersion(truncated), isDeleted: deleted == 1))
    }

    /// Runs `body` in an immediate transaction on the writer connection (serialised with the
    /// appends of this store, and by SQLite's lock with other processes').
    func inWriteTransaction<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try checkOpen()
        do {
            return try await pool.writeWithoutTransaction { db in
                var value: T?
                try db.inTransaction(.immediate) {
                    value = try body(db)
                    return .commit
                }
                return value!
            }
        } catch {
            throw SQLiteErrorMapping.map(error, path: path, operation: operation)
        }
    }
}
