@testable import ChronicleRelay
import Chronicle
import Foundation
import Synchronization
import Testing

/// The circuit breaker on an injected clock: opens after the threshold, waits the cool-down,
/// lets one probe through, and closes on its success or opens again on its failure.
@Suite struct CircuitBreakerTests {
    final class Clock: Sendable {
        let now = Mutex(Date(timeIntervalSince1970: 1_000))
        func advance(_ seconds: TimeInterval) { now.withLock { $0 += seconds } }
    }

    @Test func itOpensAfterTheThresholdLetsOneProbeThroughAfterTheCoolDownAndClosesOnSuccess() {
        let clock = Clock()
        let changes = Mutex<[CircuitStatus.State]>([])
        let breaker = CircuitBreaker(
            policy: CircuitBreakerPolicy(failureThreshold: 2, coolDown: .seconds(10)), endpoint: "http://x/inbox",
            now: { clock.now.withLock { $0 } }, changed: { status in changes.withLock { $0.append(status.state) } }
        )
        #expect(breaker.permit() == .call)
        breaker.failed()
        #expect(breaker.status.state == .closed)
        breaker.failed()
        #expect(breaker.status.state == .open)
        #expect(breaker.status.since == Date(timeIntervalSince1970: 1_000))
        #expect(breaker.permit() == .wait(.seconds(10)))
        clock.advance(4)
        #expect(breaker.permit() == .wait(.seconds(6)))
        clock.advance(6)
        #expect(breaker.permit() == .probe)
        #expect(breaker.status.state == .halfOpen)
        // Only one probe at a time: the others wait for its outcome.
        if case .wait = breaker.permit() {} else { Issue.record("a second call went out while half-open") }
        breaker.failed()
        #expect(breaker.status.state == .open)
        #expect(breaker.status.consecutiveFailures == 3)
        clock.advance(10)
        #expect(breaker.permit() == .probe)
        breaker.succeeded()
        #expect(breaker.status.state == .closed)
        #expect(breaker.status.consecutiveFailures == 0)
        #expect(breaker.permit() == .call)
        #expect(changes.withLock { $0 } == [.open, .halfOpen, .open, .halfOpen, .closed])
    }

    @Test func anAbandonedProbeLetsAnotherOneGo() {
        let clock = Clock()
        let breaker = CircuitBreaker(
            policy: CircuitBreakerPolicy(failureThreshold: 1, coolDown: .seconds(1)), endpoint: "e", now: { clock.now.withLock { $0 } }, changed: { _ in }
        )
        breaker.failed()
        clock.advance(1)
        #expect(breaker.permit() == .probe)
        breaker.abandonedProbe()
        #expect(breaker.permit() == .probe)
    }
}
