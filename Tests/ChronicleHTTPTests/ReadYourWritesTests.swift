@testable import ChronicleHTTP
import ChronicleHTTPTestSupport
import ChronicleTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// A projection whose progress the test controls: it applies stored events to an order-count
/// read model only when told to (`catchUp()`), like a runner that is behind.
actor SteppedProjection: ProjectionCatalog {
    let name: String
    let store: InMemoryEventStore
    private(set) var position: GlobalPosition = .start
    private(set) var ordersByCustomer: [String: Int] = [:]
    private var waiters: [Int: (GlobalPosition, CheckedContinuation<Void, Never>)] = [:]
    private var nextWaiter = 0
    private(set) var waitingCount = 0

    init(name: String, store: InMemoryEventStore) {
        self.name = name
        self.store = store
    }

    /// Applies every stored event.
    func catchUp() async throws {
        for try await event in store.allEvents(after: position) {
            if event.type == "OrderPlaced",
               let payload = try JSONSerialization.jsonObject(with: event.payload) as? [String: Any],
               let customer = payload["customer"] as? String
            {
                ordersByCustomer[customer, default: 0] += 1
            }
            position = event.position
        }
        for (id, (target, continuation)) in waiters where target <= position {
            waiters[id] = nil
            continuation.resume()
        }
    }

    func projectionStatuses() -> [ProjectionStatus] {
        [ProjectionStatus(name: name, state: .running, position: position, head: position, parkedCount: 1, lastError: "boom")]
    }

    func parkedEvents(ofProjection name: String, limit: Int) -> [ParkedEvent]? {
        guard name == self.name else { return nil }
        return [ParkedEvent(position: 1, eventID: UUID(), streamID: "order-1", eventType: "OrderPlaced", partition: 0, error: "boom", attempts: 3, parkedAt: Date(timeIntervalSince1970: 0))].prefix(limit).map { $0 }
    }

    func waitUntil(projection name: String, reaches target: GlobalPosition, timeout: Duration) async throws -> GlobalPosition? {
        guard name == self.name else { return nil }
        if position >= target { return position }
        waitingCount += 1
        defer { waitingCount -= 1 }
        _ = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { await self.suspend(until: target); return true }
            group.addTask { try? await Task.sleep(for: timeout); return false }
            defer { group.cancelAll() }
            return try await group.next()
        }
        return position
    }

    private func suspend(until target: GlobalPosition) async {
        let id = nextWaiter
        nextWaiter += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled || position >= target {
                    continuation.resume()
                } else {
                    waiters[id] = (target, continuation)
                }
            }
        } onCancel: {
            Task { await self.release(id) }
        }
    }

    private func release(_ id: Int) {
        waiters.removeValue(forKey: id)?.1.resume()
    }

    func count(for customer: String) -> Int? { ordersByCustomer[customer] }
}

@Suite struct ReadYourWritesTests {
    /// Mounts `GET /customers/:id` reading the stepped projection, by name through the API's
    /// catalog (the path of the deprecated `queries(_:reading:on:)` taking names; runners passed
    /// by handle are asked directly, as the Shop's tests show).
    static func routes(_ projection: SteppedProjection) -> (ReadAPI, Router<BasicRequestContext>) -> Void {
        { api, router in
            router.group("/customers")
                .add(middleware: ReadYourWritesMiddleware<BasicRequestContext>(
                    projections: .names([projection.name]), positions: api.positions, timeout: api.configuration.readYourWritesTimeout))
                .get(":id") { _, context -> String in
                    let id = try context.parameters.require("id")
                    guard let count = await projection.count(for: id) else {
                        throw ReadAPIError(.notFound, "No customer \(id).")
                    }
                    return "{\"orders\":\(count)}"
                }
        }
    }

