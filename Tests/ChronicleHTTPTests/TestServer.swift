import ChronicleHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// Starts the read API on a real server bound to an ephemeral loopback port and runs `body`
/// with a client sending real HTTP to it.
func withReadAPI<Value: Sendable>(
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
func withServedReadAPI<Value: Sendable>(
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

let quietLogger: Logger = {
    var logger = Logger(label: "chronicle.http.tests")
    logger.logLevel = .critical
    return logger
}()

extension TestClientProtocol {
    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }
}

extension TestResponse {
    /// The body parsed as a JSON object.
    var json: [String: Any] {
        get throws {
            let object = try JSONSerialization.jsonObject(with: Data(buffer: body))
            return try #require(object as? [String: Any], "not a JSON object: \(String(buffer: body))")
        }
    }

    /// The `error` object of a JSON error body (checks its shape).
    var errorBody: (code: String, message: String, fields: [String: Any]) {
        get throws {
            let error = try #require(try json["error"] as? [String: Any], "no error object in \(String(buffer: body))")
            let code = try #require(error["code"] as? String)
            let message = try #require(error["message"] as? String)
            #expect(!message.isEmpty)
            return (code, message, error)
        }
    }

    var text: String { String(buffer: body) }
}

/// An event with a JSON payload.
func jsonEvent(_ type: String, _ payload: String, metadata: EventMetadata = .none) -> EventData {
    EventData(type: type, payload: Data(payload.utf8), metadata: metadata)
}

/// Fills a store with a few streams in two categories; returns it.
func sampleStore() async throws -> InMemoryEventStore {
    let store = InMemoryEventStore()
    try await store.append([jsonEvent("OrderPlaced", #"{"orderId":"1","total":42.5}"#), jsonEvent("OrderPaid", #"{"orderId":"1"}"#)], to: "order-1", expectedVersion: .noStream)
    try await store.append(jsonEvent("CustomerRegistered", #"{"name":"Ada"}"#), to: "customer-ada", expectedVersion: .noStream)
    try await store.append(jsonEvent("OrderPlaced", #"{"orderId":"2","total":7}"#), to: "order-2", expectedVersion: .noStream)
    try await store.append(EventData(type: "Blob", payload: Data([0xFF, 0x00, 0x10])), to: "blob-1", expectedVersion: .noStream)
    return store
}

extension ReadAPIConfiguration {
    /// The read API's defaults, but an idle timeout of 10 minutes: HummingbirdTesting's live client
    /// holds one connection and never reconnects, so a test that spends longer than the idle
    /// timeout between two requests (slow setup on a loaded machine: seen as "I/O on closed
    /// channel" after 30 s) would find its connection closed by the server. Tests about the idle
    /// timeout set their own (`ResourceLimitTests`, raw sockets).
    static var liveTestClient: ReadAPIConfiguration {
        var configuration = ReadAPIConfiguration()
        configuration.idleTimeout = .seconds(600)
        return configuration
    }
}
