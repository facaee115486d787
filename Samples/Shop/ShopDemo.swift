import AsyncHTTPClient
import Chronicle
import Foundation
import NIOCore

/// The whole flow, once, over real HTTP against a running shop: `swift run Shop --demo`.
///
/// 1. A paid order: `POST /orders` answers at once (synchronous command) with its id and global
///    position; the fulfilment saga reserves stock, charges, ships — asynchronously; the read
///    models show it.
/// 2. A declined payment (card `fail`): the saga compensates — stock released, order cancelled.
/// 3. Read-your-writes, the customer and notification read models, projection status.
struct ShopDemo {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A reply: status and JSON body.
    struct Reply {
        var status: Int
        var headers: [(String, String)]
        var json: JSONValue
        subscript(field: String) -> JSONValue? { json[field] }
    }

    let client: HTTPClient
    let baseURL: String
    let mailer: MailerProcess?
    let say: @Sendable (String) -> Void

    /// Runs the flow; throws ``Failure`` when the shop does not behave as described. With
    /// `mailer` (the second service the shop relays its order events to), the flow ends with the
    /// events crossing to it, through an outage of the mailer.
    static func run(port: Int, mailer: MailerProcess? = nil, say: @escaping @Sendable (String) -> Void = { print($0) }) async throws {
        try await HTTPClient.withHTTPClient { client in
            try await ShopDemo(client: client, baseURL: "http://127.0.0.1:\(port)", mailer: mailer, say: say).run()
            if let mailer {
                try await ShopDemo(client: client, baseURL: "http://127.0.0.1:\(port)", mailer: mailer, say: say).acrossServices(mailer)
            }
            say("Demo passed.")
        }
    }

