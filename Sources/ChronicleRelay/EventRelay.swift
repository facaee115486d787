public import Chronicle
public import CoreMetrics
public import Foundation
public import Logging
import Synchronization

/// An outbound relay: delivers the events of chosen categories and types to another service's
/// endpoint over HTTP, at least once, in order per stream.
///
/// The relay is a ``ProcessManager``, so it runs on Chronicle's one ``ProjectionEngine`` through
/// the backends' process-manager runners (`SQLiteProcessManager`, `PostgresProcessManager`): its
/// checkpoint and parked events live in the projection bookkeeping, and status, lag, parked-event
/// administration (`chronicle parked`, the read API, the console) and partitioning come with it.
/// Run it with ``failurePolicy`` (the relay retries by itself; the engine parks what it gives up
/// on) and ``filter``, and partition it by stream for parallel deliveries:
///
/// ```swift
/// let relay = try EventRelay(name: "shipping-relay", configuration: .init(
///     endpoint: URL(string: "http://shipping.internal/inbox")!, secret: RelaySecret("…"),
///     categories: ["order"]), logger: logger)
/// let runner = try SQLiteProcessManager(relay, path: dir + "/shipping-relay.sqlite", source: .observing(store),
///     failurePolicy: EventRelay.failurePolicy, partitioning: try .byStream(16), filter: relay.filter, logger: logger)
/// // run `runner` in a ServiceGroup; after it stopped:
/// try await relay.shutdown()
/// ```
///
/// Each event is one `POST` of its JSON (the read API's event format) with headers
/// `Idempotency-Key` (the event id), `Chronicle-Event-Id`, `Chronicle-Event-Type`,
/// `Chronicle-Stream`, `Chronicle-Position`, `Chronicle-Correlation-Id`,
/// `Chronicle-Causation-Id`, `Chronicle-Relay` and ``RelaySignature/header``.
/// A 2xx answer delivers it. Connection errors, timeouts, 5xx, 408, 409 and 429 are retried
/// (``RelayRetryPolicy``, honouring `Retry-After`) and count towards the endpoint's circuit
/// breaker (``CircuitBreakerPolicy``); other answers park the event at once.
///
/// Time, waits and the retry jitter come from ``Configuration/environment`` and the calls go
/// through a ``RelayTransport`` (HTTP by default), so the same relay runs under
/// ChronicleTesting's deterministic simulator with a virtual clock and an endpoint double
/// (ChronicleRelayTesting's `RelaySimulation`).
public final class EventRelay: ProcessManager {
    /// Where and how a relay delivers.
    public struct Configuration: Sendable {
        /// The subscriber's endpoint (`http` or `https`).
        public var endpoint: URL
        /// The secret the deliveries are signed with.
        public var secret: RelaySecret
        /// The stream categories relayed (`nil`: all).
        public var categories: Set<String>?
        /// The event types relayed (`nil`: all).
        public var eventTypes: Set<String>?
        /// How long connecting may take.
        public var connectTimeout: Duration
        /// How long one whole request may take, connecting and the answer included.
        public var requestTimeout: Duration
        /// Retries of a failing delivery.
        public var retry: RelayRetryPolicy
        /// The endpoint's circuit breaker.
        public var circuitBreaker: CircuitBreakerPolicy
        /// Connections to the endpoint at most (1…1,024): more partitions than this queue for one.
        public var maxConnections: Int
        /// Time, waits and randomness: ``Chronicle/RuntimeEnvironment/live`` in production, the
        /// simulation's virtual clock and seeded generator under ChronicleTesting's simulator.
        /// Request timeouts run on its `sleep`, the retry jitter on its `random` (unless
        /// ``randomSeed`` is set), signatures and the circuit breaker on its `now`.
        public var environment: RuntimeEnvironment
        /// Seeds the retry jitter (`nil`: the ``environment``'s randomness).
        public var randomSeed: UInt64?
        /// A bug planted on purpose, for the simulator's proof that it finds relay bugs (never set in production).
        package var plantedFault: RelayPlantedFault?
        /// The wait between retries and while the circuit is open, when set apart from the environment's.
        private var backoffSleep: (@Sendable (Duration) async throws -> Void)?

