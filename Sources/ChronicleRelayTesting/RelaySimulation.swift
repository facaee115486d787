import Chronicle
public import ChronicleRelay
public import ChronicleTesting
import Foundation
import Logging
import Synchronization

/// A deterministic simulation of an ``ChronicleRelay/EventRelay``: the real relay — retries,
/// `Retry-After`, request timeouts, its circuit breaker — runs as a process manager under the
/// real `ProjectionEngine`, partitioned by stream, in a runner that crashes and restarts, and
/// calls a ``SimulatedRelayEndpoint`` (the real `RelayInbox` over an inbox keyed by event id)
/// that fails, answers 5xx, 429 and 422, hangs and goes down, all in virtual time.
///
/// After every step the simulator checks that the circuit breaker lets no call through while
/// it is open (nor a second one while half-open), that a retry waits at least its backoff and
/// the endpoint's `Retry-After`, that no call outlives the request timeout, that a refused event
/// is not retried, that no checkpoint is past an event the receiver has not applied (nor was it
/// parked), and that each stream's events are applied in order. Once the faults stop, the relay
/// must catch up: every event reached the wire at least once and the receiver's inbox exactly
/// once, or is parked for a reason the wire shows (refused, or every try failed).
///
/// ```swift
/// var simulation = RelaySimulation { writer in
///     for _ in 0..<writer.random(in: 1...20) {
///         try await writer.append(writer.event(type: "OrderPlaced"), to: StreamID(category: "order", id: "\(writer.random(in: 1...4))"))
///     }
/// }
/// simulation.endpointFaults = RelayEndpointFaults(serverError: 0.2, outages: [.seconds(1)..<(.seconds(30))])
/// try await simulation.check(seeds: 0..<100)
/// ```
public struct RelaySimulation: SimulationScenario {
    /// The workload: appends the events the relay delivers.
    public var workload: @Sendable (SimulationWriter) async throws -> Void
    /// The stream categories relayed (`nil`: all).
    public var categories: Set<String>?
    /// The endpoint's faults (`nil`: drawn from the seed, with ``refusedTypes``).
    public var endpointFaults: RelayEndpointFaults?
    /// Event types the endpoint refuses for good when its faults are drawn from the seed.
    public var refusedTypes: Set<String>
    /// The store's faults (`nil`: drawn from the seed).
    public var storeFaults: StoreFaults?
    /// The checkpoint storage's faults (`nil`: failed commits, or none, drawn from the seed).
    public var storageFaults: StorageFaults?
    /// The relay's retry policy (`nil`: 2–8 tries, drawn from the seed).
    public var retry: RelayRetryPolicy?
    /// The relay's circuit breaker (`nil`: 1–6 failures, a 1–30 s cool-down, drawn from the seed).
    public var circuitBreaker: CircuitBreakerPolicy?
    /// The relay's request timeout (`nil`: 1–30 s, drawn from the seed).
    public var requestTimeout: Duration?
    /// Partitions by stream (`nil`: 1–4, drawn from the seed).
    public var partitions: Int?
    /// The chance, after every step, that the relay's runner crashes.
    public var crashProbability: Double
    /// What the runs exercised, summed over every run of this value.
    public let statistics: RelaySimulationStatistics
    package var plantedFault: RelayPlantedFault?

    /// Creates a simulation of a relay.
    ///
    /// - Parameter workload: appends the events the relay delivers.
    public init(workload: @escaping @Sendable (SimulationWriter) async throws -> Void) {
        self.workload = workload
        self.refusedTypes = []
        self.crashProbability = 0.003
        self.statistics = RelaySimulationStatistics()
    }

