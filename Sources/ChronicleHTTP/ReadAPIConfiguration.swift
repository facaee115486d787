import Chronicle

/// Settings of the read API: limits, timeouts, authentication, read-your-writes and live-feed
/// timing.
///
/// Every limit has a default meant for a server exposed to clients it does not control; see
/// "Limits and timeouts" in `Docs/Operations.md` for each value and why. ``ReadAPI`` checks the
/// settings when it is created and throws ``InvalidValue`` for nonsense (a zero timeout, a
/// negative size).
///
/// ```swift
/// var configuration = ReadAPIConfiguration()
/// configuration.bearerTokens = ["s3cret"]
/// configuration.maximumPageSize = 500
/// configuration.readYourWritesTimeout = .seconds(2)
/// configuration.maximumConcurrentFeeds = 64
/// let api = try ReadAPI(reader: store, configuration: configuration)
/// let app = Application(router: api.makeRouter(), server: api.httpServer, configuration: .init(address: .hostname("0.0.0.0", port: 8080)))
/// let group = ServiceGroup(configuration: api.serviceGroupConfiguration(services: [app], logger: logger))
/// ```
public struct ReadAPIConfiguration: Sendable {
    /// What to do with a `limit` above ``maximumPageSize``.
    public enum OversizePagePolicy: Sendable, Hashable {
        /// Answer 400 `pageSizeTooLarge` (the default: a client learns the limit at once).
        case reject
        /// Serve ``ReadAPIConfiguration/maximumPageSize`` items; the answer's `limit` says so.
        case clamp
    }

    /// A path prefix for the built-in routes, such as `/chronicle` (default: none, so the routes
    /// are `/streams`, `/all`…). The app's own routes are not prefixed.
    public var pathPrefix: String = ""
    /// The page size when a request gives no `limit` (default 100; at most ``maximumPageSize`` is
    /// served).
    public var defaultPageSize: Int = 100
    /// The largest page size a request may ask for (default 1000).
    public var maximumPageSize: Int = 1000
    /// What to do with a larger `limit`.
    public var oversizePages: OversizePagePolicy = .reject
    /// The largest request body accepted (by the app's command routes on the same router), in
    /// bytes (default 64 KiB). Larger bodies get 413.
    public var maximumBodySize: Int = 64 * 1024
    /// Accepted bearer tokens; empty means no authentication.
    public var bearerTokens: Set<String> = []
    /// The longest a request with a `Chronicle-Min-Position` header waits for the read models it
    /// reads to catch up before answering 503 (default 5 s).
    public var readYourWritesTimeout: Duration = .seconds(5)
    /// How often the live feed sends a comment line when there is nothing new, so proxies keep
    /// the connection open and a gone client is noticed (default 15 s).
    public var feedHeartbeat: Duration = .seconds(15)
    /// How many events the live feed reads from the store at a time (default 100). A feed holds
    /// at most one such page in memory.
    public var feedPageSize: Int = 100
    /// The `retry` interval (milliseconds) the live feed suggests to reconnecting clients, also
    /// the `Retry-After` of a refused feed (default 2000).
    public var feedRetryMilliseconds: Int = 2000

    // MARK: Limits and timeouts

