import ChronicleHTTP
import ChronicleHTTPTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct ErrorAndLimitTests {
    @Test(arguments: [
        ("/all?after=-1", "invalidParameter"),
        ("/all?after=abc", "invalidParameter"),
        ("/all?after=99999999999999999999", "invalidParameter"),
        ("/all?limit=0", "invalidParameter"),
        ("/all?limit=ten", "invalidParameter"),
        ("/all?limit=5000", "pageSizeTooLarge"),
        ("/streams/order-1?direction=sideways", "invalidParameter"),
        ("/streams/order-1?from=x", "invalidParameter"),
        ("/streams/bad%20id", "invalidParameter"),
        ("/streams/%24system", "invalidParameter"),
        ("/streams?category=a-b", "invalidParameter"),
        ("/streams?after=%20", "invalidParameter"),
        ("/categories/or%20der/events", "invalidParameter"),
        ("/feed?after=-3", "invalidParameter"),
        ("/projections/x?limit=-1", "invalidParameter"),
        // Unknown parameters are refused, never ignored (a typo must not widen the result).
        ("/feed?typ=OrderPlaced", "invalidParameter"),
        ("/all?types=OrderPlaced", "invalidParameter"),  // a typo of type= (which /all accepts)
        ("/all?afterr=3", "invalidParameter"),
        ("/streams/order-1?version=2", "invalidParameter"),
        ("/streams?categry=order", "invalidParameter"),
        ("/categories/order/events?limt=1", "invalidParameter"),
        ("/head?x=1", "invalidParameter"),
        ("/projections?name=x", "invalidParameter"),
        ("/feed?type=", "invalidParameter"),
        ("/feed?type=A,,B", "invalidParameter"),
    ])
    func malformedParametersAnswer400WithAJSONError(uri: String, code: String) async throws {
        try await withReadAPI(store: try await sampleStore()) { client in
            let response = try await client.get(uri)
            #expect(response.status == .badRequest, "\(uri): \(response.text)")
            #expect(response.headers[.contentType] == "application/json; charset=utf-8")
            #expect(try response.errorBody.code == code, "\(uri): \(response.text)")
        }
    }

    @Test func anUnknownParameterIsNamedInTheError() async throws {
        try await withReadAPI(store: try await sampleStore()) { client in
            let response = try await client.get("/all?after=0&fliter=x&limit=2")
            #expect(response.status == .badRequest)
            #expect(response.text.contains("'fliter'"), "\(response.text)")
            #expect(response.text.contains("after, limit"), "\(response.text)")
        }
    }

    @Test func anOversizePageIsRejectedWithTheMaximumInTheError() async throws {
        try await withReadAPI(store: try await sampleStore(), configure: { $0.maximumPageSize = 3 }) { client in
            let response = try await client.get("/all?limit=4")
            #expect(response.status == .badRequest)
            let error = try response.errorBody
            #expect(error.code == "pageSizeTooLarge")
            #expect(error.fields["maximum"] as? Int == 3)
        }
    }

    @Test func anOversizePageIsClampedWhenConfiguredSo() async throws {
        try await withReadAPI(store: try await sampleStore(), configure: { $0.maximumPageSize = 3; $0.oversizePages = .clamp }) { client in
            let json = try await client.get("/all?limit=1000").json
            #expect(json["limit"] as? Int == 3)
            #expect((json["events"] as? [Any])?.count == 3)
            #expect(json["next"] as? Int == 3)
        }
    }

    @Test func unknownRoutesAndWriteMethodsAnswer404WithAJSONError() async throws {
        try await withReadAPI(store: try await sampleStore()) { client in
            let unknown = try await client.get("/nothing/here")
            #expect(unknown.status == .notFound)
            #expect(try unknown.errorBody.code == "notFound")
            // The API is read-only: there is no route that writes.
            let post = try await client.execute(uri: "/streams/order-1", method: .post, body: ByteBuffer(string: "{}"))
            #expect(post.status == .notFound)
            #expect(try post.errorBody.code == "notFound")
            #expect(try await client.get("/streams/order-1").status == .ok)
        }
    }

    @Test func aMissingBearerTokenAnswers401() async throws {
        try await withReadAPI(store: try await sampleStore(), configure: { $0.bearerTokens = ["s3cret"] }) { client in
            let response = try await client.get("/head")
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            #expect(try response.errorBody.code == "unauthorized")
        }
    }

    @Test(arguments: ["Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "Basic czNjcmV0", "s3cret", "Bearer "])
    func aWrongBearerTokenAnswers401(authorization: String) async throws {
        try await withReadAPI(store: try await sampleStore(), configure: { $0.bearerTokens = ["s3cret"] }) { client in
            let response = try await client.get("/streams", headers: [.authorization: authorization])
            #expect(response.status == .unauthorized)
            #expect(try response.errorBody.code == "unauthorized")
        }
    }

    @Test func anAcceptedBearerTokenReadsAndGuardsAppRoutesToo() async throws {
        try await withReadAPI(
            store: try await sampleStore(),
            configure: { $0.bearerTokens = ["s3cret", "other"] },
            routes: { _, router in router.get("/app/ping") { _, _ in "pong" } }
        ) { client in
            let first = try await client.get("/head", headers: [.authorization: "Bearer s3cret"])
            let second = try await client.get("/head", headers: [.authorization: "bearer other"])
            let app = try await client.get("/app/ping", headers: [.authorization: "Bearer other"])
            let appWithout = try await client.get("/app/ping")
            #expect(first.status == .ok)
            #expect(second.status == .ok)
            #expect(app.text == "pong")
            #expect(appWithout.status == .unauthorized)
        }
    }

    @Test func aBodyOverTheLimitAnswers413BeforeTheHandlerRuns() async throws {
        let handled = Counter()
        try await withReadAPI(
            store: try await sampleStore(),
            configure: { $0.maximumBodySize = 100 },
            routes: { _, router in
                router.post("/commands") { request, _ in
                    handled.increment()
                    var request = request
                    let body = try await request.collectBody(upTo: .max)
                    return "got \(body.readableBytes)"
                }
            }
        ) { client in
            let small = try await client.execute(uri: "/commands", method: .post, body: ByteBuffer(string: String(repeating: "a", count: 100)))
            #expect(small.text == "got 100")
            let large = try await client.execute(uri: "/commands", method: .post, body: ByteBuffer(string: String(repeating: "a", count: 101)))
            #expect(large.status == .contentTooLarge)
            #expect(try large.errorBody.code == "bodyTooLarge")
            #expect(try large.errorBody.fields["limit"] as? Int == 100)
        }
        #expect(handled.value == 1)
    }

    @Test func eventStoreErrorsThrownByAppRoutesMapToStatuses() async throws {
        let store = try await sampleStore()
        try await withReadAPI(
            store: store,
            routes: { _, router in
                router.post("/orders/:id/cancel") { _, context in
                    let id = try context.parameters.require("id")
                    let result = try await store.append(jsonEvent("OrderCancelled", "{}"), to: StreamID(category: "order", id: id), expectedVersion: .exactly(1))
                    return "\(result.position)"
                }
                router.get("/broken") { _, _ -> String in
                    throw EventStoreError(.storageFailure, "disk I/O error at /secret/path.sqlite")
                }
                router.get("/busy") { _, _ -> String in
                    throw EventStoreError(.databaseBusy, "locked")
                }
            }
        ) { client in
            let conflict = try await client.execute(uri: "/orders/1/cancel", method: .post, body: ByteBuffer())
            #expect(conflict.status == .conflict)
            let error = try conflict.errorBody
            #expect(error.code == "wrongExpectedVersion")
            #expect(error.fields["actualVersion"] as? Int == 2)
            #expect(error.fields["stream"] as? String == "order-1")

            let broken = try await client.get("/broken")
            #expect(broken.status == .internalServerError)
            #expect(try broken.errorBody.code == "internalError")
            #expect(!broken.text.contains("/secret/path"), "store details must not leak")

            let busy = try await client.get("/busy")
            #expect(busy.status == .serviceUnavailable)
            #expect(busy.headers[.retryAfter] == "1")
        }
    }

    @Test func aFullDiskAndAReadOnlyStoreAnswer503SayingWhatHappened() async throws {
        let logs = LogRecorder()
        try await withServedReadAPI(
            store: try await sampleStore(), logger: logs.logger,
            routes: { _, router in
                router.post("/full") { _, _ -> String in
                    throw EventStoreError(.diskFull, "Append failed on /secret/events.sqlite: the disk is full")
                }
                router.post("/readonly") { _, _ -> String in
                    throw EventStoreError(.readOnly, "Append failed on /secret/events.sqlite: read-only file system")
                }
            }
        ) { _, client in
            let full = try await client.execute(uri: "/full", method: .post)
            #expect(full.status == .serviceUnavailable)
            let fullError = try full.errorBody
            #expect(fullError.code == "storageFull")
            #expect(fullError.message.contains("disk is full"), "\(fullError.message)")
            #expect(fullError.message.contains("nothing was written"), "\(fullError.message)")
            #expect(fullError.fields["storeCode"] as? String == "diskFull")
            #expect(!full.text.contains("/secret"), "store details must not leak")

            let readOnly = try await client.execute(uri: "/readonly", method: .post)
            #expect(readOnly.status == .serviceUnavailable)
            let readOnlyError = try readOnly.errorBody
            #expect(readOnlyError.code == "storageReadOnly")
            #expect(readOnlyError.message.contains("read-only"), "\(readOnlyError.message)")
            #expect(!readOnly.text.contains("/secret"))
        }
        // The operator must act: logged at error level, with the store's own words.
        let errors = logs.records(atLeast: .error)
        #expect(errors.count == 2)
        #expect(errors.allSatisfy { $0.message.contains("/secret/events.sqlite") })
    }

    @Test func everyEventStoreErrorCodeHasAStatus() {
        let expectations: [(EventStoreError.Code, Int)] = [
            (.wrongExpectedVersion, 409), (.duplicateEventID, 409), (.emptyAppend, 400), (.invalidStreamID, 400),
            (.invalidEvent, 400), (.invalidArgument, 400), (.notADatabase, 500), (.databaseBusy, 503),
            (.corruptRecord, 500), (.unsupportedSchema, 500), (.storageFailure, 500), (.unknownEventType, 500),
            (.undecodablePayload, 500), (.unencodableEvent, 500), (.timeout, 503), (.closed, 503),
            (.diskFull, 503), (.readOnly, 503),
        ]
        for (code, status) in expectations {
            #expect(ReadAPIError(EventStoreError(code, "x")).status.code == status, "\(code)")
        }
    }
}

/// A thread-safe counter for handlers.
final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

import Synchronization