    /// Runs the scenario for one seed (see ``ChronicleTesting/SimulationScenario``).
    public func run(in context: SimulationContext) async throws {
        func maybe(_ rate: Double) -> Double { context.random(in: 0...2) == 0 ? rate : 0 }
        let secret = RelaySecret("simulated-relay-secret")
        let storeFaults = self.storeFaults ?? .random(context, allowLostWakeUps: true)
        let store = FaultInjectingEventStore(context: context, faults: storeFaults)
        let storage = SimulatedProcessManagerStorage(context: context, faults: storageFaults ?? StorageFaults(commitFailure: maybe(0.05)))
        let endpoint = SimulatedRelayEndpoint(context: context, faults: endpointFaults ?? .random(context, refusedTypes: refusedTypes), secret: secret)
        let partitions = self.partitions ?? context.random(in: 1...4)
        let retry =
            self.retry
            ?? RelayRetryPolicy(
                maxAttempts: context.random(in: 2...8), baseDelay: .milliseconds(Int64(context.random(in: 10...500))),
                maxDelay: .seconds(Int64(context.random(in: 1...30))), maxRetryAfter: .seconds(Int64(context.random(in: 5...60)))
            )
        let breaker = circuitBreaker ?? CircuitBreakerPolicy(failureThreshold: context.random(in: 1...6), coolDown: .seconds(Int64(context.random(in: 1...30))))
        let timeout = requestTimeout ?? .seconds(Int64(context.random(in: 1...30)))
        let pageSize = context.random(in: 1...8)
        var configuration = EventRelay.Configuration(
            endpoint: URL(string: "http://receiver.simulated/inbox")!, secret: secret, categories: categories, requestTimeout: timeout, retry: retry,
            circuitBreaker: breaker, maxConnections: partitions, environment: context.environment
        )
        configuration.plantedFault = plantedFault
        context.record(
            "relay: \(partitions) partition(s), page \(pageSize), \(retry.maxAttempts) tries from \(retry.baseDelay), circuit \(breaker.failureThreshold) failures/\(breaker.coolDown), timeout \(timeout)"
        )
        let relayConfiguration = configuration
        let filter = ProjectionFilter(categories: categories)
        let partitioning = try ProjectionPartitioning.byStream(partitions)
        var options = ProjectionEngine.Options(pageSize: pageSize, failurePolicy: EventRelay.failurePolicy, partitioning: partitioning, filter: filter, environment: context.environment)
        let monitor = WireMonitor(context: context, retry: retry, timeout: timeout, statistics: statistics)

        let durable = SharedCounter()
        context.addInvariant("no checkpoint past an event the receiver has not applied nor was parked") {
            let log = store.committedEvents
            let received = endpoint.received.count
            let now = (writes: storage.writes, events: log.count, received: received)
            guard durable.changed(now.writes, now.events, now.received) else { return nil }
            if let problem = storage.unfinishedReaction(log: log, filter: filter, partitioning: partitioning) { return problem }
            let applied = endpoint.applications
            let parked = storage.parked
            for event in log where filter.includes(event) && event.position <= storage.checkpoint(of: event.streamID, partitioning: partitioning) {
                if applied[event.id] == nil && parked[event.position] == nil {
                    return "the checkpoint is past the event at \(event.position) (\(event.id)), which the receiver never applied and which is not parked"
                }
            }
            return nil
        }
        let orderChecked = SharedCounter()
        context.addInvariant("each stream's events applied in order, each once") {
            let received = endpoint.received
            guard orderChecked.changed(received.count, 0, 0) else { return nil }
            var last: [StreamID: StreamVersion] = [:]
            for item in received {
                if let previous = last[item.stream], previous >= item.version {
                    return "stream \(item.stream) had version \(item.version) applied after version \(previous)"
                }
                last[item.stream] = item.version
            }
            if let twice = endpoint.applications.first(where: { $0.value > 1 }) { return "event \(twice.key) was applied \(twice.value) times" }
            return nil
        }
        context.addInvariant("no call outlives the request timeout") { monitor.overdueCall() }
        context.addInvariant("circuit transitions") {
            monitor.observeCircuits()
            return nil
        }

        let runner = context.process(named: "relay", crashProbability: crashProbability)
        let writer = SimulationWriter(context: context, store: store)
        // Polling only when wake-ups get lost, as in production across processes.
        let source = ProjectionSource.observing(store, pollInterval: storeFaults.lostWakeUp > 0 ? .seconds(1) : nil, environment: context.environment)
        options.circuit = { monitor.currentCircuit() }
        let engineOptions = options
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await runner.run { life in
                    let transport = MonitoredTransport(endpoint: endpoint, monitor: monitor, life: life)
                    let relay = try EventRelay(name: "relay", configuration: relayConfiguration, transport: transport, logger: TraceLogHandler.logger(context))
                    monitor.started(life: life, relay: relay)
                    let handle = SimulatedProcessManagerStorage.Handle(storage: storage, life: life, manager: relay)
                    let engine = try ProjectionEngine(name: relay.name, storage: handle, source: source, options: engineOptions)
                    try await engine.run()
                }
            }
            try await workload(writer)
            context.quiesce()
            // Faults over: the relay must deliver everything (or have parked it).
            let deadline = context.now + .seconds(3600)
            while true {
                let head = try await store.wrapped.headPosition()
                if storage.checkpoint >= head { break }
                if context.now > deadline {
                    context.fail("liveness", "with faults over, the relay stayed at \(storage.checkpoint) for a virtual hour; the head is \(head)")
                    runner.stop()
                    return
                }
                try await context.environment.sleep(.seconds(1))
            }
            runner.stop()
            let log = try await store.wrapped.readAll(after: .start, limit: Int.max)
            let parked = storage.parked
            let applied = endpoint.applications
            let called = monitor.calledEvents
            let refused = (endpointFaults ?? endpoint.faults).refusedTypes
            for event in log where filter.includes(event) {
                if !called.contains(event.id) {
                    context.fail("at least once at the wire", "the event at \(event.position) (\(event.id)) never reached the endpoint")
                } else if let parkedEvent = parked[event.position] {
                    // Refused (a 422), or every try failed before the endpoint could say so.
                    let refusal = refused.contains(event.type) && parkedEvent.error.hasPrefix("permanentFailure")
                    if !refusal && !parkedEvent.error.contains("failed \(retry.maxAttempts) times") {
                        context.fail("parked events accounted for", "the event at \(event.position) was parked without \(retry.maxAttempts) failed tries: \(parkedEvent.error)")
                    }
                } else if refused.contains(event.type) {
                    context.fail("parked events accounted for", "the refused event at \(event.position) is not parked")
                } else if applied[event.id] == nil {
                    context.fail("exactly once in the inbox", "the event at \(event.position) (\(event.id)) is neither in the receiver's inbox nor parked")
                }
                if refused.contains(event.type), applied[event.id] != nil {
                    context.fail("parked events accounted for", "the refused event at \(event.position) was applied")
                }
            }
            for event in log where !filter.includes(event) && called.contains(event.id) {
                context.fail("filter", "the event at \(event.position) (\(event.type) in \(event.streamID)) is not relayed but reached the endpoint")
            }
            statistics.add(run: endpoint, events: log.filter { filter.includes($0) }.count, parked: parked.count, crashes: runner.crashes)
        }
    }
}

