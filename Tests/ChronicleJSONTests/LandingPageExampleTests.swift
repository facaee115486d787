import ChronicleJSON
import Foundation
import Testing

// The example of the module's landing page (Sources/ChronicleJSON/ChronicleJSON.docc), verbatim.
@Suite struct LandingPageExampleTests {
    @Test func theLandingPagesExampleGivesFoundationsBytes() throws {
        struct Deposited: Codable {
            var seq: Int
            var amount: Int
            var currency: String
        }

        let bytes = try ChronicleJSONEncoder().encode(Deposited(seq: 42, amount: 43, currency: "EUR"))
        // {"amount":43,"currency":"EUR","seq":42}
        let event = try ChronicleJSONDecoder().decode(Deposited.self, from: bytes)

        #expect(String(decoding: bytes, as: UTF8.self) == #"{"amount":43,"currency":"EUR","seq":42}"#)
        #expect(event.seq == 42 && event.amount == 43 && event.currency == "EUR")
    }
}
