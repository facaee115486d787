public import Chronicle
public import Foundation

/// A Given/When/Then specification of an aggregate's behaviour, exhaustive by default.
///
/// Given past events, when a command is decided, then exactly these events happen (an extra,
/// missing or different event fails with a readable diff) or this error is thrown. Failures are
/// thrown as ``AggregateSpecFailure``, so specs work in any test framework: in Swift Testing and
/// XCTest a `throws` test fails with the failure's description.
///
/// ```swift
/// @Test func cancellingAPlacedOrderRecordsTheReason() throws {
///     try AggregateSpec<Order>
///         .given(.placed(OrderPlaced(customer: "ada", total: 30)))
///         .when(.cancel(reason: "changed her mind"))
///         .then(.cancelled(OrderCancelled(reason: "changed her mind")))
/// }
///
/// @Test func cancellingBeforePlacingFails() throws {
///     try AggregateSpec<Order>
///         .given()
///         .when(.cancel(reason: "changed her mind"))
///         .thenThrows(Order.Failure.notPlaced)
/// }
/// ```
///
/// When the event type is a ``RegisteredEvent``, ``When/then(_:fileID:line:)-(A.Event...,_,_)`` also checks that
/// each produced event survives its ``JSONEventCodec`` (registered, encodes, decodes to an equal
/// value), so a forgotten registration fails the spec rather than production.
public struct AggregateSpec<A: Aggregate>: Sendable {
    /// The past events.
    public let history: [A.Event]

    /// A spec whose aggregate has the given past events.
    public init(history: [A.Event] = []) {
        self.history = history
    }

    /// A spec whose aggregate has the given past events (none for a new aggregate).
    public static func given(_ events: A.Event...) -> AggregateSpec { AggregateSpec(history: events) }

    /// A spec whose aggregate has the given past events.
    public static func given(_ events: [A.Event]) -> AggregateSpec { AggregateSpec(history: events) }

    /// The state the past events fold to.
    public var state: A { A.replaying(history) }

    /// The command to decide.
    public func when(_ command: A.Command) -> When { When(history: history, command: command) }

    /// A spec with its command, waiting for its expectation.
    public struct When: Sendable {
        /// The past events.
        public let history: [A.Event]
        /// The command.
        public let command: A.Command

        /// Expects exactly these events, in this order (none: the command changes nothing).
        /// - Returns: the state after the events, for further checks.
        /// - Throws: ``AggregateSpecFailure`` with a diff when the events differ, or naming the
        ///   error `decide` threw.
        @discardableResult
        public func then(_ expected: A.Event..., fileID: String = #fileID, line: Int = #line) throws(AggregateSpecFailure) -> A {
            try then(expected, fileID: fileID, line: line)
        }

        /// Expects exactly these events, in this order.
        @discardableResult
        public func then(_ expected: [A.Event], fileID: String = #fileID, line: Int = #line) throws(AggregateSpecFailure) -> A {
            let state = A.replaying(history)
            let actual: [A.Event]
            do {
                actual = try state.decide(command)
            } catch {
                throw failure("expected \(count(expected.count)) but decide threw \(describe(error))", fileID, line)
            }
            if actual != expected {
                throw failure("the events differ\n" + SpecDiff.lines(expected: expected, actual: actual), fileID, line)
            }
            let codecProblems = CodecRoundTrip.problems(in: actual)
            if !codecProblems.isEmpty {
                throw failure("the events are right but do not survive their codec:\n" + codecProblems.joined(separator: "\n"), fileID, line)
            }
            return state.evolved(by: actual)
        }

        /// Expects `decide` to throw an error equal to `expected`.
        public func thenThrows<E: Error & Equatable>(_ expected: E, fileID: String = #fileID, line: Int = #line) throws(AggregateSpecFailure) {
            try thenThrows(fileID: fileID, line: line, description: describe(expected)) { ($0 as? E) == expected }
        }