/// What the runs of a ``RelaySimulation`` exercised, summed: a test that asserts these are not
/// zero proves its seeds reached the paths it is about (timeouts, an open circuit, a probe).
public final class RelaySimulationStatistics: Sendable {
    /// The sums.
    public struct Counts: Sendable, Hashable {
        /// Runs that reached their end.
        public var runs = 0
        /// Events the relay was to deliver.
        public var events = 0
        /// Calls that reached the endpoint.
        public var calls = 0
        /// Calls by the status they got (0: no answer — refused connection, hang, lost reply).
        public var answers: [Int: Int] = [:]
        /// Calls the relay gave up on at its request timeout.
        public var timeouts = 0
        /// Times a circuit opened.
        public var circuitOpened = 0
        /// Probe calls through a half-open circuit.
        public var probes = 0
        /// Times a half-open circuit closed again.
        public var circuitClosed = 0
        /// Retries the relay made itself (calls with `Chronicle-Attempt` above 1).
        public var retries = 0
        /// Events parked.
        public var parked = 0
        /// Crashes of the relay's runner.
        public var crashes = 0
        /// Deliveries of events the receiver had applied already.
        public var redeliveries = 0
    }

    private let counts = Mutex(Counts())

    /// Creates empty counts.
    public init() {}

    /// The sums so far.
    public var totals: Counts { counts.withLock { $0 } }

    func update(_ body: (inout Counts) -> Void) { counts.withLock { body(&$0) } }

