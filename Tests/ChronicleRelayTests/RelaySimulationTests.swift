import Chronicle
import ChronicleRelay
import ChronicleRelayTesting
import ChronicleTestSupport
import ChronicleTesting
import Foundation
import Testing

/// The relay simulations Chronicle's own tests run: the real `EventRelay` under the real engine,
/// against `SimulatedRelayEndpoint`, in virtual time.
enum RelaySimulations {
    /// The type the endpoint refuses for good (422).
    static let refused = "Unprocessable"

    /// Every option and fault drawn from the seed; the relay delivers the `order` category only.
    static func random(_ planted: RelayPlantedFault? = nil) -> RelaySimulation {
        var simulation = RelaySimulation { writer in try await workload(writer) }
        simulation.categories = ["order"]
        simulation.refusedTypes = [refused]
        simulation.plantedFault = planted
        return simulation
    }

    /// One fault profile, no store or storage faults, no crashes (unless set after).
    static func only(_ faults: RelayEndpointFaults, retry: RelayRetryPolicy? = nil, breaker: CircuitBreakerPolicy? = nil, timeout: Duration? = nil) -> RelaySimulation {
        var simulation = RelaySimulation { writer in try await workload(writer) }
        simulation.categories = ["order"]
        simulation.endpointFaults = faults
        simulation.storeFaults = StoreFaults.none
        simulation.storageFaults = StorageFaults.none
        simulation.crashProbability = 0
        simulation.retry = retry
        simulation.circuitBreaker = breaker
        simulation.requestTimeout = timeout
        return simulation
    }

    /// 1…30 appends of 1…3 events to 1…5 streams (after the first, one in four of another
    /// category; one event in fifteen of the refused type), with pauses of up to 3 virtual
    /// seconds, so outages, cool-downs and retries overlap the appends.
    static func workload(_ writer: SimulationWriter) async throws {
        let streams = writer.random(in: 1...5)
        for append in 0..<writer.random(in: 1...30) {
            guard writer.isActive else { return }
            let category = append > 0 && writer.random(in: 0...3) == 0 ? "item" : "order"
            let events = (0..<writer.random(in: 1...3)).map { _ in writer.event(type: writer.random(in: 0...14) == 0 ? refused : "Changed") }
            try await writer.append(events, to: StreamID(category: category, id: "\(writer.random(in: 1...streams))"))
            if writer.random(in: 0...1) == 0 { await writer.pause(upTo: .seconds(3)) }
        }
    }
}

@Suite struct RelaySimulationTests {
    @Test func everySeedKeepsEveryInvariantOfTheRelay() async throws {
        let simulation = RelaySimulations.random()
        let clock = ContinuousClock()
        let start = clock.now
        let summary = try await simulation.check(seeds: SimulationSeeds.range)
        let totals = simulation.statistics.totals
        print("simulation: relay, \(summary.seeds) seeds, \(summary.steps) steps in \(clock.now - start); \(totals)")
        #expect(summary.seeds == SimulationSeeds.range.count)
        // The seeds reach every path the invariants are about (a few seeds, as a soak's
        // `CHRONICLE_SIMULATION_SEEDS` may ask for, need not).
        guard summary.seeds >= 100 else { return }
        #expect(totals.timeouts > 0)
        #expect(totals.circuitOpened > 0)
        #expect(totals.probes > 0)
        #expect(totals.circuitClosed > 0)
        #expect(totals.retries > 0)
        #expect(totals.crashes > 0)
        #expect(totals.redeliveries > 0)
        #expect(totals.parked > 0)
        #expect(totals.answers[429, default: 0] > 0)
        #expect(totals.answers[422, default: 0] > 0)
    }

    @Test func aSeedReplaysStepForStepWithTheSameTraceHash() async {
        let simulation = RelaySimulations.random().simulation
        for seed: UInt64 in [3, 11] {
            var hashes: Set<UInt64> = []
            for _ in 0..<4 { hashes.insert(await simulation.run(seed: seed).traceHash) }
            #expect(hashes.count == 1, "seed \(seed) gave \(hashes.count) different traces")
        }
    }

    @Test func anEndpointThatFailsTheFirstCallsGetsEveryEventOnceInOrder() async throws {
        let simulation = RelaySimulations.only(
            RelayEndpointFaults(failFirst: 4), retry: RelayRetryPolicy(maxAttempts: 10, baseDelay: .milliseconds(100)),
            breaker: CircuitBreakerPolicy(failureThreshold: 100)
        )
        try await simulation.check(seeds: 0..<50)
        let totals = simulation.statistics.totals
        #expect(totals.answers[503] == 4 * totals.runs)
        #expect(totals.answers[200] == totals.events, "each event once: no failure after the first four calls, no crash")
        #expect(totals.parked == 0)
    }

