import Foundation

/// A domain event that names the tags it is stored with (see ``EventData/tags``), so a
/// ``DecisionRepository`` can tag what a decision appends.
///
/// ```swift
/// extension CourseEvent: TaggedEvent {
///     var tags: [String] {
///         switch self {
///         case .opened(let e): ["course:\(e.course)"]
///         case .subscribed(let e): ["course:\(e.course)", "student:\(e.student)"]
///         }
///     }
/// }
/// ```
public protocol TaggedEvent: Sendable {
    /// The tags to store the event with.
    var tags: [String] { get }
}

/// A small projection over an ``EventQuery``: one fact a decision needs ("seats taken in course
/// c1", "is username ada taken"), folded from the events the query matches.
///
/// Compose several with ``and(_:)``: the composite reads the union of their queries, and each
/// part folds only the events its own query matches. A ``DecisionRepository`` reads the
/// composite's events, hands its state to the decision, and appends with the condition derived
/// from it (``EventQuery`` of the composite, after the last position read): the dynamic
/// consistency boundary is exactly what the decision read.
///
/// ```swift
/// func seatsTaken(_ course: String) -> DecisionProjection<Int, CourseEvent> {
///     DecisionProjection(EventQuery(types: ["StudentSubscribed"], tags: ["course:\(course)"]), initial: 0) { count, _ in count + 1 }
/// }
/// let state = seatsTaken("c1").and(coursesOf("s1"))   // (Int, Int)
/// ```
public struct DecisionProjection<State: Sendable, Event: Sendable>: Sendable {
    /// The events this projection reads.
    public let query: EventQuery
    /// The state before any event.
    public let initial: State
    /// Folds one recorded event (and its decoded form) into the state, if the projection's own
    /// query matches it.
    let apply: @Sendable (State, RecordedEvent, Event) -> State

    /// A projection of the events matching `query`, folded from `initial` by `evolve` (pure).
    public init(_ query: EventQuery, initial: State, evolve: @escaping @Sendable (State, Event) -> State) {
        self.query = query
        self.initial = initial
        self.apply = { state, recorded, event in query.matches(recorded) ? evolve(state, event) : state }
    }

    private init(query: EventQuery, initial: State, apply: @escaping @Sendable (State, RecordedEvent, Event) -> State) {
        self.query = query
        self.initial = initial
        self.apply = apply
    }

    /// This projection and `other` side by side: the state is the pair of both states, the
    /// query the union of both queries (``EventQuery/all`` if either is), and each part folds
    /// only the events its own query matches.
    public func and<Other: Sendable>(_ other: DecisionProjection<Other, Event>) -> DecisionProjection<(State, Other), Event> {
        let query = (self.query.matchesEverything || other.query.matchesEverything) ? EventQuery.all : EventQuery(self.query.items + other.query.items)
        let first = self.apply, second = other.apply
        return DecisionProjection<(State, Other), Event>(query: query, initial: (initial, other.initial)) { state, recorded, event in
            (first(state.0, recorded, event), second(state.1, recorded, event))
        }
    }

    /// The same projection with its state mapped by `transform` (to name a composite's parts).
    public func map<Mapped: Sendable>(_ transform: @escaping @Sendable (State) -> Mapped, back: @escaping @Sendable (Mapped) -> State) -> DecisionProjection<Mapped, Event> {
        let apply = self.apply
        return DecisionProjection<Mapped, Event>(query: query, initial: transform(initial)) { state, recorded, event in
            transform(apply(back(state), recorded, event))
        }
    }

    /// Folds `recorded` (decoded as `events`) into `state`.
    func fold(_ state: State, _ recorded: RecordedEvent, _ events: [Event]) -> State {
        events.reduce(state) { apply($0, recorded, $1) }
    }
}

/// What ``DecisionRepository/execute(_:appendingTo:metadata:decide:)`` did.
public struct DecisionResult<State: Sendable>: Sendable {
    /// The state the successful decision was made on.
    public var state: State
    /// The append's result; `nil` when the decision returned no events (nothing was written).
    public var appended: AppendResult?
    /// The position the decision read up to (its append condition's position).
    public var readPosition: GlobalPosition
    /// How many times the decision was made (1 without a conflict).
    public var attempts: Int
}

/// Reads the events of a ``DecisionProjection``, lets a pure function decide, and appends the
/// decided events with the append condition the projection implies, retrying on conflict: the
/// dynamic-consistency-boundary counterpart of ``AggregateRepository``.
///
/// ```swift
/// let decisions = DecisionRepository<CourseEvent>(store: store)
/// try await decisions.execute(seatsTaken("c1").and(coursesOf("s1")), appendingTo: "subscription-c1-s1") { state in
///     let (taken, courses) = state
///     guard taken < 30 else { throw SubscriptionError.courseFull }
///     guard courses < 5 else { throw SubscriptionError.tooManyCourses }
///     return [.subscribed(StudentSubscribed(course: "c1", student: "s1"))]
/// }
/// ```
///
/// The append goes to `stream` with ``ExpectedVersion/any``: the condition, not the stream,
/// guards the rule. Two racing decisions over overlapping events cannot both commit; the loser
/// reads again (now seeing the winner's events) and decides again, up to `maxAttempts` times.
public struct DecisionRepository<Event: TaggedEvent>: Sendable {
    /// The store read and appended to.
    public let store: any EventStore
    /// Maps domain events to stored events and back.
    public let codec: any EventCodec<Event>
    /// How many times a decision is made before an append-condition conflict is given up on
    /// and thrown (at least 1).
    public let maxAttempts: Int
    /// Events read per page.
    public let pageSize: Int
    /// Makes the ids of new events.
    public let eventIDs: EventIDGenerator

