public import Foundation

/// Deleting and truncating streams, and scavenging what they and the retention policies
/// removed, without holes in the global log. Implemented by ``InMemoryEventStore``,
/// `SQLiteEventStore` and `PostgresEventStore`, with the same semantics (checked by
/// `StreamMaintenanceConformance` of ChronicleTesting):
///
/// - **Truncating** a stream before a version hides its older events from stream reads
///   (``EventReader/readStream(_:from:direction:limit:)`` starts at the truncation point). The
///   stream's version does not change.
/// - **Deleting** a stream (soft delete) truncates it after its last event and marks it
///   deleted: reading it throws ``EventStoreError/Code/streamDeleted``. Appending with
///   ``ExpectedVersion/noStream`` (or ``ExpectedVersion/any``) recreates it, as KurrentDB does:
///   the new events take the versions after the deleted ones, and reads show only them.
/// - **Scavenging** applies ``RetentionPolicy``s (they move truncation points forward), then
///   erases, physically, the payload, metadata and tags of every event before its stream's
///   truncation point. The rows stay as **tombstones**, with their position, stream, version,
///   event id and time, and the type ``RecordedEvent/erasedType``: `$all` stays gap-free (and
///   `chronicle verify` passes), stream versions stay contiguous. Projections read past
///   tombstones (``LogSubscription`` leaves them out of its pages), codecs decode them to no event.
///
/// Everything runs under the store's write lock, so it never races appends.
public protocol StreamMaintenance: EventStore {
    /// Truncates `stream` before `version`: stream reads start there. Truncation only moves
    /// forward (a lower version than the current truncation point does nothing).
    /// - Throws: ``EventStoreError/Code/invalidArgument`` for a version past the stream's
    ///   version + 1; ``EventStoreError/Code/streamDeleted`` for a deleted stream.
    func truncateStream(_ stream: StreamID, before version: StreamVersion) async throws

    /// Deletes `stream` (soft delete, see above), if it is at `expectedVersion`.
    /// - Returns: what the stream was when deleted.
    /// - Throws: ``EventStoreError/Code/wrongExpectedVersion``; ``EventStoreError/Code/streamDeleted``
    ///   when it is deleted already.
    @discardableResult
    func deleteStream(_ stream: StreamID, expectedVersion: ExpectedVersion) async throws -> StreamState

    /// What the store keeps about `stream`: its version, truncation point and whether it is
    /// deleted; `nil` for a stream that never had an event.
    func streamState(of stream: StreamID) async throws -> StreamState?

    /// Applies `policies` and erases the events before every stream's truncation point, or with
    /// `dryRun` only reports what it would erase. `now` dates the policies' maximum ages.
    func scavenge(policies: [RetentionPolicy], now: Date, dryRun: Bool) async throws -> ScavengeReport

    /// The retention policies stored in the store (one per category, ordered by category), which
    /// ``scavengeWithStoredPolicies(overriding:now:dryRun:)`` and `chronicle scavenge` apply.
    func retentionPolicies() async throws -> [RetentionPolicy]

    /// Stores `policy` for its category, replacing the category's previous one.
    /// - Throws: ``EventStoreError/Code/invalidArgument`` for an invalid policy (see
    ///   ``RetentionPolicy/validate()``); nothing is stored.
    func setRetentionPolicy(_ policy: RetentionPolicy) async throws

    /// Removes the stored policy of `category`; `false` if it had none.
    @discardableResult
    func removeRetentionPolicy(category: String) async throws -> Bool
}

extension StreamMaintenance {
    /// Scavenges with the current time (see ``scavenge(policies:now:dryRun:)``).
    public func scavenge(policies: [RetentionPolicy] = [], dryRun: Bool = false) async throws -> ScavengeReport {
        try await scavenge(policies: policies, now: Date(), dryRun: dryRun)
    }

    /// Scavenges with the stored retention policies (see ``retentionPolicies()``), `overrides`
    /// replacing the stored policy of their categories.
    public func scavengeWithStoredPolicies(overriding overrides: [RetentionPolicy] = [], now: Date = Date(), dryRun: Bool = false) async throws -> ScavengeReport {
        try await scavenge(policies: RetentionPolicy.merging(stored: try await retentionPolicies(), overrides: overrides), now: now, dryRun: dryRun)
    }
}

extension RecordedEvent {
    /// The type name of a tombstone: an event whose payload, metadata and tags a scavenge
    /// erased (its position, stream, version, id and time stay). `$erased`, a name no
    /// registered event type can have.
    public static let erasedType = "$erased"

    /// The type name of an event moved to an archive file by `chronicle archive`: a tombstone
    /// like ``erasedType`` whose metadata names the file (``archiveFile``). `$archived`.
    public static let archivedType = "$archived"

    /// The custom metadata key naming the archive file of an archived event.
    public static let archiveMetadataKey = "archive"

