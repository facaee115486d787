import Foundation
import Chronicle
import Testing

@Suite struct StreamIDTests {
    @Test func categoryIsThePartBeforeTheFirstDash() {
        let order: StreamID = "order-42"
        let nested: StreamID = "order-42-b"
        let settings: StreamID = "settings"
        #expect(order.category == "order")
        #expect(nested.category == "order")
        #expect(nested.idWithinCategory == "42-b")
        #expect(settings.category == "settings")
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

@Suite struct ErrorMatchingTests {
    @Test func aCatchClauseCanNameAnErrorCode() async throws {
        let store = InMemoryEventStore()
        _ = try await store.append([EventData(type: "A", payload: Data("{}".utf8))], to: "a-1", expectedVersion: .noStream)
        var matched = false
        do {
            _ = try await store.append([EventData(type: "A", payload: Data("{}".utf8))], to: "a-1", expectedVersion: .noStream)
        } catch EventStoreError.Code.duplicateEventID {
            Issue.record("matched the wrong code")
        } catch EventStoreError.Code.wrongExpectedVersion {
            matched = true
        }
        #expect(matched)
        #expect(!(ProjectionError.Code.timeout ~= ProjectionError(.failed, "x")))
        #expect(ProjectionError.Code.failed ~= ProjectionError(.failed, "x"))
        #expect(!(ProjectionError.Code.failed ~= EventStoreError(.timeout, "x")))
    }
}
