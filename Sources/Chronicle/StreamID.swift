/// The identity of an event stream, such as `order-42`.
///
/// A stream id is 1 to 255 UTF-8 bytes of printable characters without white space,
/// and may not start with `$` (reserved for system streams such as `$all`).
///
/// The **category** of a stream is the part before the first `-`: `order-42` and
/// `order-7f3a` are both in category `order`. A stream id without a `-` is its own category.
///
/// ```swift
/// let id = try StreamID("order-42")
/// id.category // "order"
/// let same = StreamID(category: "order", id: "42")
/// ```
public struct StreamID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The stream id as stored.
    public let rawValue: String

    /// The longest stream id accepted, in UTF-8 bytes.
    public static let maximumLength = 255

    /// Validates and wraps a stream id.
    /// - Throws: ``EventStoreError`` with code ``EventStoreError/Code/invalidStreamID`` when the id
    ///   is empty, too long, contains white space or control characters, or starts with `$`.
    public init(_ rawValue: String) throws(EventStoreError) {
        if let problem = StreamID.problem(with: rawValue) {
            throw EventStoreError(.invalidStreamID, "Invalid stream id \(rawValue.debugDescription): \(problem). Use 1 to \(StreamID.maximumLength) printable characters without spaces, not starting with '$'.")
        }
        self.rawValue = rawValue
    }

    /// Builds `category-id`. Traps if the result is not a valid stream id (a programming error);
    /// use ``init(_:)`` to validate untrusted input.
    public init(category: String, id: String) {
        do {
            try self.init("\(category)-\(id)")
        } catch {
            preconditionFailure(error.description)
        }
    }

    /// Wraps a value already known to be valid (read back from a store).
    package init(unchecked rawValue: String) {
        self.rawValue = rawValue
    }

    /// The category: the part before the first `-`, or the whole id if it has none.
    public var category: String {
        if let dash = rawValue.firstIndex(of: "-") {
            return String(rawValue[..<dash])
        }
        return rawValue
    }

    /// The part after the first `-`, or `nil` if the id has none.
    public var idWithinCategory: String? {
        guard let dash = rawValue.firstIndex(of: "-") else { return nil }
        return String(rawValue[rawValue.index(after: dash)...])
    }

    /// The stream id as stored (``rawValue``).
    public var description: String { rawValue }

    /// Orders stream ids by their raw text.
    public static func < (lhs: StreamID, rhs: StreamID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Decodes a string and validates it as a stream id.
    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        try self.init(raw)
    }

    /// Encodes the raw stream id as a string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// Why `raw` is not a valid stream id, or `nil` if it is.
    static func problem(with raw: String) -> String? {
        if raw.isEmpty { return "it is empty" }
        if raw.utf8.count > maximumLength { return "it is \(raw.utf8.count) bytes long" }
        if raw.hasPrefix("$") { return "ids starting with '$' are reserved" }
        for scalar in raw.unicodeScalars {
            if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
                || scalar.properties.generalCategory == .format
            {
                return "it contains white space or a control character"
            }
        }
        return nil
    }
}

extension StreamID: ExpressibleByStringLiteral {
    /// A stream id written in source code. Traps if invalid; use ``init(_:)`` for input.
    public init(stringLiteral value: String) {
        do {
            try self.init(value)
        } catch {
            preconditionFailure(error.description)
        }
    }
}
