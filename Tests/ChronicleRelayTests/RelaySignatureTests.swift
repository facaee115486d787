import ChronicleRelay
import Foundation
import Testing

@Suite struct RelaySignatureTests {
    let secret = RelaySecret("s3cret")
    let body = Array(#"{"id":"x"}"#.utf8)

    @Test func aSignatureVerifiesWithItsSecretWithinTheTolerance() throws {
        let header = RelaySignature.sign(body: body, secret: secret, timestamp: 1_000, deliveryID: "d1")
        let verified = try RelaySignature.verify(header: header, body: body, secrets: [secret], now: Date(timeIntervalSince1970: 1_010), tolerance: .seconds(60))
        #expect(verified.deliveryID == "d1")
        #expect(verified.timestamp == 1_000)
    }

    @Test func aChangedBodyAWrongSecretOrAnOldTimestampIsRefused() throws {
        let header = RelaySignature.sign(body: body, secret: secret, timestamp: 1_000, deliveryID: "d1")
        #expect(throws: RelayError.self) {
            try RelaySignature.verify(header: header, body: Array(#"{"id":"y"}"#.utf8), secrets: [secret], now: Date(timeIntervalSince1970: 1_000), tolerance: .seconds(60))
        }
        #expect(throws: RelayError.self) {
            try RelaySignature.verify(header: header, body: body, secrets: [RelaySecret("other")], now: Date(timeIntervalSince1970: 1_000), tolerance: .seconds(60))
        }
        do {
            _ = try RelaySignature.verify(header: header, body: body, secrets: [secret], now: Date(timeIntervalSince1970: 2_000), tolerance: .seconds(60))
            Issue.record("an old signature was accepted")
        } catch {
            #expect(error.code == .staleRequest)
        }
        do {
            _ = try RelaySignature.verify(header: nil, body: body, secrets: [secret], now: Date(timeIntervalSince1970: 1_000), tolerance: .seconds(60))
            Issue.record("a missing signature was accepted")
        } catch {
            #expect(error.code == .badSignature)
        }
    }

    @Test func theRetryDelayDoublesIsJitteredAndHonoursRetryAfter() {
        let policy = RelayRetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(100), maxDelay: .seconds(1), maxRetryAfter: .seconds(10))
        #expect(policy.backoff(afterAttempt: 1) == .milliseconds(100))
        #expect(policy.backoff(afterAttempt: 3) == .milliseconds(400))
        #expect(policy.backoff(afterAttempt: 10) == .seconds(1))
        #expect(policy.delay(afterAttempt: 2, unit: 0, retryAfter: nil) == .milliseconds(100))
        #expect(policy.delay(afterAttempt: 2, unit: 1, retryAfter: nil) == .milliseconds(200))
        #expect(policy.delay(afterAttempt: 1, unit: 0.5, retryAfter: .seconds(3)) == .seconds(3))
        #expect(policy.delay(afterAttempt: 1, unit: 0.5, retryAfter: .seconds(60)) == .seconds(10))
    }
}