    /// Step 7: the order events reach the mailer (another process) through the relay and its
    /// inbox; the mailer goes down, the circuit opens and the events wait; it comes back and every
    /// event arrives once, in order.
    func acrossServices(_ mailer: MailerProcess) async throws {
        say("== 7. Events to another service: the mailer receives the order events (relay → signed POST → inbox)")
        let head = try await send("GET", "/head")["head"]?.intValue ?? 0
        _ = try await waitForRelay(toReach: head)
        let emails = try await mailerEmails()
        try checkOncePerEventInOrder(emails)
        say("   the mailer sent \(emails.count) emails, one per order event, each order's in order; e.g. \"\(emails.first?["subject"]?.stringValue ?? "?")\"")

        say("== 8. The mailer goes down: the relay's circuit opens, the events wait")
        try await mailer.stop()
        let placed = try await send("POST", "/orders", body: #"{"customer":"cy","items":[{"sku":"kettle","quantity":1}],"card":"4242"}"#)
        try expect(placed.status == 201, "POST /orders answered \(placed.status)")
        let orderId = try require(placed["orderId"]?.stringValue, "no orderId")
        _ = try await waitForStatus(orderId, in: ["shipped"])
        let open = try await waitForRelayStatus { $0["circuit"]?["state"]?.stringValue == "open" }
        say("   order \(orderId) shipped in the shop while the mailer is down; relay circuit \(open["circuit"]?["state"]?.stringValue ?? "?") since \(open["circuit"]?["since"]?.stringValue ?? "?"), lag \(open["lag"]?.intValue ?? 0), parked \(open["parkedCount"]?.intValue ?? 0)")

        say("== 9. The mailer is back: a probe closes the circuit and every waiting event arrives once, in order")
        try await mailer.start()
        let newHead = try await send("GET", "/head")["head"]?.intValue ?? 0
        let caughtUp = try await waitForRelay(toReach: newHead)
        let after = try await mailerEmails()
        try checkOncePerEventInOrder(after)
        let cy = after.filter { $0["stream"]?.stringValue == "order-\(orderId)" }
        try expect(cy.count == 3, "the mailer has \(cy.count) emails for order \(orderId), expected placed, paid, shipped")
        for email in cy { say("   cy ← \(email["subject"]?.stringValue ?? "?")") }
        say("   relay circuit \(caughtUp["circuit"]?["state"]?.stringValue ?? "?"), lag \(caughtUp["lag"]?.intValue ?? 0), parked \(caughtUp["parkedCount"]?.intValue ?? 0); \(after.count) emails in all")
    }

    /// The mailer's emails.
    func mailerEmails() async throws -> [JSONValue] {
        guard let mailer else { return [] }
        var request = HTTPClientRequest(url: mailer.emailsURL)
        request.method = .GET
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        guard case .array(let emails)? = (try? JSONValue(parsing: Data(buffer: bytes)))?["emails"] else {
            throw Failure(description: "the mailer's GET /emails answered \(response.status)")
        }
        return emails
    }

    /// Each event once, and each order's events in version order 1, 2, 3…
    func checkOncePerEventInOrder(_ emails: [JSONValue]) throws {
        let ids = emails.compactMap { $0["eventId"]?.stringValue }
        try expect(Set(ids).count == ids.count, "an event was mailed twice")
        var versions: [String: [Int64]] = [:]
        for email in emails { versions[email["stream"]?.stringValue ?? "", default: []].append(email["version"]?.intValue ?? 0) }
        for (stream, list) in versions {
            try expect(list == Array(1...Int64(list.count)), "the emails of \(stream) came in version order \(list)")
        }
    }

    /// The relay's status from `GET /projections`.
    func relayStatus() async throws -> JSONValue? {
        guard case .array(let projections)? = try await send("GET", "/projections")["projections"] else { return nil }
        return projections.first { $0["name"]?.stringValue == "mailer-relay" }
    }

    /// Polls the relay's status until `condition` holds; gives up after 30 seconds.
    func waitForRelayStatus(_ condition: (JSONValue) -> Bool) async throws -> JSONValue {
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while ContinuousClock.now < deadline {
            if let status = try await relayStatus(), condition(status) { return status }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Failure(description: "the relay did not reach the expected state in 30 seconds: \(String(describing: try await relayStatus()))")
    }

    /// Waits until the relay has delivered everything up to `position`.
    func waitForRelay(toReach position: Int64) async throws -> JSONValue {
        try await waitForRelayStatus { ($0["position"]?.intValue ?? 0) >= position }
    }

    func run() async throws {
        say("== 1. Place an order (synchronous command)")
        let placed = try await send("POST", "/orders", body: #"{"customer":"ada","items":[{"sku":"tea","quantity":2},{"sku":"mug","quantity":1}],"card":"4242"}"#)
        try expect(placed.status == 201, "POST /orders answered \(placed.status)")
        let orderId = try require(placed["orderId"]?.stringValue, "no orderId")
        let position = try require(placed["position"]?.intValue, "no position")
        say("   order \(orderId) placed at global position \(position), total \(placed["total"]?.intValue ?? 0) cents")

        say("== 2. Read your write: GET /orders/\(orderId) with Chronicle-Min-Position: \(position)")
        let summary = try await send("GET", "/orders/\(orderId)", headers: [("Chronicle-Min-Position", "\(position)")])
        try expect(summary.status == 200, "the summary answered \(summary.status)")
        say("   status: \(summary["status"]?.stringValue ?? "?") (the read model already reflects the order)")

        say("== 3. The fulfilment saga pays and ships asynchronously")
        let shipped = try await waitForStatus(orderId, in: ["shipped"])
        say("   status: shipped, tracking \(shipped["tracking"]?.stringValue ?? "?"), payment \(shipped["payment"]?.stringValue ?? "?")")

        say("== 4. A payment that fails is compensated")
        let before = try await send("GET", "/inventory")
        let teapotsBefore = before["available"]?["teapot"]?.intValue ?? -1
        let failing = try await send("POST", "/orders", body: #"{"customer":"bob","items":[{"sku":"teapot","quantity":2}],"card":"fail"}"#)
        try expect(failing.status == 201, "POST /orders answered \(failing.status)")
        let failingId = try require(failing["orderId"]?.stringValue, "no orderId")
        let cancelled = try await waitForStatus(failingId, in: ["cancelled"])
        try expect(cancelled["status"]?.stringValue == "cancelled", "the declined order is \(cancelled["status"]?.stringValue ?? "?")")
        let after = try await send("GET", "/inventory")
        try expect(after["available"]?["teapot"]?.intValue == teapotsBefore, "the teapots were not released: \(teapotsBefore) before, \(after["available"]?["teapot"]?.intValue ?? -1) after")
        say("   order \(failingId): \(cancelled["cancelReason"]?.stringValue ?? "?"); teapots in stock: \(teapotsBefore) before, \(teapotsBefore) after")

        say("== 5. Read models: customers and notifications")
        let lastPosition = try await send("GET", "/head")["head"]?.intValue ?? 0
        let ada = try await send("GET", "/customers/ada", headers: [("Chronicle-Min-Position", "\(lastPosition)")])
        try expect(ada["shipped"]?.intValue == 1 && ada["spent"]?.intValue == 2 * 450 + 1200, "customer ada is \(ada.json)")
        say("   ada: placed \(ada["placed"]?.intValue ?? 0), shipped \(ada["shipped"]?.intValue ?? 0), spent \(ada["spent"]?.intValue ?? 0) cents")
        let notes = try await send("GET", "/customers/bob/notifications", headers: [("Chronicle-Min-Position", "\(lastPosition)")])
        if case .array(let list)? = notes["notifications"] {
            for note in list { say("   bob ← \(note["message"]?.stringValue ?? "?")") }
            try expect(list.last?["kind"]?.stringValue == "cancelled", "bob's last notification is not the cancellation")
        } else {
            throw Failure(description: "no notifications for bob")
        }

        say("== 6. Projection status")
        let status = try await send("GET", "/projections")
        if case .array(let projections)? = status["projections"] {
            for projection in projections {
                say("   \(projection["name"]?.stringValue ?? "?"): position \(projection["position"]?.intValue ?? 0), lag \(projection["lag"]?.intValue ?? 0), \(projection["state"]?.stringValue ?? "?")")
            }
        }
    }

    /// Polls the order summary until its status is one of `statuses` (the saga runs in the
    /// background); gives up after 20 seconds.
    func waitForStatus(_ orderId: String, in statuses: Set<String>) async throws -> Reply {
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while ContinuousClock.now < deadline {
            let reply = try await send("GET", "/orders/\(orderId)")
            if reply.status == 200, let status = reply["status"]?.stringValue, statuses.contains(status) { return reply }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Failure(description: "order \(orderId) did not reach \(statuses.sorted()) in 20 seconds")
    }

    func send(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONValue(parsing: Data(buffer: bytes))) ?? .null
        return Reply(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, json: json)
    }

    func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw Failure(description: message()) }
    }

    func require<T>(_ value: T?, _ message: String) throws -> T {
        guard let value else { throw Failure(description: message) }
        return value
    }
}
