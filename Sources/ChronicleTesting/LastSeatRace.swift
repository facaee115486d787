public import Chronicle
import Foundation

/// The race test of conditional appends, shared by every backend's tests and by the helper
/// processes of the multi-process races: contenders try to take the last seat of a course, each
/// deciding with a ``DecisionRepository`` over the course's events; exactly one may commit.
///
/// A course `id` is opened with a capacity (`CourseOpened`, tag `course:<id>`); a subscription
/// (`StudentSubscribed`, tags `course:<id>`, `student:<student>`) takes a seat while seats taken
/// < capacity.
public enum LastSeatRace {
    /// The events of the race.
    public enum Event: RegisteredEvent, TaggedEvent {
        /// A course opened with a capacity.
        case opened(CourseOpened)
        /// A student took a seat.
        case subscribed(StudentSubscribed)

        /// The registered types.
        public static let registry = EventTypeRegistry<Event>()
            .register(CourseOpened.self, as: "CourseOpened", Event.opened)
            .register(StudentSubscribed.self, as: "StudentSubscribed", Event.subscribed)

        /// The case's payload.
        public var payload: any Encodable & Sendable {
            switch self {
            case .opened(let event): event
            case .subscribed(let event): event
            }
        }

        /// `course:<id>`, and `student:<id>` for a subscription.
        public var tags: [String] {
            switch self {
            case .opened(let event): ["course:\(event.course)"]
            case .subscribed(let event): ["course:\(event.course)", "student:\(event.student)"]
            }
        }
    }

    /// A course opened.
    public struct CourseOpened: Codable, Sendable, Equatable {
        /// The course.
        public var course: String
        /// How many students it takes.
        public var capacity: Int

        /// Creates the event.
        public init(course: String, capacity: Int) {
            self.course = course
            self.capacity = capacity
        }
    }

    /// A student subscribed to a course.
    public struct StudentSubscribed: Codable, Sendable, Equatable {
        /// The course.
        public var course: String
        /// The student.
        public var student: String

        /// Creates the event.
        public init(course: String, student: String) {
            self.course = course
            self.student = student
        }
    }

    /// The course's capacity and seats taken, read from the events tagged `course:<id>`.
    public static func seats(_ course: String) -> DecisionProjection<(capacity: Int, taken: Int), Event> {
        DecisionProjection(EventQuery(types: ["CourseOpened", "StudentSubscribed"], tags: ["course:\(course)"]), initial: (capacity: 0, taken: 0)) { state, event in
            switch event {
            case .opened(let opened): (opened.capacity, state.taken)
            case .subscribed: (state.capacity, state.taken + 1)
            }
        }
    }

    /// Opens `course` with `capacity` seats, `capacity - 1` of them already taken.
    public static func openWithOneSeatLeft(_ store: some EventStore, course: String, capacity: Int = 3) async throws {
        let codec = JSONEventCodec<Event>()
        var events = [Event.opened(CourseOpened(course: course, capacity: capacity))]
        for seat in 1..<capacity { events.append(.subscribed(StudentSubscribed(course: course, student: "early-\(seat)"))) }
        let data = try events.map { event in
            var encoded = try codec.encode(event, id: UUID(), metadata: .none)
            encoded.tags = event.tags
            return encoded
        }
        try await store.append(data, to: StreamID(unchecked: "course-\(course)"), expectedVersion: .noStream)
    }

    /// What one contender's attempt did.
    public struct Attempt: Sendable {
        /// Whether it took the seat.
        public var tookSeat: Bool
        /// How many times it decided (more than 1: it lost a race and read again).
        public var attempts: Int
    }

    /// The domain error of a full course.
    public struct CourseFull: Error {}

    /// One contender: decides on the course's seats and subscribes `student` if a seat is left,
    /// appending on condition (retrying on conflict). Returns whether it took a seat.
    public static func tryToTakeSeat(_ store: some EventStore, course: String, student: String) async throws -> Attempt {
        let decisions = DecisionRepository<Event>(store: store, maxAttempts: 100)
        do {
            let result = try await decisions.execute(seats(course), appendingTo: subscriptionStream(course, student)) { state in
                try decide(state, course: course, student: student)
            }
            return Attempt(tookSeat: result.appended != nil, attempts: result.attempts)
        } catch is CourseFull {
            return Attempt(tookSeat: false, attempts: 1)
        }
    }

    static func subscriptionStream(_ course: String, _ student: String) -> StreamID {
        StreamID(unchecked: "subscription-\(course)-\(student)")
    }

    static func decide(_ state: (capacity: Int, taken: Int), course: String, student: String) throws -> [Event] {
        guard state.capacity > 0, state.taken < state.capacity else { throw CourseFull() }
        return [.subscribed(StudentSubscribed(course: course, student: student))]
    }

