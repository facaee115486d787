// The read API served on a real loopback server for tests, and reading its answers: shared by
// ChronicleHTTPTests and ShopTests (the sample's tests), so neither depends on the other.
public import ChronicleHTTP
import Foundation
public import Hummingbird
public import HummingbirdTesting
public import Logging

/// Starts the read API on a real server bound to an ephemeral loopback port and runs `body`
/// with a client sending real HTTP to it.
public func withReadAPI<Value: Sendable>(
    store: InMemoryEventStore,
    projections: (any ProjectionCatalog)? = nil,
    configure: (inout ReadAPIConfiguration) -> Void = { _ in },
    routes: (ReadAPI, Router<BasicRequestContext>) -> Void = { _, _ in },
    _ body: @Sendable (any TestClientProtocol) async throws -> Value
) async throws -> Value {
    try await withServedReadAPI(store: store, projections: projections, configure: configure, routes: routes) { _, client in
        try await body(client)
    }
}

/// ``withReadAPI`` whose `body` also gets the API (for its ``ReadAPI/statistics``), with the
/// server built as an app should build it (``ReadAPI/httpServer``, so with its timeouts), logging
/// to `logger`.
public func withServedReadAPI<Value: Sendable>(
    store: InMemoryEventStore,
    projections: (any ProjectionCatalog)? = nil,
    logger: Logger = quietLogger,
    configure: (inout ReadAPIConfiguration) -> Void = { _ in },
    routes: (ReadAPI, Router<BasicRequestContext>) -> Void = { _, _ in },
    _ body: @Sendable (ReadAPI, any TestClientProtocol) async throws -> Value
) async throws -> Value {
    var configuration = ReadAPIConfiguration.liveTestClient
    configure(&configuration)
    let api = try ReadAPI(reader: store, projections: projections, configuration: configuration, logger: logger)
    let router = api.makeRouter()
    routes(api, router)
    let app = Application(
        router: router,
        server: api.httpServer,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        logger: logger
    )
    return try await app.test(.live) { client in try await body(api, client) }
}

/// A logger that logs only critical messages.
public let quietLogger: Logger = {
    var logger = Logger(label: "chronicle.http.tests")
    logger.logLevel = .critical
    return logger
}()

extension TestClientProtocol {
    /// Sends a GET request.
    public func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }
}

extension TestResponse {
    /// The body parsed as a JSON object.
    public var json: [String: Any] {
        get throws {
            let object = try JSONSerialization.jsonObject(with: Data(buffer: body))
            guard let fields = object as? [String: Any] else { throw UnexpectedBody("not a JSON object: \(text)") }
            return fields
        }
    }

    /// The `error` object of a JSON error body (checks its shape: a code and a non-empty message).
    public var errorBody: (code: String, message: String, fields: [String: Any]) {
        get throws {
            guard let error = try json["error"] as? [String: Any] else { throw UnexpectedBody("no error object in \(text)") }
            guard let code = error["code"] as? String, let message = error["message"] as? String, !message.isEmpty else {
                throw UnexpectedBody("an error object without a code and a message: \(text)")
            }
            return (code, message, error)
        }
    }

    /// The body as UTF-8 text.
    public var text: String { String(buffer: body) }
}

/// A response body not of the expected shape.
public struct UnexpectedBody: Error, CustomStringConvertible {
    /// What was wrong.
    public let description: String

    init(_ description: String) { self.description = description }
}

extension ReadAPIConfiguration {
    /// The read API's defaults, but an idle timeout of 10 minutes: HummingbirdTesting's live client
    /// holds one connection and never reconnects, so a test that spends longer than the idle
    /// timeout between two requests (slow setup on a loaded machine: seen as "I/O on closed
    /// channel" after 30 s) would find its connection closed by the server. Tests about the idle
    /// timeout set their own (`ResourceLimitTests`, raw sockets).
    public static var liveTestClient: ReadAPIConfiguration {
        var configuration = ReadAPIConfiguration()
        configuration.idleTimeout = .seconds(600)
        return configuration
    }
}
