import Chronicle
import Foundation

extension EventStoreConformance {
    static let readCases: [Case] = [
        Case("readStreamForwardsFromAVersionWithALimit") { check, store in
            let events = events(5)
            try await store.append(events, to: "order-1", expectedVersion: .noStream)
            let middle = try await store.readStream("order-1", from: 2, direction: .forwards, limit: 2)
            try check.equal(middle.map(\.streamVersion), [2, 3], "versions from 2, limit 2")
            try check.equal(middle.map(\.id), Array(events[1...2].map(\.id)), "ids from 2, limit 2")
            let tail = try await store.readStream("order-1", from: 4, direction: .forwards, limit: .max)
            try check.equal(tail.map(\.streamVersion), [4, 5], "versions from 4")
            let fromZero = try await store.readStream("order-1", from: .initial, direction: .forwards, limit: 2)
            try check.equal(fromZero.map(\.streamVersion), [1, 2], "versions from 0")
            let beyond = try await store.readStream("order-1", from: 6, direction: .forwards, limit: 10)
            try check.equal(beyond, [], "events after the end")
        },
        Case("readStreamBackwardsFromAVersionWithALimit") { check, store in
            try await store.append(events(5), to: "order-1", expectedVersion: .noStream)
            let fromFour = try await store.readStream("order-1", from: 4, direction: .backwards, limit: 2)
            try check.equal(fromFour.map(\.streamVersion), [4, 3], "versions backwards from 4, limit 2")
            let fromEnd = try await store.readStream("order-1", from: .max, direction: .backwards, limit: 3)
            try check.equal(fromEnd.map(\.streamVersion), [5, 4, 3], "versions backwards from the end")
            let whole = try await store.readStreamBackwards("order-1")
            try check.equal(whole.map(\.streamVersion), [5, 4, 3, 2, 1], "whole stream backwards")
            let fromZero = try await store.readStream("order-1", from: .initial, direction: .backwards, limit: 10)
            try check.equal(fromZero, [], "backwards from version 0")
        },
        Case("readStreamInPlaceHandsOverWhatReadStreamReads") { check, store in
            var appended = events(4)
            appended.append(EventData(
                type: "Tagged", payload: Data(#"{"text":"with metadata"}"#.utf8),
                metadata: EventMetadata(correlationID: "c-1", causationID: "e-0", custom: ["tenant": "t1"]), tags: ["customer:7"]))
            appended.append(EventData(type: "Empty", payload: Data()))
            try await store.append(appended, to: "order-1", expectedVersion: .noStream)
            try await store.append(event(), to: "order-10", expectedVersion: .noStream)
            let stored = try await store.readStream("order-1", from: .first, direction: .forwards, limit: .max)
            func inPlace(_ stream: StreamID = "order-1", from start: StreamVersion, limit: Int) async throws -> [RecordedEvent] {
                var read: [RecordedEvent] = []
                let count = try await store.readStreamInPlace(stream, from: start, limit: limit) { event, payload in
                    try check.expect(event.payload.isEmpty, "the event handed over has an empty payload (version \(event.streamVersion))")
                    var copy = event
                    copy.payload = Data(payload)
                    read.append(copy)
                }
                try check.equal(count, read.count, "the count returned is the number of events handed over")
                return read
            }
            try check.equal(try await inPlace(from: .first, limit: .max), stored, "whole stream: every field, payload bytes included")
            try check.equal(try await inPlace(from: .initial, limit: 2), Array(stored[0..<2]), "from version 0, limit 2")
            try check.equal(try await inPlace(from: 3, limit: 2), Array(stored[2..<4]), "from version 3, limit 2")
            try check.equal(try await inPlace(from: 5, limit: 10), Array(stored[4...]), "from version 5 to the end (metadata, tags, an empty payload)")
            try check.equal(try await inPlace(from: 7, limit: 10), [], "after the end")
            try check.equal(try await inPlace(from: .first, limit: 0), [], "limit 0")
            try check.equal(try await inPlace("order-2", from: .first, limit: 10), [], "a missing stream")
            _ = try await check.error(.invalidArgument, "a negative limit") {
                try await store.readStreamInPlace("order-1", from: .first, limit: -1) { _, _ in }
            }
        },
        Case("readStreamInPlaceRethrowsTheTransformsErrorAndStops") { check, store in
            try await store.append(events(3), to: "order-1", expectedVersion: .noStream)
            struct Refused: Error, Equatable { let version: Int64 }
            var calls: [Int64] = []
            do {
                _ = try await store.readStreamInPlace("order-1", from: .first, limit: .max) { event, _ in
                    calls.append(event.streamVersion.value)
                    if event.streamVersion == 2 { throw Refused(version: 2) }
                }
                throw check.failure("a transform that throws fails the read")
            } catch let error as Refused {
                try check.equal(error, Refused(version: 2), "the transform's own error, unchanged")
            }
            try check.equal(calls, [1, 2], "the read stops at the transform's error")
        },
        Case("readStreamOnlyReturnsThatStream") { check, store in
            let mine = event(), other = event()
            try await store.append(mine, to: "order-1", expectedVersion: .noStream)
            try await store.append(other, to: "order-10", expectedVersion: .noStream)
            try await expectStream(check, store, "order-1", holds: [mine])
            try await expectStream(check, store, "order-10", holds: [other])
        },
        Case("readAllPagesThroughTheLog") { check, store in
            var appended: [UUID] = []
            for stream in ["order-1", "invoice-1", "order-2"] as [StreamID] {
                let batch = events(stream == "invoice-1" ? 3 : 2)
                try await store.append(batch, to: stream, expectedVersion: .noStream)
                appended += batch.map(\.id)
            }
            let first = try await store.readAll(after: .start, limit: 3)
            try check.equal(first.map(\.position), [1, 2, 3], "first page")
            let second = try await store.readAll(after: 3, limit: 3)
            try check.equal(second.map(\.position), [4, 5, 6], "second page")
            let third = try await store.readAll(after: 6, limit: 3)
            try check.equal(third.map(\.position), [7], "last page")
            let past = try await store.readAll(after: 7, limit: 3)
            try check.equal(past, [], "page after the head")
            var walked: [UUID] = []
            for try await event in store.allEvents(after: .start, pageSize: 2) { walked.append(event.id) }
            try check.equal(walked, appended, "allEvents in pages of 2")
            var fromMiddle: [GlobalPosition] = []
            for try await event in store.allEvents(after: 5, pageSize: 1) { fromMiddle.append(event.position) }
            try check.equal(fromMiddle, [6, 7], "allEvents after 5")
        },
        Case("readCategoryReturnsOnlyItsStreamsInPositionOrder") { check, store in
            try await store.append(event(), to: "order-1", expectedVersion: .noStream)  // 1
            try await store.append(event(), to: "invoice-1", expectedVersion: .noStream)  // 2
            try await store.append(event(), to: "order-2", expectedVersion: .noStream)  // 3
            try await store.append(event(), to: "orderline-1", expectedVersion: .noStream)  // 4
            try await store.append(event(), to: "order", expectedVersion: .noStream)  // 5
            try await store.append(event(), to: "order-1", expectedVersion: .exactly(1))  // 6
            let orders = try await store.readCategory("order", after: .start, limit: 10)
            try check.equal(orders.map(\.position), [1, 3, 5, 6], "positions in category order")
            try check.equal(orders.map(\.streamID), ["order-1", "order-2", "order", "order-1"], "streams in category order")
            let page = try await store.readCategory("order", after: 1, limit: 2)
            try check.equal(page.map(\.position), [3, 5], "category page after 1, limit 2")
            var walked: [GlobalPosition] = []
            for try await event in store.events(inCategory: "order", pageSize: 1) { walked.append(event.position) }
            try check.equal(walked, [1, 3, 5, 6], "events(inCategory:) in pages of 1")
            try check.equal(try await store.readCategory("orderline", after: .start, limit: 10).map(\.position), [4], "category orderline")
            try check.equal(try await store.readCategory("unknown", after: .start, limit: 10), [], "unknown category")
        },
        Case("streamsAreListedInIDOrderAndPaged") { check, store in
            try await store.append(events(2), to: "b-2", expectedVersion: .noStream)  // 1-2
            try await store.append(event(), to: "a-1", expectedVersion: .noStream)  // 3
            try await store.append(event(), to: "b-1", expectedVersion: .noStream)  // 4
            try await store.append(event(), to: "c", expectedVersion: .noStream)  // 5
            try await store.append(event(), to: "b-2", expectedVersion: .exactly(2))  // 6
            let all = try await store.streams(category: nil, after: nil, limit: 10)
            try check.equal(all, [
                StreamInfo(id: "a-1", version: 1, lastPosition: 3),
                StreamInfo(id: "b-1", version: 1, lastPosition: 4),
                StreamInfo(id: "b-2", version: 3, lastPosition: 6),
                StreamInfo(id: "c", version: 1, lastPosition: 5),
            ], "all streams")
            let page = try await store.streams(category: nil, after: "a-1", limit: 2)
            try check.equal(page.map(\.id), ["b-1", "b-2"], "page after a-1, limit 2")
            let inB = try await store.streams(category: "b", after: nil, limit: 10)
            try check.equal(inB.map(\.id), ["b-1", "b-2"], "category b")
            let inBAfter = try await store.streams(category: "b", after: "b-1", limit: 10)
            try check.equal(inBAfter.map(\.id), ["b-2"], "category b after b-1")
            try check.equal(try await store.streams(category: "z", after: nil, limit: 10), [], "unknown category")
        },
        Case("nonASCIIStreamIDsAndCategoriesRoundTrip") { check, store in
            let stream: StreamID = "café-☕️1"
            let plain = event()
            try await store.append(plain, to: stream, expectedVersion: .noStream)
            try await expectStream(check, store, stream, holds: [plain])
            let inCategory = try await store.readCategory("café", after: .start, limit: 10)
            try check.equal(inCategory.map(\.streamID), [stream], "category café")
            try check.equal(try await store.streams(category: "café", after: nil, limit: 10).map(\.id), [stream], "streams in café")
        },
        Case("metadataRoundTripsIncludingCustomValuesAndNone") { check, store in
            let full = EventMetadata(correlationID: "corr-1", causationID: "cause-1", custom: ["tenant": "acme", "user": "zoë ✓", "empty": ""])
            let customOnly = EventMetadata(custom: ["k": "v"])
            let correlationOnly = EventMetadata(correlationID: "c")
            let events = [event(metadata: full), event(metadata: .none), event(metadata: customOnly), event(metadata: correlationOnly)]
            try await store.append(events, to: "order-1", expectedVersion: .noStream)
            let read = try await store.readStream("order-1")
            try check.equal(read.map(\.metadata), [full, .none, customOnly, correlationOnly], "metadata")
        },
        Case("payloadsRoundTripByteForByte") { check, store in
            let binary = Data((0...255).map { UInt8($0) })
            let events = [
                EventData(type: "Binary", payload: binary),
                EventData(type: "Empty", payload: Data()),
                EventData(type: "Unicode ✓", schemaVersion: 7, payload: Data("naïve ☃".utf8)),
            ]
            try await store.append(events, to: "blob-1", expectedVersion: .noStream)
            try await expectStream(check, store, "blob-1", holds: events)
        },
        Case("missingStreamsAndAnEmptyStoreReadAsEmpty") { check, store in
            try check.equal(try await store.readStream("order-1"), [], "missing stream forwards")
            try check.equal(try await store.readStreamBackwards("order-1"), [], "missing stream backwards")
            try check.equal(try await store.streamVersion(of: "order-1"), .initial, "missing stream version")
            try check.equal(try await store.readAll(after: .start, limit: 10), [], "empty log")
            try check.equal(try await store.readCategory("order", after: .start, limit: 10), [], "empty category")
            try check.equal(try await store.streams(category: nil, after: nil, limit: 10), [], "no streams")
            try check.equal(try await store.headPosition(), .start, "head of an empty store")
            try await store.append(event(), to: "order-2", expectedVersion: .noStream)
            try check.equal(try await store.readStream("order-1"), [], "missing stream beside another")
            try check.equal(try await store.readAll(after: 1, limit: 10), [], "after the head")
        },
        Case("negativeLimitsAreInvalidArguments") { check, store in
            try await store.append(event(), to: "order-1", expectedVersion: .noStream)
            try await check.error(.invalidArgument, "readStream with limit -1") {
                try await store.readStream("order-1", from: .first, direction: .forwards, limit: -1)
            }
            try await check.error(.invalidArgument, "readStream backwards with limit -1") {
                try await store.readStream("order-1", from: .max, direction: .backwards, limit: -1)
            }
            try await check.error(.invalidArgument, "readAll with limit -1") {
                try await store.readAll(after: .start, limit: -1)
            }
            try await check.error(.invalidArgument, "readCategory with limit -1") {
                try await store.readCategory("order", after: .start, limit: -1)
            }
            try await check.error(.invalidArgument, "streams with limit -1") {
                try await store.streams(category: nil, after: nil, limit: -1)
            }
        },
        Case("zeroLimitsReadNothing") { check, store in
            try await store.append(event(), to: "order-1", expectedVersion: .noStream)
            try check.equal(try await store.readStream("order-1", from: .first, direction: .forwards, limit: 0), [], "readStream limit 0")
            try check.equal(try await store.readAll(after: .start, limit: 0), [], "readAll limit 0")
            try check.equal(try await store.readCategory("order", after: .start, limit: 0), [], "readCategory limit 0")
            try check.equal(try await store.streams(category: nil, after: nil, limit: 0), [], "streams limit 0")
        },
        Case("headPositionFollowsAppends") { check, store in
            try check.equal(try await store.headPosition(), 0, "empty head")
            try await store.append(events(3), to: "order-1", expectedVersion: .noStream)
            try check.equal(try await store.headPosition(), 3, "head after 3 events")
            try await store.append(event(), to: "order-2", expectedVersion: .noStream)
            try check.equal(try await store.headPosition(), 4, "head after 4 events")
        },
    ]
}
