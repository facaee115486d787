import Chronicle
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Chronicle's read API over HTTP: browse streams, `$all` and categories, see projection status,
/// follow a live feed of new events (server-sent events), and mount the app's own query routes
/// with read-your-writes.
///
/// It reads through any ``EventReader`` and never writes: commands are the app's own routes,
/// mounted on the same router.
///
/// ```swift
/// let store = try SQLiteEventStore(path: "shop.sqlite")
/// let api = ReadAPI(reader: store, projections: catalog)
/// let router = api.makeRouter()                        // middleware + built-in routes
/// api.queries("/orders", reading: ["order-summary"], on: router)
///     .get(":id") { request, context in try await summaries.find(context.parameters.require("id")) }
/// router.post("/orders") { request, context in … }     // the app's command route
/// let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 8080)))
/// try await app.runService()                            // a ServiceLifecycle Service
/// ```
///
/// ## Routes
/// | route | answers |
/// | --- | --- |
/// | `GET /head` | `{"head": P}` the store's last position |
/// | `GET /streams?category=&after=&limit=` | streams by id, paged with `next` |
/// | `GET /streams/{id}?from=&direction=&limit=` | a stream's events |
/// | `GET /all?after=&limit=&type=` (also `/streams/$all`) | the global log after a position; `type=A,B` keeps those event types |
/// | `GET /categories/{category}/events?after=&limit=` | a category's events |
/// | `GET /projections`, `GET /projections/{name}` | lag, state, parked events |
/// | `GET /feed?after=&category=&type=` | server-sent events; resumes from `Last-Event-ID` |
///
/// Malformed parameters answer 400 with `{"error": {"code": …, "message": …}}`.
public struct ReadAPI: Sendable {
    /// Where events are read.
    public let reader: any EventReader
    /// Announces new commits; wakes the live feed and read-your-writes waits. Without one, the
    /// feed serves what is stored and then only heartbeats.
    public let notifier: AppendNotifier?
    /// The app's projections, for status and read-your-writes.
    public let projections: (any ProjectionCatalog)?
    /// Limits, authentication and timing.
    public let configuration: ReadAPIConfiguration
    let logger: Logger

    /// Creates the API over a store whose in-process appends are observable (all of Chronicle's).
    public init(
        reader: some EventReader & AppendObservable, projections: (any ProjectionCatalog)? = nil,
        configuration: ReadAPIConfiguration = .init(), logger: Logger = Logger(label: "chronicle.http")
    ) {
        self.init(reader: reader, notifier: reader.appendNotifier, projections: projections, configuration: configuration, logger: logger)
    }

    /// Creates the API over any reader, woken by `notifier` (or never, if `nil`).
    public init(
        reader: some EventReader, notifier: AppendNotifier?, projections: (any ProjectionCatalog)? = nil,
        configuration: ReadAPIConfiguration = .init(), logger: Logger = Logger(label: "chronicle.http")
    ) {
        precondition(configuration.maximumPageSize >= 1, "maximumPageSize must be at least 1")
        precondition(configuration.defaultPageSize >= 1, "defaultPageSize must be at least 1")
        precondition(configuration.feedPageSize >= 1, "feedPageSize must be at least 1")
        self.reader = reader
        self.notifier = notifier
        self.projections = projections
        self.configuration = configuration
        self.logger = logger
    }

    var positions: PositionWaiter { PositionWaiter(reader: reader, notifier: notifier, catalog: projections) }

    // MARK: Mounting

    /// A router with the API's middleware and built-in routes; add the app's routes to it.
    public func makeRouter<Context: RequestContext>(context: Context.Type = BasicRequestContext.self) -> Router<Context> {
        let router = Router(context: context)
        addMiddleware(to: router)
        addRoutes(to: router)
        return router
    }

    /// Adds JSON errors, bearer authentication (if configured) and the body-size limit.
    ///
    /// Hummingbird applies a router's middleware to the routes added after it: call this before
    /// adding any route.
    public func addMiddleware<Context: RequestContext>(to router: Router<Context>) {
        router.add(middleware: JSONErrorMiddleware())
        if !configuration.bearerTokens.isEmpty {
            router.add(middleware: BearerTokenMiddleware(tokens: configuration.bearerTokens))
        }
        router.add(middleware: RequestBodyLimitMiddleware(maximumSize: configuration.maximumBodySize))
    }

