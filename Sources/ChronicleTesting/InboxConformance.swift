public import Chronicle
public import Foundation
import Synchronization

/// The behaviour every ``Chronicle/Inbox`` must show, as named cases any test framework can run:
/// an event is applied exactly once however often and however concurrently it is delivered, and
/// a failing handler leaves neither its effect nor the event's id.
///
/// The backend's test provides a ``Fixture`` whose inboxes run a handler that writes one *effect*
/// row (the event's id) in the inbox's transaction, in a table of the backend, and then throws
/// ``HandlerFailure`` when the case asks it to, so a rollback is visible.
///
/// ```swift
/// @Test(arguments: InboxConformance.cases)
/// func sqliteInboxesConform(_ conformanceCase: InboxConformance.Case) async throws {
///     let database = try DatabaseQueue(path: freshPath())
///     try await database.write { try $0.execute(sql: "CREATE TABLE effect (event_id TEXT NOT NULL)") }
///     try await conformanceCase.run(.init(
///         makeInbox: { fails in
///             try SQLiteInbox(database: database) { event, db in
///                 try db.execute(sql: "INSERT INTO effect VALUES (?)", arguments: [event.id.uuidString])
///                 if fails(event) { throw InboxConformance.HandlerFailure() }
///             }
///         },
///         effects: { try await database.read { try String.fetchAll($0, sql: "SELECT event_id FROM effect") }.compactMap(UUID.init) }
///     ))
/// }
/// ```
public enum InboxConformance {
    /// A way to make inboxes on one fresh, empty storage, and to read their effects.
    public struct Fixture: Sendable {
        /// Makes an inbox (a new instance on the same storage at each call) whose handler writes
        /// the event's id to the effect table in the inbox's transaction, then throws
        /// ``HandlerFailure`` if `fails(event)` is true.
        public var makeInbox: @Sendable (_ fails: @escaping @Sendable (RecordedEvent) -> Bool) async throws -> any Inbox
        /// The ids in the effect table (one row per committed effect, duplicates included).
        public var effects: @Sendable () async throws -> [UUID]

        /// Creates a fixture.
        public init(
            makeInbox: @escaping @Sendable (_ fails: @escaping @Sendable (RecordedEvent) -> Bool) async throws -> any Inbox,
            effects: @escaping @Sendable () async throws -> [UUID]
        ) {
            self.makeInbox = makeInbox
            self.effects = effects
        }
    }

    /// What a fixture's handler throws when asked to fail.
    public struct HandlerFailure: Error, Sendable {
        /// Creates the failure.
        public init() {}
    }

    /// One named behaviour; run it on a fresh ``Fixture``.
    public typealias Case = ConformanceCase<Fixture>