    /// One round: every student reads the course's seats, then (after `barrier`, which returns
    /// once everyone racing has read) all append at once; exactly one append can hold its
    /// condition. A contender that loses decides again (``tryToTakeSeat(_:course:student:)``).
    static func round(_ store: some EventStore, course: String, students: [String], barrier: () async throws -> Void) async throws -> [Attempt] {
        let decisions = DecisionRepository<Event>(store: store, maxAttempts: 100)
        let projection = seats(course)
        // 1. Everyone reads (the seat is free for all of them).
        let loaded = try await withThrowingTaskGroup(of: (String, (capacity: Int, taken: Int), GlobalPosition).self) { group in
            for student in students {
                group.addTask {
                    let (state, position) = try await decisions.load(projection)
                    return (student, state, position)
                }
            }
            var loaded: [(String, (capacity: Int, taken: Int), GlobalPosition)] = []
            for try await entry in group { loaded.append(entry) }
            return loaded
        }
        try await barrier()
        // 2. Everyone appends at once, on condition; the losers decide again.
        return try await withThrowingTaskGroup(of: Attempt.self) { group in
            for (student, state, position) in loaded {
                group.addTask {
                    let events: [Event]
                    do {
                        events = try decide(state, course: course, student: student)
                    } catch is CourseFull {
                        return Attempt(tookSeat: false, attempts: 1)
                    }
                    do {
                        _ = try await decisions.append(events, to: subscriptionStream(course, student), decidedOn: projection, readUpTo: position)
                        return Attempt(tookSeat: true, attempts: 1)
                    } catch let error as EventStoreError where error.code == .appendConditionFailed {
                        var again = try await tryToTakeSeat(store, course: course, student: student)
                        again.attempts += 1
                        return again
                    }
                }
            }
            var attempts: [Attempt] = []
            for try await attempt in group { attempts.append(attempt) }
            return attempts
        }
    }

    /// The subscriptions stored for `course` (read by tag).
    public static func subscriptions(_ store: some EventStore, course: String) async throws -> Int {
        try await store.readEvents(matching: EventQuery(types: ["StudentSubscribed"], tags: ["course:\(course)"]), after: .start, limit: 10_000).count
    }

    /// Runs `rounds` rounds of `contenders` concurrent tasks racing for the last seat of a fresh
    /// course each round (`<prefix>-<round>`): all of them read the free seat, then all append.
    /// Returns the number of winners per round.
    public static func run(_ store: some EventStore, rounds: Int, contenders: Int, coursePrefix: String = "race") async throws -> [Int] {
        var winners: [Int] = []
        for round in 0..<rounds {
            let course = "\(coursePrefix)-\(round)"
            try await openWithOneSeatLeft(store, course: course)
            let attempts = try await self.round(store, course: course, students: (0..<contenders).map { "s\($0)" }) {}
            winners.append(attempts.filter(\.tookSeat).count)
        }
        return winners
    }

    /// One process's part of a race of `processes` processes: for each of `rounds` courses
    /// (`mp-<round>`), opens it with one seat left unless another process did, lets `tasks`
    /// contenders (students `<tag>-<task>`) read the free seat, waits until every process's
    /// contenders have read it (each process appends a marker tagged `race:mp-<round>` and waits
    /// for all the markers), then lets them all append. Returns the seats this process won and
    /// the decisions it made (contenders that lost a race decided again).
    public static func contend(_ store: some EventStore, rounds: Int, tasks: Int, tag: String, processes: Int = 2) async throws -> (won: Int, decisions: Int) {
        var won = 0, decisions = 0
        for round in 0..<rounds {
            let course = "mp-\(round)"
            do {
                try await openWithOneSeatLeft(store, course: course)
            } catch let error as EventStoreError where error.code == .wrongExpectedVersion {
                // Another process opened it first.
            }
            let attempts = try await self.round(store, course: course, students: (0..<tasks).map { "\(tag)-\($0)" }) {
                let marker = EventQuery(tags: ["race:\(course)"])
                try await store.append(EventData(type: "RaceReady", payload: Data("{}".utf8), tags: ["race:\(course)"]), to: StreamID(unchecked: "race-\(course)-\(tag)"), expectedVersion: .noStream)
                try await eventually("\(processes) processes ready for \(course)", timeout: .seconds(120)) {
                    try await store.readEvents(matching: marker, after: .start, limit: processes).count == processes
                }
            }
            won += attempts.filter(\.tookSeat).count
            decisions += attempts.map(\.attempts).reduce(0, +)
        }
        return (won, decisions)
    }
}
