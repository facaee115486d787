/// The position of an event in the store's global log (`$all`).
///
/// Positions are strictly increasing in commit order and gap-free: a reader that has seen
/// position `p` will never later see a new event at a position `<= p`. The first event is at 1;
/// ``start`` (0) is the position before any event, where a catch-up reader begins.
public struct GlobalPosition: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The raw value: 0 before any event, then 1, 2, 3…
    public let value: Int64

    /// Wraps a raw position. Traps if negative.
    public init(_ value: Int64) {
        precondition(value >= 0, "A global position cannot be negative")
        self.value = value
    }

    /// The position before the first event (0).
    public static let start = GlobalPosition(0)

    /// The next position.
    public var next: GlobalPosition { GlobalPosition(value + 1) }

    /// The raw position as text.
    public var description: String { String(value) }
    /// Orders by raw value: a smaller position comes first.
    public static func < (lhs: GlobalPosition, rhs: GlobalPosition) -> Bool { lhs.value < rhs.value }

    /// Decodes a non-negative integer; a negative one is `DecodingError.dataCorrupted`.
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(Int64.self)
        guard raw >= 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "negative global position \(raw)"))
        }
        self.value = raw
    }

    /// Encodes the raw position as an integer.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

extension GlobalPosition: ExpressibleByIntegerLiteral {
    /// A position written as an integer literal. Traps if negative.
    public init(integerLiteral value: Int64) { self.init(value) }
}
