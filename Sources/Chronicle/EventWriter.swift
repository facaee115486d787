import Foundation

/// Events to append to one stream, with the version the stream is expected to be at.
public struct StreamAppend: Sendable, Hashable {
    /// The stream to append to (created by its first append).
    public var streamID: StreamID
    /// The optimistic-concurrency expectation checked before writing.
    public var expectedVersion: ExpectedVersion
    /// The events, in order. Must not be empty.
    public var events: [EventData]
    /// A dynamic-consistency condition checked with the expected version, under the store's write
    /// lock: the append fails with ``EventStoreError/Code/appendConditionFailed`` if an event
    /// matching the condition's query was stored after its position. `nil`: no such check.
    public var condition: AppendCondition?

    /// Creates an append, optionally conditional (see ``condition``).
    public init(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion, condition: AppendCondition? = nil) {
        self.streamID = streamID
        self.expectedVersion = expectedVersion
        self.events = events
        self.condition = condition
    }
}

/// What a successful append wrote (or had already written, for an idempotent re-append).
public struct AppendResult: Sendable, Hashable {
    /// The stream appended to.
    public var streamID: StreamID
    /// The version of the first event appended.
    public var firstVersion: StreamVersion
    /// The version of the last event appended: the stream's version after the append, and the
    /// expected version for the next append.
    public var version: StreamVersion
    /// The global position of the first event appended.
    public var firstPosition: GlobalPosition
    /// The global position of the last event appended. Pass it to a projection's
    /// `waitUntil(position:)` to read your own writes.
    public var position: GlobalPosition
    /// `true` when every event was already stored (an idempotent retry) and nothing was written.
    public var wasAlreadyStored: Bool

    /// Creates a result.
    public init(streamID: StreamID, firstVersion: StreamVersion, version: StreamVersion, firstPosition: GlobalPosition, position: GlobalPosition, wasAlreadyStored: Bool = false) {
        self.streamID = streamID
        self.firstVersion = firstVersion
        self.version = version
        self.firstPosition = firstPosition
        self.position = position
        self.wasAlreadyStored = wasAlreadyStored
    }
}

/// Appends events to streams. Implemented by every event store.
///
/// An append is atomic: either every event of every ``StreamAppend`` in the call is written,
/// with contiguous versions and increasing global positions, or nothing is.
public protocol EventWriter: Sendable {
    /// Appends to one or more streams atomically.
    ///
    /// - Returns: one result per append, in order.
    /// - Throws: ``EventStoreError`` — ``EventStoreError/Code/wrongExpectedVersion``,
    ///   ``EventStoreError/Code/duplicateEventID``, ``EventStoreError/Code/emptyAppend``,
    ///   ``EventStoreError/Code/invalidEvent`` and storage failures. On any error nothing is written.
    func append(_ appends: [StreamAppend]) async throws -> [AppendResult]
}

extension EventWriter {
    /// Appends events to one stream atomically.
    ///
    /// ```swift
    /// let result = try await store.append([event], to: "order-42", expectedVersion: .noStream)
    /// result.version   // 1
    /// result.position  // the event's global position
    /// ```
    @discardableResult
    public func append(_ events: [EventData], to stream: StreamID, expectedVersion: ExpectedVersion) async throws -> AppendResult {
        try await append([StreamAppend(events, to: stream, expectedVersion: expectedVersion)])[0]
    }

    /// Appends one event to one stream.
    @discardableResult
    public func append(_ event: EventData, to stream: StreamID, expectedVersion: ExpectedVersion) async throws -> AppendResult {
        try await append([event], to: stream, expectedVersion: expectedVersion)
    }
}

extension StreamAppend {
    /// Checks what can be checked without reading the store: at least one event, well-formed
    /// events and tags, no event id twice, a well-formed condition query.
    public func validate() throws(EventStoreError) {
        if events.isEmpty {
            throw EventStoreError(.emptyAppend, "Append to \(streamID) has no events. Nothing was written; pass at least one event.", streamID: streamID)
        }
        for event in events {
            if let problem = event.validationProblem {
                throw EventStoreError(.invalidEvent, "Event \(event.id) appended to \(streamID) is malformed: \(problem). Nothing was written.", streamID: streamID, eventID: event.id, eventType: event.type)
            }
            if let problem = event.tagProblem {
                throw EventStoreError(.invalidTag, "Event \(event.id) appended to \(streamID) has invalid tags: \(problem). Nothing was written; tags are 1 to \(EventTags.maximumLength) bytes without whitespace or control characters, at most \(EventTags.maximumPerEvent) per event, each once.", streamID: streamID, eventID: event.id, eventType: event.type)
            }
        }
        try condition?.failIfEventsMatch.validate()
        if events.count == 1 { return }
        var seen = Set<UUID>()
        seen.reserveCapacity(events.count)
        for event in events {
            if !seen.insert(event.id).inserted {
                throw EventStoreError(.duplicateEventID, "Event id \(event.id) appears twice in one append to \(streamID). Nothing was written; give each event its own id.", streamID: streamID, eventID: event.id)
            }
        }
    }
}