    /// Adds the built-in read-only routes under ``ReadAPIConfiguration/pathPrefix``.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        let group = router.group(RouterPath(configuration.pathPrefix))
            .add(middleware: ReadYourWritesMiddleware(projections: [], positions: positions, timeout: configuration.readYourWritesTimeout))
        group.get("head") { request, _ in
            _ = try RequestParameters(request, accepting: [])
            return try await self.head()
        }
        group.get("streams") { request, _ in try await self.listStreams(request) }
        group.get("streams/:stream") { request, context in
            let raw = try Self.pathParameter("stream", context)
            if raw == "$all" { return try await self.readAll(request) }
            return try await self.readStream(request, raw: raw)
        }
        group.get("all") { request, _ in try await self.readAll(request) }
        group.get("categories/:category/events") { request, context in
            try await self.readCategory(request, raw: try Self.pathParameter("category", context))
        }
        group.get("projections") { request, _ in
            _ = try RequestParameters(request, accepting: [])
            return try await self.listProjections()
        }
        group.get("projections/:name") { request, context in
            try await self.projection(request, name: try Self.pathParameter("name", context))
        }
        group.get("feed") { request, _ in try await self.feed(request) }
    }

    /// Middleware giving a route read-your-writes over the projections it reads (see
    /// ``ReadYourWritesMiddleware``).
    public func readYourWrites<Context: RequestContext>(reading projections: [String]) -> ReadYourWritesMiddleware<Context> {
        precondition(projections.isEmpty || self.projections != nil, "Routes reading projections need a ReadAPI created with a ProjectionCatalog")
        return ReadYourWritesMiddleware(projections: projections, positions: positions, timeout: configuration.readYourWritesTimeout)
    }

    /// A route group for the app's queries over read models: requests with
    /// `Chronicle-Min-Position` wait until the named projections have caught up.
    ///
    /// ```swift
    /// api.queries("/orders", reading: ["order-summary"], on: router)
    ///     .get(":id") { request, context in … }
    /// ```
    @discardableResult
    public func queries<Context: RequestContext>(_ path: RouterPath, reading projections: [String], on router: Router<Context>) -> RouterGroup<Context> {
        router.group(path).add(middleware: readYourWrites(reading: projections))
    }

    // MARK: Handlers

    static func pathParameter<Context: RequestContext>(_ name: String, _ context: Context) throws -> String {
        let raw = try context.parameters.require(name)
        guard let decoded = raw.removingPercentEncoding else {
            throw ReadAPIError.invalidParameter(name, raw, expected: "valid percent-encoding")
        }
        return decoded
    }

    func head() async throws -> Response {
        var json = JSONOutput()
        json.raw("{"); json.key("head"); json.integer(try await reader.headPosition().value); json.raw("}")
        return .json(json)
    }

    func listStreams(_ request: Request) async throws -> Response {
        let parameters = try RequestParameters(request, accepting: ["category", "after", "limit"])
        let category = try parameters.category("category")
        let after = try parameters.streamID("after")
        let limit = try parameters.limit(configuration)
        let streams = try await reader.streams(category: category, after: after, limit: limit)
        var json = JSONOutput(capacity: 64 * streams.count + 64)
        json.raw("{"); json.key("streams"); json.raw("[")
        for (index, stream) in streams.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("{"); json.key("id"); json.string(stream.id.rawValue)
            json.raw(","); json.key("category"); json.string(stream.id.category)
            json.raw(","); json.key("version"); json.integer(stream.version.value)
            json.raw(","); json.key("lastPosition"); json.integer(stream.lastPosition.value)
            json.raw("}")
        }
        json.raw("],"); json.key("limit"); json.integer(Int64(limit))
        json.raw(","); json.key("next")
        if streams.count == limit, let last = streams.last { json.string(last.id.rawValue) } else { json.raw("null") }
        json.raw("}")
        return .json(json)
    }

    func readStream(_ request: Request, raw: String) async throws -> Response {
        let stream = try RequestParameters.streamID(raw, name: "stream")
        let parameters = try RequestParameters(request, accepting: ["direction", "limit", "from"])
        let direction = try parameters.direction()
        let limit = try parameters.limit(configuration)
        let from = try parameters.nonNegative("from").map { StreamVersion($0) } ?? (direction == .forwards ? .first : .max)
        let version = try await reader.streamVersion(of: stream)
        guard version > .initial else {
            throw ReadAPIError(.notFound, "Stream \(stream) has no events.", details: ["stream": .string(stream.rawValue)])
        }
        let events = try await reader.readStream(stream, from: from, direction: direction, limit: limit)
        var json = JSONOutput(capacity: 512 * events.count + 128)
        json.raw("{"); json.key("stream"); json.string(stream.rawValue)
        json.raw(","); json.key("version"); json.integer(max(version, events.map(\.streamVersion).max() ?? version).value)
        json.raw(","); json.key("direction"); json.string(direction.rawValue)
        json.raw(","); json.key("limit"); json.integer(Int64(limit))
        json.raw(","); json.key("events"); json.events(events)
        json.raw(","); json.key("next")
        switch (direction, events.last) {
        case (.forwards, let last?) where events.count == limit:
            json.integer(last.streamVersion.next.value)
        case (.backwards, let last?) where events.count == limit && last.streamVersion > .first:
            json.integer(last.streamVersion.value - 1)
        default:
            json.raw("null")
        }
        json.raw("}")
        return .json(json)
    }

    func readAll(_ request: Request) async throws -> Response {
        let parameters = try RequestParameters(request, accepting: ["after", "limit", "type"])
        let after = try parameters.position("after") ?? .start
        let limit = try parameters.limit(configuration)
        if let types = try parameters.eventTypes("type") {
            return try await readAll(after: after, limit: limit, types: types)
        }
        let events = try await reader.readAll(after: after, limit: limit)
        let head = try await reader.headPosition()
        return .json(eventPage(header: { json in
            json.key("after"); json.integer(after.value)
            json.raw(","); json.key("head"); json.integer(max(head, events.last?.position ?? head).value)
        }, events: events, limit: limit))
    }

    func readCategory(_ request: Request, raw: String) async throws -> Response {
        let category = try RequestParameters.category(raw, name: "category")
        let parameters = try RequestParameters(request, accepting: ["after", "limit"])
        let after = try parameters.position("after") ?? .start
        let limit = try parameters.limit(configuration)
        let events = try await reader.readCategory(category, after: after, limit: limit)
        return .json(eventPage(header: { json in
            json.key("category"); json.string(category)
            json.raw(","); json.key("after"); json.integer(after.value)
        }, events: events, limit: limit))
    }

    func eventPage(header: (inout JSONOutput) -> Void, events: [RecordedEvent], limit: Int) -> JSONOutput {
        var json = JSONOutput(capacity: 512 * events.count + 128)
        json.raw("{")
        header(&json)
        json.raw(","); json.key("limit"); json.integer(Int64(limit))
        json.raw(","); json.key("events"); json.events(events)
        json.raw(","); json.key("next")
        if events.count == limit, let last = events.last { json.integer(last.position.value) } else { json.raw("null") }
        json.raw("}")
        return json
    }

    func listProjections() async throws -> Response {
        let head = try await reader.headPosition()
        let reports = try await projections?.projectionStatuses() ?? []
        var json = JSONOutput()
        json.raw("{"); json.key("head"); json.integer(head.value)
        json.raw(","); json.key("projections"); json.raw("[")
        for (index, report) in reports.enumerated() {
            if index > 0 { json.raw(",") }
            json.projection(report, head: head)
        }
        json.raw("]}")
        return .json(json)
    }

    func projection(_ request: Request, name: String) async throws -> Response {
        let limit = try RequestParameters(request, accepting: ["limit"]).limit(configuration)
        let head = try await reader.headPosition()
        guard let catalog = projections,
              let report = try await catalog.projectionStatuses().first(where: { $0.name == name }),
              let parked = try await catalog.parkedEvents(ofProjection: name, limit: limit)
        else {
            throw ReadAPIError(.notFound, "There is no projection named \(name.debugDescription).", details: ["projection": .string(name)])
        }
        var json = JSONOutput()
        json.raw("{"); json.key("head"); json.integer(head.value)
        json.raw(","); json.key("projection"); json.projection(report, head: head)
        json.raw(","); json.key("parked"); json.raw("[")
        for (index, event) in parked.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("{"); json.key("position"); json.integer(event.position.value)
            json.raw(","); json.key("eventId"); json.string(event.eventID.uuidString.lowercased())
            json.raw(","); json.key("stream"); json.string(event.streamID.rawValue)
            json.raw(","); json.key("type"); json.string(event.eventType)
            json.raw(","); json.key("partition"); json.integer(Int64(event.partition))
            json.raw(","); json.key("error"); json.string(event.error)
            json.raw(","); json.key("attempts"); json.integer(Int64(event.attempts))
            json.raw(","); json.key("parkedAt"); json.string(event.parkedAt.formatted(JSONOutput.timestampStyle))
            json.raw("}")
        }
        json.raw("]}")
        return .json(json)
    }
}

extension JSONOutput {
    mutating func projection(_ report: ProjectionStatus, head: GlobalPosition) {
        // The store's head now, or the runner's if it saw a later one.
        let head = max(head, report.head)
        raw("{"); key("name"); string(report.name)
        raw(","); key("position"); integer(report.position.value)
        raw(","); key("head"); integer(head.value)
        raw(","); key("lag"); integer(max(0, head.value - report.position.value))
        raw(","); key("state"); string(report.state.rawValue)
        raw(","); key("partitions"); integer(Int64(report.partitionCount))
        raw(","); key("parkedCount"); integer(Int64(report.parkedCount))
        raw(","); key("lastError")
        if let error = report.lastError { string(error) } else { raw("null") }
        if let rebuild = report.rebuild {
            raw(","); key("rebuild"); raw("{"); key("eventsDone"); integer(rebuild.eventsDone)
            raw(","); key("eventsTotal"); integer(rebuild.eventsTotal); raw("}")
        }
        raw("}")
    }
}

extension Response {
    /// A 200 answer with a JSON body.
    static func json(_ json: JSONOutput, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: json.bytes))
        )
    }
}
