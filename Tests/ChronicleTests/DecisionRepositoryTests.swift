import Chronicle
import ChronicleTesting
import Foundation
import Synchronization
import Testing

@Suite struct DecisionRepositoryTests {
    typealias Event = LastSeatRace.Event

    /// Courses student `student` is subscribed to.
    static func coursesOf(_ student: String) -> DecisionProjection<Int, Event> {
        DecisionProjection(EventQuery(types: ["StudentSubscribed"], tags: ["student:\(student)"]), initial: 0) { count, _ in count + 1 }
    }

    @Test func composedProjectionsFoldOnlyTheirOwnEventsAndTheConditionCoversBoth() async throws {
        let store = InMemoryEventStore()
        try await LastSeatRace.openWithOneSeatLeft(store, course: "c1", capacity: 3)
        try await LastSeatRace.openWithOneSeatLeft(store, course: "c2", capacity: 2)
        let decisions = DecisionRepository<Event>(store: store)
        let projection = LastSeatRace.seats("c1").and(Self.coursesOf("s1"))
        #expect(projection.query.items.count == 2)

        let (state, position) = try await decisions.load(projection)
        #expect(state.0.capacity == 3 && state.0.taken == 2)
        #expect(state.1 == 0)
        #expect(position == 5)

        let result = try await decisions.execute(projection, appendingTo: "subscription-c1-s1") { state in
            #expect(state.1 < 5)
            return [.subscribed(.init(course: "c1", student: "s1"))]
        }
        #expect(result.attempts == 1)
        #expect(result.appended?.position == 6)
        let stored = try await store.readAll(after: 5, limit: 10)
        #expect(stored.map(\.tags) == [["course:c1", "student:s1"]])
        let after = try await decisions.load(projection).state
        #expect(after.0.taken == 3 && after.1 == 1)
    }

    @Test func aDecisionThatLosesARaceReadsAgainAndDecidesAgain() async throws {
        let base = InMemoryEventStore()
        try await LastSeatRace.openWithOneSeatLeft(base, course: "c1", capacity: 3)
        // Before the decision's first append, another writer takes the last seat.
        let store = SeatTakingStore(base, course: "c1", times: 1)
        let decisions = DecisionRepository<Event>(store: store)
        var seen: [Int] = []
        let result = try await decisions.execute(LastSeatRace.seats("c1"), appendingTo: "subscription-c1-late") { state in
            seen.append(state.taken)
            return state.taken < state.capacity ? [.subscribed(.init(course: "c1", student: "late"))] : []
        }
        #expect(seen == [2, 3])
        #expect(result.attempts == 2)
        #expect(result.appended == nil)
        #expect(try await LastSeatRace.subscriptions(base, course: "c1") == 3)
    }

    @Test func aConflictIsRetriedUntilMaxAttemptsThenThrown() async throws {
        let base = InMemoryEventStore()
        try await LastSeatRace.openWithOneSeatLeft(base, course: "c1", capacity: 100)
        let store = SeatTakingStore(base, course: "c1", times: .max)
        let decisions = DecisionRepository<Event>(store: store, maxAttempts: 3)
        var decided = 0
        let error = await #expect(throws: EventStoreError.self) {
            try await decisions.execute(LastSeatRace.seats("c1"), appendingTo: "subscription-c1-x") { _ in
                decided += 1
                return [.subscribed(.init(course: "c1", student: "x"))]
            }
        }
        #expect(error?.code == .appendConditionFailed)
        #expect(error?.query == LastSeatRace.seats("c1").query)
        #expect(decided == 3)
    }

    @Test func sixteenTasksRacingOnTheInMemoryStoreLetExactlyOneCommitEachRound() async throws {
        let winners = try await LastSeatRace.run(InMemoryEventStore(), rounds: 200, contenders: 16)
        #expect(winners.allSatisfy { $0 == 1 })
    }
}

/// A store where another writer takes a seat of `course` just before each of the first `times`
/// conditional appends.
private final class SeatTakingStore: EventStore, Sendable {
    let base: InMemoryEventStore
    let course: String
    let remaining: Mutex<Int>

    init(_ base: InMemoryEventStore, course: String, times: Int) {
        self.base = base
        self.course = course
        self.remaining = Mutex(times)
    }

    func append(_ appends: [StreamAppend]) async throws -> [AppendResult] {
        let interfere = appends.contains { $0.condition != nil } && remaining.withLock { count in
            guard count > 0 else { return false }
            count -= 1
            return true
        }
        if interfere {
            let sneaky = LastSeatRace.Event.subscribed(.init(course: course, student: "sneaky-\(UUID())"))
            var data = try JSONEventCodec<LastSeatRace.Event>().encode(sneaky, id: UUID(), metadata: .none)
            data.tags = sneaky.tags
            try await base.append(data, to: StreamID(unchecked: "sneaky-\(UUID())"), expectedVersion: .noStream)
        }
        return try await base.append(appends)
    }

    func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try await base.readStream(stream, from: start, direction: direction, limit: limit)
    }
    func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] { try await base.readAll(after: position, limit: limit) }
    func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await base.readCategory(category, after: position, limit: limit)
    }
    func readEvents(matching query: EventQuery, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try await base.readEvents(matching: query, after: position, limit: limit)
    }
    func streamVersion(of stream: StreamID) async throws -> StreamVersion { await base.streamVersion(of: stream) }
    func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] { try await base.streams(category: category, after: after, limit: limit) }
    func headPosition() async throws -> GlobalPosition { await base.headPosition() }
}
