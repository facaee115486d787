import Chronicle
import Hummingbird

/// Parses query parameters, path parameters and headers of a request into Chronicle's types,
/// throwing ``ReadAPIError`` `invalidParameter` (400) on anything malformed.
///
/// Values are only parsed into typed values (integers, validated stream ids); no request text
/// ever reaches a store as anything but a bound value.
struct RequestParameters {
    let query: [String: String]

    /// Reads the query of `request`, refusing any parameter not in `accepted` (a typo in a filter
    /// must not silently widen the result).
    init(_ request: Request, accepting accepted: Set<String>) throws {
        var query: [String: String] = [:]
        var unknown: Set<String> = []
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard accepted.contains(name) else {
                unknown.insert(name)
                continue
            }
            if query[name] == nil { query[name] = String(value) }
        }
        if !unknown.isEmpty {
            throw ReadAPIError.unknownParameters(unknown.sorted(), accepted: accepted.sorted())
        }
        self.query = query
    }

    /// Event types (`type=A,B`), or `nil` when absent.
    func eventTypes(_ name: String) throws -> Set<String>? {
        guard let text = query[name] else { return nil }
        guard let types = ProjectionFilter.eventTypes(parsing: text) else {
            throw ReadAPIError.invalidParameter(name, text, expected: ProjectionFilter.eventTypesSyntax)
        }
        return types
    }

    /// A non-negative integer, or `nil` if absent.
    func nonNegative(_ name: String) throws -> Int64? {
        guard let text = query[name] else { return nil }
        return try Self.nonNegative(text, name: name)
    }

    static func nonNegative(_ text: String, name: String) throws -> Int64 {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = Int64(text)
        else {
            throw ReadAPIError.invalidParameter(name, text, expected: "an integer from 0 to \(Int64.max)")
        }
        return value
    }

    /// A global position (`after`, `Last-Event-ID`).
    func position(_ name: String) throws -> GlobalPosition? {
        try nonNegative(name).map { GlobalPosition($0) }
    }

    /// The page size: `limit`, checked against the configuration.
    func limit(_ configuration: ReadAPIConfiguration) throws -> Int {
        guard let text = query["limit"] else { return min(configuration.defaultPageSize, configuration.maximumPageSize) }
        let value = try Self.nonNegative(text, name: "limit")
        guard value >= 1 else {
            throw ReadAPIError.invalidParameter("limit", text, expected: "an integer from 1 to \(configuration.maximumPageSize)")
        }
        if value > configuration.maximumPageSize {
            switch configuration.oversizePages {
            case .clamp:
                return configuration.maximumPageSize
            case .reject:
                throw ReadAPIError(
                    .pageSizeTooLarge,
                    "Parameter 'limit' is \(value) but pages hold at most \(configuration.maximumPageSize) items; page with 'next'.",
                    details: ["parameter": .string("limit"), "maximum": .integer(Int64(configuration.maximumPageSize))]
                )
            }
        }
        return Int(value)
    }

    /// A read direction, `forwards` by default.
    func direction() throws -> ReadDirection {
        guard let text = query["direction"] else { return .forwards }
        guard let direction = ReadDirection(rawValue: text) else {
            throw ReadAPIError.invalidParameter("direction", text, expected: "'forwards' or 'backwards'")
        }
        return direction
    }

    /// A stream id.
    func streamID(_ name: String) throws -> StreamID? {
        guard let text = query[name] else { return nil }
        return try Self.streamID(text, name: name)
    }

    static func streamID(_ text: String, name: String) throws -> StreamID {
        do {
            return try StreamID(text)
        } catch {
            throw ReadAPIError(.invalidParameter, "Parameter '\(name)' is not a valid stream id: \(error.message)", details: ["parameter": .string(name)])
        }
    }

    /// A category name: what a stream id may hold before its first `-`.
    func category(_ name: String) throws -> String? {
        guard let text = query[name] else { return nil }
        return try Self.category(text, name: name)
    }

    static func category(_ text: String, name: String) throws -> String {
        guard !text.contains("-"), (try? StreamID(text)) != nil else {
            throw ReadAPIError.invalidParameter(name, text, expected: "a category name (printable, no spaces, no '-', not starting with '$')")
        }
        return text
    }
}
