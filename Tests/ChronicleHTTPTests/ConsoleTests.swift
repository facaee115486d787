import ChronicleConsole
import ChronicleHTTP
import ChronicleHTTPTestSupport
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceLifecycle
import Synchronization
import Testing

/// Fails on events of type `Gated` while its gate is closed (a transient failure, like a payment
/// gateway's outage), so events park and can then be retried.
struct GateManager: ProcessManager {
    let name = "gate"
    let gate: Gate

    final class Gate: Sendable {
        private let state = Atomic(false)
        var isOpen: Bool { state.load(ordering: .acquiring) }
        func open() { state.store(true, ordering: .releasing) }
    }

    func react(to event: RecordedEvent, context: ProcessContext) async throws {
        if event.type == "Gated" && !gate.isOpen { throw EventStoreError(.invalidEvent, "gate <b>closed</b> for \"><img src=x onerror=alert(1)>") }
    }
}

/// A real SQLite store, a real process manager (`gate`), the read API and the console on a real
/// server, as an app mounts them (console first, then the read API's middleware and routes).
func withConsole<Value: Sendable>(
    tokens: Set<String> = [], adminTokens: Set<String> = [], maximumPageSize: Int = 1000,
    _ body: @Sendable (SQLiteEventStore, GateManager.Gate, SQLiteProcessManager, any TestClientProtocol) async throws -> Value
) async throws -> Value {
    let directory = NSTemporaryDirectory() + "chronicle-console-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let store = try SQLiteEventStore(path: directory + "/events.sqlite", configuration: .init(logger: quietLogger))
    let gate = GateManager.Gate()
    let policy = FailurePolicy(maxAttempts: 1, baseDelay: .zero, maxDelay: .zero, then: .park)
    let runner = try SQLiteProcessManager(
        GateManager(gate: gate), path: directory + "/gate.sqlite", source: .observing(store), failurePolicy: policy, sleep: { _ in }, logger: quietLogger
    )
    var configuration = ReadAPIConfiguration.liveTestClient
    configuration.bearerTokens = tokens
    configuration.maximumPageSize = maximumPageSize
    let api = try ReadAPI(reader: store, projections: runner, configuration: configuration, logger: quietLogger)
    var settings = ConsoleConfiguration()
    settings.adminTokens = adminTokens
    let console = try ChronicleConsole(api: api, configuration: settings)
    let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)
    console.addRoutes(to: router)
    api.addMiddleware(to: router)
    api.addRoutes(to: router)
    let app = Application(
        router: router, server: api.httpServer, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        services: [runner, console.sampler], logger: quietLogger
    )
    return try await app.test(.live) { client in try await body(store, gate, runner, client) }
}

extension TestResponse {
    /// The session id of a `Set-Cookie` answer.
    var sessionCookie: String? {
        headers[values: .setCookie].compactMap { value -> String? in
            guard let range = value.range(of: #"chronicle_console=[0-9a-f]{64}"#, options: .regularExpression) else { return nil }
            return String(value[range])
        }.first
    }

    /// The CSRF token of the page's forms.
    var csrf: String? {
        text.range(of: #"name="csrf" value="[0-9a-f]{64}""#, options: .regularExpression).map { String(text[$0].dropFirst(19).dropLast()) }
    }
}

extension TestClientProtocol {
    func post(_ uri: String, form: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: form))
    }

    /// Signs in with `token`; returns the `Cookie` header of the session.
    func signIn(_ token: String) async throws -> HTTPFields {
        let response = try await post("/console/login", form: "token=\(token)&next=%2Fconsole")
        #expect(response.status == .seeOther)
        #expect(response.headers[.location] == "/console")
        let setCookie = try #require(response.headers[.setCookie])
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/console"))
        return [.cookie: try #require(response.sessionCookie)]
    }
}

/// The console mounted as Docs/Console.md and the ChronicleConsole catalog show it.
func consoleApplication(store: SQLiteEventStore, catalog: any ProjectionCatalog, configuration: ReadAPIConfiguration) throws -> some ApplicationProtocol {
    let api = try ReadAPI(reader: store, projections: catalog, configuration: configuration)
    let console = try ChronicleConsole(api: api)
    let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)
    console.addRoutes(to: router)  // first: the console signs in its own way
    api.addMiddleware(to: router)  // then the read API's middleware and routes
    api.addRoutes(to: router)
    return Application(
        router: router, server: api.httpServer, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        services: [console.sampler]  // the charts' history
    )
}

