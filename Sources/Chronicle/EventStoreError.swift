public import Foundation

/// The error every Chronicle store, codec and repository throws.
///
/// Match on ``code``; the other properties carry the context (stream, versions, event id, type,
/// position) where it applies, and ``description`` says what happened and what to do.
///
/// ```swift
/// do {
///     try await store.append(events, to: "order-42", expectedVersion: .exactly(3))
/// } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
///     // reload the stream (now at error.actualVersion) and decide again
/// }
/// ```
public struct EventStoreError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. New codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case wrongExpectedVersion, duplicateEventID, emptyAppend, invalidStreamID, invalidEvent
            case notADatabase, databaseBusy, corruptRecord, unsupportedSchema, storageFailure
            case unknownEventType, undecodablePayload, unencodableEvent, timeout, closed, invalidArgument
            case diskFull, readOnly, invalidMetadata
            case invalidTag, invalidQuery, appendConditionFailed
            case streamDeleted
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The stream's current version does not match the append's ``ExpectedVersion``. Nothing was
        /// written. Reload the stream and decide again (``AggregateRepository`` retries for you).
        public static let wrongExpectedVersion = Code(.wrongExpectedVersion)
        /// An event id is already stored with different content or in another stream/version.
        /// Nothing was written. Give new events new ids.
        public static let duplicateEventID = Code(.duplicateEventID)
        /// An append carried no events. Nothing was written.
        public static let emptyAppend = Code(.emptyAppend)
        /// A stream id is empty, too long, has spaces or control characters, or starts with `$`.
        public static let invalidStreamID = Code(.invalidStreamID)
        /// An event is malformed (empty type name, schema version below 1…). Nothing was written.
        public static let invalidEvent = Code(.invalidEvent)
        /// Event metadata in JSON has a key other than `correlationId`, `causationId` and `custom`
        /// (``EventStoreError/metadataKey`` names it). It is refused rather than dropped.
        public static let invalidMetadata = Code(.invalidMetadata)
        /// The file is not a database, or not a Chronicle store. Check the path.
        public static let notADatabase = Code(.notADatabase)
        /// The database stayed locked by another connection or process past the busy timeout.
        /// Nothing was written; try again, or raise the busy timeout.
        public static let databaseBusy = Code(.databaseBusy)
        /// A stored row cannot be read back (bad id, negative version…). The store is damaged; run
        /// `chronicle verify` and restore from a backup.
        public static let corruptRecord = Code(.corruptRecord)
        /// The store's schema is newer than this version of Chronicle understands. Upgrade Chronicle.
        public static let unsupportedSchema = Code(.unsupportedSchema)
        /// The storage engine failed (an I/O error, a file that cannot be opened…). The message
        /// says what happened and what to do; see ``underlying`` for the engine's own code.
        public static let storageFailure = Code(.storageFailure)
        /// The disk (or quota) holding the store is full. Nothing of the failed operation was
        /// written; free space, then retry.
        public static let diskFull = Code(.diskFull)
        /// The store, its directory or its file system is read-only (permissions, an immutable
        /// file, a read-only mount). Nothing was written; make it writable, or work on a copy.
        public static let readOnly = Code(.readOnly)
        /// A recorded event's type is not registered with the codec. Register it, or let
        /// projections skip unknown types.
        public static let unknownEventType = Code(.unknownEventType)
        /// A recorded event's payload does not decode as its registered type (after upcasting).
        public static let undecodablePayload = Code(.undecodablePayload)
        /// A domain event could not be encoded (not registered, or encoding failed).
        public static let unencodableEvent = Code(.unencodableEvent)
        /// A wait (for a position, a lock, a lease) did not complete in time.
        public static let timeout = Code(.timeout)
        /// The store or component was closed or shut down.
        public static let closed = Code(.closed)
        /// An argument is out of range (a negative limit, a page size of zero, an append
        /// condition's position ahead of the head…).
        public static let invalidArgument = Code(.invalidArgument)
        /// An event's tags break the rules of ``EventTags`` (empty, too long, whitespace or control
        /// characters, too many, one twice). Nothing was written.
        public static let invalidTag = Code(.invalidTag)
        /// An ``EventQuery`` is malformed or over its bounds (no items, an item naming neither a
        /// type nor a tag, too many items…); ``EventStoreError/query`` is the query. Nothing was
        /// read or written.
        public static let invalidQuery = Code(.invalidQuery)
        /// An ``AppendCondition`` failed: an event matching its query was stored after its
        /// position. ``EventStoreError/query`` is the query and ``EventStoreError/position`` the
        /// first conflicting event's position. Nothing was written; read again and decide again
        /// (``DecisionRepository`` retries for you).
        public static let appendConditionFailed = Code(.appendConditionFailed)
        /// The stream was deleted (``StreamMaintenance/deleteStream(_:expectedVersion:)``): reading
        /// it says so rather than answer with no events. Appending with
        /// ``ExpectedVersion/noStream`` or ``ExpectedVersion/any`` recreates it, its versions
        /// going on after the deleted ones.
        public static let streamDeleted = Code(.streamDeleted)

        /// The code's name, such as `wrongExpectedVersion`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened and what to do, in a sentence or two.
    public var message: String
    /// The stream concerned, if any.
    public var streamID: StreamID?
    /// The expected version of a failed append, if any.
    public var expectedVersion: ExpectedVersion?
    /// The stream's actual version when an append failed, if known.
    public var actualVersion: StreamVersion?
    /// The event concerned, if any.
    public var eventID: UUID?
    /// The event type concerned, if any.
    public var eventType: String?
    /// The global position concerned, if any.
    public var position: GlobalPosition?
    /// The version of the event concerned within its stream, if any.
    public var streamVersion: StreamVersion?
    /// The metadata key concerned (one that is not `correlationId`, `causationId` or `custom`), if any.
    public var metadataKey: String?
    /// The lower-level error (SQLite, decoding…), if any.
    public var underlying: (any Error)?
    /// The event query concerned (a failed append condition's, an invalid one), if any.
    public var query: EventQuery?

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, streamID: StreamID? = nil, expectedVersion: ExpectedVersion? = nil,
        actualVersion: StreamVersion? = nil, eventID: UUID? = nil, eventType: String? = nil,
        position: GlobalPosition? = nil, streamVersion: StreamVersion? = nil, metadataKey: String? = nil,
        underlying: (any Error)? = nil, query: EventQuery? = nil
    ) {
        self.query = query
        self.code = code
        self.message = message
        self.streamID = streamID
        self.expectedVersion = expectedVersion
        self.actualVersion = actualVersion
        self.eventID = eventID
        self.eventType = eventType
        self.position = position
        self.streamVersion = streamVersion
        self.metadataKey = metadataKey
        self.underlying = underlying
    }

    /// The code, then the message, then the underlying error if any.
    public var description: String {
        var text = "\(code): \(message)"
        if let underlying { text += " (underlying: \(underlying))" }
        return text
    }

    /// The error for an append whose expectation failed.
    public static func wrongExpectedVersion(stream: StreamID, expected: ExpectedVersion, actual: StreamVersion) -> EventStoreError {
        EventStoreError(
            .wrongExpectedVersion,
            "Append to \(stream) expected version \(expected) but the stream is at \(actual). Nothing was written; reload the stream and decide again.",
            streamID: stream, expectedVersion: expected, actualVersion: actual
        )
    }
}

extension EventStoreError {
    /// The error for an append whose ``AppendCondition`` failed: the event at `conflict` matches
    /// the condition's query and was stored after its position.
    public static func appendConditionFailed(stream: StreamID, condition: AppendCondition, conflict: GlobalPosition) -> EventStoreError {
        let after = condition.after.map { "after position \($0)" } ?? "at all"
        return EventStoreError(
            .appendConditionFailed,
            "Append to \(stream) required that no event matching \(condition.failIfEventsMatch) be stored \(after), but the event at position \(conflict) matches. Nothing was written; read the query's events again and decide again.",
            streamID: stream, position: conflict, query: condition.failIfEventsMatch
        )
    }
}

extension EventStoreError: LocalizedError {
    /// The same text as ``description``.
    public var errorDescription: String? { description }
}

extension EventStoreError.Code {
    /// Matches an error by code, so a `catch` can name the code alone:
    ///
    /// ```swift
    /// do { … } catch EventStoreError.Code.wrongExpectedVersion { … }
    /// ```
    public static func ~= (code: EventStoreError.Code, error: any Error) -> Bool {
        (error as? EventStoreError)?.code == code
    }
}