    /// A repository over `store` with a custom codec.
    public init(store: some EventStore, codec: some EventCodec<Event>, maxAttempts: Int = 10, pageSize: Int = 1000, eventIDs: EventIDGenerator = .timeOrdered) {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        precondition(pageSize >= 1, "pageSize must be at least 1")
        self.store = store
        self.codec = codec
        self.maxAttempts = maxAttempts
        self.pageSize = pageSize
        self.eventIDs = eventIDs
    }

    /// A repository over `store` with the event type's ``JSONEventCodec``.
    public init(store: some EventStore, maxAttempts: Int = 10, pageSize: Int = 1000, eventIDs: EventIDGenerator = .timeOrdered) where Event: RegisteredEvent {
        self.init(store: store, codec: JSONEventCodec<Event>(), maxAttempts: maxAttempts, pageSize: pageSize, eventIDs: eventIDs)
    }

    /// The projection's state as of now, and the position it was read up to.
    public func load<State>(_ projection: DecisionProjection<State, Event>) async throws -> (state: State, position: GlobalPosition) {
        try projection.query.validate()
        // The head first: every event at or before it is then read, so the condition's position
        // is never behind what the state reflects (a read ending early would only make the
        // condition stricter, never looser).
        var position = try await store.headPosition()
        var state = projection.initial
        for try await recorded in store.events(matching: projection.query, after: .start, pageSize: pageSize) {
            state = projection.fold(state, recorded, try codec.decode(recorded))
            position = max(position, recorded.position)
        }
        return (state, position)
    }

    /// Reads `projection`'s state, calls `decide` on it, and appends the events it returns to
    /// `stream` (tagged with their ``TaggedEvent/tags``) on condition that no event matching
    /// the projection's query was stored after the position read. On a conflict it reads and
    /// decides again.
    ///
    /// - Parameters:
    ///   - projection: what the decision reads (compose parts with ``DecisionProjection/and(_:)``).
    ///   - stream: the stream the events are appended to (with ``ExpectedVersion/any``).
    ///   - metadata: stamped on every event appended.
    ///   - decide: the pure decision: state in, events out (none: nothing is written); its
    ///     errors reach the caller unchanged.
    /// - Returns: the state decided on, the append's result and the number of attempts.
    /// - Throws: whatever `decide` throws; ``EventStoreError`` with code
    ///   ``EventStoreError/Code/appendConditionFailed`` when every attempt met a concurrent
    ///   writer; other ``EventStoreError``s from the codec and the store.
    @discardableResult
    public func execute<State>(
        _ projection: DecisionProjection<State, Event>, appendingTo stream: StreamID, metadata: EventMetadata = .none,
        decide: (State) throws -> [Event]
    ) async throws -> DecisionResult<State> {
        var attempt = 1
        while true {
            let (state, position) = try await load(projection)
            let events = try decide(state)
            if events.isEmpty { return DecisionResult(state: state, appended: nil, readPosition: position, attempts: attempt) }
            do {
                let appended = try await append(events, to: stream, decidedOn: projection, readUpTo: position, metadata: metadata)
                return DecisionResult(state: state, appended: appended, readPosition: position, attempts: attempt)
            } catch let error as EventStoreError where error.code == .appendConditionFailed && attempt < maxAttempts {
                attempt += 1
            }
        }
    }

    /// Appends `events` (decided on `projection`'s state as ``load(_:)`` read it up to
    /// `position`) to `stream`, tagged with their ``TaggedEvent/tags``, on condition that no
    /// event matching the projection's query was stored after `position`: the append step of
    /// ``execute(_:appendingTo:metadata:decide:)``, for callers that load and decide themselves.
    ///
    /// - Parameters:
    ///   - events: the decided events (at least one).
    ///   - stream: the stream they are appended to (with ``ExpectedVersion/any``).
    ///   - projection: the projection the decision read.
    ///   - position: the position ``load(_:)`` returned with the state.
    ///   - metadata: stamped on every event appended.
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/appendConditionFailed`` when
    ///   an event matching the projection's query was stored after `position` (load again and
    ///   decide again); other ``EventStoreError``s from the codec and the store.
    public func append<State>(
        _ events: [Event], to stream: StreamID, decidedOn projection: DecisionProjection<State, Event>, readUpTo position: GlobalPosition,
        metadata: EventMetadata = .none
    ) async throws -> AppendResult {
        var data: [EventData] = []
        data.reserveCapacity(events.count)
        for event in events {
            var encoded = try codec.encode(event, id: eventIDs(), metadata: metadata)
            encoded.tags = event.tags
            data.append(encoded)
        }
        let condition = AppendCondition(failIfEventsMatch: projection.query, after: position)
        return try await store.append([StreamAppend(data, to: stream, expectedVersion: .any, condition: condition)])[0]
    }
}