    @Test func aQueryWithMinPositionWaitsUntilTheProjectionHasCaughtUp() async throws {
        let store = InMemoryEventStore()
        let projection = SteppedProjection(name: "customer-orders", store: store)
        try await withReadAPI(store: store, projections: projection, routes: Self.routes(projection)) { client in
            let written = try await store.append(jsonEvent("OrderPlaced", #"{"customer":"ada"}"#), to: "order-1", expectedVersion: .noStream)
            // Without the header the query answers at once with what the read model holds.
            #expect(try await client.get("/customers/ada").status == .notFound)

            async let answer = client.get("/customers/ada", headers: [.chronicleMinPosition: "\(written.position.value)"])
            try await eventually("the query to wait on the projection") { await projection.waitingCount == 1 }
            try await projection.catchUp()
            let response = try await answer
            #expect(response.status == .ok)
            #expect(response.text == #"{"orders":1}"#)
            #expect(response.headers[.chroniclePosition] == "\(written.position.value)")
        }
    }

    @Test func aQueryWhoseProjectionStaysBehindAnswers503WithTheCurrentPosition() async throws {
        let store = InMemoryEventStore()
        let projection = SteppedProjection(name: "customer-orders", store: store)
        try await store.append(jsonEvent("OrderPlaced", #"{"customer":"ada"}"#), to: "order-1", expectedVersion: .noStream)
        try await projection.catchUp()
        let written = try await store.append(jsonEvent("OrderPlaced", #"{"customer":"ada"}"#), to: "order-2", expectedVersion: .noStream)
        try await withReadAPI(
            store: store, projections: projection,
            configure: { $0.readYourWritesTimeout = .milliseconds(100) },
            routes: Self.routes(projection)
        ) { client in
            let response = try await client.get("/customers/ada", headers: [.chronicleMinPosition: "\(written.position.value)"])
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "1")
            let error = try response.errorBody
            #expect(error.code == "notCaughtUp")
            #expect(error.fields["position"] as? Int == 1)
            #expect(error.fields["requiredPosition"] as? Int == 2)
            #expect(error.fields["projection"] as? String == "customer-orders")
        }
    }

    @Test func aMalformedMinPositionAnswers400() async throws {
        let store = InMemoryEventStore()
        let projection = SteppedProjection(name: "customer-orders", store: store)
        try await withReadAPI(store: store, projections: projection, routes: Self.routes(projection)) { client in
            for value in ["-1", "soon", "1.5", ""] {
                let response = try await client.get("/customers/ada", headers: [.chronicleMinPosition: value])
                #expect(response.status == .badRequest, "\(value)")
                #expect(try response.errorBody.code == "invalidParameter")
            }
        }
    }

    @Test func storeRoutesWithMinPositionWaitForTheStoreHead() async throws {
        let store = try await sampleStore()
        try await withReadAPI(store: store, configure: { $0.readYourWritesTimeout = .seconds(20) }) { client in
            async let answer = client.get("/all?after=5", headers: [.chronicleMinPosition: "6"])
            // Whenever the request arrives, it answers only once position 6 exists.
            try await store.append(jsonEvent("OrderPlaced", "{}"), to: "order-3", expectedVersion: .noStream)
            let json = try await answer.json
            #expect((json["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [6])
        }
        try await withReadAPI(store: store, configure: { $0.readYourWritesTimeout = .milliseconds(50) }) { client in
            let response = try await client.get("/all", headers: [.chronicleMinPosition: "99"])
            #expect(response.status == .serviceUnavailable)
            #expect(try response.errorBody.fields["position"] as? Int == 6)
        }
    }

    @Test func projectionStatusShowsPositionLagStateAndParkedEvents() async throws {
        let store = try await sampleStore()
        let projection = SteppedProjection(name: "customer-orders", store: store)
        try await withReadAPI(store: store, projections: projection) { client in
            let list = try await client.get("/projections").json
            #expect(list["head"] as? Int == 5)
            let report = try #require((list["projections"] as? [[String: Any]])?.first)
            #expect(report["name"] as? String == "customer-orders")
            #expect(report["position"] as? Int == 0)
            #expect(report["lag"] as? Int == 5)
            #expect(report["state"] as? String == "running")
            #expect(report["parkedCount"] as? Int == 1)

            try await projection.catchUp()
            let detail = try await client.get("/projections/customer-orders").json
            #expect((detail["projection"] as? [String: Any])?["lag"] as? Int == 0)
            let parked = try #require((detail["parked"] as? [[String: Any]])?.first)
            #expect(parked["attempts"] as? Int == 3)
            #expect(parked["error"] as? String == "boom")
            #expect(parked["parkedAt"] as? String == "1970-01-01T00:00:00.000Z")

            #expect(try await client.get("/projections/nope").status == .notFound)
        }
    }
}
