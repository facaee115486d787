import Chronicle
public import ChronicleHTTP
import Foundation
import HTTPTypes
public import Hummingbird
import Logging
public import ServiceLifecycle

/// Chronicle's web console: the overview (head, events per second, streams, categories, every
/// projection's health, live), the streams and their events, an event's causation chain, the
/// log with filters and a live tail, and the projections with their parked events and the
/// retry and drop actions. Server-rendered HTML, a small script for the live parts, no build
/// step.
///
/// Mount it on the app's router **before** the read API's middleware, so the console answers
/// its own sign-in (a browser cannot send a bearer header) while every other route keeps the
/// read API's:
///
/// ```swift
/// let api = try ReadAPI(reader: store, projections: catalog, configuration: configuration)
/// let console = try ChronicleConsole(api: api)
/// let router = Router(options: .autoGenerateHeadEndpoints)
/// console.addRoutes(to: router)          // /console…
/// api.addMiddleware(to: router)          // then the read API's middleware and routes
/// api.addRoutes(to: router)
/// // run console.sampler in the service group for the charts' history
/// ```
///
/// ## Security
/// - Every stream id, event type, payload, metadata value and error text is escaped; pages carry
///   a `Content-Security-Policy` without inline script or style (`script-src 'self'`).
/// - With bearer tokens configured on the read API, every console page, asset and the live
///   tail need a sign-in: `POST /console/login` with a token sets an `HttpOnly`,
///   `SameSite=Strict` session cookie, or a request sends `Authorization: Bearer`.
/// - Retry and drop are `POST` forms that need an admin sign-in (a token of
///   ``ConsoleConfiguration/adminTokens``, or of the read API's bearer tokens when there are no
///   admin tokens) and the session's CSRF token in the form (a cross-site form cannot read it);
///   a request with `Authorization: Bearer <admin token>` needs none (a cross-site form cannot
///   set that header). A `POST` whose `Origin` is another site is refused.
public struct ChronicleConsole: Sendable {
    /// The read API the console reads through (its reader, projections, limits and tokens).
    public let api: ReadAPI
    /// The console's settings.
    public let configuration: ConsoleConfiguration
    let sessions: ConsoleSessions
    let history: ConsoleHistory
    let counts = ConsoleCounts()
    let assets: [String: (contentType: String, bytes: [UInt8])]

    /// Creates the console over `api`.
    ///
    /// - Throws: ``ConsoleConfiguration/InvalidValue`` for a setting it cannot work with, or
    ///   an error if its bundled assets cannot be read.
    public init(api: ReadAPI, configuration: ConsoleConfiguration = .init()) throws {
        try configuration.validate()
        self.api = api
        self.configuration = configuration
        sessions = ConsoleSessions(lifetime: configuration.sessionLifetime, maximum: configuration.maximumSessions)
        history = ConsoleHistory(interval: configuration.sampleInterval, length: configuration.historyLength)
        var assets: [String: (String, [UInt8])] = [:]
        for (name, type) in [("console.css", "text/css; charset=utf-8"), ("console.js", "text/javascript; charset=utf-8")] {
            guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources")
                ?? Bundle.module.url(forResource: name, withExtension: nil)
            else { throw ConsoleConfiguration.InvalidValue(description: "The console's asset \(name) is missing from its bundle.") }
            assets[name] = (type, Array(try Data(contentsOf: url)))
        }
        self.assets = assets
    }

    /// A service sampling the head and the projections' positions every
    /// ``ConsoleConfiguration/sampleInterval`` (the overview's chart and the lag history); add it
    /// to the service group. Without it, samples are taken only while pages are viewed.
    public var sampler: ConsoleSampler { ConsoleSampler(console: self) }