        /// Waits between retries and while the circuit is open: the ``environment``'s sleep unless
        /// set. Setting it changes those waits only (request timeouts keep the environment's
        /// clock), so a test can make retries fast without cutting its requests short.
        public var sleep: @Sendable (Duration) async throws -> Void {
            get { backoffSleep ?? environment.sleep }
            set { backoffSleep = newValue }
        }
        /// The clock for signatures, `Retry-After` dates and the circuit breaker (the ``environment``'s).
        public var now: @Sendable () -> Date {
            get { environment.now }
            set { environment.now = newValue }
        }

        /// Creates a configuration; the defaults suit most subscribers.
        ///
        /// - Parameters:
        ///   - endpoint: the subscriber's URL.
        ///   - secret: the secret the deliveries are signed with.
        ///   - categories: the stream categories relayed (`nil`: all).
        ///   - eventTypes: the event types relayed (`nil`: all).
        ///   - connectTimeout: how long connecting may take (5 s).
        ///   - requestTimeout: how long a whole request may take (30 s).
        ///   - retry: retries of a failing delivery.
        ///   - circuitBreaker: the endpoint's circuit breaker.
        ///   - maxConnections: connections to the endpoint at most (16).
        ///   - sleep: waits between retries and while the circuit is open (`nil`: the environment's).
        ///   - now: the clock (`nil`: the environment's).
        ///   - randomSeed: seeds the retry jitter (`nil`: the environment's randomness).
        ///   - environment: time, waits and randomness (``Chronicle/RuntimeEnvironment/live``).
        public init(
            endpoint: URL, secret: RelaySecret, categories: Set<String>? = nil, eventTypes: Set<String>? = nil,
            connectTimeout: Duration = .seconds(5), requestTimeout: Duration = .seconds(30), retry: RelayRetryPolicy = .default,
            circuitBreaker: CircuitBreakerPolicy = .default, maxConnections: Int = 16,
            sleep: (@Sendable (Duration) async throws -> Void)? = nil,
            now: (@Sendable () -> Date)? = nil, randomSeed: UInt64? = nil, environment: RuntimeEnvironment = .live
        ) {
            self.endpoint = endpoint
            self.secret = secret
            self.categories = categories
            self.eventTypes = eventTypes
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.retry = retry
            self.circuitBreaker = circuitBreaker
            self.maxConnections = maxConnections
            self.environment = environment
            self.backoffSleep = sleep
            if let now { self.environment.now = now }
            self.randomSeed = randomSeed
        }

        func validate() throws(RelayError) {
            guard let scheme = endpoint.scheme?.lowercased(), scheme == "http" || scheme == "https", endpoint.host != nil else {
                throw RelayError(.invalidConfiguration, "A relay endpoint is an http or https URL with a host, not \(endpoint.absoluteString).")
            }
            guard !secret.bytes.isEmpty else {
                throw RelayError(.invalidConfiguration, "A relay needs a non-empty secret to sign its deliveries.")
            }
            guard connectTimeout > .zero, requestTimeout > .zero else {
                throw RelayError(.invalidConfiguration, "Relay timeouts must be longer than zero (connect \(connectTimeout), request \(requestTimeout)).")
            }
            guard (1...1024).contains(maxConnections) else {
                throw RelayError(.invalidConfiguration, "A relay keeps 1 to 1024 connections, not \(maxConnections).")
            }
            try retry.validate()
            try circuitBreaker.validate()
        }
    }

    /// The relay's name: it keys its checkpoint, parked events, lease and metrics.
    public let name: String
    /// Its configuration.
    public let configuration: Configuration
    let logger: Logger
    let transport: any RelayTransport
    /// The HTTP transport the relay made (none when one was given), closed by ``shutdown()``.
    private let http: HTTPRelayTransport?
    let breaker: CircuitBreaker
    private let random: Mutex<SplitMix64>?
    private let deliveredCounter: Counter
    private let retriedCounter: Counter
    private let parkedCounter: Counter
    private let latency: CoreMetrics.Timer

    /// The engine failure policy to run a relay with: park at the first failure the relay gives
    /// up on (the relay retries by itself, with its own backoff and circuit breaker).
    public static let failurePolicy = FailurePolicy(maxAttempts: 1, baseDelay: .milliseconds(100), maxDelay: .seconds(10), then: .park)

