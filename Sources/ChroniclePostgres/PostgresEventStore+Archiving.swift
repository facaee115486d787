public import Chronicle
import Foundation
import PostgresNIO

extension PostgresEventStore: EventArchiving {
    // MARK: Stored retention policies

    /// The stored retention policies (see ``Chronicle/StreamMaintenance/retentionPolicies()``).
    public func retentionPolicies() async throws -> [RetentionPolicy] {
        do {
            return try await withRows(sql.listPolicies, []) { rows in
                var policies: [RetentionPolicy] = []
                for try await (category, maxCount, maxAge) in rows.decode((String, Int64?, Double?).self) {
                    var policy = RetentionPolicy(category: category, maxCount: maxCount)
                    policy.maxAgeSeconds = maxAge
                    policies.append(policy)
                }
                return policies
            }
        } catch {
            throw PostgresFailure.map(error, while: "reading the retention policies")
        }
    }

    /// Stores a retention policy (see ``Chronicle/StreamMaintenance/setRetentionPolicy(_:)``).
    public func setRetentionPolicy(_ policy: RetentionPolicy) async throws {
        try policy.validate()
        do {
            try await execute(sql.upsertPolicy, [policy.category, policy.maxCount ?? 0, policy.maxAgeSeconds ?? 0])
        } catch {
            throw PostgresFailure.map(error, while: "storing the retention policy of \(policy.category)")
        }
    }

    /// Removes a stored retention policy (see ``Chronicle/StreamMaintenance/removeRetentionPolicy(category:)``).
    @discardableResult
    public func removeRetentionPolicy(category: String) async throws -> Bool {
        do {
            return try await withRows(sql.deletePolicy, [category]) { rows in
                var removed = false
                for try await _ in rows { removed = true }
                return removed
            }
        } catch {
            throw PostgresFailure.map(error, while: "removing the retention policy of \(category)")
        }
    }

    // MARK: EventArchiving

    /// The store's identity (see ``Chronicle/EventArchiving/storeIdentity()``): the random
    /// `store_id` made by migration 10 of the schema.
    public func storeIdentity() async throws -> String {
        do {
            let stored = try await withRows(sql.storeID, []) { rows -> String? in
                for try await id in rows.decode(String.self) { return id }
                return nil
            }
            if let stored { return stored }
        } catch {
            throw PostgresFailure.map(error, while: "reading the store's identity")
        }
        throw EventStoreError(.corruptRecord, "Schema \(schema) has no store_id in store_properties. Restore it from a backup.")
    }

    /// The archived ranges (see ``Chronicle/EventArchiving/archivedRanges()``).
    public func archivedRanges() async throws -> [ArchivedRange] {
        do {
            return try await withRows(sql.listArchivedRanges, [], Self.ranges(from:))
        } catch {
            throw PostgresFailure.map(error, while: "reading the archived ranges")
        }
    }

    /// Replaces an archived range's events by tombstones and records the range (see
    /// ``Chronicle/EventArchiving/truncateArchived(_:)``), in one transaction. The rows are
    /// updated in place; PostgreSQL keeps the old row versions until `VACUUM`.
    @discardableResult
    public func truncateArchived(_ range: ArchivedRange) async throws -> Int64 {
        let metadata = String(decoding: try ChronicleJSONEncoder().encode(EventMetadata.Stored(StreamMaintenanceRules.archiveMetadata(file: range.file))), as: UTF8.self)
        return try await inTransaction("truncating archived positions \(range.firstPosition)–\(range.lastPosition)") { connection in
            try await self.execute(self.sql.lockArchivedRanges, [], on: connection)
            let head = GlobalPosition(try await self.scalar(self.sql.headForArchiving, [], on: connection) ?? 0)
            let existing = try await Self.ranges(from: self.query(self.sql.listArchivedRanges, [], on: connection))
            try ArchiveRules.check(range, head: head, existing: existing)
            let bounds: [any PostgresThrowingDynamicTypeEncodable] = [range.firstPosition.value, range.lastPosition.value]
            try await self.execute(self.sql.deleteArchivableTags, bounds, on: connection)
            let archived = try await self.scalar(self.sql.archiveEvents, bounds + [metadata], on: connection) ?? 0
            try ArchiveRules.checkLiveEvents(archived, in: range)  // throwing rolls the transaction back
            try await self.execute(self.sql.insertArchivedRange, [
                range.firstPosition.value, range.lastPosition.value, range.file, range.sha256, range.events, range.archivedAt,
            ], on: connection)
            return .commit(archived)
        }
    }

    /// Puts archived events back (see ``Chronicle/EventArchiving/restoreArchived(_:)``), in one
    /// transaction: the rows are locked and checked, then restored by one statement.
    public func restoreArchived(_ events: [RecordedEvent]) async throws -> ArchiveRestoreCounts {
        let encoder = ChronicleJSONEncoder()
        var metadata: [Int64: String] = [:]
        for event in events {
            try ArchiveRules.checkRestorable(event)
            metadata[event.position.value] = String(decoding: try encoder.encode(EventMetadata.Stored(event.metadata)), as: UTF8.self)
        }
        let encodedMetadata = metadata
        return try await inTransaction("restoring \(events.count) archived event(s)") { connection in
            var stored: [Int64: (UUID, String, Int64, String)] = [:]
            for try await (position, id, stream, version, type) in try await self.query(
                self.sql.probeArchivedEvents, [events.map(\.position.value)], on: connection
            ).decode((Int64, UUID, String, Int64, String).self) {
                stored[position] = (id, stream, version, type)
            }
            var counts = ArchiveRestoreCounts()
            var restore: [RecordedEvent] = []
            for event in events {
                guard let (id, stream, version, type) = stored[event.position.value] else { throw ArchiveRules.mismatch(event, found: "no event") }
                guard id == event.id, stream == event.streamID.rawValue, version == event.streamVersion.value else {
                    throw ArchiveRules.mismatch(event, found: "event \(id) (\(stream) version \(version))")
                }
                switch type {
                case RecordedEvent.archivedType: restore.append(event)
                case RecordedEvent.erasedType: counts.erasedSince += 1
                default: counts.alreadyPresent += 1
                }
            }
            guard !restore.isEmpty else { return .rollback(counts) }
            let positions = restore.map(\.position.value)
            let tags = restore.map { $0.tags.joined(separator: "\n") }
            try await self.execute(self.sql.restoreEvents, [
                positions, restore.map(\.type), restore.map { Int64($0.schemaVersion) }, restore.map { ByteBuffer(bytes: $0.payload) },
                restore.map { encodedMetadata[$0.position.value] ?? "{}" }, tags,
            ], on: connection)
            try await self.execute(self.sql.insertRestoredTags, [positions, tags], on: connection)
            try await self.execute(self.sql.dropRestoredRanges, [], on: connection)
            counts.restored = Int64(restore.count)
            return .commit(counts)
        }
    }

    private static func ranges(from rows: PostgresRowSequence) async throws -> [ArchivedRange] {
        var ranges: [ArchivedRange] = []
        for try await (first, last, file, sha256, events, archivedAt) in rows.decode((Int64, Int64, String, String, Int64, Date).self) {
            ranges.append(ArchivedRange(firstPosition: GlobalPosition(first), lastPosition: GlobalPosition(last), file: file, sha256: sha256, events: events, archivedAt: archivedAt))
        }
        return ranges
    }
}
