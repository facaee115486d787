public import Chronicle
import Foundation
public import PostgresNIO

/// Connection settings read from a `postgres://` URL, such as the `CHRONICLE_POSTGRES_URL` that
/// `.ci/postgres.sh` prints.
///
/// ```swift
/// let settings = try PostgresConnectionSettings(url: "postgres://chronicle:secret@127.0.0.1:5432/app")
/// let client = PostgresClient(configuration: settings.clientConfiguration())
/// ```
///
/// Supported: `postgres://` or `postgresql://`, user, password, host, port (default 5432), database,
/// and the query option `sslmode` (`disable`, `prefer`, `require`; default `disable` for loopback
/// hosts, `prefer` otherwise).
public struct PostgresConnectionSettings: Sendable, Hashable {
    /// The server's host name or address.
    public var host: String
    /// The server's port.
    public var port: Int
    /// The role to log in as.
    public var username: String
    /// The role's password, if any.
    public var password: String?
    /// The database.
    public var database: String
    /// Whether to use TLS.
    public var tlsMode: TLSMode

    /// How a connection uses TLS.
    public enum TLSMode: String, Sendable, Hashable {
        /// Plain TCP.
        case disable
        /// TLS if the server offers it.
        case prefer
        /// TLS or fail.
        case require
    }

    /// Creates settings.
    public init(host: String, port: Int = 5432, username: String, password: String?, database: String, tlsMode: TLSMode = .disable) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
    }

    /// Parses a `postgres://user:password@host:port/database?sslmode=…` URL.
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/invalidArgument`` when the URL
    ///   is not a usable PostgreSQL URL (the message never repeats the password).
    public init(url: String) throws(EventStoreError) {
        func invalid(_ why: String) -> EventStoreError {
            EventStoreError(.invalidArgument, "Invalid PostgreSQL URL: \(why). Expected postgres://user:password@host:port/database.")
        }
        guard let components = URLComponents(string: url) else { throw invalid("it does not parse as a URL") }
        guard let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql" else {
            throw invalid("the scheme must be postgres:// or postgresql://")
        }
        guard let host = components.host, !host.isEmpty else { throw invalid("it has no host") }
        guard let user = components.user, !user.isEmpty else { throw invalid("it has no user") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw invalid("it has no database name") }
        var tlsMode: TLSMode = (host == "127.0.0.1" || host == "localhost" || host == "::1") ? .disable : .prefer
        for item in components.queryItems ?? [] where item.name == "sslmode" {
            switch item.value {
            case "disable": tlsMode = .disable
            case "prefer", "allow": tlsMode = .prefer
            case "require", "verify-ca", "verify-full": tlsMode = .require
            default: throw invalid("sslmode \(item.value ?? "") is not one of disable, prefer, require")
            }
        }
        self.init(
            host: host, port: components.port ?? 5432, username: user.removingPercentEncoding ?? user,
            password: components.password.map { $0.removingPercentEncoding ?? $0 }, database: database.removingPercentEncoding ?? database,
            tlsMode: tlsMode
        )
    }

    private var clientTLS: PostgresClient.Configuration.TLS {
        switch tlsMode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    /// A pooled client configuration (for ``PostgresEventStore``). Tune `options` as needed.
    /// `applicationName` shows in `pg_stat_activity`.
    ///
    /// The pool keeps at least one connection open (`options.minimumConnections = 1`). Keep it
    /// at one or more if you build the configuration yourself: postgres-nio 1.33's pool opens no
    /// new connection when its last one closes (a restarted server, a terminated backend) while
    /// its minimum is zero, so statements already waiting for a connection then wait until some
    /// later statement arrives, for ever in a quiet service (vapor/postgres-nio#657).
    public func clientConfiguration(applicationName: String = "chronicle", maximumConnections: Int = 20) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: clientTLS)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = min(1, maximumConnections)
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        return configuration
    }

    /// A single-connection configuration (for listeners and leases, which own their connection).
    /// TCP keep-alives are set so the server notices a vanished client within about 20 seconds
    /// even when no packet says so (a cut cable rather than a killed process).
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/storageFailure`` when the TLS
    ///   context cannot be created.
    public func connectionConfiguration(applicationName: String = "chronicle") throws(EventStoreError) -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch tlsMode {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        } catch {
            throw EventStoreError(.storageFailure, "Could not create a TLS context for PostgreSQL connections.", underlying: error)
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.additionalStartupParameters = [
            ("application_name", applicationName),
            ("tcp_keepalives_idle", "10"),
            ("tcp_keepalives_interval", "5"),
            ("tcp_keepalives_count", "2"),
        ]
        return configuration
    }
}