    /// The events the relay delivers, as a projection filter: pass it to the runner so the
    /// checkpoint moves past the others without a call.
    public var filter: ProjectionFilter { ProjectionFilter(categories: configuration.categories, eventTypes: configuration.eventTypes) }

    /// The endpoint's circuit breaker state (the runner's status shows it).
    public var circuit: CircuitStatus? { breaker.status }

    /// Creates a relay and, unless `transport` is given, its HTTP client; call ``shutdown()`` once
    /// its runner has stopped.
    ///
    /// - Parameters:
    ///   - name: the relay's name (1 to 100 of `A-Z a-z 0-9 _ - .`).
    ///   - configuration: where and how it delivers.
    ///   - transport: how calls reach the endpoint (`nil`: HTTP, with AsyncHTTPClient); a
    ///     simulation passes an endpoint double.
    ///   - logger: where it logs retries, parked deliveries and circuit changes.
    ///   - metrics: where its metrics go (`chronicle_relay_…`, dimension `relay`).
    /// - Throws: ``RelayError`` ``RelayError/Code/invalidConfiguration``.
    public init(
        name: String, configuration: Configuration, transport: (any RelayTransport)? = nil, logger: Logger = Logger(label: "chronicle.relay"),
        metrics: any MetricsFactory = MetricsSystem.factory
    ) throws(RelayError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
        guard (1...100).contains(name.count), name.allSatisfy({ allowed.contains($0) }) else {
            throw RelayError(.invalidConfiguration, "Relay name \(name.debugDescription) is not usable: use 1 to 100 of A-Z a-z 0-9 _ - .")
        }
        try configuration.validate()
        self.name = name
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "relay"] = .string(name)
        self.logger = logger
        if let transport {
            self.transport = transport
            self.http = nil
        } else {
            let http = HTTPRelayTransport(
                connectTimeout: configuration.connectTimeout, requestTimeout: configuration.requestTimeout, maxConnections: configuration.maxConnections, logger: logger
            )
            self.transport = http
            self.http = http
        }
        self.random = configuration.randomSeed.map { Mutex(SplitMix64(seed: $0)) }
        let dimensions = [("relay", name)]
        let circuitGauge = Gauge(label: "chronicle_relay_circuit_state", dimensions: dimensions, factory: metrics)
        let endpoint = Self.redacted(configuration.endpoint)
        self.breaker = CircuitBreaker(
            policy: configuration.circuitBreaker, endpoint: endpoint, now: configuration.now,
            letsCallsThroughWhileOpen: configuration.plantedFault == .breakerLetsCallsThroughWhileOpen
        ) { [logger] status in
            circuitGauge.record(status.state == .closed ? 0 : status.state == .halfOpen ? 1 : 2)
            let metadata: Logger.Metadata = ["endpoint": .string(status.endpoint), "consecutiveFailures": "\(status.consecutiveFailures)"]
            switch status.state {
            case .open where status.consecutiveFailures > configuration.circuitBreaker.failureThreshold:
                logger.warning("Relay circuit probe failed: open again until the next cool-down has passed", metadata: metadata)
            case .open: logger.error("Relay circuit open: no calls until the cool-down has passed", metadata: metadata)
            case .halfOpen: logger.notice("Relay circuit half-open: one probe call", metadata: metadata)
            case .closed: logger.notice("Relay circuit closed: the endpoint answers again", metadata: metadata)
            }
        }
        circuitGauge.record(0)
        self.deliveredCounter = Counter(label: "chronicle_relay_delivered_total", dimensions: dimensions, factory: metrics)
        self.retriedCounter = Counter(label: "chronicle_relay_retries_total", dimensions: dimensions, factory: metrics)
        self.parkedCounter = Counter(label: "chronicle_relay_gave_up_total", dimensions: dimensions, factory: metrics)
        self.latency = CoreMetrics.Timer(label: "chronicle_relay_delivery_duration", dimensions: dimensions, factory: metrics)
    }

    /// Shuts the relay's HTTP client down (after its runner stopped); does nothing when the relay
    /// was given its transport. A relay dropped without it closes its client as it goes.
    ///
    /// - Throws: AsyncHTTPClient's error if it was shut down already.
    public func shutdown() async throws {
        try await http?.shutdown()
    }

    /// Delivers `event` (retrying, waiting while the circuit is open); throws when the relay gives
    /// up, so the runner parks the event.
    ///
    /// - Parameters:
    ///   - event: the event to deliver.
    ///   - context: the runner's context (unused: the relay appends nothing).
    /// - Throws: ``RelayError`` ``RelayError/Code/permanentFailure`` or
    ///   ``RelayError/Code/retriesExhausted``; `CancellationError` on shutdown.
    public func react(to event: RecordedEvent, context: ProcessContext) async throws {
        guard filter.includes(event) else { return }
        try await deliver(event)
    }

    /// Delivers one event with retries and the circuit breaker.
    func deliver(_ event: RecordedEvent) async throws {
        let body = Self.body(of: event)
        let policy = configuration.retry
        var attempts = 0
        // Latency is a figure for metrics, on the monotonic clock (no decision depends on it).
        let started = ContinuousClock.now
        while true {
            try Task.checkCancellation()
            let permit = breaker.permit()
            if case .wait(let delay) = permit {
                try await configuration.sleep(delay)
                continue
            }
            attempts += 1
            let outcome: Outcome
            do {
                outcome = try await post(event, body: body, attempt: attempts)
            } catch {
                if permit == .probe { breaker.abandonedProbe() }
                throw error
            }
            switch outcome {
            case .delivered:
                breaker.succeeded()
                deliveredCounter.increment()
                latency.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - started))
                if attempts > 1 {
                    logger.info("Relay delivered an event after retries", metadata: Self.metadata(event).merging(["attempts": "\(attempts)"]) { $1 })
                }
                return
            case .refused(let status, let detail):
                breaker.succeeded()
                parkedCounter.increment()
                throw RelayError(
                    .permanentFailure,
                    "\(breaker.endpoint) refused event \(event.id) (\(event.type), \(event.streamID)) at position \(event.position) with HTTP \(status)\(detail.isEmpty ? "" : ": \(detail)"). Fix the receiver or the event, then retry it (chronicle parked retry).",
                    httpStatus: status, attempts: attempts
                )
            case .failed(let reason, let status, let retryAfter):
                breaker.failed()
                guard attempts < policy.maxAttempts else {
                    parkedCounter.increment()
                    throw RelayError(
                        .retriesExhausted,
                        "Delivering event \(event.id) (\(event.type), \(event.streamID)) at position \(event.position) to \(breaker.endpoint) failed \(attempts) times; last: \(reason). Retry it once the endpoint works (chronicle parked retry).",
                        httpStatus: status, attempts: attempts
                    )
                }
                let bits = random?.withLock { $0.next() } ?? configuration.environment.random()
                let unit = Double(bits >> 11) / Double(1 << 53)
                let delay = policy.delay(afterAttempt: attempts, unit: unit, retryAfter: retryAfter)
                retriedCounter.increment()
                logger.warning(
                    "Relay delivery failed; retrying",
                    metadata: Self.metadata(event).merging(["attempt": "\(attempts)", "error": .string(reason), "retryIn": "\(delay)"]) { $1 }
                )
                try await configuration.sleep(delay)
            }
        }
    }

    private enum Outcome {
        case delivered
        case refused(status: Int, detail: String)
        case failed(reason: String, status: Int?, retryAfter: Duration?)
    }

    private func post(_ event: RecordedEvent, body: [UInt8], attempt: Int) async throws -> Outcome {
        let timestamp = Int64(configuration.now().timeIntervalSince1970)
        // From the environment's randomness, so a simulated run replays the same requests (and
        // without Foundation's UUID(), which opens /dev/urandom for every id on Linux).
        let deliveryID = Self.deliveryID(configuration.environment.random(), configuration.environment.random())
        let eventID = event.id.uuidString.lowercased()
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"), ("Idempotency-Key", eventID), ("Chronicle-Event-Id", eventID),
            ("Chronicle-Event-Type", event.type), ("Chronicle-Stream", event.streamID.rawValue), ("Chronicle-Position", String(event.position.value)),
            ("Chronicle-Relay", name), ("Chronicle-Attempt", String(attempt)),
        ]
        if let correlation = event.metadata.correlationID { headers.append(("Chronicle-Correlation-Id", correlation)) }
        if let causation = event.metadata.causationID { headers.append(("Chronicle-Causation-Id", causation)) }
        headers.append((RelaySignature.header, RelaySignature.sign(body: body, secret: configuration.secret, timestamp: timestamp, deliveryID: deliveryID)))
        let request = RelayRequest(url: configuration.endpoint, headers: headers, body: body, timeout: configuration.requestTimeout)
        if configuration.plantedFault == .acknowledgesBeforeTheEndpointAnswers {
            // The planted bug: the call goes out on its own and the event counts as delivered.
            let transport = self.transport
            configuration.environment.spawn { _ = try? await transport.send(request) }
            return .delivered
        }
        do {
            guard let response = try await send(request) else {
                return .failed(reason: "timed out after \(configuration.requestTimeout)", status: nil, retryAfter: nil)
            }
            let status = response.status
            switch status {
            case 200..<300:
                return .delivered
            case 408, 409, 429, 500...599:
                let retryAfter = response.header("Retry-After").flatMap { Self.retryAfter($0, now: configuration.now()) }
                return .failed(reason: "HTTP \(status)\(Self.snippet(response.body).map { ": \($0)" } ?? "")", status: status, retryAfter: retryAfter)
            default:
                return .refused(status: status, detail: Self.snippet(response.body) ?? "")
            }
        } catch let error as CancellationError {
            throw error
        } catch {
            if Task.isCancelled { throw CancellationError() }
            if let error = error as? RelayError, error.code == .timedOut {
                return .failed(reason: "timed out (\(error.message))", status: nil, retryAfter: nil)
            }
            return .failed(reason: "\(error)", status: nil, retryAfter: nil)
        }
    }

    /// The transport's answer to `request`, or `nil` once its timeout has passed on the
    /// environment's clock (the call is then cancelled): a virtual timeout in a simulation.
    private func send(_ request: RelayRequest) async throws -> RelayResponse? {
        let transport = self.transport
        let sleep = configuration.environment.sleep
        return try await withThrowingTaskGroup(of: RelayResponse?.self) { group in
            group.addTask { try await transport.send(request) }
            group.addTask {
                try await sleep(request.timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    // MARK: Helpers

    /// The request body: the event in the read API's JSON.
    /// A version-4 UUID (lower-case text) made of two random words.
    static func deliveryID(_ high: UInt64, _ low: UInt64) -> String {
        var bytes = (high.bigEndian, low.bigEndian)
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw[6] = (raw[6] & 0x0F) | 0x40  // version 4
            raw[8] = (raw[8] & 0x3F) | 0x80  // variant 10
            return UUID(uuid: raw.load(as: uuid_t.self)).uuidString.lowercased()
        }
    }

    static func body(of event: RecordedEvent) -> [UInt8] {
        var writer = EventJSONWriter(capacity: 256 + event.payload.count)
        writer.event(event)
        return writer.bytes
    }

    /// `Retry-After` as seconds or an HTTP date.
    static func retryAfter(_ value: String, now: Date) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int64(trimmed) { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .seconds(max(0, date.timeIntervalSince(now)))
    }

    private static func snippet(_ body: [UInt8]) -> String? {
        guard !body.isEmpty else { return nil }
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func metadata(_ event: RecordedEvent) -> Logger.Metadata {
        ["position": "\(event.position)", "eventID": "\(event.id)", "eventType": .string(event.type), "stream": .string(event.streamID.rawValue)]
    }

    /// The endpoint without user information or query (for logs and status).
    static func redacted(_ url: URL) -> String {
        guard var components = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return url.host ?? "endpoint" }
        components.user = nil
        components.password = nil
        components.query = nil
        return components.string ?? url.host ?? "endpoint"
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let limit = Int64.max / 1_000_000_000 - 1
        return min(seconds, limit) * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// Relay bugs the simulator's own tests plant to measure how many seeds it takes to find each
/// (Docs/Testing.md). Package access: no user can set one.
package enum RelayPlantedFault: Sendable, Hashable {
    /// The circuit breaker lets calls through while it is open (its cool-down is ignored).
    case breakerLetsCallsThroughWhileOpen
    /// The relay counts an event as delivered as soon as its call has gone out, before the
    /// endpoint answered.
    case acknowledgesBeforeTheEndpointAnswers
}

/// A small, seedable random number generator (SplitMix64) for the retry jitter.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
