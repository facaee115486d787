import Chronicle
import ChroniclePostgres
import Foundation
import PostgresNIO
import Synchronization
import Testing

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresDeadLetterStoreTests {
    struct Poison: Error, CustomStringConvertible {
        let position: GlobalPosition
        var description: String { "poison at \(position)" }
    }

    /// A consumer that inserts each event's position, and throws for poisoned positions until healed.
    final class Consumer: Sendable {
        private struct State { var healed = false, attempts: [GlobalPosition: Int] = [:] }
        private let state = Mutex(State())
        let poisoned: Set<GlobalPosition>
        let table: String

        init(poisoned: Set<GlobalPosition>, table: String) {
            self.poisoned = poisoned
            self.table = table
        }

        func heal() { state.withLock { $0.healed = true } }
        func attempts(at position: GlobalPosition) -> Int { state.withLock { $0.attempts[position] ?? 0 } }

        func apply(_ events: [RecordedEvent], _ connection: PostgresConnection) async throws {
            for event in events {
                let healed = state.withLock { state in
                    state.attempts[event.position, default: 0] += 1
                    return state.healed
                }
                if poisoned.contains(event.position) && !healed { throw Poison(position: event.position) }
                try await connection.statement(PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES ($1, $2, 'x')", binds: try PostgresEventStoreTestBindings.make(event.position.value, event.id)), logger: connection.logger)
            }
        }
    }

    @Test func aFailingEventIsRetriedThenParkedPastTheCheckpointAndCanBeRetriedOrDropped() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            try await PostgresCompetingRunnersTests.createProjectedTable(database)
            let checkpoints = PostgresCheckpointStore(sharingSchemaOf: store)
            let deadLetters = PostgresDeadLetterStore(sharingSchemaOf: store)
            let consumer = Consumer(poisoned: [3, 5], table: "\"\(database.schema.rawValue)\".projected")
            try await store.append((1...6).map { testEvent("E", "\($0)") }, to: "order-1", expectedVersion: .noStream)

            try await checkpoints.follow(
                "view", pageSize: 4, failurePolicy: FailurePolicy(maxAttempts: 3, baseDelay: .zero, then: .park), deadLetters: deadLetters, stopAt: 6
            ) { events, connection in try await consumer.apply(events, connection) }

            #expect(try await checkpoints.position(of: "view") == 6)
            #expect(try await PostgresCompetingRunnersTests.projectedRows(database).map(\.position) == [1, 2, 4, 6])
            #expect(consumer.attempts(at: 3) == 4, "one page try, then three single tries")
            let parked = try await deadLetters.parkedEvents(of: "view")
            #expect(parked.map(\.position) == [3, 5])
            #expect(parked.allSatisfy { $0.attempts == 3 && $0.streamID == "order-1" && $0.eventType == "E" })
            #expect(parked.first?.error == "poison at 3")
            #expect(try await deadLetters.parkedEvents(of: "other").isEmpty)

            // Still failing: stays parked, error surfaces.
            await #expect(throws: Poison.self) {
                try await deadLetters.retry("view", at: 3) { event, connection in try await consumer.apply([event], connection) }
            }
            #expect(try await deadLetters.parkedEvents(of: "view").map(\.position) == [3, 5])
            consumer.heal()
            try await deadLetters.retry("view", at: 3) { event, connection in try await consumer.apply([event], connection) }
            #expect(try await PostgresCompetingRunnersTests.projectedRows(database).map(\.position) == [1, 2, 3, 4, 6])
            try await deadLetters.drop("view", at: 5)
            #expect(try await deadLetters.parkedEvents(of: "view").isEmpty)
            await #expect { try await deadLetters.drop("view", at: 5) } throws: { ($0 as? EventStoreError)?.code == .invalidArgument }
            await #expect {
                try await deadLetters.retry("view", at: 4) { _, _ in }
            } throws: { ($0 as? EventStoreError)?.code == .invalidArgument }
        }
    }

    @Test func underAStopPolicyTheErrorIsThrownWithTheCheckpointBeforeTheEvent() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            try await PostgresCompetingRunnersTests.createProjectedTable(database)
            let checkpoints = PostgresCheckpointStore(sharingSchemaOf: store)
            let consumer = Consumer(poisoned: [3], table: "\"\(database.schema.rawValue)\".projected")
            try await store.append((1...5).map { testEvent("E", "\($0)") }, to: "order-1", expectedVersion: .noStream)
            await #expect(throws: Poison.self) {
                try await checkpoints.follow("strict", failurePolicy: FailurePolicy(maxAttempts: 2, baseDelay: .zero, then: .stop), stopAt: 5) { events, connection in
                    try await consumer.apply(events, connection)
                }
            }
            #expect(try await checkpoints.position(of: "strict") == 2)
            #expect(try await PostgresCompetingRunnersTests.projectedRows(database).map(\.position) == [1, 2])
        }
    }
}

enum PostgresEventStoreTestBindings {
    static func make(_ position: Int64, _ id: UUID) throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(position)
        binds.append(id)
        return binds
    }
}
