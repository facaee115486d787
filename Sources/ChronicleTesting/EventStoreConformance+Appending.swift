import Chronicle
import Foundation

extension EventStoreConformance {
    // MARK: Expected versions

    static let expectedVersionCases: [Case] = [
        Case("appendToNewStreamWithNoStreamSucceeds") { check, store in
            let events = events(2)
            let result = try await store.append(events, to: "order-1", expectedVersion: .noStream)
            try check.equal(result, AppendResult(streamID: "order-1", firstVersion: 1, version: 2, firstPosition: 1, position: 2), "append result")
            try await expectStream(check, store, "order-1", holds: events)
            try await expectLog(check, store, count: 2)
        },
        Case("appendWithNoStreamToExistingStreamFailsAndWritesNothing") { check, store in
            let first = event()
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            let error = try await check.error(.wrongExpectedVersion, "append with .noStream to a stream at 1") {
                try await store.append(event(), to: "order-1", expectedVersion: .noStream)
            }
            try check.equal(error.streamID, "order-1", "error stream")
            try check.equal(error.expectedVersion, .noStream, "error expected version")
            try check.equal(error.actualVersion, 1, "error actual version")
            try await expectStream(check, store, "order-1", holds: [first])
            try await expectLog(check, store, count: 1)
        },
        Case("appendWithAnyToNewStreamSucceeds") { check, store in
            let events = events(1)
            let result = try await store.append(events, to: "order-1", expectedVersion: .any)
            try check.equal(result.version, 1, "version")
            try await expectStream(check, store, "order-1", holds: events)
        },
        Case("appendWithAnyToExistingStreamSucceeds") { check, store in
            let first = event(), second = event()
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            let result = try await store.append(second, to: "order-1", expectedVersion: .any)
            try check.equal(result, AppendResult(streamID: "order-1", firstVersion: 2, version: 2, firstPosition: 2, position: 2), "append result")
            try await expectStream(check, store, "order-1", holds: [first, second])
        },
        Case("appendWithStreamExistsToNewStreamFailsAndWritesNothing") { check, store in
            let error = try await check.error(.wrongExpectedVersion, "append with .streamExists to a new stream") {
                try await store.append(event(), to: "order-1", expectedVersion: .streamExists)
            }
            try check.equal(error.actualVersion, .initial, "error actual version")
            try check.equal(error.expectedVersion, .streamExists, "error expected version")
            try await expectStream(check, store, "order-1", holds: [])
            try await expectLog(check, store, count: 0)
        },
        Case("appendWithStreamExistsToExistingStreamSucceeds") { check, store in
            let first = event(), second = event()
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            try await store.append(second, to: "order-1", expectedVersion: .streamExists)
            try await expectStream(check, store, "order-1", holds: [first, second])
        },
        Case("appendWithExactlyInitialToNewStreamSucceeds") { check, store in
            let events = events(3)
            let result = try await store.append(events, to: "order-1", expectedVersion: .exactly(.initial))
            try check.equal(result.version, 3, "version")
            try await expectStream(check, store, "order-1", holds: events)
        },
        Case("appendWithExactVersionToNewStreamFailsAndWritesNothing") { check, store in
            let error = try await check.error(.wrongExpectedVersion, "append with .exactly(1) to a new stream") {
                try await store.append(event(), to: "order-1", expectedVersion: .exactly(1))
            }
            try check.equal(error.actualVersion, .initial, "error actual version")
            try await expectLog(check, store, count: 0)
        },
        Case("appendWithCurrentExactVersionSucceeds") { check, store in
            let first = events(2), second = events(2)
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            let result = try await store.append(second, to: "order-1", expectedVersion: .exactly(2))
            try check.equal(result, AppendResult(streamID: "order-1", firstVersion: 3, version: 4, firstPosition: 3, position: 4), "append result")
            try await expectStream(check, store, "order-1", holds: first + second)
        },
        Case("appendWithStaleExactVersionFailsAndWritesNothing") { check, store in
            let first = events(3)
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            let error = try await check.error(.wrongExpectedVersion, "append with .exactly(2) to a stream at 3") {
                try await store.append(event(), to: "order-1", expectedVersion: .exactly(2))
            }
            try check.equal(error.streamID, "order-1", "error stream")
            try check.equal(error.expectedVersion, .exactly(2), "error expected version")
            try check.equal(error.actualVersion, 3, "error actual version")
            try await expectStream(check, store, "order-1", holds: first)
            try await expectLog(check, store, count: 3)
        },
        Case("appendWithFutureExactVersionFailsAndWritesNothing") { check, store in
            let first = event()
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            let error = try await check.error(.wrongExpectedVersion, "append with .exactly(5) to a stream at 1") {
                try await store.append(event(), to: "order-1", expectedVersion: .exactly(5))
            }
            try check.equal(error.actualVersion, 1, "error actual version")
            try await expectStream(check, store, "order-1", holds: [first])
        },
        Case("failedAppendsLeaveNoGapInPositions") { check, store in
            try await store.append(event(), to: "order-1", expectedVersion: .noStream)
            try await check.error(.wrongExpectedVersion, "conflicting append") {
                try await store.append(events(3), to: "order-1", expectedVersion: .noStream)
            }
            let result = try await store.append(event(), to: "order-2", expectedVersion: .noStream)
            try check.equal(result.position, 2, "position of the append after a failed one")
            try await expectLog(check, store, count: 2)
        },
    ]