    @Test func a429IsRetriedNoSoonerThanItsRetryAfterInVirtualTime() async throws {
        // The invariant "retry waits" checks each retry against the Retry-After it follows.
        let simulation = RelaySimulations.only(
            RelayEndpointFaults(serverError: 0.1, tooManyRequests: 0.3, retryAfter: 5...40),
            retry: RelayRetryPolicy(maxAttempts: 50, baseDelay: .milliseconds(10), maxDelay: .seconds(1), maxRetryAfter: .seconds(30)),
            breaker: CircuitBreakerPolicy(failureThreshold: 1000)
        )
        let run = try await simulation.check(seeds: 0..<50)
        let totals = simulation.statistics.totals
        #expect(run.seeds == 50)
        #expect(totals.answers[429, default: 0] > 20)
        #expect(totals.parked == 0)
    }

    @Test func aRefusedEventIsParkedAtOnceAndTheOthersGoOn() async throws {
        var simulation = RelaySimulations.only(RelayEndpointFaults(refusedTypes: [RelaySimulations.refused]))
        simulation.refusedTypes = [RelaySimulations.refused]
        try await simulation.check(seeds: 0..<50)
        let totals = simulation.statistics.totals
        // One call per refused event: parked at the first 422, never retried.
        #expect(totals.parked > 0)
        #expect(totals.answers[422] == totals.parked)
        #expect(totals.retries == 0)
    }

    @Test func aHangingEndpointIsGivenUpOnAtTheRequestTimeoutInVirtualTime() async throws {
        let simulation = RelaySimulations.only(
            RelayEndpointFaults(hang: 0.2, hangAfterApplying: 0.1), retry: RelayRetryPolicy(maxAttempts: 20, baseDelay: .milliseconds(50)),
            breaker: CircuitBreakerPolicy(failureThreshold: 1000), timeout: .seconds(20)
        )
        try await simulation.check(seeds: 0..<50)
        let totals = simulation.statistics.totals
        // Counted only when a call ended exactly 20 virtual seconds after it started (and the
        // invariant "no call outlives the request timeout" held after every step).
        #expect(totals.timeouts > 10)
        #expect(totals.redeliveries > 0, "an event applied before its answer hung is delivered again, and acknowledged as a duplicate")
    }

    @Test func anEndpointThatIsDownOpensTheCircuitThenAProbeClosesIt() async throws {
        let simulation = RelaySimulations.only(
            RelayEndpointFaults(outages: [.seconds(1)..<(.seconds(60))]),
            retry: RelayRetryPolicy(maxAttempts: 100, baseDelay: .milliseconds(100), maxDelay: .seconds(2)),
            breaker: CircuitBreakerPolicy(failureThreshold: 3, coolDown: .seconds(10))
        )
        try await simulation.check(seeds: 0..<50)
        let totals = simulation.statistics.totals
        #expect(totals.circuitOpened > 0)
        #expect(totals.probes > 0)
        #expect(totals.circuitClosed > 0)
        #expect(totals.parked == 0)
        // While it is down, the breaker holds the calls back: per run at most the threshold, one
        // call in flight per partition (4) and a probe per cool-down (6 in 59 s), plus one.
        #expect(totals.answers[0, default: 0] <= totals.runs * (3 + 4 + 6 + 1))
    }

    @Test func crashesMidDeliveryLoseNothingAndApplyNothingTwice() async throws {
        var simulation = RelaySimulations.only(
            RelayEndpointFaults(serverError: 0.05, hangAfterApplying: 0.05, replyLost: 0.1, latency: .zero...(.milliseconds(500))),
            retry: RelayRetryPolicy(maxAttempts: 30, baseDelay: .milliseconds(50)), breaker: CircuitBreakerPolicy(failureThreshold: 1000), timeout: .seconds(5)
        )
        simulation.crashProbability = 0.02
        try await simulation.check(seeds: 0..<50)
        let totals = simulation.statistics.totals
        #expect(totals.crashes > 10)
        #expect(totals.redeliveries > 0)
        #expect(totals.parked == 0)
    }
}

/// The relay bugs planted behind package-only switches: each must be found within the CI's seeds.
@Suite struct PlantedRelayBugTests {
    @Test(arguments: [RelayPlantedFault.breakerLetsCallsThroughWhileOpen, .acknowledgesBeforeTheEndpointAnswers])
    func plantedRelayBugIsFound(_ planted: RelayPlantedFault) async throws {
        let found = await firstFailingSeed(RelaySimulations.random(planted).simulation, within: 500)
        let failure = try #require(found, "\(planted) survived 500 seeds")
        print("planted \(planted): found by seed \(failure.seed) (\(failure.seed + 1) seeds): \(failure.violation)")
    }

    /// The figures of Docs/Testing.md (`CHRONICLE_SIMULATION_FIGURES` seeds; unset: skipped).
    @Test(arguments: [RelayPlantedFault.breakerLetsCallsThroughWhileOpen, .acknowledgesBeforeTheEndpointAnswers])
    func plantedRelayBugFigures(_ planted: RelayPlantedFault) async throws {
        guard let count = SimulationSeeds.figures else { return }
        let simulation = RelaySimulations.random(planted).simulation
        var failing: [UInt64] = []
        for seed in 0..<count where await simulation.run(seed: seed).violation != nil {
            failing.append(seed)
        }
        print("figures \(planted): first failing seed \(failing.first.map(String.init) ?? "none"), \(failing.count) of \(count) seeds fail")
    }
}