    var base: String { configuration.path }
    var readTokens: Set<String> { api.configuration.bearerTokens }
    var adminTokens: Set<String> { configuration.adminTokens.isEmpty ? api.configuration.bearerTokens : configuration.adminTokens }
    /// Rows per page: the console's page size within the read API's largest page.
    var pageSize: Int { min(configuration.pageSize, api.configuration.maximumPageSize) }

    // MARK: Routes

    /// Adds the console's routes under ``ConsoleConfiguration/path``. Call it before
    /// `ReadAPI.addMiddleware(to:)`: Hummingbird applies middleware to routes added after it.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        // Forms (sign-in, retry, drop) are small; their bodies get the read API's read deadline.
        let bodyLimit: RequestBodyLimitMiddleware<Context>
        do {
            bodyLimit = try RequestBodyLimitMiddleware(maximumSize: Self.maximumFormSize, readTimeout: api.configuration.bodyReadTimeout)
        } catch {
            preconditionFailure("The read API validated its body-read timeout: \(error)")
        }
        let group = router.group(RouterPath(base)).add(middleware: bodyLimit).add(middleware: PathParameterDecodingMiddleware())
        group.get { request, context in try await self.answer(request, context, page: true) { try await self.overviewPage($1) } }
        group.get("live/overview") { request, context in try await self.answer(request, context) { _, _ in try await self.overviewFragment() } }
        group.get("streams") { request, context in try await self.answer(request, context, page: true) { try await self.streamsPage($0, $1) } }
        group.get("streams/:stream") { request, context in
            let raw = try context.parameters.require("stream")
            return try await self.answer(request, context, page: true) { try await self.streamPage($0, $1, raw: raw) }
        }
        group.get("categories") { request, context in try await self.answer(request, context, page: true) { try await self.categoriesPage($0, $1) } }
        group.get("events/:position") { request, context in
            let raw = try context.parameters.require("position")
            return try await self.answer(request, context, page: true) { try await self.eventPage($0, $1, raw: raw) }
        }
        group.get("log") { request, context in try await self.answer(request, context, page: true) { try await self.logPage($0, $1) } }
        group.get("feed") { request, context in
            try await self.answer(request, context) { request, _ in try await self.api.consoleFeed(request) }
        }
        group.get("projections") { request, context in try await self.answer(request, context, page: true) { try await self.projectionsPage($0, $1) } }
        group.get("live/projections") { request, context in try await self.answer(request, context) { _, _ in try await self.projectionsFragment() } }
        group.get("projections/:name") { request, context in
            let name = try context.parameters.require("name")
            return try await self.answer(request, context, page: true) { try await self.projectionPage($0, $1, name: name) }
        }
        group.get("live/projections/:name") { request, context in
            let name = try context.parameters.require("name")
            return try await self.answer(request, context) { _, _ in try await self.projectionStatusFragment(name: name) }
        }
        group.post("projections/:name/parked/:position/:action") { request, context in
            let name = try context.parameters.require("name")
            let position = try context.parameters.require("position")
            let action = try context.parameters.require("action")
            return try await self.answer(request, context, admin: true) { try await self.parkedAction($0, $1, name: name, rawPosition: position, action: action) }
        }
        group.get("login") { request, context in try await self.answer(request, context, open: true) { try self.loginPage($0, $1, failed: false) } }
        group.post("login") { request, context in try await self.answer(request, context, open: true) { try await self.login($0, $1) } }
        group.post("logout") { request, context in try await self.answer(request, context, open: true) { try await self.logout($0, $1) } }
        group.get("assets/:name") { request, context in
            let name = try context.parameters.require("name")
            return try await self.answer(request, context) { _, _ in
                guard let asset = self.assets[name] else { throw ConsoleError(.notFound, "There is no console asset \(name.debugDescription).") }
                return Response(
                    status: .ok,
                    headers: [.contentType: asset.contentType, .cacheControl: "no-cache"],
                    body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes))
                )
            }
        }
    }

    /// Who is asking: their rights, and their session if signed in.
    struct Access: Sendable {
        var canRead: Bool
        var canAdmin: Bool
        var session: ConsoleSessions.Session?
        /// Admin rights from an `Authorization` header (no CSRF token needed).
        var adminByHeader: Bool
        var signedIn: Bool { session != nil }
    }

    func access(_ request: Request) -> Access {
        let session = sessions.session(request.cookies[Self.cookieName]?.value)
        var bearer: String?
        if let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " {
            bearer = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        let bearerRead = bearer.map { token in readTokens.contains { ConsoleSessions.constantTimeEqual($0, token) } } ?? false
        let bearerAdmin = bearer.map { token in adminTokens.contains { ConsoleSessions.constantTimeEqual($0, token) } } ?? false
        return Access(
            canRead: readTokens.isEmpty || session != nil || bearerRead || bearerAdmin,
            canAdmin: bearerAdmin || session?.admin == true,
            session: session,
            adminByHeader: bearerAdmin
        )
    }

    static let cookieName = "chronicle_console"
    /// The largest form body accepted (8 KiB).
    static let maximumFormSize = 8 * 1024

    /// The headers of every console answer: no inline script or style, no framing, no sniffing.
    static let securityHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

    /// Runs a handler with the console's authentication, error pages and security headers.
    ///
    /// - Parameters:
    ///   - page: a page a browser navigates to: without a sign-in it redirects to the sign-in page.
    ///   - open: needs no sign-in (the sign-in page itself).
    ///   - admin: needs the admin right (and, for a session, its CSRF token: checked by the handler).
    func answer<Context: RequestContext>(
        _ request: Request, _ context: Context, page: Bool = false, open: Bool = false, admin: Bool = false,
        _ handler: (Request, Access) async throws -> Response
    ) async throws -> Response {
        var response: Response
        let access = access(request)
        do {
            if !open && !access.canRead {
                if page && request.method == .get {
                    let next = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
                    response = Response(status: .seeOther, headers: [.location: URLText.query(base + "/login", [("next", next)])])
                } else {
                    throw ConsoleError(.unauthorized, "Sign in to the console first (or send an 'Authorization: Bearer <token>' header).")
                }
            } else if admin && !access.canAdmin {
                throw ConsoleError(
                    .forbidden,
                    adminTokens.isEmpty
                        ? "This console is read-only: no admin token is configured."
                        : "Retrying and dropping parked events need a sign-in with an admin token."
                )
            } else {
                if request.method == .post, let origin = request.headers[HTTPField.Name("Origin")!], !Self.sameOrigin(origin, request) {
                    throw ConsoleError(.forbidden, "Cross-site requests are refused (Origin \(origin)).")
                }
                response = try await handler(request, access)
            }
        } catch {
            response = errorPage(error, request: request, access: access, logger: context.logger)
        }
        for field in Self.securityHeaders where response.headers[field.name] == nil { response.headers.append(field) }
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    /// Whether an `Origin` names the host the request was sent to.
    static func sameOrigin(_ origin: String, _ request: Request) -> Bool {
        guard let host = request.head.authority else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }
}

/// Samples the head and the projections' positions for the console's charts (see
/// ``ChronicleConsole/sampler``); stops at graceful shutdown.
public struct ConsoleSampler: Service {
    let console: ChronicleConsole

    /// Samples every ``ConsoleConfiguration/sampleInterval`` until shutdown or cancellation.
    public func run() async throws {
        let interval = console.configuration.sampleInterval
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await console.history.sampleIfDue(reader: console.api.reader, catalog: console.api.projections)
                try? await Task.sleep(for: interval)
            }
        }
    }
}

/// An error a console page answers with: a status and a message, shown as an HTML page.
struct ConsoleError: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    static func badParameter(_ name: String, _ value: String, expected: String) -> ConsoleError {
        ConsoleError(.badRequest, "Parameter '\(name)' is \(value.debugDescription); expected \(expected).")
    }
}