    func add(run endpoint: SimulatedRelayEndpoint, events: Int, parked: Int, crashes: Int) {
        let answers = endpoint.answers
        let calls = endpoint.calls
        let duplicates = endpoint.duplicates
        counts.withLock { counts in
            counts.runs += 1
            counts.events += events
            counts.calls += calls
            counts.answers.merge(answers, uniquingKeysWith: +)
            counts.parked += parked
            counts.crashes += crashes
            counts.redeliveries += duplicates
        }
    }
}

/// Whether three numbers changed since the last call (invariants skip unchanged states).
private final class SharedCounter: Sendable {
    private let last = Mutex<(Int, Int, Int)?>(nil)

    func changed(_ a: Int, _ b: Int, _ c: Int) -> Bool {
        last.withLock { last in
            defer { last = (a, b, c) }
            return last.map { $0 != (a, b, c) } ?? true
        }
    }
}

extension SimulatedProcessManagerStorage {
    /// The checkpoint of `stream`'s partition.
    fileprivate func checkpoint(of stream: StreamID, partitioning: ProjectionPartitioning) -> GlobalPosition {
        checkpoints.map { $0.count == 1 ? $0[0] : $0[partitioning.partition(of: stream)] } ?? .start
    }
}

/// The relay's calls as the wire sees them, per life of the runner: checks the circuit breaker,
/// the retry waits and the timeouts as each call starts.
private final class WireMonitor: Sendable {
    struct Call {
        let life: Int
        let event: String
        let attempt: Int
        let start: Duration
        var end: Duration?
        /// The least wait before the relay may try again (`nil`: it must not retry this call).
        var retryGap: Duration?
        var status: Int?
    }
    struct State {
        /// Calls without an end yet, by number.
        var inFlight: [Int: Call] = [:]
        var nextCall = 0
        /// The latest call per life and event, by number.
        var last: [String: (number: Int, call: Call)] = [:]
        var called: Set<UUID> = []
        var lives: [Int: (life: SimulatedIncarnation, relay: EventRelay)] = [:]
        var current = 0
        var probes: [Int: [Date: Int]] = [:]
        var circuits: [Int: CircuitStatus.State] = [:]
    }

    private weak let context: SimulationContext?
    private let retry: RelayRetryPolicy
    private let timeout: Duration
    private let statistics: RelaySimulationStatistics
    private let state = Mutex(State())

    init(context: SimulationContext, retry: RelayRetryPolicy, timeout: Duration, statistics: RelaySimulationStatistics) {
        self.context = context
        self.retry = retry
        self.timeout = timeout
        self.statistics = statistics
    }

    var calledEvents: Set<UUID> { state.withLock { $0.called } }

    func started(life: SimulatedIncarnation, relay: EventRelay) {
        state.withLock { state in
            state.lives[life.number] = (life, relay)
            state.current = life.number
        }
    }

    func currentCircuit() -> CircuitStatus? {
        let relay = state.withLock { $0.lives[$0.current]?.relay }
        return relay?.circuit
    }

    /// Counts the circuits' transitions (between steps).
    func observeCircuits() {
        let relays = state.withLock { state in state.lives.filter { $0.value.life.isAlive }.map { ($0.key, $0.value.relay) } }
        for (life, relay) in relays {
            guard let now = relay.circuit?.state else { continue }
            let before = state.withLock { state in
                defer { state.circuits[life] = now }
                return state.circuits[life] ?? .closed
            }
            guard before != now else { continue }
            statistics.update { counts in
                switch now {
                case .open: counts.circuitOpened += 1
                case .closed where before == .halfOpen: counts.circuitClosed += 1
                default: break
                }
            }
        }
    }

    /// A call of a live life still in flight past its timeout.
    func overdueCall() -> String? {
        guard let context else { return nil }
        let now = context.now
        return state.withLock { state in
            for call in state.inFlight.values where now > call.start + timeout && state.lives[call.life]?.life.isAlive == true {
                return "a call for event \(call.event) (try \(call.attempt)) started at \(call.start) is still waiting at \(now), past the \(timeout) timeout"
            }
            return nil
        }
    }

