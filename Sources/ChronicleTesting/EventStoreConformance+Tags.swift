import Chronicle
import Foundation

extension EventStoreConformance {
    /// A fresh event of `type` carrying `tags`.
    static func tagged(_ type: String, _ tags: [String]) -> EventData {
        EventData(id: UUID(), type: type, schemaVersion: 1, payload: Data(#"{"tags":\#(tags.count)}"#.utf8), tags: tags)
    }

    /// Stores the fixture of the query cases, one event per stream, at positions 1…6:
    /// 1 `Opened` [course:c1], 2 `Subscribed` [course:c1, student:s1], 3 `Subscribed` [course:c2, student:s1],
    /// 4 `Renamed` [course:c1], 5 `Untagged` [], 6 `Subscribed` [course:c2, student:s2].
    static func storeQueryFixture(_ store: any EventStore) async throws -> [EventData] {
        let events = [
            tagged("Opened", ["course:c1"]),
            tagged("Subscribed", ["course:c1", "student:s1"]),
            tagged("Subscribed", ["course:c2", "student:s1"]),
            tagged("Renamed", ["course:c1"]),
            tagged("Untagged", []),
            tagged("Subscribed", ["course:c2", "student:s2"]),
        ]
        for (index, event) in events.enumerated() {
            try await store.append(event, to: StreamID(unchecked: "fixture-\(index + 1)"), expectedVersion: .noStream)
        }
        return events
    }

    /// Checks that `query` after `after` reads exactly the events at `positions`, also page by page.
    static func expectQuery(_ check: ConformanceCheck, _ store: any EventStore, _ query: EventQuery, after: GlobalPosition = .start, reads positions: [Int64]) async throws {
        let read = try await store.readEvents(matching: query, after: after, limit: 100)
        try check.equal(read.map(\.position.value), positions, "positions read by \(query) after \(after)")
        var paged: [Int64] = []
        for try await event in store.events(matching: query, after: after, pageSize: 1) { paged.append(event.position.value) }
        try check.equal(paged, positions, "positions read by \(query) after \(after) in pages of 1")
    }

    static func conditional(_ event: EventData, to stream: StreamID, _ query: EventQuery, after: GlobalPosition?) -> [StreamAppend] {
        [StreamAppend([event], to: stream, expectedVersion: .any, condition: AppendCondition(failIfEventsMatch: query, after: after))]
    }

    // MARK: Tags and queries

    static let tagCases: [Case] = [
        Case("tagsAreStoredAndReadBack") { check, store in
            let event = tagged("Subscribed", ["course:c1", "student:s1"])
            try await store.append(event, to: "subscription-1", expectedVersion: .noStream)
            let read = try await store.readStream("subscription-1", limit: 10)
            try check.equal(read.first?.tags, ["course:c1", "student:s1"], "tags read back from the stream")
            try check.equal(try await store.readAll(after: .start, limit: 10).first?.tags, ["course:c1", "student:s1"], "tags read back from the log")
            try await expectStream(check, store, "subscription-1", holds: [event])
        },
        Case("queryByOneTagReadsTheTaggedEventsInOrder") { check, store in
            _ = try await storeQueryFixture(store)
            try await expectQuery(check, store, EventQuery(tags: ["course:c1"]), reads: [1, 2, 4])
            try await expectQuery(check, store, EventQuery(tags: ["student:s2"]), reads: [6])
            try await expectQuery(check, store, EventQuery(tags: ["nobody"]), reads: [])
        },
        Case("queryItemRequiresAllOfItsTags") { check, store in
            _ = try await storeQueryFixture(store)
            try await expectQuery(check, store, EventQuery(tags: ["course:c1", "student:s1"]), reads: [2])
            try await expectQuery(check, store, EventQuery(tags: ["student:s1", "course:c2"]), reads: [3])
            try await expectQuery(check, store, EventQuery(tags: ["course:c1", "student:s2"]), reads: [])
        },
        Case("queryItemAcceptsAnyOfItsTypes") { check, store in
            _ = try await storeQueryFixture(store)
            try await expectQuery(check, store, EventQuery(types: ["Opened", "Renamed"]), reads: [1, 4])
            try await expectQuery(check, store, EventQuery(types: ["Untagged"]), reads: [5])
            try await expectQuery(check, store, EventQuery(types: ["Subscribed", "Renamed"], tags: ["course:c1"]), reads: [2, 4])
            try await expectQuery(check, store, EventQuery(types: ["Opened"], tags: ["student:s1"]), reads: [])
        },
        Case("queryMatchesAnyOfItsItems") { check, store in
            _ = try await storeQueryFixture(store)
            let query = EventQuery([.init(types: ["Opened"], tags: ["course:c1"]), .init(types: ["Subscribed"], tags: ["student:s1"]), .init(types: ["Untagged"])])
            try await expectQuery(check, store, query, reads: [1, 2, 3, 5])
            // An event matching two items is read once.
            try await expectQuery(check, store, EventQuery([.init(tags: ["course:c1"]), .init(tags: ["student:s1"])]), reads: [1, 2, 3, 4])
        },
        Case("queryReadsOnlyAfterThePosition") { check, store in
            _ = try await storeQueryFixture(store)
            try await expectQuery(check, store, EventQuery(tags: ["course:c1"]), after: 1, reads: [2, 4])
            try await expectQuery(check, store, EventQuery(tags: ["course:c1"]), after: 4, reads: [])
            try await expectQuery(check, store, EventQuery([.init(tags: ["course:c2"]), .init(types: ["Opened"])]), after: 3, reads: [6])
            try await expectQuery(check, store, .all, after: 4, reads: [5, 6])
            let limited = try await store.readEvents(matching: EventQuery(tags: ["course:c1"]), after: .start, limit: 2)
            try check.equal(limited.map(\.position.value), [1, 2], "a read limited to 2")
        },
        Case("queryAllReadsEveryEventAndAnEmptyStoreReadsNothing") { check, store in
            try await expectQuery(check, store, .all, reads: [])
            try await expectQuery(check, store, EventQuery(tags: ["course:c1"]), reads: [])
            _ = try await storeQueryFixture(store)
            try await expectQuery(check, store, .all, reads: [1, 2, 3, 4, 5, 6])
        },
        Case("malformedQueriesAreRefused") { check, store in
            _ = try await storeQueryFixture(store)
            let bad: [(EventQuery, String)] = [
                (EventQuery([]), "a query with no items"),
                (EventQuery([.init()]), "an item with neither types nor tags"),
                (EventQuery(tags: [""]), "an empty tag"),
                (EventQuery(tags: ["has space"]), "a tag with a space"),
                (EventQuery(tags: [String(repeating: "t", count: EventTags.maximumLength + 1)]), "a tag too long"),
                (EventQuery(types: [""]), "an empty type"),
                (EventQuery(Array(repeating: .init(tags: ["a"]), count: EventQuery.maximumItems + 1)), "too many items"),
            ]
            for (query, what) in bad {
                let error = try await check.error(.invalidQuery, "a read with \(what)") {
                    try await store.readEvents(matching: query, after: .start, limit: 10)
                }
                try check.equal(error.query, query, "the error's query (\(what))")
            }
        },
    ]

    // MARK: Conditional appends

    static let conditionCases: [Case] = [
        Case("conditionWithNoEventsYetSucceeds") { check, store in
            let event = tagged("UserRegistered", ["username:ada"])
            let results = try await store.append(conditional(event, to: "user-1", EventQuery(tags: ["username:ada"]), after: nil))
            try check.equal(results.first?.position, 1, "position of the conditional append to an empty store")
            try await expectStream(check, store, "user-1", holds: [event])
        },
        Case("conditionFailsWhenAMatchingEventExistsAndWritesNothing") { check, store in
            try await store.append(tagged("UserRegistered", ["username:ada"]), to: "user-1", expectedVersion: .noStream)
            try await store.append(tagged("UserRegistered", ["username:bob"]), to: "user-2", expectedVersion: .noStream)
            let query = EventQuery(types: ["UserRegistered"], tags: ["username:ada"])
            let error = try await check.error(.appendConditionFailed, "a second registration of ada") {
                try await store.append(conditional(tagged("UserRegistered", ["username:ada"]), to: "user-3", query, after: nil))
            }
            try check.equal(error.position, 1, "the first conflicting position")
            try check.equal(error.query, query, "the failed condition's query")
            try check.equal(error.streamID, "user-3", "the error's stream")
            try await expectLog(check, store, count: 2)
            try await expectStream(check, store, "user-3", holds: [])
        },
        Case("conditionLooksOnlyAfterItsPosition") { check, store in
            _ = try await storeQueryFixture(store)
            let query = EventQuery(tags: ["course:c1"])
            // The last course:c1 event is at 4: reading up to 4 or later, the append succeeds.
            _ = try await store.append(conditional(tagged("Subscribed", ["course:c1", "student:s3"]), to: "s-3", query, after: 4))
            _ = try await store.append(conditional(tagged("Subscribed", ["course:c9"]), to: "s-4", EventQuery(tags: ["course:c9"]), after: 6))
            // Reading up to 3 (or up to 6, before the append at 7), it fails on the first later one.
            let error = try await check.error(.appendConditionFailed, "a decision that read course:c1 up to 3") {
                try await store.append(conditional(tagged("Subscribed", ["course:c1"]), to: "s-5", query, after: 3))
            }
            try check.equal(error.position, 4, "the first conflicting position after 3")
            let later = try await check.error(.appendConditionFailed, "a decision that read course:c1 up to 6") {
                try await store.append(conditional(tagged("Subscribed", ["course:c1"]), to: "s-5", query, after: 6))
            }
            try check.equal(later.position, 7, "the first conflicting position after 6")
            try await expectLog(check, store, count: 8)
        },
        Case("conditionUsesAllOfAnyOfAndTypes") { check, store in
            _ = try await storeQueryFixture(store)
            // No Opened event tagged student:s1, no Subscribed event tagged course:c1 and student:s2: passes.
            let passing = EventQuery([.init(types: ["Opened"], tags: ["student:s1"]), .init(types: ["Subscribed"], tags: ["course:c1", "student:s2"])])
            _ = try await store.append(conditional(tagged("Subscribed", ["course:c1", "student:s9"]), to: "s-9", passing, after: nil))
            // Adding an item that matches 3 (Subscribed, student:s1, course:c2) fails on 3.
            let failing = EventQuery(passing.items + [.init(types: ["Subscribed", "Renamed"], tags: ["course:c2", "student:s1"])])
            let error = try await check.error(.appendConditionFailed, "a condition with an item matching position 3") {
                try await store.append(conditional(tagged("Subscribed", ["course:c1"]), to: "s-10", failing, after: 2))
            }
            try check.equal(error.position, 3, "the first conflicting position")
            // A type-only item.
            try await check.error(.appendConditionFailed, "a condition on the type Untagged") {
                try await store.append(conditional(tagged("Other", []), to: "s-11", EventQuery(types: ["Untagged"]), after: 4))
            }
            _ = try await store.append(conditional(tagged("Other", []), to: "s-11", EventQuery(types: ["Untagged"]), after: 5))
            try await expectLog(check, store, count: 8)
        },
        Case("conditionOnAllFailsOnAnyLaterEvent") { check, store in
            _ = try await store.append(conditional(tagged("First", []), to: "a-1", .all, after: nil))
            _ = try await store.append(conditional(tagged("Second", []), to: "a-2", .all, after: 1))
            let error = try await check.error(.appendConditionFailed, "a condition on every event after 1") {
                try await store.append(conditional(tagged("Third", []), to: "a-3", .all, after: 1))
            }
            try check.equal(error.position, 2, "the first conflicting position")
            try await expectLog(check, store, count: 2)
        },
        Case("conditionIgnoresTheEventsItsOwnCallAppends") { check, store in
            // One call appends a course:c1 event to one stream and, conditioned on no course:c1
            // event, another to a second stream: the condition is about the store before the call.
            let query = EventQuery(tags: ["course:c1"])
            let results = try await store.append([
                StreamAppend([tagged("Opened", ["course:c1"])], to: "course-c1", expectedVersion: .noStream),
                StreamAppend([tagged("Subscribed", ["course:c1"])], to: "sub-1", expectedVersion: .noStream, condition: AppendCondition(failIfEventsMatch: query, after: nil)),
            ])
            try check.equal(results.map(\.position), [1, 2], "positions of the call")
            try await check.error(.appendConditionFailed, "the same condition once the call is stored") {
                try await store.append(conditional(tagged("Subscribed", ["course:c1"]), to: "sub-2", query, after: nil))
            }
        },
        Case("failedConditionInAMultiStreamCallWritesNothing") { check, store in
            try await store.append(tagged("UserRegistered", ["username:ada"]), to: "user-1", expectedVersion: .noStream)
            try await check.error(.appendConditionFailed, "a call whose second append's condition fails") {
                try await store.append([
                    StreamAppend([tagged("Other", [])], to: "other-1", expectedVersion: .noStream),
                    StreamAppend([tagged("UserRegistered", ["username:ada"])], to: "user-2", expectedVersion: .noStream,
                                 condition: AppendCondition(failIfEventsMatch: EventQuery(tags: ["username:ada"]), after: nil)),
                ])
            }
            try await expectStream(check, store, "other-1", holds: [])
            try await expectLog(check, store, count: 1)
            // A plain append after the failure gets the next position: no gap.
            let result = try await store.append(tagged("Other", []), to: "other-1", expectedVersion: .noStream)
            try check.equal(result.position, 2, "position after a failed conditional call")
        },
        Case("conditionalReplayReturnsTheOriginalResult") { check, store in
            let event = tagged("UserRegistered", ["username:ada"])
            let request = conditional(event, to: "user-1", EventQuery(tags: ["username:ada"]), after: nil)
            let original = try await store.append(request)[0]
            let replay = try await store.append(request)[0]
            try check.expect(replay.wasAlreadyStored, "a conditional replay reports wasAlreadyStored")
            try check.equal(replay.position, original.position, "replay position")
            try await expectLog(check, store, count: 1)
        },
        Case("conditionPositionAheadOfTheHeadIsRefused") { check, store in
            try await store.append(tagged("Opened", ["course:c1"]), to: "course-1", expectedVersion: .noStream)
            let error = try await check.error(.invalidArgument, "a condition after position 5 on a store at 1") {
                try await store.append(conditional(tagged("Opened", ["course:c2"]), to: "course-2", EventQuery(tags: ["course:c2"]), after: 5))
            }
            try check.equal(error.position, 5, "the error's position")
            try await expectLog(check, store, count: 1)
        },
        Case("expectedVersionIsCheckedWithTheCondition") { check, store in
            try await store.append(tagged("Opened", []), to: "course-1", expectedVersion: .noStream)
            try await check.error(.wrongExpectedVersion, "a conditional append with a stale expected version") {
                try await store.append([StreamAppend([tagged("Opened", ["course:c1"])], to: "course-1", expectedVersion: .noStream,
                                                     condition: AppendCondition(failIfEventsMatch: EventQuery(tags: ["course:c1"]), after: nil))])
            }
            try await expectLog(check, store, count: 1)
        },
    ]

    // MARK: Bad tags and conditions

    static let tagValidationCases: [Case] = [
        Case("invalidTagsAreRefusedAndNothingIsWritten") { check, store in
            let bad: [([String], String)] = [
                ([""], "an empty tag"),
                ([String(repeating: "x", count: EventTags.maximumLength + 1)], "a tag too long"),
                (["course c1"], "a tag with a space"),
                (["course,c1"], "a tag with a comma"),
                (["course:c1\n"], "a tag with a newline"),
                (["course:\u{0}c1"], "a tag with a NUL"),
                (["a", "a"], "a tag twice"),
                ((0...EventTags.maximumPerEvent).map { "t\($0)" }, "too many tags"),
            ]
            for (tags, what) in bad {
                let event = tagged("Opened", tags)
                let error = try await check.error(.invalidTag, "an append with \(what)") {
                    try await store.append([StreamAppend([tagged("Fine", ["ok"])], to: "fine-1", expectedVersion: .any),
                                            StreamAppend([event], to: "course-1", expectedVersion: .any)])
                }
                try check.equal(error.eventID, event.id, "the error's event (\(what))")
            }
            // The longest tag and the most tags are accepted.
            try await store.append(tagged("Opened", [String(repeating: "y", count: EventTags.maximumLength)] + (1..<EventTags.maximumPerEvent).map { "t\($0)" }), to: "course-1", expectedVersion: .noStream)
            try await expectLog(check, store, count: 1)
            try check.equal(try await store.readEvents(matching: EventQuery(tags: ["t31"]), after: .start, limit: 10).count, 1, "events tagged t31")
            try check.equal(try await store.readEvents(matching: EventQuery(tags: ["kurs:ü"]), after: .start, limit: 10).count, 0, "a non-ASCII tag reads")
        },
        Case("invalidConditionQueryIsRefusedAndNothingIsWritten") { check, store in
            try await check.error(.invalidQuery, "a condition with no items") {
                try await store.append(conditional(tagged("Opened", []), to: "course-1", EventQuery([]), after: nil))
            }
            try await check.error(.invalidQuery, "a condition with an empty tag") {
                try await store.append(conditional(tagged("Opened", []), to: "course-1", EventQuery(tags: [""]), after: nil))
            }
            try await expectLog(check, store, count: 0)
        },
    ]
}
