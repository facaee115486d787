import Chronicle
import Foundation
import HTTPTypes
public import Hummingbird
public import Logging

/// Chronicle's read API over HTTP: browse streams, `$all` and categories, see projection status,
/// follow a live feed of new events (server-sent events), and mount the app's own query routes
/// with read-your-writes.
///
/// It reads through any ``EventReader`` and never writes: commands are the app's own routes,
/// mounted on the same router.
///
/// ```swift
/// let store = try SQLiteEventStore(path: "shop.sqlite")
/// let api = try ReadAPI(reader: store, projections: catalog)
/// let router = api.makeRouter()                        // middleware + built-in routes
/// api.queries("/orders", reading: [orderSummary], on: router)
///     .get(":id") { request, context in try await summaries.find(context.parameters.require("id")) }
/// router.post("/orders") { request, context in … }     // the app's command route
/// let app = Application(router: router, server: api.httpServer,   // idle and header-read timeouts
///                       configuration: .init(address: .hostname("127.0.0.1", port: 8080)))
/// let group = ServiceGroup(configuration: api.serviceGroupConfiguration(services: [app], logger: logger))
/// try await group.run()                                 // SIGTERM: graceful, then bounded
/// ```
///
/// ## Routes
/// | route | answers |
/// | --- | --- |
/// | `GET /head` | `{"head": P}` the store's last position |
/// | `GET /streams?category=&after=&limit=` | streams by id, paged with `next` |
/// | `GET /streams/{id}?from=&direction=&limit=` | a stream's events |
/// | `GET /all?after=&limit=&type=` (also `/streams/$all`) | the global log after a position; `type=A,B` keeps those event types |
/// | `GET /events?tag=&type=&after=&limit=` | the events carrying all of the tags (`tag=course:c1,student:s1`) and of any of the types, through the tag index |
/// | `GET /categories/{category}/events?after=&limit=` | a category's events |
/// | `GET /projections`, `GET /projections/{name}` | lag, state, parked events |
/// | `GET /feed?after=&category=&type=` | server-sent events; resumes from `Last-Event-ID` |
///
/// Malformed parameters answer 400 with `{"error": {"code": …, "message": …}}`. Every resource a
/// client can hold is bounded by ``ReadAPIConfiguration`` (timeouts, bytes per page, open feeds);
/// ``statistics`` counts what the bounds did.
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
    let monitor = ReadAPIMonitor()

    /// Open feeds, refused feeds, dropped slow clients, bytes written: what the limits did so far.
    public var statistics: ReadAPIStatistics { monitor.statistics }

    /// Creates the API over a store whose in-process appends are observable (all of Chronicle's).
    ///
    /// Throws ``ReadAPIConfiguration/InvalidValue`` when a setting makes no sense.
    public init(
        reader: some EventReader & AppendObservable, projections: (any ProjectionCatalog)? = nil,
        configuration: ReadAPIConfiguration = .init(), logger: Logger = Logger(label: "chronicle.http")
    ) throws(ReadAPIConfiguration.InvalidValue) {
        try self.init(reader: reader, notifier: reader.appendNotifier, projections: projections, configuration: configuration, logger: logger)
    }

    /// Creates the API over any reader, woken by `notifier` (or never, if `nil`).
    ///
    /// Throws ``ReadAPIConfiguration/InvalidValue`` when a setting makes no sense.
    public init(
        reader: some EventReader, notifier: AppendNotifier?, projections: (any ProjectionCatalog)? = nil,
        configuration: ReadAPIConfiguration = .init(), logger: Logger = Logger(label: "chronicle.http")
    ) throws(ReadAPIConfiguration.InvalidValue) {
        try configuration.validate()
        self.reader = reader
        self.notifier = notifier
        self.projections = projections
        self.configuration = configuration
        self.logger = logger
    }

    var positions: PositionWaiter { PositionWaiter(reader: reader, notifier: notifier, catalog: projections) }

    // MARK: Mounting

    /// A router with the API's middleware and built-in routes; add the app's routes to it.
    ///
    /// By default the router answers `HEAD` wherever it answers `GET` (the same status and
    /// headers, no body), for the built-in routes and the app's alike.
    public func makeRouter<Context: RequestContext>(
        context: Context.Type = BasicRequestContext.self, options: RouterOptions = .autoGenerateHeadEndpoints
    ) -> Router<Context> {
        let router = Router(context: context, options: options)
        addMiddleware(to: router)
        addRoutes(to: router)
        return router
    }

    /// Adds JSON errors, bearer authentication (if configured), the body limits (size and read
    /// deadline) and the percent-decoding of path parameters (``PathParameterDecodingMiddleware``).
    ///
    /// Hummingbird applies a router's middleware to the routes added after it: call this before
    /// adding any route.
    public func addMiddleware<Context: RequestContext>(to router: Router<Context>) {
        router.add(middleware: JSONErrorMiddleware())
        if !configuration.bearerTokens.isEmpty {
            router.add(middleware: BearerTokenMiddleware(tokens: configuration.bearerTokens))
        }
        router.add(
            middleware: RequestBodyLimitMiddleware(validatedMaximumSize: configuration.maximumBodySize, readTimeout: configuration.bodyReadTimeout)
        )
        router.add(middleware: PathParameterDecodingMiddleware())
    }

    /// Adds the built-in read-only routes under ``ReadAPIConfiguration/pathPrefix``. Their path
    /// parameters are decoded by ``PathParameterDecodingMiddleware``: call
    /// ``addMiddleware(to:)`` first.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        let group = router.group(RouterPath(configuration.pathPrefix))
            .add(middleware: ReadYourWritesMiddleware(projections: .store, positions: positions, timeout: configuration.readYourWritesTimeout))
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
        group.get("events") { request, _ in try await self.readTagged(request) }
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
    /// ``ReadYourWritesMiddleware``). The runners are asked directly, and only they: no catalog
    /// is needed.
    public func readYourWrites<Context: RequestContext>(reading projections: [any ProjectionRunner]) -> ReadYourWritesMiddleware<Context> {
        ReadYourWritesMiddleware(projections: WatchedProjections(projections), positions: positions, timeout: configuration.readYourWritesTimeout)
    }

    /// A route group for the app's queries over read models: requests with
    /// `Chronicle-Min-Position` wait until the projections the routes read have caught up, and
    /// every answer says the position it reflects (`Chronicle-Position`).
    ///
    /// ```swift
    /// api.queries("/orders", reading: [orderSummary], on: router)
    ///     .get(":id") { request, context in … }
    /// ```
    ///
    /// - Parameters:
    ///   - path: the group's path.
    ///   - projections: the runners (`SQLiteReadModel`, `PostgresReadModel`, process managers)
    ///     whose read models the routes read.
    ///   - router: the router to add the group to.
    @discardableResult
    public func queries<Context: RequestContext>(_ path: RouterPath, reading projections: [any ProjectionRunner], on router: Router<Context>) -> RouterGroup<Context> {
        router.group(path).add(middleware: readYourWrites(reading: projections))
    }

    /// ``readYourWrites(reading:)-([ProjectionRunner])`` for projections known only by name,
    /// looked up in ``projections`` at every request.
    @available(*, deprecated, message: "Pass the runners themselves (reading: [orderSummary]): they are asked directly, and only they.")
    public func readYourWrites<Context: RequestContext>(reading projections: [String]) -> ReadYourWritesMiddleware<Context> {
        ReadYourWritesMiddleware(projections: WatchedProjections(names: projections), positions: positions, timeout: configuration.readYourWritesTimeout)
    }

    /// ``queries(_:reading:on:)-(_,[ProjectionRunner],_)`` for projections known only by
    /// name, looked up in ``projections`` at every request.
    @available(*, deprecated, message: "Pass the runners themselves (reading: [orderSummary]): they are asked directly, and only they.")
    @discardableResult
    public func queries<Context: RequestContext>(_ path: RouterPath, reading projections: [String], on router: Router<Context>) -> RouterGroup<Context> {
        router.group(path).add(middleware: readYourWrites(reading: projections) as ReadYourWritesMiddleware<Context>)
    }

    // MARK: Handlers

    /// A path parameter, already percent-decoded by ``PathParameterDecodingMiddleware`` (the one
    /// decoding rule of built-in and app routes).
    static func pathParameter<Context: RequestContext>(_ name: String, _ context: Context) throws -> String {
        try context.parameters.require(name)
    }

    func head() async throws -> Response {
        var json = JSONOutput()
        let head = try await reader.headPosition()
        json.raw("{"); json.key("head"); json.integer(head.value); json.raw("}")
        return Response.stamped(.json(json), head)
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
        let page = try await readPage(limit: limit) { last, count in
            switch (direction, last) {
            case (_, nil):
                return try await self.reader.readStream(stream, from: from, direction: direction, limit: count)
            case (.forwards, let last?):
                return try await self.reader.readStream(stream, from: last.streamVersion.next, direction: .forwards, limit: count)
            case (.backwards, let last?):
                guard last.streamVersion > .first else { return [] }
                return try await self.reader.readStream(stream, from: StreamVersion(last.streamVersion.value - 1), direction: .backwards, limit: count)
            }
        }
        var json = JSONOutput(capacity: page.events.bytes.count + 256)
        json.raw("{"); json.key("stream"); json.string(stream.rawValue)
        json.raw(","); json.key("version"); json.integer(max(version, page.highestVersion ?? version).value)
        json.raw(","); json.key("direction"); json.string(direction.rawValue)
        json.raw(","); json.key("limit"); json.integer(Int64(limit))
        json.raw(","); json.key("events"); json.raw(bytes: page.events.bytes)
        json.raw(","); json.key("next")
        switch (direction, page.last) {
        case (.forwards, let last?) where page.hasMore:
            json.integer(last.streamVersion.next.value)
        case (.backwards, let last?) where page.hasMore && last.streamVersion > .first:
            json.integer(last.streamVersion.value - 1)
        default:
            json.raw("null")
        }
        json.raw("}")
        return streamed(json)
    }

    func readAll(_ request: Request) async throws -> Response {
        let parameters = try RequestParameters(request, accepting: ["after", "limit", "type"])
        let after = try parameters.position("after") ?? .start
        let limit = try parameters.limit(configuration)
        if let types = try parameters.eventTypes("type") {
            return try await readAll(after: after, limit: limit, types: types)
        }
        let page = try await readPage(limit: limit) { last, count in
            try await self.reader.readAll(after: last?.position ?? after, limit: count)
        }
        let head = max(try await reader.headPosition(), page.last?.position ?? .start)
        return Response.stamped(streamed(eventPage(header: { json in
            json.key("after"); json.integer(after.value)
            json.raw(","); json.key("head"); json.integer(head.value)
        }, page: page, limit: limit)), head)
    }

    func readCategory(_ request: Request, raw: String) async throws -> Response {
        let category = try RequestParameters.category(raw, name: "category")
        let parameters = try RequestParameters(request, accepting: ["after", "limit"])
        let after = try parameters.position("after") ?? .start
        let limit = try parameters.limit(configuration)
        let page = try await readPage(limit: limit) { last, count in
            try await self.reader.readCategory(category, after: last?.position ?? after, limit: count)
        }
        return streamed(eventPage(header: { json in
            json.key("category"); json.string(category)
            json.raw(","); json.key("after"); json.integer(after.value)
        }, page: page, limit: limit))
    }

    func eventPage(header: (inout JSONOutput) -> Void, page: EventPage, limit: Int) -> JSONOutput {
        var json = JSONOutput(capacity: page.events.bytes.count + 256)
        json.raw("{")
        header(&json)
        json.raw(","); json.key("limit"); json.integer(Int64(limit))
        json.raw(","); json.key("events"); json.raw(bytes: page.events.bytes)
        json.raw(","); json.key("next")
        if page.hasMore, let last = page.last { json.integer(last.position.value) } else { json.raw("null") }
        json.raw("}")
        return json
    }

    /// Events of one answer, as a JSON array, bounded by ``ReadAPIConfiguration/maximumResponseBytes``.
    struct EventPage {
        var events = JSONOutput()
        var count = 0
        var last: RecordedEvent?
        var highestVersion: StreamVersion?
        /// The page is full (by count or by bytes): there may be more after `last`.
        var hasMore = false
    }

    /// How many events a page reads from the store at a time: the events in memory at once.
    static let readStep = 100

    /// Reads up to `limit` events, `readStep` at a time (`read` gets the last event read so far
    /// and how many to read), stopping before the event that would take the page past
    /// ``ReadAPIConfiguration/maximumResponseBytes`` (a page holds at least one event).
    func readPage(limit: Int, _ read: (_ last: RecordedEvent?, _ count: Int) async throws -> [RecordedEvent]) async throws -> EventPage {
        var page = EventPage()
        page.events.raw("[")
        reading: while page.count < limit {
            let wanted = min(Self.readStep, limit - page.count)
            let events = try await read(page.last, wanted)
            for event in events {
                var encoded = JSONOutput()
                encoded.event(event)
                if page.count > 0, page.events.bytes.count + 1 + encoded.bytes.count + 1 > configuration.maximumResponseBytes {
                    page.hasMore = true
                    break reading
                }
                if page.count > 0 { page.events.raw(",") }
                page.events.raw(bytes: encoded.bytes)
                page.count += 1
                page.last = event
                page.highestVersion = max(page.highestVersion ?? event.streamVersion, event.streamVersion)
            }
            if events.count < wanted { break }
        }
        if page.count == limit { page.hasMore = true }
        page.events.raw("]")
        return page
    }

    /// A 200 JSON answer written in pieces of ``ReadAPIConfiguration/writeChunkSize``, dropping a
    /// client that does not read for ``ReadAPIConfiguration/writeTimeout``. An answer of one
    /// piece is written at once (Hummingbird's single write), and its connection falls under the
    /// idle timeout as soon as it is handed over.
    func streamed(_ json: JSONOutput) -> Response {
        let bytes = json.bytes
        if bytes.count <= configuration.writeChunkSize { return .json(json) }
        let (monitor, timeout, chunkSize, logger) = (self.monitor, configuration.writeTimeout, configuration.writeChunkSize, self.logger)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(contentLength: bytes.count) { writer in
                try await withWriteTimeout(timeout, monitor: monitor, logger: logger, writer: &writer) { timed in
                    var offset = 0
                    while offset < bytes.count {
                        let end = min(offset + chunkSize, bytes.count)
                        try await timed.write(ByteBuffer(bytes: bytes[offset..<end]))
                        offset = end
                    }
                }
                try await writer.finish(nil)
            }
        )
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
        return Response.stamped(.json(json), head)
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
        return Response.stamped(.json(json), head)
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
        if let circuit = report.circuit {
            raw(","); key("circuit"); raw("{"); key("endpoint"); string(circuit.endpoint)
            raw(","); key("state"); string(circuit.state.rawValue)
            raw(","); key("since"); string(circuit.since.formatted(JSONOutput.timestampStyle))
            raw(","); key("consecutiveFailures"); integer(Int64(circuit.consecutiveFailures)); raw("}")
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

    /// The answer with `Chronicle-Position` set to the head the handler read, so
    /// ``ReadYourWritesMiddleware`` does not read it again (one head query per request).
    static func stamped(_ response: Response, _ head: GlobalPosition) -> Response {
        var response = response
        response.headers[.chroniclePosition] = String(head.value)
        return response
    }
}
