import Chronicle
import ChronicleHTTP
import Foundation
import HTTPTypes
import Hummingbird
import Logging

extension ChronicleConsole {
    enum Section: String { case overview, streams, categories, log, projections, none }

    static let timeStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    static func time(_ date: Date) -> String { date.formatted(timeStyle) }

    // MARK: Layout

    func layout(_ title: String, _ section: Section, _ access: Access, status: HTTPResponse.Status = .ok, _ body: HTML) -> Response {
        func item(_ path: String, _ label: String, _ itemSection: Section) -> HTML {
            itemSection == section
                ? "<li><a href=\"\(base + path)\" aria-current=\"page\">\(label)</a></li>"
                : "<li><a href=\"\(base + path)\">\(label)</a></li>"
        }
        var account = HTML()
        if let session = access.session {
            account = """
                <form class="inline" method="post" action="\(base)/logout"><input type="hidden" name="csrf" value="\(session.csrf)">\
                <button type="submit">Sign out\(session.admin ? " (admin)" : "")</button></form>
                """
        } else if !adminTokens.isEmpty || !readTokens.isEmpty {
            account = "<a href=\"\(base)/login\">Sign in</a>"
        }
        // The assets obey the read API's auth: a page for someone not signed in (the sign-in page)
        // does without them.
        let assetLinks: HTML = access.canRead
            ? "<link rel=\"stylesheet\" href=\"\(base)/assets/console.css\">\n<script src=\"\(base)/assets/console.js\" defer></script>" : ""
        let page: HTML = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · Chronicle Console</title>
            \(assetLinks)
            </head>
            <body>
            <a class="skip" href="#main">Skip to content</a>
            <header>
            <nav aria-label="Console">
            <a class="brand" href="\(base)">Chronicle Console</a>
            <ul>\(item("", "Overview", .overview))\(item("/streams", "Streams", .streams))\(item("/categories", "Categories", .categories))\
            \(item("/log", "Log", .log))\(item("/projections", "Projections", .projections))</ul>
            <span class="account">\(account)</span>
            </nav>
            </header>
            <main id="main" tabindex="-1">
            \(body)
            </main>
            </body>
            </html>
            """
        return Self.html(page, status: status)
    }

    static func html(_ html: HTML, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: html.description))
        )
    }

    func errorPage(_ error: any Error, request: Request, access: Access, logger: Logger) -> Response {
        let status: HTTPResponse.Status
        let message: String
        switch error {
        case let error as ConsoleError:
            (status, message) = (error.status, error.message)
        case let error as ReadAPIError:
            (status, message) = (error.status, error.message)
        case let error as EventStoreError:
            let mapped = ReadAPIError(error)
            (status, message) = (mapped.status, mapped.message)
        case let error as ProjectionError:
            switch error.code {
            case .parkedEventNotFound: (status, message) = (.notFound, error.message)
            case .applyFailed, .rebuildInProgress: (status, message) = (.conflict, error.message)
            default: (status, message) = (.serviceUnavailable, error.message)
            }
        case let error as HTTPError:
            (status, message) = (error.status, error.body ?? error.status.reasonPhrase)
        default:
            logger.error("Console failed to answer", metadata: ["error": "\(error)", "uri": "\(request.uri)"])
            (status, message) = (.internalServerError, "The console failed to answer; the server log has the details.")
        }
        let signIn: HTML = status == .unauthorized || status == .forbidden ? " <a href=\"\(base)/login\">Sign in</a>." : ""
        var response = layout("\(status.code) \(status.reasonPhrase)", .none, access, status: status, """
            <h1>\(status.code) \(status.reasonPhrase)</h1>
            <p class="error" role="alert">\(message)</p>
            <p><a href="\(base)">Back to the overview</a>.\(signIn)</p>
            """)
        if let error = error as? ReadAPIError, let retry = error.headers[.retryAfter] { response.headers[.retryAfter] = retry }
        return response
    }

    // MARK: Pieces

    func eventLink(_ position: GlobalPosition) -> HTML {
        "<a href=\"\(base)/events/\(position.value)\">\(position.value)</a>"
    }

    func streamLink(_ stream: StreamID) -> HTML {
        "<a href=\"\(base)/streams/\(URLText.encode(stream.rawValue))\">\(stream.rawValue)</a>"
    }

    func eventTable(_ events: [RecordedEvent], caption: String, id: String? = nil) -> HTML {
        let rows = events.map { event -> HTML in
            """
            <tr><td class="num">\(eventLink(event.position))</td><td><time>\(Self.time(event.recordedAt))</time></td>\
            <td>\(streamLink(event.streamID))</td><td class="num">\(event.streamVersion.value)</td><td>\(event.type)</td></tr>
            """
        }
        let body: HTML = id.map { "<tbody id=\"\($0)\">" } ?? "<tbody>"
        return """
            <div class="scroll"><table>
            <caption>\(caption)</caption>
            <thead><tr><th scope="col">Position</th><th scope="col">Recorded</th><th scope="col">Stream</th><th scope="col">Version</th><th scope="col">Type</th></tr></thead>
            \(body)\(HTML.join(rows, separator: "\n"))</tbody>
            </table></div>
            """
    }

    /// A bar chart as inline SVG (attributes only: no inline style, which the CSP forbids).
    static func chart(_ values: [(label: String, value: Double)], title: String, unit: String, slots: Int) -> HTML {
        guard !values.isEmpty else {
            return "<p class=\"muted\">\(title): collecting samples (the chart fills in as the console runs).</p>"
        }
        let width = 600.0, height = 120.0
        let top = max(values.map(\.value).max() ?? 0, 1)
        // One slot per sample the history keeps, newest on the right: the time axis stays put.
        let slots = max(slots, values.count)
        let barWidth = width / Double(slots)
        var bars = HTML()
        for (index, value) in values.enumerated() {
            let barHeight = max(value.value > 0 ? 1 : 0, (value.value / top) * (height - 4))
            let x = Double(slots - values.count + index) * barWidth
            bars += """
                <rect x="\(String(format: "%.1f", x))" y="\(String(format: "%.1f", height - barHeight))" width="\(String(format: "%.1f", max(1, barWidth - 1)))" height="\(String(format: "%.1f", barHeight))"><title>\(value.label): \(String(format: "%.1f", value.value)) \(unit)</title></rect>
                """
        }
        let latest = values.last!.value
        return """
            <figure class="chart">
            <svg viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label="\(title): latest \(String(format: "%.1f", latest)) \(unit), peak \(String(format: "%.1f", top)) \(unit)">\(bars)</svg>
            <figcaption>\(title): latest <strong>\(String(format: "%.1f", latest))</strong> \(unit), peak \(String(format: "%.1f", top)) over the last \(values.count) samples.</figcaption>
            </figure>
            """
    }

    func projectionTable(_ statuses: [ProjectionStatus], head: GlobalPosition) -> HTML {
        guard !statuses.isEmpty else { return "<p class=\"muted\">No projections are registered with the read API.</p>" }
        let rows = statuses.map { status -> HTML in
            let lag = max(0, max(head, status.head).value - status.position.value)
            let stateClass = status.state == .running ? "ok" : (status.state.rawValue == "failed" || status.state.rawValue == "stopped" ? "bad" : "warn")
            let parkedClass = status.parkedCount > 0 ? "bad" : "ok"
            return """
                <tr><th scope="row"><a href="\(base)/projections/\(URLText.encode(status.name))">\(status.name)</a></th>\
                <td><span class="state \(stateClass)">\(status.state.rawValue)</span></td>\
                <td class="num">\(status.position.value)</td><td class="num">\(lag)</td>\
                <td class="num"><span class="\(parkedClass)">\(status.parkedCount)</span></td>\
                <td class="error-text">\(status.lastError ?? "")</td></tr>
                """
        }
        return """
            <div class="scroll"><table class="projections">
            <caption>Projections and process managers</caption>
            <thead><tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Position</th><th scope="col">Lag</th><th scope="col">Parked</th><th scope="col">Last error</th></tr></thead>
            <tbody>\(HTML.join(rows, separator: "\n"))</tbody>
            </table></div>
            """
    }

    // MARK: Overview

    func overviewPage(_ access: Access) async throws -> Response {
        let fragment = try await overviewFragment(html: true)
        return layout("Overview", .overview, access, """
            <h1>Overview</h1>
            <div id="overview" data-live="\(base)/live/overview">\(fragment)</div>
            """)
    }

    func overviewFragment() async throws -> Response {
        Self.html(try await overviewFragment(html: true))
    }

    func overviewFragment(html: Bool) async throws -> HTML {
        let reader = api.reader
        try await history.sampleIfDue(reader: reader, catalog: api.projections)
        let head = try await reader.headPosition()
        let counts = try await counts.counts(reader: reader)
        let statuses = try await api.projections?.projectionStatuses() ?? []
        let latest = try await reader.readAll(after: GlobalPosition(max(0, head.value - 10)), limit: 10).reversed()
        let rates = history.rates().map { (label: Self.time($0.time), value: $0.perSecond) }
        let streams: HTML = "\(counts.streams)\(counts.streamsCapped ? "+" : "")"
        let categories: HTML = "\(counts.categories)\(counts.categoriesCapped ? "+" : "")"
        let parked = statuses.reduce(0) { $0 + $1.parkedCount }
        let behind = statuses.filter { max(head, $0.head).value > $0.position.value }.count
        return """
            <dl class="cards">
            <div><dt>Head position</dt><dd id="head-position">\(head.value)</dd></div>
            <div><dt>Events per second</dt><dd>\(String(format: "%.1f", rates.last?.value ?? 0))</dd></div>
            <div><dt>Streams</dt><dd><a href="\(base)/streams">\(streams)</a></dd></div>
            <div><dt>Categories</dt><dd><a href="\(base)/categories">\(categories)</a></dd></div>
            <div><dt>Projections behind</dt><dd>\(behind) of \(statuses.count)</dd></div>
            <div><dt>Parked events</dt><dd class="\(parked > 0 ? "bad" : "ok")">\(parked)</dd></div>
            </dl>
            <h2>Events per second</h2>
            \(Self.chart(rates, title: "Events per second", unit: "events/s", slots: configuration.historyLength))
            <h2>Projections</h2>
            \(projectionTable(statuses, head: head))
            <h2>Latest events</h2>
            \(latest.isEmpty ? "<p class=\"muted\">The store has no events yet.</p>" : eventTable(Array(latest), caption: "The last \(latest.count) events, newest first"))
            <p><a href="\(base)/log">The whole log</a>, with filters and a live tail.</p>
            """
    }

    // MARK: Streams

    func streamsPage(_ request: Request, _ access: Access) async throws -> Response {
        let query = try ConsoleQuery(request, accepting: ["prefix", "category", "after", "limit"])
        let prefix = query["prefix"]
        if let prefix {
            guard prefix.utf8.count <= StreamID.maximumLength, !prefix.hasPrefix("$"),
                  !prefix.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control })
            else { throw ConsoleError.badParameter("prefix", prefix, expected: "the start of a stream id (no spaces, not starting with '$')") }
        }
        let category = try query.category("category")
        let after = try query.streamID("after")
        let limit = try query.limit(default: pageSize, maximum: api.configuration.maximumPageSize)
        let page = try await ConsoleReads.streams(api.reader, prefix: prefix, category: category, after: after, limit: limit)
        let rows = page.streams.map { stream -> HTML in
            """
            <tr><th scope="row">\(streamLink(stream.id))</th><td><a href="\(URLText.query(base + "/streams", [("category", stream.id.category)]))">\(stream.id.category)</a></td>\
            <td class="num">\(stream.version.value)</td><td class="num">\(eventLink(stream.lastPosition))</td></tr>
            """
        }
        var pager = HTML()
        if page.more, let last = page.streams.last {
            let next = URLText.query(base + "/streams", [("prefix", prefix), ("category", category), ("after", last.id.rawValue), ("limit", limit == pageSize ? nil : String(limit))])
            pager = "<a rel=\"next\" href=\"\(next)\">Next page →</a>"
        }
        let heading: HTML = category.map { "Streams of category \($0)" } ?? "Streams"
        let caption: HTML = after.map { "Streams in id order, after \($0.rawValue)" } ?? "Streams in id order"
        let table: HTML = rows.isEmpty ? "<p class=\"muted\">No streams match.</p>" : """
            <div class="scroll"><table>
            <caption>\(caption)</caption>
            <thead><tr><th scope="col">Stream</th><th scope="col">Category</th><th scope="col">Version</th><th scope="col">Last position</th></tr></thead>
            <tbody>\(HTML.join(rows, separator: "\n"))</tbody>
            </table></div>
            """
        let categoryLinks: HTML = category.map { category in
            "<p>The category's events in order: <a href=\"\(URLText.query(base + "/log", [("category", category)]))\">the log of \(category)</a>.</p>"
        } ?? ""
        return layout(category.map { "Category \($0)" } ?? "Streams", category == nil ? .streams : .categories, access, """
            <h1>\(heading)</h1>
            \(categoryLinks)
            <form class="filters" method="get" action="\(base)/streams" role="search">
            <label>Stream id starts with <input type="search" name="prefix" value="\(prefix ?? "")" placeholder="order-" autocomplete="off"></label>
            <label>Category <input type="text" name="category" value="\(category ?? "")" placeholder="any"></label>
            <button type="submit">Search</button>
            </form>
            \(table)
            <nav class="pager" aria-label="Pages">\(pager)</nav>
            """)
    }

    func categoriesPage(_ request: Request, _ access: Access) async throws -> Response {
        let query = try ConsoleQuery(request, accepting: ["after", "limit"])
        let after = try query.category("after")
        let limit = try query.limit(default: pageSize, maximum: api.configuration.maximumPageSize)
        let page = try await ConsoleReads.categories(api.reader, after: after, limit: limit)
        let rows = page.names.map { name -> HTML in
            """
            <tr><th scope="row"><a href="\(URLText.query(base + "/streams", [("category", name)]))">\(name)</a></th>\
            <td><a href="\(URLText.query(base + "/log", [("category", name)]))">events</a></td></tr>
            """
        }
        var pager = HTML()
        if page.more, let last = page.names.last {
            pager = "<a rel=\"next\" href=\"\(URLText.query(base + "/categories", [("after", last), ("limit", limit == pageSize ? nil : String(limit))]))\">Next page →</a>"
        }
        let table: HTML = rows.isEmpty ? "<p class=\"muted\">No categories.</p>" : """
            <div class="scroll"><table>
            <caption>Categories in order</caption>
            <thead><tr><th scope="col">Category (its streams)</th><th scope="col">Its log</th></tr></thead>
            <tbody>\(HTML.join(rows, separator: "\n"))</tbody>
            </table></div>
            """
        return layout("Categories", .categories, access, """
            <h1>Categories</h1>
            <p class="muted">A stream's category is the part of its id before the first '-'.</p>
            \(table)
            <nav class="pager" aria-label="Pages">\(pager)</nav>
            """)
    }

    func eventDetails(_ event: RecordedEvent, heading: HTML) -> HTML {
        let payload = PayloadText.render(event.payload)
        let kind: HTML =
            switch payload.kind {
            case .json: "JSON"
            case .text: "text (not JSON)"
            case .binary: "binary, \(event.payload.count) bytes"
            }
        var custom = HTML()
        for (key, value) in event.metadata.custom.sorted(by: { $0.key < $1.key }) {
            custom += "<div><dt>\(key)</dt><dd>\(value)</dd></div>"
        }
        let correlation: HTML = event.metadata.correlationID.map { "<code>\($0)</code>" } ?? "<span class=\"muted\">none</span>"
        let causation: HTML = event.metadata.causationID.map { "<code>\($0)</code>" } ?? "<span class=\"muted\">none</span>"
        return """
            <article class="event" id="event-\(event.position.value)">
            \(heading)
            <dl class="fields">
            <div><dt>Position</dt><dd>\(eventLink(event.position))</dd></div>
            <div><dt>Stream</dt><dd>\(streamLink(event.streamID))</dd></div>
            <div><dt>Version</dt><dd>\(event.streamVersion.value)</dd></div>
            <div><dt>Type</dt><dd class="type">\(event.type)</dd></div>
            <div><dt>Schema version</dt><dd>\(event.schemaVersion)</dd></div>
            <div><dt>Recorded</dt><dd><time>\(Self.time(event.recordedAt))</time></dd></div>
            <div><dt>Event id</dt><dd><code>\(event.id.uuidString.lowercased())</code></dd></div>
            <div><dt>Correlation</dt><dd>\(correlation)</dd></div>
            <div><dt>Causation</dt><dd>\(causation)</dd></div>
            \(custom)
            </dl>
            <p class="payload-kind">Payload: \(kind)</p>
            <pre class="payload \(payload.kind == .binary ? "binary" : "json")" tabindex="0">\(payload.text)</pre>
            </article>
            """
    }

    func streamPage(_ request: Request, _ access: Access, raw: String) async throws -> Response {
        let stream = try ConsoleQuery.streamID(raw, name: "stream")
        let query = try ConsoleQuery(request, accepting: ["from", "limit"])
        let limit = try query.limit(default: min(pageSize, 20), maximum: api.configuration.maximumPageSize)
        let version = try await api.reader.streamVersion(of: stream)
        guard version > .initial else { throw ConsoleError(.notFound, "Stream \(stream.rawValue) has no events.") }
        let from = try query.integer("from", in: 1...Int64.max) ?? 1
        let events = try await api.reader.readStream(stream, from: StreamVersion(from), direction: .forwards, limit: limit)
        let articles = events.map { event in
            eventDetails(event, heading: "<h2><a href=\"\(base)/events/\(event.position.value)\">#\(event.streamVersion.value) \(event.type)</a></h2>")
        }
        func link(_ start: Int64, _ label: HTML, _ rel: String) -> HTML {
            let href = URLText.query(base + "/streams/" + URLText.encode(stream.rawValue), [("from", String(start)), ("limit", limit == min(pageSize, 20) ? nil : String(limit))])
            return "<a rel=\"\(rel)\" href=\"\(href)\">\(label)</a>"
        }
        var pager: [HTML] = []
        if from > 1 { pager.append(link(max(1, from - Int64(limit)), "← Earlier", "prev")) }
        if let last = events.last, last.streamVersion < version { pager.append(link(last.streamVersion.value + 1, "Later →", "next")) }
        if version.value > Int64(limit), events.last?.streamVersion != version { pager.append(link(max(1, version.value - Int64(limit) + 1), "Latest", "last")) }
        return layout("Stream \(stream.rawValue)", .streams, access, """
            <h1>Stream <span class="id">\(stream.rawValue)</span></h1>
            <p>Category <a href="\(URLText.query(base + "/streams", [("category", stream.category)]))">\(stream.category)</a> · \
            version \(version.value) · events \(events.first?.streamVersion.value ?? 0) to \(events.last?.streamVersion.value ?? 0)</p>
            <nav class="pager" aria-label="Pages">\(HTML.join(pager, separator: " "))</nav>
            \(articles.isEmpty ? "<p class=\"muted\">No events from version \(from).</p>" : HTML.join(articles, separator: "\n"))
            <nav class="pager" aria-label="Pages">\(HTML.join(pager, separator: " "))</nav>
            """)
    }

    func eventPage(_ request: Request, _ access: Access, raw: String) async throws -> Response {
        _ = try ConsoleQuery(request, accepting: [])
        let position = try ConsoleQuery.integer(raw, name: "position", in: 1...Int64.max)
        guard let event = try await ConsoleReads.event(api.reader, at: position) else {
            throw ConsoleError(.notFound, "There is no event at position \(position).")
        }
        let window = configuration.causationWindow
        let chain = try await ConsoleReads.chain(api.reader, of: event, window: window)
        let head = try await api.reader.headPosition()
        let cause: HTML
        if let found = chain.cause {
            cause = """
                <p>Caused by <a class="cause" href="\(base)/events/\(found.position.value)">\(found.type) at position \(found.position.value)</a> \
                in \(streamLink(found.streamID)).</p>
                """
        } else if chain.causeSearched {
            cause = "<p class=\"muted\">Its cause is not among the \(window) events before it.</p>"
        } else {
            cause = "<p class=\"muted\">It has no causation id: nothing caused it (a command did).</p>"
        }
        let effects: HTML = chain.effects.isEmpty
            ? "<p class=\"muted\">No event among the next \(window) names this one as its cause.</p>"
            : eventTable(chain.effects, caption: "Events caused by this one", id: "effects")
        let correlated: HTML =
            if let correlation = event.metadata.correlationID {
                chain.correlated.isEmpty
                    ? "<p class=\"muted\">No other event within \(window) positions shares correlation \(correlation).</p>"
                    : eventTable(chain.correlated, caption: "Events of correlation \(correlation) (positions \(chain.from) to \(chain.through))", id: "correlated")
            } else {
                "<p class=\"muted\">It has no correlation id.</p>"
            }
        return layout("Event \(position)", .log, access, """
            \(eventDetails(event, heading: "<h1>Event \(position): <span class=\"type\">\(event.type)</span></h1>"))
            <section aria-labelledby="chain"><h2 id="chain">Causation chain</h2>
            <h3>Its cause</h3>\(cause)
            <h3>Its effects</h3>\(effects)
            <h3>Same correlation</h3>\(correlated)
            </section>
            <nav class="pager" aria-label="Neighbours">\(position > 1 ? "<a rel=\"prev\" href=\"\(base)/events/\(position - 1)\">← Position \(position - 1)</a>" as HTML : "") \
            \(position < head.value ? "<a rel=\"next\" href=\"\(base)/events/\(position + 1)\">Position \(position + 1) →</a>" as HTML : "")</nav>
            """)
    }

    // MARK: Log

    func logPage(_ request: Request, _ access: Access) async throws -> Response {
        let query = try ConsoleQuery(request, accepting: ["after", "category", "type", "limit"])
        let category = try query.category("category")
        let types = try query.eventTypes("type")
        let limit = try query.limit(default: pageSize, maximum: api.configuration.maximumPageSize)
        let head = try await api.reader.headPosition()
        let filtered = category != nil || types != nil
        let after = GlobalPosition(try query.integer("after", in: 0...Int64.max) ?? (filtered ? 0 : max(0, head.value - Int64(limit))))
        let events: [RecordedEvent]
        var next: GlobalPosition?
        switch (category, types) {
        case (nil, nil):
            events = try await api.reader.readAll(after: after, limit: limit)
            if events.count == limit, let last = events.last, last.position < head { next = last.position }
        case (let category?, nil):
            events = try await api.reader.readCategory(category, after: after, limit: limit)
            if events.count == limit, let last = events.last { next = last.position }
        default:
            let page = try await LogSubscription.readFiltered(
                api.reader, after: after, filter: ProjectionFilter(categories: category.map { [$0] }, eventTypes: types), limit: limit,
                scanLimit: 10 * max(limit, api.configuration.maximumPageSize)
            )
            events = page.events
            if !page.reachedHead { next = page.through }
        }
        let typeText = types.map { $0.sorted().joined(separator: ",") }
        func link(_ start: Int64, _ label: HTML, _ rel: String) -> HTML {
            let href = URLText.query(base + "/log", [("after", String(start)), ("category", category), ("type", typeText), ("limit", limit == pageSize ? nil : String(limit))])
            return "<a rel=\"\(rel)\" href=\"\(href)\">\(label)</a>"
        }
        var pager: [HTML] = []
        if after.value > 0 {
            pager.append(link(0, "Oldest", "first"))
            if !filtered { pager.append(link(max(0, after.value - Int64(limit)), "← Older", "prev")) }
        }
        if let next { pager.append(link(next.value, "Newer →", "next")) }
        let feed = URLText.query(base + "/feed", [("after", String(head.value)), ("category", category), ("type", typeText)])
        let filterNote: HTML = filtered && events.isEmpty && next != nil
            ? "<p class=\"muted\">No matching event in this stretch of the log; the next page goes on from position \(next!.value).</p>" : ""
        return layout("Log", .log, access, """
            <h1>The log <span class="muted">($all)</span></h1>
            <form class="filters" method="get" action="\(base)/log">
            <label>Category <input type="text" name="category" value="\(category ?? "")" placeholder="any"></label>
            <label>Event types <input type="text" name="type" value="\(typeText ?? "")" placeholder="any (A,B)"></label>
            <label>After position <input type="number" name="after" min="0" value="\(after.value)"></label>
            <button type="submit">Show</button>
            </form>
            <section class="live" aria-labelledby="tail-title">
            <h2 id="tail-title">Live tail</h2>
            <p id="tail-status" role="status" class="muted">New events appear here as they are appended (needs JavaScript).</p>
            <div class="scroll"><table><caption>Appended since this page was opened, newest first</caption>
            <thead><tr><th scope="col">Position</th><th scope="col">Recorded</th><th scope="col">Stream</th><th scope="col">Version</th><th scope="col">Type</th></tr></thead>
            <tbody id="tail" data-feed="\(feed)" data-base="\(base)"></tbody></table></div>
            </section>
            <h2>Events after position \(after.value)</h2>
            <nav class="pager" aria-label="Pages">\(HTML.join(pager, separator: " "))</nav>
            \(filterNote)
            \(events.isEmpty ? "<p class=\"muted\">No events.</p>" : eventTable(events, caption: "Events \(events.first!.position.value) to \(events.last!.position.value) of \(head.value)", id: "log"))
            <nav class="pager" aria-label="Pages">\(HTML.join(pager, separator: " "))</nav>
            """)
    }

    // MARK: Projections

    func projectionsPage(_ request: Request, _ access: Access) async throws -> Response {
        _ = try ConsoleQuery(request, accepting: [])
        return layout("Projections", .projections, access, """
            <h1>Projections</h1>
            <div id="projections" data-live="\(base)/live/projections">\(try await projectionsFragmentHTML())</div>
            """)
    }

    func projectionsFragmentHTML() async throws -> HTML {
        try await history.sampleIfDue(reader: api.reader, catalog: api.projections)
        let head = try await api.reader.headPosition()
        return projectionTable(try await api.projections?.projectionStatuses() ?? [], head: head)
    }

    func projectionsFragment() async throws -> Response {
        Self.html(try await projectionsFragmentHTML())
    }

    func status(of name: String) async throws -> ProjectionStatus {
        guard let status = try await api.projections?.projectionStatuses().first(where: { $0.name == name }) else {
            throw ConsoleError(.notFound, "There is no projection named \(name.debugDescription).")
        }
        return status
    }

    func projectionStatusHTML(name: String) async throws -> HTML {
        try await history.sampleIfDue(reader: api.reader, catalog: api.projections)
        let status = try await status(of: name)
        let head = max(try await api.reader.headPosition(), status.head)
        let lag = max(0, head.value - status.position.value)
        let lags = history.lags(of: name).map { (label: Self.time($0.time), value: Double($0.lag)) }
        let rebuild: HTML = status.rebuild.map { "<div><dt>Rebuild</dt><dd>\($0.eventsDone) of \($0.eventsTotal) events</dd></div>" } ?? ""
        let circuit: HTML = status.circuit.map {
            "<div><dt>Circuit</dt><dd id=\"circuit-state\" class=\"\($0.state == .closed ? "ok" : "bad")\">\($0.state.rawValue) since \(Self.time($0.since))</dd></div>"
        } ?? ""
        return """
            <dl class="cards">
            <div><dt>State</dt><dd id="projection-state">\(status.state.rawValue)</dd></div>
            <div><dt>Position</dt><dd>\(status.position.value)</dd></div>
            <div><dt>Head</dt><dd>\(head.value)</dd></div>
            <div><dt>Lag</dt><dd>\(lag)</dd></div>
            <div><dt>Parked</dt><dd id="parked-count" class="\(status.parkedCount > 0 ? "bad" : "ok")">\(status.parkedCount)</dd></div>
            <div><dt>Partitions</dt><dd>\(status.partitionCount)</dd></div>
            \(rebuild)
            \(circuit)
            </dl>
            <p>Last error: \(status.lastError.map { "<span class=\"error-text\">\($0)</span>" as HTML } ?? "<span class=\"muted\">none</span>")</p>
            <h2>Lag history</h2>
            \(Self.chart(lags, title: "Lag", unit: "events", slots: configuration.historyLength))
            """
    }

    func projectionStatusFragment(name: String) async throws -> Response {
        Self.html(try await projectionStatusHTML(name: name))
    }

    func projectionPage(_ request: Request, _ access: Access, name: String) async throws -> Response {
        let query = try ConsoleQuery(request, accepting: ["done", "position", "limit"])
        let limit = try query.limit(default: pageSize, maximum: api.configuration.maximumPageSize)
        let statusHTML = try await projectionStatusHTML(name: name)
        let parked = try await api.projections?.parkedEvents(ofProjection: name, limit: limit) ?? []
        var flash = HTML()
        if let done = query["done"] {
            guard ["retried", "dropped"].contains(done) else { throw ConsoleError.badParameter("done", done, expected: "retried or dropped") }
            let position = try query.integer("position", in: 1...Int64.max)
            flash = "<p class=\"flash\" role=\"status\">The parked event at position \(position ?? 0) was \(done == "retried" ? "applied" : "dropped").</p>"
        }
        let canAct = access.canAdmin && access.session?.admin == true
        let rows = parked.map { event -> HTML in
            let actions: HTML =
                if canAct, let session = access.session {
                    """
                    <form class="inline" method="post" action="\(base)/projections/\(URLText.encode(name))/parked/\(event.position.value)/retry">\
                    <input type="hidden" name="csrf" value="\(session.csrf)"><button type="submit" class="retry">Retry</button></form> \
                    <form class="inline" method="post" action="\(base)/projections/\(URLText.encode(name))/parked/\(event.position.value)/drop">\
                    <input type="hidden" name="csrf" value="\(session.csrf)"><button type="submit" class="drop danger">Drop</button></form>
                    """
                } else {
                    "<span class=\"muted\">sign in as admin</span>"
                }
            return """
                <tr id="parked-\(event.position.value)"><td class="num">\(eventLink(event.position))</td><td>\(streamLink(event.streamID))</td><td>\(event.eventType)</td>\
                <td class="num">\(event.attempts)</td><td><time>\(Self.time(event.parkedAt))</time></td><td class="error-text">\(event.error)</td><td>\(actions)</td></tr>
                """
        }
        let adminNote: HTML =
            if canAct {
                "<p class=\"muted\">Retry applies the event again (after a fix); drop removes it for good.</p>"
            } else if adminTokens.isEmpty {
                "<p class=\"muted\">This console is read-only: configure an admin token to retry or drop parked events.</p>"
            } else {
                "<p class=\"muted\"><a href=\"\(URLText.query(base + "/login", [("next", base + "/projections/" + URLText.encode(name))]))\">Sign in with an admin token</a> to retry or drop parked events.</p>"
            }
        let table: HTML = rows.isEmpty ? "<p class=\"muted\" id=\"no-parked\">No parked events.</p>" : """
            <div class="scroll"><table class="parked">
            <caption>Parked events, oldest first (at most \(limit))</caption>
            <thead><tr><th scope="col">Position</th><th scope="col">Stream</th><th scope="col">Type</th><th scope="col">Attempts</th><th scope="col">Parked</th><th scope="col">Error</th><th scope="col">Action</th></tr></thead>
            <tbody>\(HTML.join(rows, separator: "\n"))</tbody>
            </table></div>
            """
        return layout("Projection \(name)", .projections, access, """
            <h1>Projection <span class="id">\(name)</span></h1>
            \(flash)
            <div id="projection-status" data-live="\(base)/live/projections/\(URLText.encode(name))">\(statusHTML)</div>
            <h2>Parked events</h2>
            \(adminNote)
            \(table)
            """)
    }

    struct Form: Decodable {
        var csrf: String?
        var token: String?
        var next: String?
    }

    func form(_ request: Request) async throws -> Form {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maximumFormSize)
        } catch {
            throw ConsoleError(.contentTooLarge, "The form is larger than 8 KiB.")
        }
        let text = String(buffer: body)
        guard !text.isEmpty else { return Form() }
        do {
            return try URLEncodedFormDecoder().decode(Form.self, from: text)
        } catch {
            throw ConsoleError(.badRequest, "The form is not URL-encoded.")
        }
    }

    /// A session's form must carry its CSRF token (an `Authorization` header needs none).
    func checkCSRF(_ form: Form, _ access: Access) throws {
        if access.adminByHeader { return }
        guard let session = access.session, let sent = form.csrf, ConsoleSessions.constantTimeEqual(sent, session.csrf) else {
            throw ConsoleError(.forbidden, "The form's CSRF token is missing or stale: reload the page and try again.")
        }
    }

    func parkedAction(_ request: Request, _ access: Access, name: String, rawPosition: String, action: String) async throws -> Response {
        let form = try await form(request)
        try checkCSRF(form, access)
        let position = GlobalPosition(try ConsoleQuery.integer(rawPosition, name: "position", in: 1...Int64.max))
        guard let catalog = api.projections else { throw ConsoleError(.notFound, "There is no projection named \(name.debugDescription).") }
        let found: Bool
        switch action {
        case "retry": found = try await catalog.retryParkedEvent(ofProjection: name, at: position)
        case "drop": found = try await catalog.dropParkedEvent(ofProjection: name, at: position)
        default: throw ConsoleError(.notFound, "Unknown action \(action.debugDescription): use retry or drop.")
        }
        guard found else { throw ConsoleError(.notFound, "There is no projection named \(name.debugDescription) that can retry or drop parked events.") }
        let location = URLText.query(base + "/projections/" + URLText.encode(name), [("done", action == "retry" ? "retried" : "dropped"), ("position", String(position.value))])
        return Response(status: .seeOther, headers: [.location: location])
    }

    // MARK: Sign-in

    func safeNext(_ next: String?) -> String {
        guard let next, next == base || next.hasPrefix(base + "/") || next.hasPrefix(base + "?"),
              !next.contains("//"), !next.contains("\\"), !next.unicodeScalars.contains(where: { $0.value < 0x21 })
        else { return base }
        return next
    }

    func loginPage(_ request: Request, _ access: Access, failed: Bool, next: String? = nil) throws -> Response {
        let next = try next ?? ConsoleQuery(request, accepting: ["next"])["next"]
        let message: HTML =
            if readTokens.isEmpty && adminTokens.isEmpty {
                "<p>This console needs no sign-in, and has no admin token: it is read-only.</p>"
            } else if readTokens.isEmpty {
                "<p>Reading needs no sign-in; sign in with the admin token to retry or drop parked events.</p>"
            } else {
                "<p>Sign in with the read API's bearer token\(configuration.adminTokens.isEmpty ? "" : " (or the admin token, to retry or drop parked events)").</p>"
            }
        return layout("Sign in", .none, access, status: failed ? .unauthorized : .ok, """
            <h1>Sign in</h1>
            \(message)
            \(failed ? "<p class=\"error\" role=\"alert\">That token is not accepted.</p>" as HTML : "")
            <form class="login" method="post" action="\(base)/login">
            <label>Token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
            <input type="hidden" name="next" value="\(safeNext(next))">
            <button type="submit">Sign in</button>
            </form>
            """)
    }

    func login(_ request: Request, _ access: Access) async throws -> Response {
        let form = try await form(request)
        guard !readTokens.isEmpty || !adminTokens.isEmpty else {
            throw ConsoleError(.badRequest, "This console has no tokens: there is nothing to sign in to.")
        }
        let token = form.token ?? ""
        let admin = adminTokens.contains { ConsoleSessions.constantTimeEqual($0, token) }
        let reader = readTokens.contains { ConsoleSessions.constantTimeEqual($0, token) }
        guard admin || reader else { return try loginPage(request, access, failed: true, next: form.next) }
        sessions.remove(request.cookies[Self.cookieName]?.value)
        let (id, _) = sessions.create(admin: admin)
        var response = Response(status: .seeOther, headers: [.location: safeNext(form.next)])
        let seconds = Int(configuration.sessionLifetime.components.seconds)
        response.setCookie(Cookie(name: Self.cookieName, value: id, maxAge: seconds, path: base, secure: configuration.secureCookie, httpOnly: true, sameSite: .strict))
        return response
    }

    func logout(_ request: Request, _ access: Access) async throws -> Response {
        let form = try await form(request)
        if access.session != nil { try checkCSRF(form, access) }
        sessions.remove(request.cookies[Self.cookieName]?.value)
        var response = Response(status: .seeOther, headers: [.location: base + "/login"])
        response.setCookie(Cookie(name: Self.cookieName, value: "", maxAge: 0, path: base, secure: configuration.secureCookie, httpOnly: true, sameSite: .strict))
        return response
    }
}
