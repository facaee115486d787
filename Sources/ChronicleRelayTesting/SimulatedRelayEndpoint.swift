public import Chronicle
public import ChronicleRelay
public import ChronicleTesting
public import Foundation
import HTTPTypes
import Synchronization

/// How often a ``SimulatedRelayEndpoint`` misbehaves: chances are per call (0…1); outages are
/// windows of virtual time. Every fault ends when the simulation quiesces.
public struct RelayEndpointFaults: Sendable, Hashable {
    /// The first calls answer 503 (a receiver still starting).
    public var failFirst: Int
    /// A call answers 500 or 503.
    public var serverError: Double
    /// A call answers 429 with `Retry-After` (seconds drawn from ``retryAfter``).
    public var tooManyRequests: Double
    /// The `Retry-After` of a 429, in seconds.
    public var retryAfter: ClosedRange<Int>
    /// A call never answers, and the event is not applied (the relay's request timeout ends it).
    public var hang: Double
    /// The event is applied, then the answer never comes (the relay times out and delivers again).
    public var hangAfterApplying: Double
    /// The event is applied, then the connection drops before the answer.
    public var replyLost: Double
    /// Windows of virtual time (from the start of the run) in which connections are refused.
    public var outages: [Range<Duration>]
    /// How long an answer takes.
    public var latency: ClosedRange<Duration>
    /// Event types the receiver refuses for good (422): the relay must park them at once.
    public var refusedTypes: Set<String>

    /// Creates a fault profile; every fault defaults to off.
    ///
    /// - Parameters:
    ///   - failFirst: the first calls that answer 503.
    ///   - serverError: chance a call answers 500 or 503.
    ///   - tooManyRequests: chance a call answers 429 with `Retry-After`.
    ///   - retryAfter: the `Retry-After` seconds of a 429.
    ///   - hang: chance a call never answers (nothing applied).
    ///   - hangAfterApplying: chance a call applies the event, then never answers.
    ///   - replyLost: chance a call applies the event, then drops the connection.
    ///   - outages: windows of virtual time in which connections are refused.
    ///   - latency: how long an answer takes.
    ///   - refusedTypes: event types refused for good (422).
    public init(
        failFirst: Int = 0, serverError: Double = 0, tooManyRequests: Double = 0, retryAfter: ClosedRange<Int> = 1...5, hang: Double = 0,
        hangAfterApplying: Double = 0, replyLost: Double = 0, outages: [Range<Duration>] = [], latency: ClosedRange<Duration> = .zero...(.milliseconds(20)),
        refusedTypes: Set<String> = []
    ) {
        self.failFirst = failFirst
        self.serverError = serverError
        self.tooManyRequests = tooManyRequests
        self.retryAfter = retryAfter
        self.hang = hang
        self.hangAfterApplying = hangAfterApplying
        self.replyLost = replyLost
        self.outages = outages
        self.latency = latency
        self.refusedTypes = refusedTypes
    }

    /// No faults: every call is applied and answered at once.
    public static let none = RelayEndpointFaults(latency: .zero...(.zero))

    /// A profile drawn from the seed: each kind on or off, 0–2 outages of 1–60 virtual seconds
    /// in the first two minutes.
    ///
    /// - Parameters:
    ///   - context: the simulation whose seed decides.
    ///   - refusedTypes: event types refused for good (422).
    public static func random(_ context: SimulationContext, refusedTypes: Set<String> = []) -> RelayEndpointFaults {
        func maybe(_ rate: Double) -> Double { context.random(in: 0...2) == 0 ? rate : 0 }
        var outages: [Range<Duration>] = []
        for _ in 0..<context.random(in: 0...2) {
            let start = Duration.milliseconds(Int64(context.random(in: 0...120_000)))
            outages.append(start..<(start + .milliseconds(Int64(context.random(in: 1_000...60_000)))))
        }
        return RelayEndpointFaults(
            failFirst: context.random(in: 0...2) == 0 ? context.random(in: 1...10) : 0, serverError: maybe(0.1), tooManyRequests: maybe(0.1),
            retryAfter: 1...context.random(in: 1...20), hang: maybe(0.05), hangAfterApplying: maybe(0.05), replyLost: maybe(0.05), outages: outages,
            latency: .zero...(.milliseconds(Int64(context.random(in: 0...200)))), refusedTypes: refusedTypes
        )
    }
}

/// A relay's endpoint under the simulator: a ``ChronicleRelay/RelayTransport`` that answers
/// from the real ``ChronicleRelay/RelayInbox`` (signatures checked on the virtual clock) over an
/// in-memory inbox keyed by event id, with the ``RelayEndpointFaults`` the seed decides — 5xx,
/// 429 with `Retry-After`, refusals, calls that hang until the relay's request timeout, answers
/// lost after the event was applied, outages — all in virtual time.
///
/// ```swift
/// let simulation = Simulation { context in
///     let endpoint = SimulatedRelayEndpoint(context: context, faults: .random(context), secret: RelaySecret("s"))
///     let relay = try EventRelay(name: "relay", configuration: .init(
///         endpoint: URL(string: "http://receiver/inbox")!, secret: RelaySecret("s"), environment: context.environment), transport: endpoint)
///     // … run it under a ProjectionEngine with the simulation's environment, check endpoint.received …
/// }
/// ```
public final class SimulatedRelayEndpoint: RelayTransport {
    /// An event the receiver applied.
    public struct Received: Sendable, Hashable {
        /// The event's id.
        public var eventID: UUID
        /// Its stream.
        public var stream: StreamID
        /// Its version in the stream.
        public var version: StreamVersion
    }