    /// How long a connection may stay silent before the server closes it (default 30 s): a
    /// connection that sends nothing, an idle keep-alive connection, a request body that stops
    /// arriving.
    ///
    /// It is also the header-read timeout: until a request's head is complete nothing counts as
    /// activity, so a connection that sends half a header block (even byte by byte) is closed
    /// this long after it connected or after its previous response. It does not apply while a
    /// completely received request is being answered; ``writeTimeout`` does. Applied by
    /// ``ReadAPI/httpServer``.
    public var idleTimeout: Duration = .seconds(30)
    /// The longest a route may spend reading a request body, from its first read to its end
    /// (default 30 s). A body that arrives slower answers 408 `requestTimeout` and the connection
    /// is closed. Enforced by ``RequestBodyLimitMiddleware`` on the routes that read a body;
    /// routes that take none never wait for one.
    public var bodyReadTimeout: Duration = .seconds(30)
    /// The longest one write of a streamed response (a live feed, a page of events) may wait for
    /// the client to read (default 30 s). A client that does not read for that long is dropped:
    /// its connection is closed and what the server buffered for it is freed.
    public var writeTimeout: Duration = .seconds(30)
    /// Streamed responses are written in pieces of at most this many bytes (default 64 KiB), or
    /// one event when a single event is larger; the server holds at most one piece per
    /// connection beyond what the socket has accepted.
    public var writeChunkSize: Int = 64 * 1024
    /// The most bytes of events one page of `/all`, `/streams/{id}` or
    /// `/categories/{category}/events` carries (default 4 MiB). A page that would be larger ends
    /// early, and its `next` says where to continue; a page always carries at least one event,
    /// so one event larger than this is still served.
    public var maximumResponseBytes: Int = 4 * 1024 * 1024
    /// How many live feeds may be open at once, per ``ReadAPI`` (its copies share the count;
    /// default 128). Beyond it `GET /feed` answers 503 `tooManyFeeds` with `Retry-After`.
    public var maximumConcurrentFeeds: Int = 128
    /// How long a graceful shutdown (SIGTERM) may take before the requests still running are
    /// cancelled and their connections closed (default 10 s). Applied by
    /// ``ReadAPI/serviceGroupConfiguration(services:logger:)``.
    public var maximumGracefulShutdownDuration: Duration = .seconds(10)
    /// How long the cancellation after ``maximumGracefulShutdownDuration`` may take before the
    /// process stops with a fatal error (default 5 s), so it always exits. `nil` waits forever.
    public var maximumCancellationDuration: Duration? = .seconds(5)

    /// The default settings: no authentication, pages of 100 (at most 1000, at most 4 MiB),
    /// 64 KiB bodies, 5-second read-your-writes waits, 30-second idle, body-read and write
    /// timeouts, at most 128 live feeds, 10-second graceful shutdown.
    public init() {}

    /// A setting with a value the API cannot work with.
    public struct InvalidValue: Error, Sendable, Hashable, CustomStringConvertible {
        /// The setting's name, such as `writeTimeout`.
        public let setting: String
        /// The value given, as text.
        public let value: String
        /// What the setting accepts.
        public let requirement: String

        /// Names the setting, its value and what it accepts.
        public var description: String {
            "ReadAPIConfiguration.\(setting) is \(value); it must be \(requirement)."
        }
    }

    /// The longest timeout accepted: one day. Longer ones are almost certainly a unit mistake.
    static let longestTimeout: Duration = .seconds(86_400)

    /// Checks every setting; throws the first nonsense one.
    public func validate() throws(InvalidValue) {
        func atLeast(_ minimum: Int, _ value: Int, _ setting: String) throws(InvalidValue) {
            if value < minimum { throw InvalidValue(setting: setting, value: "\(value)", requirement: "at least \(minimum)") }
        }
        func timeout(_ value: Duration, _ setting: String, allowZero: Bool = false) throws(InvalidValue) {
            let ok = (allowZero ? value >= .zero : value > .zero) && value <= Self.longestTimeout
            if !ok {
                throw InvalidValue(
                    setting: setting, value: "\(value)",
                    requirement: "\(allowZero ? "from zero" : "more than zero") and at most one day"
                )
            }
        }
        try atLeast(1, defaultPageSize, "defaultPageSize")
        try atLeast(1, maximumPageSize, "maximumPageSize")
        try atLeast(0, maximumBodySize, "maximumBodySize")
        try atLeast(1, feedPageSize, "feedPageSize")
        if feedPageSize > 100_000 {  // LogSubscription's own bound
            throw InvalidValue(setting: "feedPageSize", value: "\(feedPageSize)", requirement: "at most 100000")
        }
        try atLeast(0, feedRetryMilliseconds, "feedRetryMilliseconds")
        try atLeast(1, writeChunkSize, "writeChunkSize")
        try atLeast(1, maximumResponseBytes, "maximumResponseBytes")
        try atLeast(1, maximumConcurrentFeeds, "maximumConcurrentFeeds")
        try timeout(readYourWritesTimeout, "readYourWritesTimeout", allowZero: true)
        try timeout(feedHeartbeat, "feedHeartbeat")
        try timeout(idleTimeout, "idleTimeout")
        try timeout(bodyReadTimeout, "bodyReadTimeout")
        try timeout(writeTimeout, "writeTimeout")
        try timeout(maximumGracefulShutdownDuration, "maximumGracefulShutdownDuration")
        if let maximumCancellationDuration { try timeout(maximumCancellationDuration, "maximumCancellationDuration") }
    }
}
