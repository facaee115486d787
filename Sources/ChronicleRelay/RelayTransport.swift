import AsyncHTTPClient
public import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// One delivery as it goes on the wire: a signed `POST` of an event's JSON.
///
/// ```swift
/// let key = request.header("Idempotency-Key")  // the event id
/// ```
public struct RelayRequest: Sendable {
    /// The endpoint.
    public var url: URL
    /// The headers, in the order they are sent (`Idempotency-Key`, `Chronicle-Event-Id`, …, the signature).
    public var headers: [(name: String, value: String)]
    /// The event in the read API's JSON.
    public var body: [UInt8]
    /// How long the whole request may take; the relay gives up on it after this long anyway.
    public var timeout: Duration

    /// Creates a request.
    ///
    /// - Parameters:
    ///   - url: the endpoint.
    ///   - headers: the headers, in order.
    ///   - body: the body.
    ///   - timeout: how long the request may take.
    public init(url: URL, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) {
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// The first value of header `name` (case-insensitive), if any.
    ///
    /// - Parameter name: the header's name.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// What the endpoint answered.
public struct RelayResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The headers (`Retry-After` is the one the relay reads).
    public var headers: [(name: String, value: String)]
    /// The start of the body (the relay keeps at most 64 KiB, and logs 300 bytes of it).
    public var body: [UInt8]

    /// Creates an answer.
    ///
    /// - Parameters:
    ///   - status: the status code.
    ///   - headers: the headers.
    ///   - body: the body.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive), if any.
    ///
    /// - Parameter name: the header's name.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// How an ``EventRelay`` reaches its endpoint: one call per delivery. The default is HTTP
/// (AsyncHTTPClient); a simulation gives the relay an endpoint double instead, so the same relay
/// code — retries, `Retry-After`, the circuit breaker, request timeouts — runs in production and
/// under ChronicleTesting's simulator.
///
/// The relay classifies the answer (2xx delivered; 408, 409, 429 and 5xx retried; other statuses
/// park the event) and enforces ``RelayRequest/timeout`` itself, on its environment's clock: a
/// transport that never answers is given up on after that long, and its call is cancelled.
///
/// ```swift
/// struct AlwaysAccepts: RelayTransport {
///     func send(_ request: RelayRequest) async throws -> RelayResponse { RelayResponse(status: 200) }
/// }
/// ```
public protocol RelayTransport: Sendable {
    /// Sends one request and returns the endpoint's answer, whatever its status.
    ///
    /// - Parameter request: the delivery.
    /// - Returns: the answer.
    /// - Throws: ``RelayError`` ``RelayError/Code/timedOut`` or ``RelayError/Code/unreachable``
    ///   when no answer came (the relay retries both); `CancellationError` when the calling task
    ///   was cancelled (shutdown, or the relay's own timeout).
    func send(_ request: RelayRequest) async throws -> RelayResponse
}

/// The default transport: HTTP with AsyncHTTPClient, no redirects, a connection pool per relay.
final class HTTPRelayTransport: RelayTransport {
    let client: HTTPClient
    private let isShutDown = Mutex(false)

    init(connectTimeout: Duration, requestTimeout: Duration, maxConnections: Int, logger: Logger) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: Self.timeAmount(connectTimeout), read: Self.timeAmount(requestTimeout))
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnections)
        self.client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration, backgroundActivityLogger: logger)
    }

    func send(_ request: RelayRequest) async throws -> RelayResponse {
        var http = HTTPClientRequest(url: request.url.absoluteString)
        http.method = .POST
        for (name, value) in request.headers { http.headers.add(name: name, value: value) }
        http.body = .bytes(ByteBuffer(bytes: request.body))
        do {
            let response = try await client.execute(http, timeout: Self.timeAmount(request.timeout))
            let body = try await response.body.collect(upTo: 64 * 1024)
            return RelayResponse(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Array(body.readableBytesView))
        } catch let error as CancellationError {
            throw error
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            if Task.isCancelled { throw CancellationError() }
            throw RelayError(.timedOut, "timed out (\(error))")
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw RelayError(.unreachable, "\(error)")
        }
    }

    func shutdown() async throws {
        isShutDown.withLock { $0 = true }
        try await client.shutdown()
    }

    deinit {
        // Dropped without `shutdown()` (a forgotten call, a test that failed half-way): close the
        // client now rather than trip AsyncHTTPClient's debug assertion, which ends the process.
        guard !isShutDown.withLock({ $0 }) else { return }
        _ = client.shutdown()
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(EventRelay.nanoseconds(duration))
    }
}