    // MARK: Idempotency

    static let idempotencyCases: [Case] = [
        Case("idempotentReplayReturnsTheOriginalResultAndWritesNothing") { check, store in
            let events = events(2)
            let original = try await store.append(events, to: "order-1", expectedVersion: .noStream)
            let replay = try await store.append(events, to: "order-1", expectedVersion: .noStream)
            try check.expect(replay.wasAlreadyStored, "a replay reports wasAlreadyStored")
            try check.equal(replay.firstVersion, original.firstVersion, "replay first version")
            try check.equal(replay.version, original.version, "replay version")
            try check.equal(replay.firstPosition, original.firstPosition, "replay first position")
            try check.equal(replay.position, original.position, "replay position")
            try await expectStream(check, store, "order-1", holds: events)
            try await expectLog(check, store, count: 2)
        },
        Case("idempotentReplayAfterTheStreamMovedOnStillSucceeds") { check, store in
            let first = event(), second = event()
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            try await store.append(second, to: "order-1", expectedVersion: .exactly(1))
            let replay = try await store.append(first, to: "order-1", expectedVersion: .noStream)
            try check.expect(replay.wasAlreadyStored, "a replay reports wasAlreadyStored")
            try check.equal(replay.version, 1, "replay version")
            try check.equal(replay.position, 1, "replay position")
            try await expectStream(check, store, "order-1", holds: [first, second])
        },
        Case("replayWithAnExpectationThatNeverHeldFails") { check, store in
            let first = event()
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            try await check.error(.duplicateEventID, "re-append of a stored event expecting version 5") {
                try await store.append(first, to: "order-1", expectedVersion: .exactly(5))
            }
            try await expectStream(check, store, "order-1", holds: [first])
        },
        Case("duplicateIDWithDifferentContentFailsAndWritesNothing") { check, store in
            let first = event("Happened", "original")
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            var changed = first
            changed.payload = Data(#"{"text":"changed"}"#.utf8)
            let error = try await check.error(.duplicateEventID, "append of a used id with another payload") {
                try await store.append(changed, to: "order-1", expectedVersion: .any)
            }
            try check.equal(error.eventID, first.id, "error event id")
            var retyped = first
            retyped.type = "Other"
            try await check.error(.duplicateEventID, "append of a used id with another type") {
                try await store.append(retyped, to: "order-1", expectedVersion: .any)
            }
            var remetadata = first
            remetadata.metadata = EventMetadata(correlationID: "c")
            try await check.error(.duplicateEventID, "append of a used id with other metadata") {
                try await store.append(remetadata, to: "order-1", expectedVersion: .any)
            }
            try await expectStream(check, store, "order-1", holds: [first])
            try await expectLog(check, store, count: 1)
        },
        Case("duplicateIDInAnotherStreamFailsAndWritesNothing") { check, store in
            let first = event()
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            try await check.error(.duplicateEventID, "append of an id stored in another stream") {
                try await store.append(first, to: "order-2", expectedVersion: .noStream)
            }
            try await expectStream(check, store, "order-2", holds: [])
            try await expectLog(check, store, count: 1)
        },
        Case("partlyStoredAppendFailsAndWritesNothing") { check, store in
            let first = event(), fresh = event()
            try await store.append(first, to: "order-1", expectedVersion: .noStream)
            try await check.error(.duplicateEventID, "append of one stored and one new event") {
                try await store.append([first, fresh], to: "order-1", expectedVersion: .any)
            }
            try await check.error(.duplicateEventID, "append of one new and one stored event") {
                try await store.append([fresh, first], to: "order-1", expectedVersion: .any)
            }
            try await expectStream(check, store, "order-1", holds: [first])
            try await expectLog(check, store, count: 1)
        },
        Case("idRepeatedWithinOneAppendFailsAndWritesNothing") { check, store in
            let repeated = event()
            try await check.error(.duplicateEventID, "append with the same id twice") {
                try await store.append([repeated, event(), repeated], to: "order-1", expectedVersion: .any)
            }
            try await expectLog(check, store, count: 0)
        },
        Case("idRepeatedAcrossStreamsOfOneCallFailsAndWritesNothing") { check, store in
            let repeated = event()
            try await check.error(.duplicateEventID, "one call appending the same id to two streams") {
                try await store.append([
                    StreamAppend([repeated], to: "order-1", expectedVersion: .noStream),
                    StreamAppend([repeated], to: "order-2", expectedVersion: .noStream),
                ])
            }
            try await expectLog(check, store, count: 0)
        },
    ]

    // MARK: Validation

    static let validationCases: [Case] = [
        Case("emptyAppendFailsAndWritesNothing") { check, store in
            let error = try await check.error(.emptyAppend, "append of no events") {
                try await store.append([EventData](), to: "order-1", expectedVersion: .any)
            }
            try check.equal(error.streamID, "order-1", "error stream")
            try await check.error(.emptyAppend, "a call whose second append is empty") {
                try await store.append([
                    StreamAppend([event()], to: "order-1", expectedVersion: .noStream),
                    StreamAppend([], to: "order-2", expectedVersion: .noStream),
                ])
            }
            try await expectLog(check, store, count: 0)
        },
        Case("callWithNoAppendsReturnsNoResults") { check, store in
            let results = try await store.append([StreamAppend]())
            try check.equal(results, [], "results")
            try await expectLog(check, store, count: 0)
        },
        Case("malformedEventFailsAndWritesNothing") { check, store in
            var untyped = event()
            untyped.type = ""
            let error = try await check.error(.invalidEvent, "event with an empty type") {
                try await store.append([event(), untyped], to: "order-1", expectedVersion: .any)
            }
            try check.equal(error.eventID, untyped.id, "error event id")
            var unversioned = event()
            unversioned.schemaVersion = 0
            try await check.error(.invalidEvent, "event with schema version 0") {
                try await store.append(unversioned, to: "order-1", expectedVersion: .any)
            }
            var controlled = event()
            controlled.type = "Bad\nType"
            try await check.error(.invalidEvent, "event type with a control character") {
                try await store.append(controlled, to: "order-1", expectedVersion: .any)
            }
            try await expectLog(check, store, count: 0)
        },
    ]

    // MARK: Atomicity and ordering

    static let atomicityCases: [Case] = [
        Case("multiStreamAppendWritesEveryStreamInOrder") { check, store in
            let a = events(2), b = events(1)
            let results = try await store.append([
                StreamAppend(a, to: "order-1", expectedVersion: .noStream),
                StreamAppend(b, to: "invoice-1", expectedVersion: .noStream),
            ])
            try check.equal(results, [
                AppendResult(streamID: "order-1", firstVersion: 1, version: 2, firstPosition: 1, position: 2),
                AppendResult(streamID: "invoice-1", firstVersion: 1, version: 1, firstPosition: 3, position: 3),
            ], "results")
            try await expectStream(check, store, "order-1", holds: a)
            try await expectStream(check, store, "invoice-1", holds: b)
            let all = try await store.readAll(after: .start, limit: 10)
            try check.equal(all.map(\.id), (a + b).map(\.id), "global order")
        },
        Case("multiStreamAppendIsAtomicWhenASecondStreamConflicts") { check, store in
            let existing = event()
            try await store.append(existing, to: "invoice-1", expectedVersion: .noStream)
            let error = try await check.error(.wrongExpectedVersion, "call whose second append conflicts") {
                try await store.append([
                    StreamAppend(events(2), to: "order-1", expectedVersion: .noStream),
                    StreamAppend([event()], to: "invoice-1", expectedVersion: .noStream),
                ])
            }
            try check.equal(error.streamID, "invoice-1", "error stream")
            try await expectStream(check, store, "order-1", holds: [])
            try await expectStream(check, store, "invoice-1", holds: [existing])
            try await expectLog(check, store, count: 1)
            let listed = try await store.streams(category: nil, after: nil, limit: 10)
            try check.equal(listed.map(\.id), ["invoice-1"], "listed streams")
        },
        Case("sameStreamTwiceInOneCallChainsVersions") { check, store in
            let a = event(), b = event()
            let results = try await store.append([
                StreamAppend([a], to: "order-1", expectedVersion: .noStream),
                StreamAppend([b], to: "order-1", expectedVersion: .exactly(1)),
            ])
            try check.equal(results.map(\.version), [1, 2], "versions")
            try check.equal(results.map(\.position), [1, 2], "positions")
            try await expectStream(check, store, "order-1", holds: [a, b])
        },
        Case("positionsAreGapFreeAndFollowCommitOrder") { check, store in
            var appended: [UUID] = []
            for round in 0..<5 {
                for stream in ["a-1", "b-1", "a-2"] as [StreamID] {
                    let batch = events(round % 2 + 1)
                    try await store.append(batch, to: stream, expectedVersion: .any)
                    appended += batch.map(\.id)
                }
            }
            let all = try await store.readAll(after: .start, limit: .max)
            try check.equal(all.map(\.id), appended, "log order")
            try await expectLog(check, store, count: appended.count)
        },
        Case("recordedEventsCarryWhatWasAppended") { check, store in
            let data = EventData(
                id: UUID(), type: "OrderPlaced", schemaVersion: 3, payload: Data(#"{"total":42}"#.utf8),
                metadata: EventMetadata(correlationID: "corr", causationID: "cause", custom: ["tenant": "acme"]))
            let result = try await store.append(data, to: "order-1", expectedVersion: .noStream)
            let recorded = try await store.readAll(after: .start, limit: 1)
            try check.equal(recorded.count, 1, "events read")
            let event = recorded[0]
            try check.equal(event.id, data.id, "id")
            try check.equal(event.streamID, "order-1", "stream")
            try check.equal(event.streamVersion, 1, "stream version")
            try check.equal(event.position, result.position, "position")
            try check.equal(event.type, "OrderPlaced", "type")
            try check.equal(event.schemaVersion, 3, "schema version")
            try check.equal(event.payload, data.payload, "payload")
            try check.equal(event.metadata, data.metadata, "metadata")
            try check.equal(event.category, "order", "category")
        },
    ]
}
