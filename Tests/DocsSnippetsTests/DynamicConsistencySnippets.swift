// The snippets of Docs/DynamicConsistency.md, verbatim: change both together.
import Chronicle
import ChronicleSQLite
import Foundation

// MARK: Course subscriptions

struct CourseDefined: Codable, Sendable, Equatable {
    var course: String
    var capacity: Int
}

struct StudentSubscribed: Codable, Sendable, Equatable {
    var course: String
    var student: String
}

enum CourseEvent: RegisteredEvent, TaggedEvent {
    case defined(CourseDefined)
    case subscribed(StudentSubscribed)

    static let registry = EventTypeRegistry<CourseEvent>()
        .register(CourseDefined.self, as: "CourseDefined", CourseEvent.defined)
        .register(StudentSubscribed.self, as: "StudentSubscribed", CourseEvent.subscribed)

    var payload: any Encodable & Sendable {
        switch self {
        case .defined(let event): event
        case .subscribed(let event): event
        }
    }

    /// What each event is about: the decisions below read by these tags.
    var tags: [String] {
        switch self {
        case .defined(let event): ["course:\(event.course)"]
        case .subscribed(let event): ["course:\(event.course)", "student:\(event.student)"]
        }
    }
}

/// The course's capacity (0: no such course) and the seats taken.
func courseSeats(_ course: String) -> DecisionProjection<(capacity: Int, taken: Int), CourseEvent> {
    let query = EventQuery(types: ["CourseDefined", "StudentSubscribed"], tags: ["course:\(course)"])
    return DecisionProjection(query, initial: (capacity: 0, taken: 0)) { seats, event in
        switch event {
        case .defined(let defined): (defined.capacity, seats.taken)
        case .subscribed: (seats.capacity, seats.taken + 1)
        }
    }
}

/// The courses a student is subscribed to.
func studentCourses(_ student: String) -> DecisionProjection<Set<String>, CourseEvent> {
    let query = EventQuery(types: ["StudentSubscribed"], tags: ["student:\(student)"])
    return DecisionProjection(query, initial: []) { courses, event in
        guard case .subscribed(let subscribed) = event else { return courses }
        return courses.union([subscribed.course])
    }
}

enum SubscriptionError: Error, Equatable {
    case courseExists, noSuchCourse, alreadySubscribed, courseFull, tooManyCourses
}

/// Defines a course, once.
func defineCourse(_ course: String, capacity: Int, with decisions: DecisionRepository<CourseEvent>) async throws {
    try await decisions.execute(courseSeats(course), appendingTo: try StreamID("course-\(course)")) { seats in
        guard seats.capacity == 0 else { throw SubscriptionError.courseExists }
        return [.defined(CourseDefined(course: course, capacity: capacity))]
    }
}

/// Subscribes a student: at most `capacity` students per course, at most 5 courses per student.
func subscribe(_ student: String, to course: String, with decisions: DecisionRepository<CourseEvent>) async throws {
    let state = courseSeats(course).and(studentCourses(student))
    try await decisions.execute(state, appendingTo: try StreamID("subscription-\(course)-\(student)")) { state in
        let (seats, courses) = state
        guard seats.capacity > 0 else { throw SubscriptionError.noSuchCourse }
        guard !courses.contains(course) else { throw SubscriptionError.alreadySubscribed }
        guard seats.taken < seats.capacity else { throw SubscriptionError.courseFull }
        guard courses.count < 5 else { throw SubscriptionError.tooManyCourses }
        return [.subscribed(StudentSubscribed(course: course, student: student))]
    }
}

/// The whole example on a SQLite store in `directory`.
func runCourses(in directory: String) async throws {
    let store = try SQLiteEventStore(path: directory + "/courses.sqlite")
    let decisions = DecisionRepository<CourseEvent>(store: store)

    try await defineCourse("c1", capacity: 2, with: decisions)
    try await subscribe("s1", to: "c1", with: decisions)
    try await subscribe("s2", to: "c1", with: decisions)
    do {
        try await subscribe("s3", to: "c1", with: decisions)
    } catch SubscriptionError.courseFull {
        // a domain error: nothing was written
    }

    for try await event in store.events(matching: EventQuery(tags: ["course:c1"])) {
        print(event.position, event.type, event.tags)
    }
    try await store.close()
}

// MARK: Unique usernames

struct UserRegistered: Codable, Sendable, Equatable {
    var userID: String
    var username: String
}

enum UserEvent: RegisteredEvent, TaggedEvent {
    case registered(UserRegistered)

    static let registry = EventTypeRegistry<UserEvent>()
        .register(UserRegistered.self, as: "UserRegistered", UserEvent.registered)

    var payload: any Encodable & Sendable {
        switch self {
        case .registered(let event): event
        }
    }

    var tags: [String] {
        switch self {
        case .registered(let event): ["user:\(event.userID)", "username:\(event.username)"]
        }
    }
}

enum RegistrationError: Error, Equatable {
    case usernameTaken
}

/// Whether anyone registered `username`.
func usernameTaken(_ username: String) -> DecisionProjection<Bool, UserEvent> {
    DecisionProjection(EventQuery(types: ["UserRegistered"], tags: ["username:\(username)"]), initial: false) { _, _ in true }
}

/// Registers user `userID` as `username`, unless someone has that username.
func register(_ userID: String, as username: String, with users: DecisionRepository<UserEvent>) async throws {
    let username = username.lowercased()   // one spelling per name; tags compare byte for byte
    try await users.execute(usernameTaken(username), appendingTo: try StreamID("user-\(userID)")) { taken in
        guard !taken else { throw RegistrationError.usernameTaken }
        return [.registered(UserRegistered(userID: userID, username: username))]
    }
}

// MARK: The store's own API

/// A conditional append without the repository: read, decide, append on condition.
func registerByHand(_ store: some EventStore, userID: String, username: String) async throws {
    let query = EventQuery(types: ["UserRegistered"], tags: ["username:\(username)"])
    let head = try await store.headPosition()
    let existing = try await store.readEvents(matching: query, after: .start, limit: 1)
    guard existing.isEmpty else { throw RegistrationError.usernameTaken }

    let event = EventData(
        type: "UserRegistered", payload: Data(#"{"userID":"\#(userID)","username":"\#(username)"}"#.utf8),
        tags: ["user:\(userID)", "username:\(username)"]
    )
    let condition = AppendCondition(failIfEventsMatch: query, after: head)
    do {
        _ = try await store.append([StreamAppend([event], to: try StreamID("user-\(userID)"), expectedVersion: .noStream, condition: condition)])
    } catch let error as EventStoreError where error.code == .appendConditionFailed {
        // Someone registered the name after `head` (error.position is their event): read again.
        throw RegistrationError.usernameTaken
    }
}
