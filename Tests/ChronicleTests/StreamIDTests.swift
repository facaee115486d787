import Chronicle
import Testing

@Suite struct StreamIDTests {
    @Test func categoryIsThePartBeforeTheFirstDash() throws {
        #expect(try StreamID("order-42").category == "order")
        #expect(try StreamID("order-42-b").category == "order")
        #expect(try StreamID("order-42-b").idWithinCategory == "42-b")
        #expect(try StreamID("settings").category == "settings")
    }

    @Test(arguments: ["", " order", "order 1", "a\tb", "$all", "line\nbreak", String(repeating: "x", count: 256)])
    func invalidStreamIDsAreRejectedWithATypedError(raw: String) {
        #expect(throws: EventStoreError.self) { try StreamID(raw) }
        do {
            _ = try StreamID(raw)
        } catch {
            #expect(error.code == .invalidStreamID)
        }
    }

    @Test func expectedVersionRules() {
        #expect(ExpectedVersion.any.isSatisfied(by: .initial))
        #expect(ExpectedVersion.noStream.isSatisfied(by: .initial))
        #expect(!ExpectedVersion.noStream.isSatisfied(by: 1))
        #expect(!ExpectedVersion.streamExists.isSatisfied(by: .initial))
        #expect(ExpectedVersion.streamExists.isSatisfied(by: 3))
        #expect(ExpectedVersion.exactly(3).isSatisfied(by: 3))
        #expect(!ExpectedVersion.exactly(3).isSatisfied(by: 4))
    }
}
