public import Chronicle
import Foundation
import GRDB

extension SQLiteEventStore: EventArchiving {
    /// The store's identity (see ``Chronicle/EventArchiving/storeIdentity()``): the random
    /// `store_id` made by schema migration 3.
    public func storeIdentity() async throws -> String {
        try checkOpen()
        return try read(operation: "Reading the store's identity") { db in
            guard let id = try String.fetchOne(db, sql: SQLiteStatements.readProperty, arguments: ["store_id"]) else {
                throw EventStoreError(.corruptRecord, "The store at \(path) has no store_id property. Restore it from a backup.")
            }
            return id
        }
    }

    /// The archived ranges (see ``Chronicle/EventArchiving/archivedRanges()``).
    public func archivedRanges() async throws -> [ArchivedRange] {
        try checkOpen()
        return try read(operation: "Reading the archived ranges") { db in
            try Row.fetchAll(db, sql: SQLiteStatements.listArchivedRanges).map(Self.archivedRange)
        }
    }

    /// Replaces an archived range's events by tombstones and records the range (see
    /// ``Chronicle/EventArchiving/truncateArchived(_:)``), in one transaction under the write
    /// lock. Their bytes are overwritten in the file, and the WAL checkpointed, as a scavenge does.
    @discardableResult
    public func truncateArchived(_ range: ArchivedRange) async throws -> Int64 {
        let metadata = try SQLiteValues.metadataBlob(StreamMaintenanceRules.archiveMetadata(file: range.file))
        let archived = try await inWriteTransaction("Truncating archived positions \(range.firstPosition)–\(range.lastPosition)") { db -> Int64 in
            let head = GlobalPosition(try Int64.fetchOne(db, sql: SQLiteStatements.selectHead) ?? 0)
            let existing = try Row.fetchAll(db, sql: SQLiteStatements.listArchivedRanges).map(Self.archivedRange)
            try ArchiveRules.check(range, head: head, existing: existing)
            let bounds: StatementArguments = [range.firstPosition.value, range.lastPosition.value]
            var live: Int64 = 0
            var tags: [(String, Int64)] = []
            for row in try Row.fetchAll(db, sql: SQLiteStatements.liveEventsInRange, arguments: bounds) {
                live += 1
                let position: Int64 = row[0]
                if let text = row[1] as String? { tags += SQLiteValues.tags(text).map { ($0, position) } }
            }
            try ArchiveRules.checkLiveEvents(live, in: range)
            for (tag, position) in tags { try db.execute(sql: SQLiteStatements.deleteTag, arguments: [tag, position]) }
            try db.execute(sql: SQLiteStatements.archiveEvents, arguments: [metadata] + bounds)
            try db.execute(sql: SQLiteStatements.insertArchivedRange, arguments: [
                range.firstPosition.value, range.lastPosition.value, range.file, range.sha256, range.events, SQLiteValues.milliseconds(range.archivedAt),
            ])
            return live
        }
        if archived > 0 { _ = try await checkpoint() }
        return archived
    }

    /// Puts archived events back (see ``Chronicle/EventArchiving/restoreArchived(_:)``), all in
    /// one transaction under the write lock.
    public func restoreArchived(_ events: [RecordedEvent]) async throws -> ArchiveRestoreCounts {
        for event in events { try ArchiveRules.checkRestorable(event) }
        let rows = try events.map { event in
            (event, try SQLiteValues.metadataBlob(event.metadata), SQLiteValues.tagsText(event.tags))
        }
        return try await inWriteTransaction("Restoring \(events.count) archived event(s)") { db in
            var counts = ArchiveRestoreCounts()
            for (event, metadata, tags) in rows {
                guard let row = try Row.fetchOne(db, sql: SQLiteStatements.probeArchivedEvent, arguments: [event.position.value]) else {
                    throw ArchiveRules.mismatch(event, found: "no event")
                }
                let idBytes: Data = row[0]
                let id = idBytes.withUnsafeBytes { UUID(sqliteBytes: $0) }
                let stream: String = row[1], version: Int64 = row[2], type: String = row[3]
                guard id == event.id, stream == event.streamID.rawValue, version == event.streamVersion.value else {
                    throw ArchiveRules.mismatch(event, found: "event \(id?.uuidString ?? "?") (\(stream) version \(version))")
                }
                switch type {
                case RecordedEvent.archivedType:
                    try db.execute(sql: SQLiteStatements.restoreEvent, arguments: [
                        event.type, event.schemaVersion, event.payload, metadata, tags, event.position.value,
                    ])
                    for tag in event.tags { try db.execute(sql: SQLiteStatements.insertTagIfAbsent, arguments: [tag, event.position.value]) }
                    counts.restored += 1
                case RecordedEvent.erasedType:
                    counts.erasedSince += 1
                default:
                    counts.alreadyPresent += 1
                }
            }
            if counts.restored > 0 { try db.execute(sql: SQLiteStatements.dropRestoredRanges) }
            return counts
        }
    }

    private static func archivedRange(_ row: Row) -> ArchivedRange {
        ArchivedRange(
            firstPosition: GlobalPosition(row[0] as Int64), lastPosition: GlobalPosition(row[1] as Int64), file: row[2], sha256: row[3],
            events: row[4], archivedAt: SQLiteValues.date(milliseconds: row[5])
        )
    }
}
