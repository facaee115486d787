public import Chronicle
public import Foundation
import PostgresNIO

extension PostgresEventStore: StreamMaintenance {
    /// Truncates a stream (see ``Chronicle/StreamMaintenance/truncateStream(_:before:)``), with
    /// its row locked as appends lock it.
    public func truncateStream(_ stream: StreamID, before version: StreamVersion) async throws {
        try await inTransaction("truncating \(stream)") { connection in
            let state = try await self.lockedState(of: stream, on: connection)
            let truncated = try StreamMaintenanceRules.truncation(of: state, stream: stream, before: version)
            try await self.execute(self.sql.setTruncation, [stream.rawValue, truncated.truncatedBefore.value, false], on: connection)
            return .commit(())
        }
    }

    /// Deletes a stream (see ``Chronicle/StreamMaintenance/deleteStream(_:expectedVersion:)``),
    /// with its row locked as appends lock it.
    @discardableResult
    public func deleteStream(_ stream: StreamID, expectedVersion: ExpectedVersion) async throws -> StreamState {
        try await inTransaction("deleting \(stream)") { connection in
            let state = try await self.lockedState(of: stream, on: connection)
            let deleted = try StreamMaintenanceRules.deletion(of: state, stream: stream, expectedVersion: expectedVersion)
            try await self.execute(self.sql.setTruncation, [stream.rawValue, deleted.truncatedBefore.value, true], on: connection)
            return .commit(deleted)
        }
    }

    /// A stream's state (see ``Chronicle/StreamMaintenance/streamState(of:)``).
    public func streamState(of stream: StreamID) async throws -> StreamState? {
        do {
            return try await withRows(sql.streamState, [stream.rawValue]) { try await Self.state(of: stream, from: $0) }
        } catch {
            throw PostgresFailure.map(error, while: "reading the state of \(stream)")
        }
    }

    /// Applies retention policies and erases the events before every stream's truncation point
    /// (see ``Chronicle/StreamMaintenance/scavenge(policies:now:dryRun:)``): one transaction per
    /// stream, its row locked as appends lock it. The erased rows are updated in place; PostgreSQL
    /// keeps the old row versions until `VACUUM` (see `Docs/Operations.md`).
    public func scavenge(policies: [RetentionPolicy], now: Date, dryRun: Bool) async throws -> ScavengeReport {
        try RetentionPolicy.validate(policies)
        let byCategory = Dictionary(policies.map { ($0.category, $0) }, uniquingKeysWith: { first, _ in first })
        var candidates: [(StreamID, String)] = []
        do {
            candidates = try await withRows(sql.scavengeCandidates, [policies.map(\.category)]) { rows in
                var found: [(StreamID, String)] = []
                for try await (id, category) in rows.decode((String, String).self) {
                    found.append((StreamID(unchecked: id), category))
                }
                return found
            }
        } catch {
            throw PostgresFailure.map(error, while: "listing the streams to scavenge")
        }
        var streams: [ScavengeReport.Stream] = []
        var bytes: Int64 = 0
        for (done, (stream, category)) in candidates.enumerated() {
            let policy = byCategory[category]
            let (line, erasedBytes) = try await inTransaction("scavenging \(stream)") { connection -> TransactionEnd<(ScavengeReport.Stream?, Int64)> in
                guard let state = try await self.lockedState(of: stream, on: connection) else { return .rollback((nil, 0)) }
                var truncatedBefore = state.truncatedBefore
                if let policy {
                    var first: StreamVersion?
                    if let cutoff = policy.cutoff(now: now) {
                        if let version = try await self.scalar(self.sql.firstVersionRecordedSince, [stream.rawValue, cutoff], on: connection), version > 0 {
                            first = StreamVersion(version)
                        }
                    }
                    truncatedBefore = max(truncatedBefore, policy.truncation(version: state.version, firstVersionAtOrAfterCutoff: first))
                }
                var erased: Int64 = 0, erasedBytes: Int64 = 0
                for try await (count, size) in try await self.query(self.sql.erasableEvents, [stream.rawValue, truncatedBefore.value], on: connection).decode((Int64, Int64).self) {
                    (erased, erasedBytes) = (count, size)
                }
                guard erased > 0 else { return .rollback((nil, 0)) }
                let line = ScavengeReport.Stream(id: stream, truncatedBefore: truncatedBefore, erasedEvents: erased, isDeleted: state.isDeleted)
                if dryRun { return .rollback((line, erasedBytes)) }
                try await self.execute(self.sql.deleteErasableTags, [stream.rawValue, truncatedBefore.value], on: connection)
                try await self.execute(self.sql.eraseEvents, [stream.rawValue, truncatedBefore.value], on: connection)
                try await self.execute(self.sql.setTruncation, [stream.rawValue, truncatedBefore.value, state.isDeleted], on: connection)
                return .commit((line, erasedBytes))
            }
            if let line {
                streams.append(line)
                bytes += erasedBytes
            }
            StreamMaintenanceRules.scavengeProgress?(line, done + 1, candidates.count)
        }
        return ScavengeReport(dryRun: dryRun, streams: streams, erasedBytes: bytes, head: try await headPosition())
    }

    private func lockedState(of stream: StreamID, on connection: PostgresConnection) async throws -> StreamState? {
        try await Self.state(of: stream, from: query(sql.lockStreamState, [stream.rawValue], on: connection))
    }

    private static func state(of stream: StreamID, from rows: PostgresRowSequence) async throws -> StreamState? {
        var state: StreamState?
        for try await (version, truncated, deleted) in rows.decode((Int64, Int64, Bool).self) {
            state = StreamState(id: stream, version: try Self.version(version, of: stream.rawValue), truncatedBefore: StreamVersion(truncated), isDeleted: deleted)
        }
        return state
    }
}
