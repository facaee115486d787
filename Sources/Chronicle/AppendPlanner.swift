import Foundation

/// The rules of one append call, written once for every store: validation, the expected-version
/// check, append conditions, idempotent replays and the version and position arithmetic. A backend
/// supplies only its reads (a stream's stored version, the stored events with given ids, the first
/// event matching a query after a position: ``ConditionProbe``) and its writes.
///
/// One planner per call (``EventWriter/append(_:)``): ``validate(_:)`` first, then ``plan(_:current:storedEvents:)``
/// for each ``StreamAppend`` in order, then write each ``Step/write(_:firstVersion:firstOrdinal:)``
/// step's events, whose positions are `base + ordinal` once the backend knows `base`, the head
/// before the call's first new event. ``results(base:)`` gives the call's results.
///
/// Replays: an append whose event ids are already stored is answered with the original result
/// when it is an exact replay (see ``IdempotentAppend``). A backend that can look its ids up
/// cheaply before writing passes ``ReplayCheck/beforeWriting``; one that relies on a unique index
/// (SQLite: no lookup on the hot path) passes ``ReplayCheck/onConflict`` and calls
/// ``replayLastWrite(storedEvents:)`` when the index refuses an id. Both give the same answers.
package struct AppendPlanner: Sendable {
    /// When the planner looks for already-stored ids.
    package enum ReplayCheck: Sendable {
        /// Before deciding each request (the backend has the stored events at hand).
        case beforeWriting
        /// Only when the expected version does not hold; the backend calls
        /// ``AppendPlanner/replayLastWrite(storedEvents:)`` when its unique index refuses an id.
        case onConflict
    }

    /// What to do with one request.
    package enum Step: Sendable {
        /// Its events are already stored: answer with the original result, write nothing.
        case alreadyStored(AppendResult)
        /// Write its events at versions `firstVersion`… and positions `base + firstOrdinal`…
        case write(StreamAppend, firstVersion: StreamVersion, firstOrdinal: Int64)
    }

    /// What a backend supplies to check ``AppendCondition``s: the head before the call (conditions
    /// ignore what the call itself writes) and the first event matching a query with a position
    /// in `(after, head]`, if any, found through the store's tag index.
    package struct ConditionProbe {
        /// The head before the call's first new event.
        package var head: GlobalPosition
        /// The position of the first event matching the query after the position, up to ``head``.
        package var firstMatch: (EventQuery, GlobalPosition) throws -> GlobalPosition?

        /// A probe at `head`.
        package init(head: GlobalPosition, firstMatch: @escaping (EventQuery, GlobalPosition) throws -> GlobalPosition?) {
            self.head = head
            self.firstMatch = firstMatch
        }
    }

    private let replayCheck: ReplayCheck
    /// The steps planned so far, in request order.
    package private(set) var steps: [Step] = []
    /// How many events the planned writes add.
    package private(set) var newEventCount: Int64 = 0
    /// Versions of the streams this call already writes (a later request to the same stream
    /// starts after them).
    private var pendingVersions: [StreamID: StreamVersion] = [:]
    /// The pending version the last planned write replaced (to undo it, see ``replayLastWrite(storedEvents:)``).
    private var undoLastWrite: (stream: StreamID, version: StreamVersion?)?

    /// A planner for one call.
    package init(replayCheck: ReplayCheck) {
        self.replayCheck = replayCheck
    }

    /// Checks what can be checked without reading the store: every request well formed (see
    /// ``StreamAppend/validate()``), and no event id twice in the call.
    package static func validate(_ appends: [StreamAppend]) throws(EventStoreError) {
        for request in appends { try request.validate() }
        guard appends.count > 1 else { return }
        var seen = Set<UUID>()
        for request in appends {
            for event in request.events where !seen.insert(event.id).inserted {
                throw EventStoreError(.duplicateEventID, "Event id \(event.id) appears twice in one append call. Nothing was written; give each event its own id.", streamID: request.streamID, eventID: event.id)
            }
        }
    }

    /// Decides `request`, given its stream's stored version (before this call) and a way to read
    /// the stored events among its ids (called when a replay is possible).
    ///
    /// - Throws: ``EventStoreError/Code/wrongExpectedVersion`` or
    ///   ``EventStoreError/Code/duplicateEventID``; the backend's own errors from `storedEvents`.
    ///
    /// A request with an ``AppendCondition`` is checked against `conditions` (see
    /// ``ConditionProbe``), after its expected version: a matching event after the condition's
    /// position throws ``EventStoreError/Code/appendConditionFailed`` (unless the request is an
    /// exact replay), a position ahead of the head ``EventStoreError/Code/invalidArgument``.
    @discardableResult
    ///
    /// A deleted stream (`deleted`, see ``StreamMaintenance``) is expected to be at
    /// ``StreamVersion/initial`` (it reads as no stream, so ``ExpectedVersion/noStream`` recreates
    /// it), while its new events take the versions after `stored`, the deleted ones'.
    package mutating func plan(
        _ request: StreamAppend, current stored: StreamVersion, deleted: Bool = false, storedEvents: () throws -> [RecordedEvent],
        conditions: ConditionProbe? = nil
    ) throws -> Step {
        if replayCheck == .beforeWriting {
            let found = try storedEvents()
            if !found.isEmpty { return append(.alreadyStored(try IdempotentAppend.check(request, against: found))) }
        }
        let pending = pendingVersions[request.streamID]
        let current = pending ?? stored
        let seen = pending == nil && deleted ? StreamVersion.initial : current
        guard request.expectedVersion.isSatisfied(by: seen) else {
            if let replay = try replayOnConflict(request, storedEvents) { return replay }
            throw EventStoreError.wrongExpectedVersion(stream: request.streamID, expected: request.expectedVersion, actual: seen)
        }
        if let condition = request.condition {
            guard let conditions else {
                preconditionFailure("AppendPlanner.plan: a conditional append planned without a ConditionProbe")
            }
            if let after = condition.after, after > conditions.head {
                throw EventStoreError(
                    .invalidArgument,
                    "The append condition of the append to \(request.streamID) reads after position \(after), ahead of the store's head \(conditions.head). Nothing was written; pass a position this store returned.",
                    streamID: request.streamID, position: after, query: condition.failIfEventsMatch)
            }
            let after = condition.after ?? .start
            if after < conditions.head, let conflict = try conditions.firstMatch(condition.failIfEventsMatch, after) {
                if let replay = try replayOnConflict(request, storedEvents) { return replay }
                throw EventStoreError.appendConditionFailed(stream: request.streamID, condition: condition, conflict: conflict)
            }
        }
        let count = Int64(request.events.count)
        undoLastWrite = (request.streamID, pendingVersions[request.streamID])
        pendingVersions[request.streamID] = current.advanced(by: count)
        let step = Step.write(request, firstVersion: current.next, firstOrdinal: newEventCount + 1)
        newEventCount += count
        return append(step)
    }

    /// With ``ReplayCheck/onConflict``, the replay answer when `request`'s events are stored.
    private mutating func replayOnConflict(_ request: StreamAppend, _ storedEvents: () throws -> [RecordedEvent]) throws -> Step? {
        guard replayCheck == .onConflict else { return nil }
        let found = try storedEvents()
        if found.isEmpty { return nil }
        return append(.alreadyStored(try IdempotentAppend.check(request, against: found)))
    }

    private mutating func append(_ step: Step) -> Step {
        if case .alreadyStored = step { undoLastWrite = nil }
        steps.append(step)
        return step
    }

    /// Turns the last planned write into a replay when, writing its first event, the backend's
    /// unique index refused an id already stored (nothing of that request is written): an exact
    /// replay gives the original result, anything else throws ``EventStoreError/Code/duplicateEventID``.
    /// `storedEvents` are the stored events among the request's ids.
    package mutating func replayLastWrite(storedEvents: [RecordedEvent]) throws(EventStoreError) -> AppendResult {
        guard let undo = undoLastWrite, case .write(let request, _, _)? = steps.last else {
            preconditionFailure("replayLastWrite(storedEvents:) without a write planned last")
        }
        let result = try IdempotentAppend.check(request, against: storedEvents)
        steps[steps.count - 1] = .alreadyStored(result)
        newEventCount -= Int64(request.events.count)
        pendingVersions[undo.stream] = undo.version
        undoLastWrite = nil
        return result
    }

    /// One result per request, in order, once the writes are placed after `base` (the head
    /// before the call's first new event).
    package func results(base: Int64) -> [AppendResult] {
        steps.map { step in
            switch step {
            case .alreadyStored(let result):
                return result
            case .write(let request, let firstVersion, let firstOrdinal):
                return Self.result(request, firstVersion: firstVersion, firstPosition: base + firstOrdinal)
            }
        }
    }

    /// The result of writing `request` at versions `firstVersion`… and positions `firstPosition`…
    package static func result(_ request: StreamAppend, firstVersion: StreamVersion, firstPosition: Int64) -> AppendResult {
        let count = Int64(request.events.count)
        return AppendResult(
            streamID: request.streamID, firstVersion: firstVersion, version: firstVersion.advanced(by: count - 1),
            firstPosition: GlobalPosition(firstPosition), position: GlobalPosition(firstPosition + count - 1)
        )
    }
}