    /// Every case, in a stable order.
    public static let cases: [Case] = [
        Case("aNewEventIsAppliedOnceAndEveryRedeliveryIsADuplicate") { check, fixture in
            let inbox = try await fixture.makeInbox { _ in false }
            let event = event(1)
            try check.equal(try await inbox.receive(event, from: "shop"), .applied, "the first delivery")
            for _ in 0..<3 {
                try check.equal(try await inbox.receive(event, from: "shop"), .duplicate, "a redelivery")
            }
            try check.equal(try await inbox.receive(event, from: "another-sender"), .duplicate, "the same id from another source")
            let other = try await fixture.makeInbox { _ in false }
            try check.equal(try await other.receive(event, from: "shop"), .duplicate, "a redelivery to another instance")
            try check.equal(try await fixture.effects(), [event.id], "the effects")
        },
        Case("aFailingHandlerLeavesNeitherEffectNorIdAndTheRedeliveryAppliesIt") { check, fixture in
            let failing = Mutex(true)
            let inbox = try await fixture.makeInbox { _ in failing.withLock { $0 } }
            let event = event(1)
            do {
                let outcome = try await inbox.receive(event, from: "shop")
                throw check.failure("a delivery whose handler throws: expected HandlerFailure, got \(outcome)")
            } catch is InboxConformance.HandlerFailure {
                // The handler's own error, unchanged, so the receiver answers "retry".
            }
            try check.equal(try await fixture.effects(), [], "the effects after the failed delivery")
            failing.withLock { $0 = false }
            try check.equal(try await inbox.receive(event, from: "shop"), .applied, "the redelivery after the failure")
            try check.equal(try await fixture.effects(), [event.id], "the effects after the redelivery")
        },
        Case("concurrentRedeliveriesOfOneEventToSeveralInstancesApplyItOnce") { check, fixture in
            var inboxes: [any Inbox] = []
            for _ in 0..<3 { inboxes.append(try await fixture.makeInbox { _ in false }) }
            for round in 1...5 {
                let event = event(Int64(round))
                let outcomes = try await withThrowingTaskGroup(of: InboxOutcome.self) { group in
                    for delivery in 0..<24 {
                        let inbox = inboxes[delivery % inboxes.count]
                        group.addTask { try await inbox.receive(event, from: "shop") }
                    }
                    return try await group.reduce(into: [InboxOutcome]()) { $0.append($1) }
                }
                try check.equal(outcomes.filter { $0 == .applied }.count, 1, "deliveries applied in round \(round) (of 24 concurrent)")
            }
            try check.equal(try await fixture.effects().count, 5, "effects after 5 rounds")
        },
        Case("manyEventsDeliveredSeveralTimesConcurrentlyAreEachAppliedOnce") { check, fixture in
            let inbox = try await fixture.makeInbox { _ in false }
            let events = (1...60).map { event(Int64($0)) }
            let applied = try await withThrowingTaskGroup(of: UUID?.self) { group in
                for event in (events + events + events).shuffled() {
                    group.addTask { try await inbox.receive(event, from: "shop") == .applied ? event.id : nil }
                }
                return try await group.reduce(into: [UUID]()) { if let id = $1 { $0.append(id) } }
            }
            try check.equal(Set(applied), Set(events.map(\.id)), "the events applied")
            try check.equal(applied.count, events.count, "deliveries applied (of 180)")
            let effects = try await fixture.effects()
            try check.equal(effects.count, events.count, "effect rows")
            try check.equal(Set(effects), Set(events.map(\.id)), "the effects")
        },
        Case("aFailureOfOneEventDoesNotStopOthersAndIsAppliedWhenItSucceeds") { check, fixture in
            let broken = Mutex<Set<UUID>>([])
            let inbox = try await fixture.makeInbox { event in broken.withLock { $0.contains(event.id) } }
            let events = (1...10).map { event(Int64($0)) }
            broken.withLock { $0 = [events[3].id, events[7].id] }
            var failures = 0
            for event in events {
                do { _ = try await inbox.receive(event, from: "shop") } catch is InboxConformance.HandlerFailure { failures += 1 }
            }
            try check.equal(failures, 2, "deliveries whose handler threw")
            try check.equal(Set(try await fixture.effects()), Set(events.map(\.id)).subtracting([events[3].id, events[7].id]), "effects with two handlers failing")
            broken.withLock { $0 = [] }
            for event in events {
                let expected: InboxOutcome = event.id == events[3].id || event.id == events[7].id ? .applied : .duplicate
                try check.equal(try await inbox.receive(event, from: "shop"), expected, "redelivery of position \(event.position)")
            }
            try check.equal(try await fixture.effects().count, events.count, "effect rows after the redeliveries")
        },
    ]

    static func event(_ position: Int64) -> RecordedEvent {
        RecordedEvent(
            id: UUID(), streamID: StreamID(category: "order", id: "\(position % 3)"), streamVersion: StreamVersion(position),
            position: GlobalPosition(position), type: "OrderPlaced", schemaVersion: 1, payload: Data(#"{"n":\#(position)}"#.utf8),
            metadata: .none, recordedAt: Date(timeIntervalSince1970: 0)
        )
    }
}