    /// Whether this is a tombstone: erased by a scavenge (``erasedType``) or moved to an archive
    /// (``archivedType``). Its position, stream, version, id and time stay; codecs decode it to
    /// no event and projections read past it.
    public var isErased: Bool { type == Self.erasedType || type == Self.archivedType }

    /// Whether this is the tombstone of an archived event (see ``archiveFile``).
    public var isArchived: Bool { type == Self.archivedType }

    /// The archive file an archived event went to (its name, as written by `chronicle archive`);
    /// `nil` for any other event.
    public var archiveFile: String? { isArchived ? metadata.custom[Self.archiveMetadataKey] : nil }
}

/// What a store keeps about a stream besides its events.
public struct StreamState: Sendable, Hashable, Codable {
    /// The stream.
    public var id: StreamID
    /// The stream's version: its last event's, deleted or not.
    public var version: StreamVersion
    /// The first version stream reads return (1 when nothing is truncated; version + 1 for a
    /// deleted stream).
    public var truncatedBefore: StreamVersion
    /// Whether the stream is deleted.
    public var isDeleted: Bool

    /// Creates a stream state.
    public init(id: StreamID, version: StreamVersion, truncatedBefore: StreamVersion, isDeleted: Bool) {
        self.id = id
        self.version = version
        self.truncatedBefore = truncatedBefore
        self.isDeleted = isDeleted
    }
}

/// How long the events of a category's streams are kept: at most ``maxCount`` per stream, none
/// older than ``maxAgeSeconds``. Applied by ``StreamMaintenance/scavenge(policies:now:dryRun:)``.
///
/// ```swift
/// let report = try await store.scavenge(policies: [
///     RetentionPolicy(category: "session", maxAge: .seconds(30 * 86_400)),
///     RetentionPolicy(category: "sensor", maxCount: 1_000),
/// ])
/// ```
public struct RetentionPolicy: Sendable, Hashable, Codable {
    /// The category whose streams the policy applies to.
    public var category: String
    /// The most recent events kept per stream; `nil` for no limit.
    public var maxCount: Int64?
    /// The age (from the scavenge's `now`) after which events are removed, in seconds; `nil`
    /// for no limit.
    public var maxAgeSeconds: Double?

    /// A policy for `category`.
    /// - Parameters:
    ///   - category: the streams' category.
    ///   - maxCount: events kept per stream (the newest), 1 or more.
    ///   - maxAge: events older than this are removed.
    public init(category: String, maxCount: Int64? = nil, maxAge: Duration? = nil) {
        self.category = category
        self.maxCount = maxCount
        self.maxAgeSeconds = maxAge.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
    }

    /// Throws ``EventStoreError/Code/invalidArgument`` for a policy that keeps nothing or limits nothing.
    public func validate() throws(EventStoreError) {
        if category.isEmpty { throw EventStoreError(.invalidArgument, "A retention policy needs a category.") }
        if maxCount == nil && maxAgeSeconds == nil {
            throw EventStoreError(.invalidArgument, "The retention policy of category \(category) sets neither a maximum count nor a maximum age.")
        }
        if let maxCount, maxCount < 1 {
            throw EventStoreError(.invalidArgument, "The retention policy of category \(category) keeps \(maxCount) events; keep 1 or more (delete the streams to keep none).")
        }
        if let maxAgeSeconds, maxAgeSeconds <= 0 {
            throw EventStoreError(.invalidArgument, "The retention policy of category \(category) has a maximum age of \(maxAgeSeconds) seconds; use a positive age.")
        }
    }

    /// The truncation point this policy gives a stream at `version`: keep the last ``maxCount``
    /// events, and none recorded before `cutoff` (`firstVersionAtOrAfterCutoff` is the first
    /// version recorded at or after it, `nil` if none).
    package func truncation(version: StreamVersion, firstVersionAtOrAfterCutoff: StreamVersion?) -> StreamVersion {
        var keepFrom: Int64 = 1
        if let maxCount { keepFrom = max(keepFrom, version.value - maxCount + 1) }
        if maxAgeSeconds != nil { keepFrom = max(keepFrom, firstVersionAtOrAfterCutoff?.value ?? version.value + 1) }
        return StreamVersion(keepFrom)
    }

    /// The cutoff date for `now`, if the policy has a maximum age.
    package func cutoff(now: Date) -> Date? {
        maxAgeSeconds.map { now.addingTimeInterval(-$0) }
    }

    /// `stored`, with each of `overrides` replacing the policy of its category; ordered by category.
    public static func merging(stored: [RetentionPolicy], overrides: [RetentionPolicy]) -> [RetentionPolicy] {
        var byCategory = Dictionary(stored.map { ($0.category, $0) }, uniquingKeysWith: { _, last in last })
        for policy in overrides { byCategory[policy.category] = policy }
        return byCategory.values.sorted { $0.category < $1.category }
    }