        /// Expects `decide` to throw an error for which `matches` is `true`.
        public func thenThrows(
            fileID: String = #fileID, line: Int = #line, description: String = "a matching error",
            where matches: (any Error) -> Bool
        ) throws(AggregateSpecFailure) {
            let state = A.replaying(history)
            let actual: [A.Event]
            do {
                actual = try state.decide(command)
            } catch {
                if matches(error) { return }
                throw failure("expected \(description) but decide threw \(describe(error))", fileID, line)
            }
            let listed = actual.enumerated().map { "    [\($0.offset)] \(describe($0.element))" }.joined(separator: "\n")
            throw failure("expected \(description) but decide returned \(count(actual.count))" + (actual.isEmpty ? "" : ":\n" + listed), fileID, line)
        }

        private func failure(_ problem: String, _ fileID: String, _ line: Int) -> AggregateSpecFailure {
            let given = history.isEmpty
                ? "  given no events\n"
                : "  given \(count(history.count)):\n" + history.enumerated().map { "    [\($0.offset)] \(describe($0.element))\n" }.joined()
            var message = "\(A.self) spec failed: \(problem)\n" + given + "  when \(describe(command))"
            // Values print module-qualified; drop the aggregate's module name for readability.
            let qualified = String(reflecting: A.self)
            if let dot = qualified.firstIndex(of: ".") {
                message = message.replacingOccurrences(of: qualified[...dot], with: "")
            }
            return AggregateSpecFailure(message: message, fileID: fileID, line: line)
        }
    }
}

/// Why an ``AggregateSpec`` failed, with a readable diff. Thrown, so any test framework reports it.
public struct AggregateSpecFailure: Error, CustomStringConvertible, Sendable {
    /// What went wrong, over several lines.
    public let message: String
    /// The file of the failing expectation.
    public let fileID: String
    /// The line of the failing expectation.
    public let line: Int

    /// Where the spec failed, then the diff.
    public var description: String { "\(fileID):\(line): \(message)" }
}

extension AggregateSpecFailure: LocalizedError {
    /// The same text as `description`.
    public var errorDescription: String? { description }
}

func describe(_ value: Any) -> String { String(reflecting: value) }

func count(_ n: Int) -> String { n == 1 ? "1 event" : "\(n) events" }

enum SpecDiff {
    /// An index-by-index comparison: `✓` same, `✗` different, `-` missing, `+` extra.
    static func lines<E: Equatable>(expected: [E], actual: [E]) -> String {
        var lines = ["  expected \(count(expected.count)), got \(actual.count):"]
        for index in 0..<max(expected.count, actual.count) {
            switch (index < expected.count ? expected[index] : nil, index < actual.count ? actual[index] : nil) {
            case (let e?, let a?) where e == a:
                lines.append("    ✓ [\(index)] \(describe(a))")
            case (let e?, let a?):
                lines.append("    ✗ [\(index)] expected: \(describe(e))")
                lines.append("              actual: \(describe(a))")
            case (let e?, nil):
                lines.append("    - [\(index)] missing: \(describe(e))")
            case (nil, let a?):
                lines.append("    + [\(index)] extra:   \(describe(a))")
            case (nil, nil):
                break
            }
        }
        return lines.joined(separator: "\n")
    }
}

enum CodecRoundTrip {
    /// Problems encoding and decoding each event with its default ``JSONEventCodec``; none when
    /// the event type is not a ``RegisteredEvent``.
    static func problems<E>(in events: [E]) -> [String] {
        guard let registered = E.self as? any RegisteredEvent.Type else { return [] }
        return problems(registered, events)
    }

    private static func problems<R: RegisteredEvent, E>(_: R.Type, _ events: [E]) -> [String] {
        let codec = JSONEventCodec<R>()
        var problems: [String] = []
        for (index, element) in events.enumerated() {
            guard let event = element as? R else { continue }
            do {
                let data = try codec.encode(event, id: UUID(), metadata: .none)
                let recorded = RecordedEvent(
                    id: data.id, streamID: "spec-1", streamVersion: StreamVersion(Int64(index + 1)), position: GlobalPosition(Int64(index + 1)),
                    type: data.type, schemaVersion: data.schemaVersion, payload: data.payload, metadata: data.metadata,
                    recordedAt: Date(timeIntervalSince1970: 0)
                )
                let decoded = try codec.decode(recorded)
                if decoded != [event] {
                    problems.append("    [\(index)] \(describe(event)) decodes as \(decoded.map(describe))")
                }
            } catch {
                problems.append("    [\(index)] \(describe(event)): \(error)")
            }
        }
        return problems
    }
}
