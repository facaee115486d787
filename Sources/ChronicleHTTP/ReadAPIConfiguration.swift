import Chronicle

/// Settings of the read API: limits, authentication, read-your-writes and live-feed timing.
///
/// ```swift
/// var configuration = ReadAPIConfiguration()
/// configuration.bearerTokens = ["s3cret"]
/// configuration.maximumPageSize = 500
/// configuration.readYourWritesTimeout = .seconds(2)
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
    /// The page size when a request gives no `limit`.
    public var defaultPageSize: Int = 100
    /// The largest page size a request may ask for.
    public var maximumPageSize: Int = 1000
    /// What to do with a larger `limit`.
    public var oversizePages: OversizePagePolicy = .reject
    /// The largest request body accepted (by the app's command routes on the same router), in
    /// bytes. Larger bodies get 413.
    public var maximumBodySize: Int = 64 * 1024
    /// Accepted bearer tokens; empty means no authentication.
    public var bearerTokens: Set<String> = []
    /// The longest a request with a `Chronicle-Min-Position` header waits for the read models it
    /// reads to catch up before answering 503.
    public var readYourWritesTimeout: Duration = .seconds(5)
    /// How often the live feed sends a comment line when there is nothing new, so proxies keep
    /// the connection open and a gone client is noticed.
    public var feedHeartbeat: Duration = .seconds(15)
    /// How many events the live feed reads from the store at a time.
    public var feedPageSize: Int = 500
    /// The `retry` interval (milliseconds) the live feed suggests to reconnecting clients.
    public var feedRetryMilliseconds: Int = 2000

    /// The default settings: no authentication, pages of 100 (at most 1000), 64 KiB bodies,
    /// 5-second read-your-writes waits.
    public init() {}
}