/// Counts what the console reads from a store: stream rows listed and events read.
final class CountingReader: EventReader, Sendable {
    let base: InMemoryEventStore
    private let counts = Mutex((streams: 0, events: 0))

    init(_ base: InMemoryEventStore) { self.base = base }

    var listed: Int { counts.withLock { $0.streams } }
    var eventsRead: Int { counts.withLock { $0.events } }
    func reset() { counts.withLock { $0 = (0, 0) } }

    private func counted(_ events: [RecordedEvent]) -> [RecordedEvent] {
        counts.withLock { $0.events += events.count }
        return events
    }

    func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        counted(try await base.readStream(stream, from: start, direction: direction, limit: limit))
    }
    func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        counted(try await base.readAll(after: position, limit: limit))
    }
    func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        counted(try await base.readCategory(category, after: position, limit: limit))
    }
    func streamVersion(of stream: StreamID) async throws -> StreamVersion { await base.streamVersion(of: stream) }
    func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        let streams = try await base.streams(category: category, after: after, limit: limit)
        counts.withLock { $0.streams += streams.count }
        return streams
    }
    func headPosition() async throws -> GlobalPosition { await base.headPosition() }
}

@Suite struct ConsoleTests {
    @Test func aPageReadsOnlyWhatItShows() async throws {
        let store = InMemoryEventStore()
        for category in ["a", "b", "c"] {
            for index in 0..<1000 { try await store.append(jsonEvent("Thing", "{}"), to: StreamID("\(category)-\(index)"), expectedVersion: .noStream) }
        }
        let reader = CountingReader(store)
        let api = try ReadAPI(reader: reader, notifier: nil, configuration: .liveTestClient, logger: quietLogger)
        let router = Router(context: BasicRequestContext.self)
        try ChronicleConsole(api: api).addRoutes(to: router)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: quietLogger)
        try await app.test(.live) { (client: any TestClientProtocol) async throws in
            // A prefix search lists the streams it shows (and one more, to know there are more).
            reader.reset()
            let prefix = try await client.get("/console/streams?prefix=b-12&limit=5")
            #expect(ConsoleTests.matches(#"<th scope="row"><a href="/console/streams/[^"]+">([^<]+)</a>"#, in: prefix.text) == ["b-12", "b-120", "b-121", "b-122", "b-123"])
            #expect(reader.listed <= 6)
            #expect(reader.eventsRead <= 1)  // the stream named like the prefix: its last event
            reader.reset()
            _ = try await client.get("/console/streams?category=c&after=c-500&limit=10")
            #expect(reader.listed <= 11)
            reader.reset()
            _ = try await client.get("/console/log?after=1500&limit=20")
            #expect(reader.eventsRead == 20)
            reader.reset()
            _ = try await client.get("/console/categories?limit=2")
            #expect(reader.listed <= 3)  // one stream per category
            reader.reset()
            _ = try await client.get("/console/streams/a-7")
            #expect(reader.eventsRead == 1)
        }
    }


    @Test func theConsoleMountedAsTheGuideSaysServesItsPages() async throws {
        let directory = NSTemporaryDirectory() + "chronicle-console-doc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteEventStore(path: directory + "/events.sqlite", configuration: .init(logger: quietLogger))
        try await store.append(jsonEvent("Thing", "{}"), to: "a-1", expectedVersion: .noStream)
        let app = try consoleApplication(store: store, catalog: CombinedProjectionCatalog([]), configuration: .liveTestClient)
        try await app.test(.live) { (client: any TestClientProtocol) async throws in
            #expect(try await client.get("/console").text.contains("<dd id=\"head-position\">1</dd>"))
            #expect(try await client.get("/all").status == .ok)
        }
    }

    static let hostileStream = "x-<script>alert(1)</script>"
    static let hostileType = "\"><img src=x onerror=alert(1)>"

    @Test func everyPageEscapesEventDataAndCarriesTheContentSecurityPolicy() async throws {
        try await withConsole { store, _, _, client in
            let hostile = EventData(
                type: Self.hostileType, payload: Data(#"{"note":"<script>alert(2)</script>","a":[1,{"b":null}],"e":{}}"#.utf8),
                metadata: EventMetadata(correlationID: "<b>c</b>", custom: ["<i>": "<script>alert(3)</script>"])
            )
            let binary = EventData(type: "Blob", payload: Data([0, 1, 2, 0xFF, 0x3C]))
            try await store.append([hostile, binary], to: StreamID(Self.hostileStream), expectedVersion: .noStream)
            let encoded = Self.hostileStream.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            for uri in [
                "/console", "/console/live/overview", "/console/streams", "/console/streams?prefix=x-", "/console/streams/\(encoded)",
                "/console/events/1", "/console/events/2", "/console/log", "/console/log?category=x", "/console/log?type=Blob",
                "/console/categories", "/console/projections", "/console/projections/gate", "/console/live/projections",
                "/console/live/projections/gate", "/console/login",
            ] {
                let response = try await client.get(uri)
                #expect(response.status == .ok, "\(uri)")
                #expect(response.headers[.contentType] == "text/html; charset=utf-8", "\(uri)")
                let policy = try #require(response.headers[HTTPField.Name("Content-Security-Policy")!], "\(uri)")
                #expect(policy.contains("script-src 'self'") && policy.contains("style-src 'self'") && !policy.contains("unsafe-inline"))
                #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                let html = response.text
                #expect(!html.contains("<script>alert"), "\(uri)")
                #expect(!html.contains("<img src=x"), "\(uri)")
                #expect(!html.contains("<b>c</b>") && !html.contains("<i>"), "\(uri)")
                // No inline script or style attribute anywhere (the CSP would refuse them).
                #expect(!html.contains("<script>") && !html.contains(" style=") && !html.contains(" onclick="), "\(uri)")
            }
            let stream = try await client.get("/console/streams/\(encoded)").text
            #expect(stream.contains("x-&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(stream.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"))
            #expect(stream.contains("&lt;script&gt;alert(2)&lt;/script&gt;"))
            #expect(stream.contains("binary, 5 bytes") && stream.contains("00 01 02 ff 3c"))
            // Pretty JSON: the payload's own tokens, indented; an empty object stays {}.
            #expect(stream.contains("  &quot;a&quot;: [\n    1,\n    {\n      &quot;b&quot;: null\n    }\n  ],"))
            #expect(stream.contains("&quot;e&quot;: {}"))

            let css = try await client.get("/console/assets/console.css")
            #expect(css.status == .ok && css.headers[.contentType] == "text/css; charset=utf-8")
            let script = try await client.get("/console/assets/console.js")
            #expect(script.status == .ok && script.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(try await client.get("/console/assets/other.js").status == .notFound)
        }
    }

    @Test(arguments: [
        ("/console/log?after=-1", HTTPResponse.Status.badRequest, "Parameter 'after'"),
        ("/console/log?limit=0", .badRequest, "Parameter 'limit'"),
        ("/console/log?limit=1001", .badRequest, "an integer from 1 to 1000"),
        ("/console/log?category=a-b", .badRequest, "Parameter 'category'"),
        ("/console/log?type=A,,B", .badRequest, "Parameter 'type'"),
        ("/console/streams?bogus=1", .badRequest, "Unknown parameter 'bogus'"),
        ("/console/streams?prefix=%24all", .badRequest, "Parameter 'prefix'"),
        ("/console/streams?after=%20", .badRequest, "Parameter 'after'"),
        ("/console/streams/a-1?from=0", .badRequest, "Parameter 'from'"),
        ("/console/streams/nope-1", .notFound, "has no events"),
        ("/console/events/abc", .badRequest, "Parameter 'position'"),
        ("/console/events/0", .badRequest, "Parameter 'position'"),
        ("/console/events/999", .notFound, "no event at position 999"),
        ("/console/projections/nope", .notFound, "no projection named"),
        ("/console/projections/gate?done=eaten", .badRequest, "Parameter 'done'"),
        ("/console/feed?after=x", .badRequest, "after"),
    ])
    func badParametersAnswerAClearError(uri: String, status: HTTPResponse.Status, message: String) async throws {
        try await withConsole { store, _, _, client in
            try await store.append(jsonEvent("Thing", "{}"), to: "a-1", expectedVersion: .noStream)
            let response = try await client.get(uri)
            #expect(response.status == status)
            // The message is escaped like any text of a page.
            #expect(response.text.contains(message.replacingOccurrences(of: "'", with: "&#39;")), "\(response.text)")
            #expect(response.headers[HTTPField.Name("Content-Security-Policy")!] != nil)
        }
    }

    @Test func streamsPageByPrefixAndCategoriesAreListedOnceEach() async throws {
        try await withConsole { store, _, _, client in
            var ids = ["b", "b!x", "b-1", "ba-1", "c-1"] + (0..<30).map { "b-1\($0)" } + (0..<12).map { "a-\($0)" }
            ids.shuffle()
            for id in ids { try await store.append(jsonEvent("Thing", "{}"), to: StreamID(id), expectedVersion: .noStream) }
            // Prefix "b-1": b-1 and b-10…b-129, paged 7 at a time by following the next links.
            var found: [String] = []
            var uri = "/console/streams?prefix=b-1&limit=7"
            var pages = 0
            while pages < 20 {
                pages += 1
                let html = try await client.get(uri).text
                found += Self.matches(#"<th scope="row"><a href="/console/streams/[^"]+">([^<]+)</a>"#, in: html)
                guard let next = Self.matches(#"<a rel="next" href="([^"]+)""#, in: html).first else { break }
                uri = next.replacingOccurrences(of: "&amp;", with: "&")
            }
            #expect(found == (["b-1"] + (0..<30).map { "b-1\($0)" }).sorted())
            #expect(pages == 5)
            // Categories, two at a time: each once, including ids without a '-'.
            var categories: [String] = []
            uri = "/console/categories?limit=2"
            pages = 0
            while pages < 10 {
                pages += 1
                let html = try await client.get(uri).text
                categories += Self.matches(#"<th scope="row"><a href="[^"]+">([^<]+)</a>"#, in: html)
                guard let next = Self.matches(#"<a rel="next" href="([^"]+)""#, in: html).first else { break }
                uri = next.replacingOccurrences(of: "&amp;", with: "&")
            }
            #expect(categories == ["a", "b", "b!x", "ba", "c"])
            // A category's streams.
            let a = try await client.get("/console/streams?category=a&limit=1000").text
            #expect(Self.matches(#"<th scope="row"><a href="/console/streams/[^"]+">([^<]+)</a>"#, in: a).count == 12)
        }
    }

    @Test func theEventPageLinksItsCauseItsEffectsAndItsCorrelation() async throws {
        try await withConsole { store, _, _, client in
            let command = try await store.append(jsonEvent("OrderPlaced", "{}", metadata: EventMetadata(correlationID: "order-1")), to: "order-1", expectedVersion: .noStream)
            let placed = try #require(try await store.readStream("order-1").first)
            try await store.append(jsonEvent("Noise", "{}"), to: "other-1", expectedVersion: .noStream)
            try await store.append(
                jsonEvent("StockReserved", "{}", metadata: EventMetadata(correlationID: "order-1", causationID: placed.id.uuidString)), to: "inventory-1",
                expectedVersion: .noStream
            )
            #expect(command.position == 1)
            let cause = try await client.get("/console/events/1").text
            #expect(cause.contains("<tbody id=\"effects\"><tr><td class=\"num\"><a href=\"/console/events/3\">3</a>"))
            #expect(cause.contains("It has no causation id"))
            let effect = try await client.get("/console/events/3").text
            #expect(effect.contains("<a class=\"cause\" href=\"/console/events/1\">OrderPlaced at position 1</a>"))
            #expect(effect.contains("<tbody id=\"correlated\"><tr><td class=\"num\"><a href=\"/console/events/1\">1</a>"))
            #expect(!effect.contains("/console/events/2\">2</a></td>"))
        }
    }

    @Test func withTokensEveryPageAssetAndFeedNeedsASignIn() async throws {
        try await withConsole(tokens: ["reader"]) { store, _, _, client in
            try await store.append(jsonEvent("Thing", "{}"), to: "a-1", expectedVersion: .noStream)
            let page = try await client.get("/console/log?category=a")
            #expect(page.status == .seeOther)
            #expect(page.headers[.location] == "/console/login?next=%2Fconsole%2Flog%3Fcategory%3Da")
            for uri in ["/console/assets/console.css", "/console/feed", "/console/live/overview"] {
                #expect(try await client.get(uri).status == .unauthorized, "\(uri)")
            }
            // The sign-in page names no asset it could not load.
            let login = try await client.get("/console/login")
            #expect(login.status == .ok && !login.text.contains("/console/assets/"))
            #expect(try await client.post("/console/login", form: "token=wrong").status == .unauthorized)
            #expect(try await client.post("/console/login", form: "token=" + String(repeating: "x", count: 9 * 1024)).status == .contentTooLarge)
            #expect(try await client.get("/console", headers: [.authorization: "Bearer reader"]).status == .ok)
            let session = try await client.signIn("reader")
            #expect(try await client.get("/console/log?category=a", headers: session).status == .ok)
            #expect(try await client.get("/console/assets/console.js", headers: session).status == .ok)
            // An open redirect is not: `next` stays in the console.
            let outside = try await client.post("/console/login", form: "token=reader&next=%2F%2Fevil.example%2Fconsole")
            #expect(outside.headers[.location] == "/console")
            // The read API itself still needs its bearer header, cookie or not.
            #expect(try await client.get("/all", headers: session).status == .unauthorized)
            // Signing out ends the session.
            let csrf = try #require(try await client.get("/console", headers: session).csrf)
            #expect(try await client.post("/console/logout", form: "csrf=\(csrf)", headers: session).status == .seeOther)
            #expect(try await client.get("/console/events/1", headers: session).status == .seeOther)
            #expect(try await client.get("/console/live/overview", headers: session).status == .unauthorized)
        }
    }

    @Test func retryAndDropNeedAnAdminTheirCSRFTokenAndTheSameOrigin() async throws {
        try await withConsole(tokens: ["reader"], adminTokens: ["admin"]) { store, gate, runner, client in
            try await store.append([jsonEvent("Gated", "{}"), jsonEvent("Gated", "{}")], to: "g-1", expectedVersion: .noStream)
            try await eventually("both events park") { await runner.status().parkedCount == 2 }
            let retry = "/console/projections/gate/parked/1/retry"
            #expect(try await client.post(retry, form: "").status == .unauthorized)
            let reader = try await client.signIn("reader")
            let readerPage = try await client.get("/console/projections/gate", headers: reader)
            #expect(readerPage.text.contains("gate &lt;b&gt;closed&lt;/b&gt; for &quot;&gt;&lt;img src=x onerror=alert(1)&gt;"))
            #expect(!readerPage.text.contains("button type=\"submit\" class=\"retry\""))
            let readerCSRF = try #require(readerPage.csrf)  // the sign-out form's
            #expect(try await client.post(retry, form: "csrf=\(readerCSRF)", headers: reader).status == .forbidden)
            #expect(try await client.post(retry, form: "", headers: [.authorization: "Bearer reader"]).status == .forbidden)

            let admin = try await client.signIn("admin")
            let page = try await client.get("/console/projections/gate", headers: admin)
            #expect(page.text.contains("class=\"retry\""))
            let csrf = try #require(page.csrf)
            // No token, a wrong token, another session's token, another site: refused, nothing changes.
            #expect(try await client.post(retry, form: "", headers: admin).status == .forbidden)
            #expect(try await client.post(retry, form: "csrf=\(String(repeating: "0", count: 64))", headers: admin).status == .forbidden)
            #expect(try await client.post(retry, form: "csrf=\(readerCSRF)", headers: admin).status == .forbidden)
            var crossSite = admin
            crossSite[HTTPField.Name("Origin")!] = "http://evil.example"
            #expect(try await client.post(retry, form: "csrf=\(csrf)", headers: crossSite).status == .forbidden)
            #expect(await runner.status().parkedCount == 2)

            // Still failing: 409 with the error, still parked.
            let failing = try await client.post(retry, form: "csrf=\(csrf)", headers: admin)
            #expect(failing.status == .conflict)
            #expect(failing.text.contains("failed again"))
            #expect(await runner.status().parkedCount == 2)
            // After the fix it applies.
            gate.open()
            let applied = try await client.post(retry, form: "csrf=\(csrf)", headers: admin)
            #expect(applied.status == .seeOther)
            #expect(applied.headers[.location] == "/console/projections/gate?done=retried&position=1")
            #expect(try await runner.parkedEvents().map(\.position) == [2])
            #expect(try await client.get("/console/projections/gate?done=retried&position=1", headers: admin).text.contains("was applied"))
            // Dropping with the admin's bearer header needs no CSRF token (a cross-site form cannot send it).
            let dropped = try await client.post("/console/projections/gate/parked/2/drop", form: "", headers: [.authorization: "Bearer admin"])
            #expect(dropped.status == .seeOther)
            #expect(try await runner.parkedEvents().isEmpty)
            // Gone, unknown projection, unknown action.
            #expect(try await client.post("/console/projections/gate/parked/2/drop", form: "csrf=\(csrf)", headers: admin).status == .notFound)
            #expect(try await client.post("/console/projections/nope/parked/2/drop", form: "csrf=\(csrf)", headers: admin).status == .notFound)
            #expect(try await client.post("/console/projections/gate/parked/2/eat", form: "csrf=\(csrf)", headers: admin).status == .notFound)
        }
    }

    @Test func withoutAnyTokenTheConsoleIsReadOnly() async throws {
        try await withConsole { store, _, runner, client in
            try await store.append(jsonEvent("Gated", "{}"), to: "g-1", expectedVersion: .noStream)
            try await eventually("the event parks") { await runner.status().parkedCount == 1 }
            let page = try await client.get("/console/projections/gate")
            #expect(page.text.contains("read-only"))
            let refused = try await client.post("/console/projections/gate/parked/1/drop", form: "")
            #expect(refused.status == .forbidden)
            #expect(refused.text.contains("read-only"))
            #expect(await runner.status().parkedCount == 1)
        }
    }

    @Test func pagesNeverHoldMoreThanTheReadAPIsLargestPage() async throws {
        try await withConsole(maximumPageSize: 5) { store, _, _, client in
            for index in 0..<12 { try await store.append(jsonEvent("Thing", "{}"), to: StreamID("s-\(index)"), expectedVersion: .noStream) }
            let log = try await client.get("/console/log?after=0").text
            #expect(Self.matches(#"<td class="num"><a href="/console/events/(\d+)">"#, in: log) == ["1", "2", "3", "4", "5"])
            #expect(log.contains("<a rel=\"next\" href=\"/console/log?after=5\">"))
            let streams = try await client.get("/console/streams").text
            #expect(Self.matches(#"<th scope="row"><a href="/console/streams/[^"]+">([^<]+)</a>"#, in: streams).count == 5)
            #expect(try await client.get("/console/streams?limit=6").status == .badRequest)
        }
    }

    static func matches(_ pattern: String, in text: String) -> [String] {
        let expression = try! NSRegularExpression(pattern: pattern)
        return expression.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }
}
