import Chronicle
import ChronicleSQLite
import Foundation
import Testing

/// Docs/DynamicConsistency.md's examples do what the guide says, on real SQLite stores.
@Suite struct DynamicConsistencyGuideTests {
    @Test func theCourseExampleFillsTheCourseAndRefusesTheThirdStudent() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        try await runCourses(in: directory.path)

        let store = try SQLiteEventStore(path: directory.path("courses.sqlite"), configuration: .init(logger: quietLogger))
        let course = try await store.readEvents(matching: EventQuery(tags: ["course:c1"]), after: .start, limit: 10)
        #expect(course.map(\.type) == ["CourseDefined", "StudentSubscribed", "StudentSubscribed"])
        #expect(course.last?.tags == ["course:c1", "student:s2"])
        #expect(try await store.readStream("subscription-c1-s3").isEmpty)

        let decisions = DecisionRepository<CourseEvent>(store: store)
        await #expect(throws: SubscriptionError.courseExists) { try await defineCourse("c1", capacity: 5, with: decisions) }
        await #expect(throws: SubscriptionError.alreadySubscribed) { try await subscribe("s1", to: "c1", with: decisions) }
        await #expect(throws: SubscriptionError.noSuchCourse) { try await subscribe("s1", to: "c9", with: decisions) }
        // A student takes at most 5 courses.
        for index in 2...7 { try await defineCourse("c\(index)", capacity: 10, with: decisions) }
        for index in 2...5 { try await subscribe("s1", to: "c\(index)", with: decisions) }
        await #expect(throws: SubscriptionError.tooManyCourses) { try await subscribe("s1", to: "c6", with: decisions) }
        try await subscribe("s2", to: "c6", with: decisions)
        try await store.close()
    }

    @Test func eightRacingRegistrationsOfOneUsernameLetExactlyOneThrough() async throws {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("users.sqlite"), configuration: .init(logger: quietLogger))
        let users = DecisionRepository<UserEvent>(store: store)
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for user in 0..<8 {
                group.addTask {
                    do {
                        try await register("u\(user)", as: "Ada", with: users)
                        return true
                    } catch RegistrationError.usernameTaken {
                        return false
                    }
                }
            }
            var outcomes: [Bool] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(try await store.readEvents(matching: EventQuery(tags: ["username:ada"]), after: .start, limit: 10).count == 1)
        try await register("u9", as: "bob", with: users)

        await #expect(throws: RegistrationError.usernameTaken) { try await registerByHand(store, userID: "u10", username: "bob") }
        try await registerByHand(store, userID: "u11", username: "cy")
        #expect(try await store.readEvents(matching: EventQuery(types: ["UserRegistered"]), after: .start, limit: 10).count == 3)
        try await store.close()
    }
}
