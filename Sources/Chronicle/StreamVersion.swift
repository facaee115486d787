/// The version of a stream: the number of events in it, and the version of its last event.
///
/// Versions are 1-based and contiguous: a stream's first event has version 1. A stream with no
/// events is at ``initial`` (0).
public struct StreamVersion: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The raw value: 0 for no events, then 1, 2, 3…
    public let value: Int64

    /// Wraps a raw version. Traps if negative.
    public init(_ value: Int64) {
        precondition(value >= 0, "A stream version cannot be negative")
        self.value = value
    }

    /// The version of a stream with no events (0).
    public static let initial = StreamVersion(0)
    /// The version of a stream's first event (1).
    public static let first = StreamVersion(1)
    /// The largest version; as a read start with ``ReadDirection/backwards`` it means "from the end".
    public static let max = StreamVersion(Int64.max)

    /// The version `n` events after this one.
    public func advanced(by n: Int64) -> StreamVersion { StreamVersion(value + n) }
    /// The next version.
    public var next: StreamVersion { advanced(by: 1) }

    /// The raw version as text.
    public var description: String { String(value) }
    /// Orders by raw value: a smaller version comes first.
    public static func < (lhs: StreamVersion, rhs: StreamVersion) -> Bool { lhs.value < rhs.value }

    /// Decodes a non-negative integer; a negative one is `DecodingError.dataCorrupted`.
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(Int64.self)
        guard raw >= 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "negative stream version \(raw)"))
        }
        self.value = raw
    }

    /// Encodes the raw version as an integer.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

extension StreamVersion: ExpressibleByIntegerLiteral {
    /// A version written as an integer literal. Traps if negative.
    public init(integerLiteral value: Int64) { self.init(value) }
}

/// What an append expects the stream's current version to be (optimistic concurrency).
///
/// The append fails with ``EventStoreError/Code/wrongExpectedVersion`` and writes nothing when the
/// expectation does not hold.
public enum ExpectedVersion: Hashable, Sendable, CustomStringConvertible {
    /// No check: append whatever the stream's version.
    case any
    /// The stream must not exist (have no events).
    case noStream
    /// The stream must exist (have at least one event).
    case streamExists
    /// The stream must be exactly at this version. `.exactly(.initial)` is the same as ``noStream``.
    case exactly(StreamVersion)

    /// Whether a stream currently at `current` satisfies this expectation.
    public func isSatisfied(by current: StreamVersion) -> Bool {
        switch self {
        case .any: true
        case .noStream: current == .initial
        case .streamExists: current > .initial
        case .exactly(let expected): current == expected
        }
    }

    /// The expectation in words, such as `exactly 3`.
    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .streamExists: "stream exists"
        case .exactly(let v): "exactly \(v)"
        }
    }
}
