public import Foundation

/// Moving old ranges of the global log out of the store into archive files, and back: the store's
/// side of `chronicle archive` (which writes, verifies and reads the files). Implemented by
/// ``InMemoryEventStore``, `SQLiteEventStore` and `PostgresEventStore`, with the same semantics
/// (checked by `StreamMaintenanceConformance` of ChronicleTesting):
///
/// - **Truncating an archived range** (``truncateArchived(_:)``) replaces every event of the range
///   that is not a tombstone already by an **archived tombstone**: type
///   ``RecordedEvent/archivedType``, no payload or tags, metadata naming the archive file
///   (``RecordedEvent/archiveFile``). Like a scavenge's tombstones it keeps its position, stream,
///   version, id and time, so `$all` stays gap-free and stream versions contiguous; unlike them it
///   is returned by stream reads too, so a read of archived events says where they went. Codecs
///   decode it to no event and projections read past it (``RecordedEvent/isErased``). The range
///   is recorded (``archivedRanges()``): ranges never overlap.
/// - **Restoring** (``restoreArchived(_:)``) puts archived events back into their tombstones
///   (same position, id, stream and version), and forgets a range once none of its events is
///   archived any more. An event a scavenge erased since (its stream deleted or truncated past
///   it) stays erased.
///
/// Everything runs under the store's write lock, in one transaction per call.
public protocol EventArchiving: StreamMaintenance {
    /// The store's identity: a random id made when the store (or its schema) was created, which
    /// archives record so that one is not restored into another store by mistake.
    func storeIdentity() async throws -> String

    /// The archived ranges, in position order.
    func archivedRanges() async throws -> [ArchivedRange]

    /// Replaces the events of `range` by archived tombstones naming `range.file`, and records the
    /// range; returns how many events it replaced.
    /// - Throws: ``EventStoreError/Code/invalidArgument`` (nothing changed) for a range past the
    ///   head, one overlapping an archived range, or one whose events that are not tombstones are
    ///   not ``ArchivedRange/events`` in number (the range changed since the archive was written).
    @discardableResult
    func truncateArchived(_ range: ArchivedRange) async throws -> Int64

    /// Puts archived events back (all or nothing). Each event's position must hold the same
    /// event (id, stream and version), archived, erased since, or already restored.
    /// - Throws: ``EventStoreError/Code/invalidArgument`` (nothing changed) for an event whose
    ///   position holds another event or is past the head.
    func restoreArchived(_ events: [RecordedEvent]) async throws -> ArchiveRestoreCounts
}

/// A range of the global log moved to an archive file.
public struct ArchivedRange: Sendable, Hashable, Codable {
    /// The range's first position.
    public var firstPosition: GlobalPosition
    /// The range's last position.
    public var lastPosition: GlobalPosition
    /// The archive file's name (no directory: archives move between disks).
    public var file: String
    /// The SHA-256 of the archive's content (the uncompressed event lines), in hex.
    public var sha256: String
    /// The events of the range that were not tombstones when it was archived.
    public var events: Int64
    /// When the range was truncated from the store.
    public var archivedAt: Date

    /// Creates a range's record.
    public init(firstPosition: GlobalPosition, lastPosition: GlobalPosition, file: String, sha256: String, events: Int64, archivedAt: Date) {
        self.firstPosition = firstPosition
        self.lastPosition = lastPosition
        self.file = file
        self.sha256 = sha256
        self.events = events
        self.archivedAt = archivedAt
    }

    /// Whether `position` is in the range.
    public func contains(_ position: GlobalPosition) -> Bool { firstPosition <= position && position <= lastPosition }
}

/// What ``EventArchiving/restoreArchived(_:)`` did.
public struct ArchiveRestoreCounts: Sendable, Hashable, Codable {
    /// Events put back into their tombstones.
    public var restored: Int64
    /// Events that were not archived (restored before, or never truncated).
    public var alreadyPresent: Int64
    /// Events a scavenge erased since they were archived: left erased.
    public var erasedSince: Int64

    /// Creates counts.
    public init(restored: Int64 = 0, alreadyPresent: Int64 = 0, erasedSince: Int64 = 0) {
        self.restored = restored
        self.alreadyPresent = alreadyPresent
        self.erasedSince = erasedSince
    }
}

/// The rules of ``EventArchiving`` every store applies the same way.
package enum ArchiveRules {
    /// Throws unless `range` lies within 1…`head`, names a file and overlaps none of `existing`.
    package static func check(_ range: ArchivedRange, head: GlobalPosition, existing: [ArchivedRange]) throws(EventStoreError) {
        let span = "\(range.firstPosition.value)–\(range.lastPosition.value)"
        guard !range.file.isEmpty, !range.file.contains("/") else {
            throw EventStoreError(.invalidArgument, "An archived range needs the archive file's name (without a directory), not \"\(range.file)\". Nothing was truncated.")
        }
        guard range.firstPosition.value >= 1, range.firstPosition <= range.lastPosition, range.lastPosition <= head else {
            throw EventStoreError(.invalidArgument, "Positions \(span) are not a range of the log (1–\(head.value)). Nothing was truncated.")
        }
        if let overlap = existing.first(where: { $0.firstPosition <= range.lastPosition && range.firstPosition <= $0.lastPosition }) {
            throw EventStoreError(.invalidArgument, "Positions \(overlap.firstPosition.value)–\(overlap.lastPosition.value) are already archived to \(overlap.file): archive from position \((existing.map(\.lastPosition.value).max() ?? 0) + 1) on, or restore that archive first. Nothing was truncated.")
        }
    }

    /// Throws unless the range holds `live` events that are not tombstones, as the archive says.
    package static func checkLiveEvents(_ live: Int64, in range: ArchivedRange) throws(EventStoreError) {
        guard live == range.events else {
            throw EventStoreError(.invalidArgument, "Positions \(range.firstPosition.value)–\(range.lastPosition.value) hold \(live) event(s) that are not tombstones, but the archive \(range.file) holds \(range.events): the range changed since the archive was written (a scavenge ran?). Nothing was truncated; write the archive again.")
        }
    }

    /// The error for an archived event whose position holds another event.
    package static func mismatch(_ event: RecordedEvent, found: String) -> EventStoreError {
        EventStoreError(.invalidArgument, "Position \(event.position.value) holds \(found), not the archive's event \(event.id) (\(event.streamID) version \(event.streamVersion.value)): the archive is not from this store. Nothing was restored.", streamID: event.streamID, eventID: event.id, position: event.position)
    }

    /// Throws unless the restored event is one an append could have written.
    package static func checkRestorable(_ event: RecordedEvent) throws(EventStoreError) {
        if event.isErased || event.type.isEmpty {
            throw EventStoreError(.invalidArgument, "The archive's event at position \(event.position.value) has type \"\(event.type)\", which cannot be restored. Nothing was restored.", position: event.position)
        }
    }

    /// `event` as an archived tombstone naming `file`.
    package static func tombstone(of event: RecordedEvent, file: String) -> RecordedEvent {
        var archived = StreamMaintenanceRules.tombstone(of: event)
        archived.type = RecordedEvent.archivedType
        archived.metadata = StreamMaintenanceRules.archiveMetadata(file: file)
        return archived
    }
}
