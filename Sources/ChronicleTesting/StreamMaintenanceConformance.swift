public import Chronicle
public import Foundation
import Synchronization

/// The behaviour every ``Chronicle/StreamMaintenance`` store must show (truncation, soft
/// deletion, retention and scavenging into tombstones), as named cases any test framework can run.
///
/// Each case gets a ``Fixture``: a fresh, empty store whose clock (the `recordedAt` of appended
/// events) the case sets.
///
/// ```swift
/// @Test(arguments: StreamMaintenanceConformance.cases)
/// func inMemoryStoresMaintainStreams(_ conformanceCase: StreamMaintenanceConformance.Case) async throws {
///     let clock = StreamMaintenanceConformance.Clock()
///     try await conformanceCase.run(.init(store: InMemoryEventStore(now: clock.now), clock: clock))
/// }
/// ```
public enum StreamMaintenanceConformance {
    /// A settable clock for the fixture's store.
    public final class Clock: Sendable {
        private let date: Mutex<Date>

        /// A clock at `start` (a fixed date by default).
        public init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
            date = Mutex(start)
        }

        /// The current date, for the store's `now`.
        public var now: @Sendable () -> Date { { self.date.withLock { $0 } } }

        /// Moves the clock forward by `seconds`.
        public func advance(by seconds: TimeInterval) {
            date.withLock { $0 = $0.addingTimeInterval(seconds) }
        }
    }

    /// A fresh, empty store and the clock stamping its events.
    public struct Fixture: Sendable {
        /// The store under test, empty.
        public var store: any StreamMaintenance
        /// The clock the store stamps appended events with.
        public var clock: Clock

        /// Creates a fixture.
        public init(store: any StreamMaintenance, clock: Clock) {
            self.store = store
            self.clock = clock
        }
    }

    /// One named behaviour; run it on a fresh ``Fixture``.
    public typealias Case = ConformanceCase<Fixture>

    static func events(_ count: Int, type: String = "Ticked") -> [EventData] {
        (0..<count).map { index in
            EventData(type: type, payload: Data(#"{"n":\#(index),"secret":"plaintext-\#(UUID().uuidString)"}"#.utf8), metadata: EventMetadata(correlationID: "c\(index)"), tags: ["tick:\(index)"])
        }
    }

    /// Reads the whole log and checks positions 1…head without a gap, versions contiguous per stream.
    static func checkGapFree(_ store: any StreamMaintenance, _ check: ConformanceCheck) async throws -> [RecordedEvent] {
        let all = try await store.readAll(after: .start, limit: 100_000)
        try check.equal(all.map(\.position.value), Array(1...Int64(max(all.count, 1))).prefix(all.count).map { $0 }, "positions of $all")
        var versions: [StreamID: Int64] = [:]
        for event in all {
            try check.equal(event.streamVersion.value, (versions[event.streamID] ?? 0) + 1, "version of \(event.streamID) at \(event.position)")
            versions[event.streamID] = event.streamVersion.value
        }
        return all
    }

    /// Every case, in a stable order.
    public static let cases: [Case] = [
        Case("truncatedStreamReadsStartAtTheTruncationPoint") { check, fixture in
            let store = fixture.store
            try await store.append(events(5), to: "meter-1", expectedVersion: .noStream)
            try await store.truncateStream("meter-1", before: 3)
            try check.equal(try await store.readStream("meter-1").map(\.streamVersion.value), [3, 4, 5], "versions read forwards")
            try check.equal(try await store.readStreamBackwards("meter-1").map(\.streamVersion.value), [5, 4, 3], "versions read backwards")
            try check.equal(try await store.readStream("meter-1", from: 1, direction: .forwards, limit: 2).map(\.streamVersion.value), [3, 4], "a read from version 1")
            try await store.truncateStream("meter-1", before: 2)
            try check.equal(try await store.streamState(of: "meter-1")?.truncatedBefore, 3, "truncation never moves back")
            try check.equal(try await store.streamVersion(of: "meter-1"), 5, "the stream's version")
            try check.equal(try await store.readAll(after: .start, limit: 100).count, 5, "$all still holds every event until a scavenge")
            _ = try await check.error(.invalidArgument, "truncating past the end") { try await store.truncateStream("meter-1", before: 7) }
            _ = try await check.error(.invalidArgument, "truncating a stream without events") { try await store.truncateStream("meter-404", before: 1) }
            try await store.append(events(1), to: "meter-1", expectedVersion: .exactly(5))
            try check.equal(try await store.readStream("meter-1").map(\.streamVersion.value), [3, 4, 5, 6], "after another append")
            var inPlace: [Int64] = []
            _ = try await store.readStreamInPlace("meter-1", from: .first, limit: .max) { event, _ in inPlace.append(event.streamVersion.value) }
            try check.equal(inPlace, [3, 4, 5, 6], "read in place, after another append")
        },
        Case("aDeletedStreamSaysSoAndNoStreamRecreatesItWithVersionsGoingOn") { check, fixture in
            let store = fixture.store
            try await store.append(events(3), to: "cart-1", expectedVersion: .noStream)
            _ = try await check.error(.wrongExpectedVersion, "deleting at a stale version") { try await store.deleteStream("cart-1", expectedVersion: .exactly(2)) }
            let deleted = try await store.deleteStream("cart-1", expectedVersion: .exactly(3))
            try check.equal(deleted, StreamState(id: "cart-1", version: 3, truncatedBefore: 4, isDeleted: true), "the deleted stream's state")
            _ = try await check.error(.streamDeleted, "reading a deleted stream") { try await store.readStream("cart-1") }
            _ = try await check.error(.streamDeleted, "reading a deleted stream in place") {
                try await store.readStreamInPlace("cart-1", from: .first, limit: 10) { _, _ in }
            }
            _ = try await check.error(.streamDeleted, "deleting it again") { try await store.deleteStream("cart-1", expectedVersion: .any) }
            _ = try await check.error(.wrongExpectedVersion, "appending with streamExists") { try await store.append(events(1), to: "cart-1", expectedVersion: .streamExists) }
            _ = try await check.error(.wrongExpectedVersion, "appending at the deleted version") { try await store.append(events(1), to: "cart-1", expectedVersion: .exactly(3)) }
            let recreated = try await store.append(events(2), to: "cart-1", expectedVersion: .noStream)
            try check.equal(recreated.firstVersion, 4, "the recreated stream's first version")
            try check.equal(try await store.readStream("cart-1").map(\.streamVersion.value), [4, 5], "the recreated stream's events")
            try check.equal(try await store.streamState(of: "cart-1")?.isDeleted, false, "deleted after recreation")
            try await store.append(events(1), to: "cart-1", expectedVersion: .exactly(5))
            _ = try await check.error(.invalidArgument, "deleting a stream without events") { try await store.deleteStream("cart-404", expectedVersion: .any) }
        },
        Case("scavengeErasesRemovedEventsIntoTombstonesKeepingPositions") { check, fixture in
            let store = fixture.store
            try await store.append(events(3), to: "cart-1", expectedVersion: .noStream)
            try await store.append(events(4), to: "meter-1", expectedVersion: .noStream)
            try await store.deleteStream("cart-1", expectedVersion: .any)
            try await store.truncateStream("meter-1", before: 3)
            let before = try await store.readAll(after: .start, limit: 100)
            let report = try await store.scavenge(policies: [], now: fixture.clock.now(), dryRun: false)
            try check.equal(report.erasedEvents, 5, "events erased")
            try check.equal(report.streams.map(\.id), ["cart-1", "meter-1"], "streams scavenged")
            try check.expect(report.erasedBytes > 0, "erased bytes are counted")
            try check.equal(report.head, 7, "the head")
            let after = try await checkGapFree(store, check)
            try check.equal(after.count, 7, "rows kept")
            for (old, new) in zip(before, after) {
                let erased = (old.streamID == "cart-1") || (old.streamID == "meter-1" && old.streamVersion < 3)
                try check.equal(new.isErased, erased, "event at \(old.position) erased")
                if erased {
                    try check.equal(new.payload, Data(), "a tombstone's payload")
                    try check.equal(new.metadata, .none, "a tombstone's metadata")
                    try check.equal(new.tags, [], "a tombstone's tags")
                    try check.equal([new.id, new.streamID, new.streamVersion, new.position] as [AnyHashable], [old.id, old.streamID, old.streamVersion, old.position], "what a tombstone keeps")
                } else {
                    try check.equal(new, old, "a kept event")
                }
            }
            try check.equal(try await store.readEvents(matching: EventQuery(tags: ["tick:0"]), after: .start, limit: 10).map(\.position), [], "erased tags are out of the tag index")
            try check.equal(try await store.readEvents(matching: EventQuery(tags: ["tick:2"]), after: .start, limit: 10).map(\.position), [6], "kept tags")
            let again = try await store.scavenge(policies: [], now: fixture.clock.now(), dryRun: false)
            try check.equal(again.erasedEvents, 0, "a second scavenge erases nothing")
            let recreated = try await store.append(events(1), to: "cart-1", expectedVersion: .noStream)
            try check.equal(recreated.firstVersion, 4, "a scavenged deleted stream is recreated after its versions")
        },
        Case("retentionByCountKeepsTheNewestEventsOfItsCategoryOnly") { check, fixture in
            let store = fixture.store
            try await store.append(events(5), to: "sensor-1", expectedVersion: .noStream)
            try await store.append(events(2), to: "sensor-2", expectedVersion: .noStream)
            try await store.append(events(5), to: "order-1", expectedVersion: .noStream)
            let report = try await store.scavenge(policies: [RetentionPolicy(category: "sensor", maxCount: 2)], now: fixture.clock.now(), dryRun: false)
            try check.equal(report.streams, [ScavengeReport.Stream(id: "sensor-1", truncatedBefore: 4, erasedEvents: 3, isDeleted: false)], "the report")
            try check.equal(try await store.readStream("sensor-1").map(\.streamVersion.value), [4, 5], "sensor-1 keeps its last two")
            try check.equal(try await store.readStream("sensor-2").count, 2, "sensor-2 is within the policy")
            try check.equal(try await store.readStream("order-1").count, 5, "another category is untouched")
            _ = try await checkGapFree(store, check)
        },
        Case("retentionByAgeRemovesOlderEventsAndADryRunChangesNothing") { check, fixture in
            let store = fixture.store
            try await store.append(events(2), to: "session-1", expectedVersion: .noStream)
            fixture.clock.advance(by: 3600)
            try await store.append(events(1), to: "session-1", expectedVersion: .exactly(2))
            try await store.append(events(1), to: "session-2", expectedVersion: .noStream)
            let now = fixture.clock.now().addingTimeInterval(60)
            let policy = RetentionPolicy(category: "session", maxAge: .seconds(1800))
            let before = try await store.readAll(after: .start, limit: 100)
            let dry = try await store.scavenge(policies: [policy], now: now, dryRun: true)
            try check.equal(dry.dryRun, true, "the report says dry run")
            try check.equal(dry.streams.map(\.erasedEvents), [2], "events a dry run would erase")
            try check.equal(try await store.readAll(after: .start, limit: 100), before, "the log after a dry run")
            try check.equal(try await store.streamState(of: "session-1")?.truncatedBefore, 1, "truncation after a dry run")
            let report = try await store.scavenge(policies: [policy], now: now, dryRun: false)
            try check.equal(report.streams.map(\.id), ["session-1"], "streams scavenged")
            try check.equal(try await store.readStream("session-1").map(\.streamVersion.value), [3], "session-1 keeps the recent event")
            let expired = try await store.scavenge(policies: [policy], now: now.addingTimeInterval(7200), dryRun: false)
            try check.equal(expired.erasedEvents, 2, "everything expires eventually")
            try check.equal(try await store.readStream("session-1").count, 0, "an expired stream reads empty")
            try check.equal(try await store.append(events(1), to: "session-1", expectedVersion: .exactly(3)).firstVersion, 4, "an expired stream goes on")
            _ = try await checkGapFree(store, check)
        },
        Case("invalidPoliciesAreRefusedAndChangeNothing") { check, fixture in
            let store = fixture.store
            try await store.append(events(2), to: "sensor-1", expectedVersion: .noStream)
            for policies in [[RetentionPolicy(category: "sensor")], [RetentionPolicy(category: "sensor", maxCount: 0)],
                             [RetentionPolicy(category: "sensor", maxCount: 1), RetentionPolicy(category: "sensor", maxCount: 2)]] {
                _ = try await check.error(.invalidArgument, "scavenging with \(policies)") { try await store.scavenge(policies: policies, now: fixture.clock.now(), dryRun: false) }
            }
            try check.equal(try await store.readStream("sensor-1").count, 2, "events after refused scavenges")
        },
        Case("scavengeUnderConcurrentAppendsRemovesNothingOutsideThePolicy") { check, fixture in
            let store = fixture.store
            for index in 1...4 { try await store.append(events(10), to: StreamID(category: "sensor", id: "\(index)"), expectedVersion: .noStream) }
            let policy = RetentionPolicy(category: "sensor", maxCount: 5)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 1...4 {
                    group.addTask {
                        for _ in 0..<10 { try await store.append(events(1), to: StreamID(category: "sensor", id: "\(index)"), expectedVersion: .any) }
                    }
                }
                group.addTask { _ = try await store.scavenge(policies: [policy], now: fixture.clock.now(), dryRun: false) }
                try await group.waitForAll()
            }
            for index in 1...4 {
                let stream = StreamID(category: "sensor", id: "\(index)")
                let kept = try await store.readStream(stream)
                try check.expect(kept.count >= 5, "\(stream) keeps at least its last 5 (kept \(kept.count))")
                try check.equal(kept.last?.streamVersion, 20, "\(stream)'s last version")
                try check.expect(kept.allSatisfy { !$0.isErased }, "\(stream) reads no tombstone")
            }
            let all = try await checkGapFree(store, check)
            try check.equal(all.count, 80, "rows in $all")
            try check.expect(all.filter(\.isErased).count <= 60, "no more erased than the policy allows")
        },
        Case("retentionPoliciesAreStoredReplacedRemovedAndApplied") { check, fixture in
            let store = fixture.store
            try check.equal(try await store.retentionPolicies(), [], "no policy at first")
            try await store.setRetentionPolicy(RetentionPolicy(category: "sensor", maxCount: 5))
            try await store.setRetentionPolicy(RetentionPolicy(category: "session", maxAge: .seconds(3_600)))
            try await store.setRetentionPolicy(RetentionPolicy(category: "sensor", maxCount: 2))
            try check.equal(try await store.retentionPolicies(), [
                RetentionPolicy(category: "sensor", maxCount: 2), RetentionPolicy(category: "session", maxAge: .seconds(3_600)),
            ], "stored policies, the second sensor one replacing the first")
            _ = try await check.error(.invalidArgument, "storing a policy that limits nothing") { try await store.setRetentionPolicy(RetentionPolicy(category: "audit")) }
            try check.equal(try await store.retentionPolicies().count, 2, "a refused policy is not stored")
            try await store.append(events(5), to: "sensor-1", expectedVersion: .noStream)
            try await store.append(events(5), to: "audit-1", expectedVersion: .noStream)
            let dry = try await store.scavengeWithStoredPolicies(now: fixture.clock.now(), dryRun: true)
            try check.equal(dry.erasedEvents, 3, "a dry run with the stored policies")
            let overridden = try await store.scavengeWithStoredPolicies(overriding: [RetentionPolicy(category: "sensor", maxCount: 4)], now: fixture.clock.now(), dryRun: false)
            try check.equal(overridden.erasedEvents, 1, "a policy given replaces the stored one of its category")
            let report = try await store.scavengeWithStoredPolicies(now: fixture.clock.now(), dryRun: false)
            try check.equal(report.erasedEvents, 2, "the stored policy applies")
            try check.equal(try await store.readStream("sensor-1").map(\.streamVersion.value), [4, 5], "sensor-1 after the stored policy")
            try check.equal(try await store.readStream("audit-1").count, 5, "a category without a policy keeps everything")
            try check.equal(try await store.removeRetentionPolicy(category: "sensor"), true, "removing a stored policy")
            try check.equal(try await store.removeRetentionPolicy(category: "sensor"), false, "removing it again")
            try check.equal(try await store.retentionPolicies().map(\.category), ["session"], "policies left")
        },
        Case("archivedRangesBecomeTombstonesNamingTheFileAndRestoreBack") { check, fixture in
            guard let store = fixture.store as? any EventArchiving else { return }
            let identity = try await store.storeIdentity()
            try check.expect(!identity.isEmpty, "the store has an identity")
            try check.equal(try await store.storeIdentity(), identity, "the identity is stable")
            try await store.append(events(3), to: "order-1", expectedVersion: .noStream)
            try await store.append(events(2), to: "order-2", expectedVersion: .noStream)
            try await store.append(events(2), to: "order-1", expectedVersion: .exactly(3))
            let original = try await store.readAll(after: .start, limit: 100)
            try await store.truncateStream("order-2", before: 2)
            _ = try await store.scavenge(policies: [], now: fixture.clock.now(), dryRun: false)  // position 4 is a tombstone already
            let range = ArchivedRange(firstPosition: 1, lastPosition: 5, file: "chronicle-1-5.jsonl.gz", sha256: "ab", events: 4, archivedAt: fixture.clock.now())
            _ = try await check.error(.invalidArgument, "a range whose count differs from the archive's") {
                var wrong = range
                wrong.events = 5
                try await store.truncateArchived(wrong)
            }
            _ = try await check.error(.invalidArgument, "a range past the head") {
                var wrong = range
                wrong.lastPosition = 8
                try await store.truncateArchived(wrong)
            }
            try check.equal(try await store.readAll(after: .start, limit: 100).filter(\.isErased).count, 1, "refused truncations change nothing")
            try check.equal(try await store.truncateArchived(range), 4, "events archived")
            let all = try await checkGapFree(store, check)
            try check.equal(all.map(\.isArchived), [true, true, true, false, true, false, false], "archived tombstones")
            try check.equal(all[0].archiveFile, "chronicle-1-5.jsonl.gz", "a tombstone names its archive file")
            try check.equal(all[0].id, original[0].id, "a tombstone keeps its event's id")
            try check.expect(all[0].payload.isEmpty && all[0].tags.isEmpty, "a tombstone has no payload or tags")
            try check.equal(all[3].type, RecordedEvent.erasedType, "an erased event stays erased")
            let stream = try await store.readStream("order-1")
            try check.equal(stream.map(\.streamVersion.value), [1, 2, 3, 4, 5], "a stream read returns the archived tombstones")
            try check.equal(stream.compactMap(\.archiveFile).count, 3, "which say where the events went")
            try check.equal(try await store.readEvents(matching: EventQuery(tags: ["tick:0"]), after: .start, limit: 100).map(\.position.value), [6], "tags of archived events are gone from the index")
            try check.equal(try await store.archivedRanges(), [range], "the archived range is recorded")
            _ = try await check.error(.invalidArgument, "an overlapping range") {
                try await store.truncateArchived(ArchivedRange(firstPosition: 5, lastPosition: 6, file: "chronicle-5-6.jsonl.gz", sha256: "cd", events: 1, archivedAt: fixture.clock.now()))
            }
            var foreign = original[0]
            foreign.id = UUID()
            _ = try await check.error(.invalidArgument, "restoring another store's event") { try await store.restoreArchived([foreign, original[1]]) }
            try check.expect(try await store.readAll(after: .start, limit: 1)[0].isArchived, "a refused restore changes nothing")
            let counts = try await store.restoreArchived(original.filter { $0.position.value <= 5 && $0.position.value != 4 })
            try check.equal(counts, ArchiveRestoreCounts(restored: 4), "restored events")
            let restored = try await checkGapFree(store, check)
            for (before, after) in zip(original, restored) where before.position.value != 4 {
                try check.equal(
                    [after.id.uuidString, after.type, String(decoding: after.payload, as: UTF8.self), after.tags.joined(separator: ","), after.metadata.correlationID ?? ""],
                    [before.id.uuidString, before.type, String(decoding: before.payload, as: UTF8.self), before.tags.joined(separator: ","), before.metadata.correlationID ?? ""],
                    "the event at \(before.position) after the restore")
                try check.equal(after.recordedAt, before.recordedAt, "the time of the event at \(before.position)")
            }
            try check.equal(try await store.readEvents(matching: EventQuery(tags: ["tick:0"]), after: .start, limit: 100).map(\.position.value), [1, 6], "restored tags are indexed again")
            try check.equal(try await store.archivedRanges(), [], "a fully restored range is no longer archived")
            try check.equal(try await store.restoreArchived(Array(original.prefix(2))), ArchiveRestoreCounts(alreadyPresent: 2), "restoring again changes nothing")
            try check.equal(try await store.truncateArchived(range), 4, "the range can be archived again")
        },
        Case("aScavengeErasesArchivedEventsOfDeletedStreamsAndRestoreLeavesThemErased") { check, fixture in
            guard let store = fixture.store as? any EventArchiving else { return }
            try await store.append(events(2), to: "cart-1", expectedVersion: .noStream)
            try await store.append(events(2), to: "cart-2", expectedVersion: .noStream)
            let original = try await store.readAll(after: .start, limit: 100)
            try await store.truncateArchived(ArchivedRange(firstPosition: 1, lastPosition: 4, file: "chronicle-1-4.jsonl.gz", sha256: "ab", events: 4, archivedAt: fixture.clock.now()))
            try await store.deleteStream("cart-1", expectedVersion: .any)
            _ = try await store.scavenge(policies: [], now: fixture.clock.now(), dryRun: false)
            let all = try await checkGapFree(store, check)
            try check.equal(all.map(\.type), [RecordedEvent.erasedType, RecordedEvent.erasedType, RecordedEvent.archivedType, RecordedEvent.archivedType], "the deleted stream's archived events are erased")
            let counts = try await store.restoreArchived(original)
            try check.equal(counts, ArchiveRestoreCounts(restored: 2, erasedSince: 2), "a restore leaves what a scavenge erased since")
            try check.equal(try await store.readStream("cart-2").map(\.isErased), [false, false], "cart-2 is back")
            try check.equal(try await store.archivedRanges(), [], "no archived event is left in the range")
        },
    ]
}