    /// Throws unless every policy is valid and no category has two.
    package static func validate(_ policies: [RetentionPolicy]) throws(EventStoreError) {
        var seen = Set<String>()
        for policy in policies {
            try policy.validate()
            if !seen.insert(policy.category).inserted {
                throw EventStoreError(.invalidArgument, "Category \(policy.category) has two retention policies; give each category one.")
            }
        }
    }
}

/// What a scavenge erased (or, for a dry run, would erase).
public struct ScavengeReport: Sendable, Hashable, Codable {
    /// One stream whose events were erased.
    public struct Stream: Sendable, Hashable, Codable {
        /// The stream.
        public var id: StreamID
        /// Its truncation point after the scavenge: every event before it is a tombstone.
        public var truncatedBefore: StreamVersion
        /// Events erased in this scavenge.
        public var erasedEvents: Int64
        /// Whether the stream is deleted.
        public var isDeleted: Bool

        /// Creates a stream's line of the report.
        public init(id: StreamID, truncatedBefore: StreamVersion, erasedEvents: Int64, isDeleted: Bool) {
            self.id = id
            self.truncatedBefore = truncatedBefore
            self.erasedEvents = erasedEvents
            self.isDeleted = isDeleted
        }
    }

    /// Whether this was a dry run (nothing changed).
    public var dryRun: Bool
    /// The streams with events erased, ordered by id.
    public var streams: [Stream]
    /// Events erased in all.
    public var erasedEvents: Int64 { streams.reduce(0) { $0 + $1.erasedEvents } }
    /// Payload and metadata bytes erased in all.
    public var erasedBytes: Int64
    /// The head when the scavenge ran: positions stay 1…head, gap-free.
    public var head: GlobalPosition

    /// Creates a report.
    public init(dryRun: Bool, streams: [Stream], erasedBytes: Int64, head: GlobalPosition) {
        self.dryRun = dryRun
        self.streams = streams
        self.erasedBytes = erasedBytes
        self.head = head
    }
}

/// The rules of ``StreamMaintenance`` every store applies the same way.
package enum StreamMaintenanceRules {
    /// Called by a running scavenge after each candidate stream (its report line, `nil` when
    /// nothing was erased; how many candidates are done; how many there are), for the CLI's
    /// progress. Set it around the call with `withValue`.
    @TaskLocal package static var scavengeProgress: (@Sendable (ScavengeReport.Stream?, Int, Int) -> Void)?

    /// The error for reading or changing a deleted stream.
    package static func deleted(_ stream: StreamID) -> EventStoreError {
        EventStoreError(.streamDeleted, "Stream \(stream) is deleted. Append with expected version noStream to recreate it (its versions go on after the deleted ones).", streamID: stream)
    }

    /// The state after truncating `state` before `version`.
    package static func truncation(of state: StreamState?, stream: StreamID, before version: StreamVersion) throws(EventStoreError) -> StreamState {
        guard let state else {
            throw EventStoreError(.invalidArgument, "Stream \(stream) has no events: there is nothing to truncate.", streamID: stream)
        }
        if state.isDeleted { throw deleted(stream) }
        guard version.value >= 1, version.value <= state.version.value + 1 else {
            throw EventStoreError(.invalidArgument, "Stream \(stream) is at version \(state.version): truncating before \(version) is out of range (1 to \(state.version.value + 1)). Nothing was changed.", streamID: stream)
        }
        var truncated = state
        truncated.truncatedBefore = max(state.truncatedBefore, version)
        return truncated
    }

    /// The state after deleting `state`, if `expectedVersion` holds.
    package static func deletion(of state: StreamState?, stream: StreamID, expectedVersion: ExpectedVersion) throws(EventStoreError) -> StreamState {
        if state?.isDeleted == true { throw deleted(stream) }
        let current = state?.version ?? .initial
        guard expectedVersion.isSatisfied(by: current) else {
            throw EventStoreError.wrongExpectedVersion(stream: stream, expected: expectedVersion, actual: current)
        }
        guard let state else {
            throw EventStoreError(.invalidArgument, "Stream \(stream) has no events: there is nothing to delete.", streamID: stream)
        }
        return StreamState(id: stream, version: state.version, truncatedBefore: state.version.next, isDeleted: true)
    }

    /// The metadata of an archived event's tombstone: the archive file's name.
    package static func archiveMetadata(file: String) -> EventMetadata {
        EventMetadata(custom: [RecordedEvent.archiveMetadataKey: file])
    }

    /// `event` as a tombstone: type ``RecordedEvent/erasedType``, no payload, metadata or tags.
    package static func tombstone(of event: RecordedEvent) -> RecordedEvent {
        var erased = event
        erased.type = RecordedEvent.erasedType
        erased.schemaVersion = 1
        erased.payload = Data()
        erased.metadata = .none
        erased.tags = []
        return erased
    }
}
