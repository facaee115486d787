import Hummingbird
public import HummingbirdCore
public import Logging
public import ServiceLifecycle
import UnixSignals

extension ReadAPI {
    /// Hummingbird's HTTP/1.1 server with ``ReadAPIConfiguration/idleTimeout``: silent
    /// connections, idle keep-alive connections and half-sent header blocks are closed after it.
    ///
    /// ```swift
    /// let app = Application(router: api.makeRouter(), server: api.httpServer, configuration: .init(address: .hostname("0.0.0.0", port: 8080)))
    /// ```
    public var httpServer: HTTPServerBuilder {
        let components = configuration.idleTimeout.components
        // Validated: at most one day, so the nanoseconds fit an Int64.
        let nanoseconds = components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
        return .http1(configuration: HTTP1Channel.Configuration(idleTimeout: .nanoseconds(nanoseconds)))
    }

    /// A service group's configuration whose graceful shutdown is bounded: after
    /// ``ReadAPIConfiguration/maximumGracefulShutdownDuration`` the requests still running (a
    /// client holding a request open, say) are cancelled and their connections closed, and
    /// after ``ReadAPIConfiguration/maximumCancellationDuration`` more the process stops.
    ///
    /// SIGTERM and SIGINT start the graceful shutdown; change `gracefulShutdownSignals` of the
    /// result for others.
    ///
    /// ```swift
    /// let group = ServiceGroup(configuration: api.serviceGroupConfiguration(services: [app, projections], logger: logger))
    /// try await group.run()
    /// ```
    public func serviceGroupConfiguration(services: [any Service], logger: Logger) -> ServiceGroupConfiguration {
        var group = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = configuration.maximumGracefulShutdownDuration
        group.maximumCancellationDuration = configuration.maximumCancellationDuration
        return group
    }
}
