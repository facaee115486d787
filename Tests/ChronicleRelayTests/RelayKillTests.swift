import Chronicle
import ChronicleRelay
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import Testing

/// The relay process SIGKILLed mid-delivery, again and again: nothing is lost, nothing is applied
/// twice in the receiver's inbox, and each stream still arrives in order.
@Suite struct RelayKillTests {
    @Test func aRelayKilledTwentyTimesMidDeliveryLosesNothingAndAppliesEachEventOnce() async throws {
        let fixture = try RelayFixture()
        defer { fixture.directory.remove() }
        let expected = try await fixture.append(streams: 8, perStream: 25)
        let total = expected.values.reduce(0, +)
        // Each call waits a little, so most kills land while requests are in flight.
        let receiver = try TestReceiver(path: fixture.directory.path("receiver.sqlite")) { _, _ in .slow(.milliseconds(5)) }
        try await receiver.start()
        let worker = try builtProduct("ChronicleRelayWorker")
        let arguments = [fixture.directory.path("store.sqlite"), fixture.directory.path("relay.sqlite"), receiver.endpoint.absoluteString, "relay-test-secret", "4"]
        var generator = SystemRandomNumberGenerator()
        var kills = 0
        while kills < 20 {
            let child = try ChildProcess(worker, arguments)
            let before = receiver.wireCalls
            let progress = Int.random(in: 1...4, using: &generator)
            try await eventually("the relay child to deliver \(progress) more", timeout: .seconds(60)) {
                receiver.wireCalls >= before + progress || !child.isRunning
            }
            guard child.isRunning else {
                let result = try await child.result()
                Issue.record("the child exited before it was killed: \(result.status) \(result.stderr)")
                break
            }
            child.kill()
            let result = try await child.result(timeout: .seconds(30))
            #expect(result.signalled)
            kills += 1
        }
        #expect(kills == 20)
        #expect(try receiver.received().count < total)  // the kills came before the end

        // A last run to the end.
        let last = try ChildProcess(worker, arguments)
        let result = try await last.result(timeout: .seconds(120))
        #expect(result.status == 0, "\(result.stderr)")
        await receiver.stop()
        #expect(try receiver.deliveryProblem(expected: expected) == nil)
        #expect(receiver.wireCalls >= total)
    }
}