    private struct State {
        var calls = 0
        var answers: [Int: Int] = [:]
    }

    /// Its faults.
    public let faults: RelayEndpointFaults
    private weak let context: SimulationContext?
    private let inbox: RelayInbox
    private let log = ReceivedLog()
    private let state = Mutex(State())
    private let sleep: @Sendable (Duration) async throws -> Void

    /// Creates an endpoint that accepts deliveries signed with `secret`.
    ///
    /// - Parameters:
    ///   - context: the simulation (its clock, chance and trace).
    ///   - faults: how it misbehaves.
    ///   - secret: the relay's secret.
    public init(context: SimulationContext, faults: RelayEndpointFaults, secret: RelaySecret) {
        self.faults = faults
        self.context = context
        self.sleep = context.environment.sleep
        self.inbox = RelayInbox(inbox: log, configuration: .init(secrets: [secret], now: context.environment.now))
    }

    /// The events applied, in the order they were applied (each once: the inbox is keyed by id).
    public var received: [Received] { log.state.withLock { $0.received } }

    /// How many times each event was applied (1 for each, unless the inbox is broken).
    public var applications: [UUID: Int] { log.state.withLock { $0.applied } }

    /// Calls that reached the endpoint.
    public var calls: Int { state.withLock { $0.calls } }

    /// Deliveries of an event the inbox had applied already (acknowledged, not applied again).
    public var duplicates: Int { log.state.withLock { $0.duplicates } }

    /// How many calls got each status (0: no answer — hung, refused connection, or lost reply).
    public var answers: [Int: Int] { state.withLock { $0.answers } }

    /// Whether the endpoint refuses connections now (an outage, while the run is active).
    public var isDown: Bool {
        guard let context, context.isActive else { return false }
        return faults.outages.contains { $0.contains(context.now) }
    }

    /// Answers one delivery, with the faults the seed decides.
    ///
    /// - Parameter request: the delivery.
    /// - Returns: the inbox's answer, or a fault's.
    /// - Throws: ``ChronicleRelay/RelayError`` ``ChronicleRelay/RelayError/Code/unreachable``
    ///   during an outage or when the reply is lost; `CancellationError` when the relay gives up
    ///   on a hanging call.
    public func send(_ request: RelayRequest) async throws -> RelayResponse {
        let call = state.withLock { state in
            state.calls += 1
            return state.calls
        }
        let event = request.header("Chronicle-Event-Id") ?? "?"
        let context = self.context
        func answer(_ status: Int, _ what: String, headers: [(name: String, value: String)] = [], body: String = "") -> RelayResponse {
            state.withLock { $0.answers[status, default: 0] += 1 }
            context?.record("endpoint: call \(call) (\(event.prefix(8))): \(what)")
            return RelayResponse(status: status, headers: headers, body: Array(body.utf8))
        }
        func noAnswer(_ what: String) {
            state.withLock { $0.answers[0, default: 0] += 1 }
            context?.record("endpoint: call \(call) (\(event.prefix(8))): \(what)")
        }
        if let latency = context?.random(in: faults.latency), latency > .zero { try await sleep(latency) }
        if isDown {
            noAnswer("connection refused")
            throw RelayError(.unreachable, "connection refused (simulated outage)")
        }
        if call <= faults.failFirst { return answer(503, "503 (one of the first \(faults.failFirst) calls)") }
        if context?.chance(faults.hang) ?? false {
            noAnswer("hangs")
            try await sleep(.seconds(365 * 24 * 3600))
        }
        if context?.chance(faults.serverError) ?? false { return answer(context?.random(in: 0...1) == 0 ? 500 : 503, "server error") }
        if context?.chance(faults.tooManyRequests) ?? false, let seconds = context?.random(in: faults.retryAfter) {
            return answer(429, "429, retry after \(seconds) s", headers: [("Retry-After", "\(seconds)")])
        }
        if let type = request.header("Chronicle-Event-Type"), faults.refusedTypes.contains(type) {
            return answer(422, "422 (\(type) refused)", body: #"{"error":{"code":"unprocessable","message":"refused"}}"#)
        }
        let reply = await inbox.receive(body: request.body, signature: request.header(RelaySignature.header), source: request.header("Chronicle-Relay") ?? "?")
        if context?.chance(faults.hangAfterApplying) ?? false {
            noAnswer("applied, then hangs")
            try await sleep(.seconds(365 * 24 * 3600))
        }
        if context?.chance(faults.replyLost) ?? false {
            noAnswer("applied, reply lost")
            throw RelayError(.unreachable, "connection reset (simulated lost reply)")
        }
        return answer(Int(reply.status.code), "\(reply.status.code) \(reply.outcome?.rawValue ?? "refused")", body: reply.body)
    }
}

/// The receiver's inbox: applies an event unless its id was received before.
private final class ReceivedLog: Inbox {
    struct State {
        var received: [SimulatedRelayEndpoint.Received] = []
        var applied: [UUID: Int] = [:]
        var duplicates = 0
    }
    let state = Mutex(State())

    func receive(_ event: RecordedEvent, from source: String) async throws -> InboxOutcome {
        state.withLock { state in
            guard state.applied[event.id] == nil else {
                state.duplicates += 1
                return .duplicate
            }
            state.applied[event.id, default: 0] += 1
            state.received.append(SimulatedRelayEndpoint.Received(eventID: event.id, stream: event.streamID, version: event.streamVersion))
            return .applied
        }
    }
}
