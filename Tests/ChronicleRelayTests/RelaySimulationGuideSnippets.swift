// The relay simulation of Docs/Testing.md and ChronicleRelayTesting's DocC overview, verbatim:
// change them together.
import Chronicle
import ChronicleRelay
import ChronicleRelayTesting
import ChronicleTesting
import Testing

@Test func ordersReachTheShippingServiceOnceWhateverItsEndpointDoes() async throws {
    var simulation = RelaySimulation { writer in
        for _ in 0..<writer.random(in: 1...20) {
            let order = StreamID(category: "order", id: "\(writer.random(in: 1...4))")
            try await writer.append(writer.event(type: "OrderPlaced"), to: order)
            await writer.pause(upTo: .seconds(2))
        }
    }
    simulation.endpointFaults = RelayEndpointFaults(
        serverError: 0.1, tooManyRequests: 0.05, hang: 0.05, outages: [.seconds(5)..<(.seconds(40))]
    )
    simulation.circuitBreaker = CircuitBreakerPolicy(failureThreshold: 3, coolDown: .seconds(10))
    simulation.retry = RelayRetryPolicy(maxAttempts: 20, baseDelay: .milliseconds(100), maxDelay: .seconds(5))
    try await simulation.check(seeds: 0..<100)
}
