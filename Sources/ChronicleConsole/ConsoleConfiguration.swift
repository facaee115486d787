/// Settings of the ``ChronicleConsole``.
///
/// The console reads with the read API's own limits (``ReadAPIConfiguration``): its pages never
/// hold more than ``ReadAPIConfiguration/maximumPageSize`` rows, its live tail counts against
/// ``ReadAPIConfiguration/maximumConcurrentFeeds``, and it asks for the read API's bearer tokens.
///
/// ```swift
/// var settings = ConsoleConfiguration()
/// settings.adminTokens = [adminToken]   // retry and drop need it (else a read token does)
/// let console = try ChronicleConsole(api: api, configuration: settings)
/// ```
public struct ConsoleConfiguration: Sendable {
    /// Where the console is served (default `/console`).
    public var path: String = "/console"
    /// Tokens that may retry and drop parked events. Empty (the default): the read API's bearer
    /// tokens may; with neither, the console is read-only.
    public var adminTokens: Set<String> = []
    /// How long a console sign-in lasts (default 12 hours).
    public var sessionLifetime: Duration = .seconds(12 * 3600)
    /// Whether the session cookie is marked `Secure` (sent over HTTPS only). Set it when the
    /// console is served over HTTPS (directly or behind a proxy); default `false`, for
    /// `http://127.0.0.1`.
    public var secureCookie = false
    /// The most sign-ins kept at once (default 1000); the oldest goes first.
    public var maximumSessions: Int = 1000
    /// Rows per page of the console's lists (default 50; at most the read API's
    /// ``ReadAPIConfiguration/maximumPageSize``).
    public var pageSize: Int = 50
    /// How far the event page looks, before and after an event, for its cause, its effects and
    /// its correlated events (default 1000 positions each way).
    public var causationWindow: Int = 1000
    /// How often the history of the head and of the projections' positions (the overview's
    /// chart, the projections' lag history) takes a sample (default 5 s).
    public var sampleInterval: Duration = .seconds(5)
    /// How many samples the history keeps (default 120: ten minutes at 5 s).
    public var historyLength: Int = 120

    /// The default settings.
    public init() {}

    /// A setting the console cannot work with.
    public struct InvalidValue: Error, Sendable, CustomStringConvertible {
        /// Names the setting and what it accepts.
        public let description: String
    }

    func validate() throws(InvalidValue) {
        guard path.hasPrefix("/"), path.count > 1, !path.hasSuffix("/"),
              path.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_/".contains($0)) })
        else { throw InvalidValue(description: "ConsoleConfiguration.path is \(path.debugDescription); it must look like /console.") }
        if pageSize < 1 { throw InvalidValue(description: "ConsoleConfiguration.pageSize must be at least 1.") }
        if maximumSessions < 1 { throw InvalidValue(description: "ConsoleConfiguration.maximumSessions must be at least 1.") }
        if causationWindow < 1 || causationWindow > 100_000 {
            throw InvalidValue(description: "ConsoleConfiguration.causationWindow must be from 1 to 100000.")
        }
        if historyLength < 2 || historyLength > 10_000 { throw InvalidValue(description: "ConsoleConfiguration.historyLength must be from 2 to 10000.") }
        if sampleInterval < .milliseconds(100) { throw InvalidValue(description: "ConsoleConfiguration.sampleInterval must be at least 100 ms.") }
        if sessionLifetime <= .zero { throw InvalidValue(description: "ConsoleConfiguration.sessionLifetime must be more than zero.") }
        if adminTokens.contains("") { throw InvalidValue(description: "ConsoleConfiguration.adminTokens holds an empty token.") }
    }
}