    func callStarted(_ request: RelayRequest, life: SimulatedIncarnation) -> Int {
        guard let context else { return -1 }
        let now = context.now
        let date = context.date
        let event = request.header("Chronicle-Event-Id") ?? "?"
        let attempt = request.header("Chronicle-Attempt").flatMap(Int.init) ?? 1
        let relay = state.withLock { $0.lives[life.number]?.relay }
        if let circuit = relay?.circuit {
            switch circuit.state {
            case .open where date > circuit.since:
                context.fail("circuit", "a call for event \(event) went out \(date.timeIntervalSince(circuit.since)) s after the circuit opened, before its cool-down ended")
            case .halfOpen:
                let count = state.withLock { state in
                    state.probes[life.number, default: [:]][circuit.since, default: 0] += 1
                    return state.probes[life.number]![circuit.since]!
                }
                statistics.update { $0.probes += 1 }
                if count > 1 { context.fail("circuit", "\(count) calls went through one half-open circuit (one probe only)") }
            default:
                break
            }
        }
        if attempt > 1 { statistics.update { $0.retries += 1 } }
        return state.withLock { state in
            let key = "\(life.number)/\(event)"
            if attempt > 1, let previous = state.last[key]?.call {
                if let end = previous.end, let gap = previous.retryGap {
                    if now < end + gap {
                        context.fail("retry waits", "event \(event)'s try \(attempt) came \(now - end) after try \(previous.attempt) ended; it had to wait at least \(gap)")
                    }
                } else if previous.end != nil {
                    context.fail("no retry of a final answer", "event \(event) was tried again (try \(attempt)) after HTTP \(previous.status.map(String.init) ?? "?"), which is final")
                }
            }
            let index = state.nextCall
            state.nextCall += 1
            let call = Call(life: life.number, event: event, attempt: attempt, start: now)
            state.inFlight[index] = call
            state.last[key] = (index, call)
            if let id = UUID(uuidString: event) { state.called.insert(id) }
            return index
        }
    }

    /// Records how a call ended: its status (`nil`: no answer) and `Retry-After`.
    func callEnded(_ index: Int, status: Int?, retryAfter: Duration?, cancelled: Bool) {
        guard let context else { return }
        let now = context.now
        let timedOut: Bool = state.withLock { state in
            guard var call = state.inFlight.removeValue(forKey: index) else { return false }
            call.end = now
            call.status = status
            let retryable = status.map { [408, 409, 429].contains($0) || (500...599).contains($0) } ?? true
            if retryable {
                let backoff = retry.backoff(afterAttempt: call.attempt) / 2
                call.retryGap = max(backoff, min(retryAfter ?? .zero, retry.maxRetryAfter))
            }
            let key = "\(call.life)/\(call.event)"
            if state.last[key]?.number == index { state.last[key] = (index, call) }
            return cancelled && now == call.start + timeout
        }
        if timedOut { statistics.update { $0.timeouts += 1 } }
    }
}

/// The endpoint as one life of the relay calls it, watched by the monitor.
private struct MonitoredTransport: RelayTransport {
    let endpoint: SimulatedRelayEndpoint
    let monitor: WireMonitor
    let life: SimulatedIncarnation

    func send(_ request: RelayRequest) async throws -> RelayResponse {
        let call = monitor.callStarted(request, life: life)
        do {
            let response = try await endpoint.send(request)
            let retryAfter = response.header("Retry-After").flatMap(Int64.init).map { Duration.seconds($0) }
            monitor.callEnded(call, status: response.status, retryAfter: retryAfter, cancelled: false)
            return response
        } catch {
            monitor.callEnded(call, status: nil, retryAfter: nil, cancelled: error is CancellationError)
            throw error
        }
    }
}

/// The relay's log lines, into the simulation's trace (a replay shows its retries and circuit changes).
private struct TraceLogHandler: LogHandler {
    weak var context: SimulationContext?
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    static func logger(_ context: SimulationContext) -> Logger {
        Logger(label: "chronicle.relay") { _ in TraceLogHandler(context: context) }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let position = event.metadata?["position"].map { " at \($0)" } ?? ""
        context?.record("relay: \(event.message)\(position)")
    }
}
