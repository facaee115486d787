import Chronicle
import Hummingbird

/// A console request's query, parsed into typed values; anything malformed is a 400 with a
/// message naming the parameter, and so is a parameter the page does not know.
struct ConsoleQuery {
    let values: [String: String]

    init(_ request: Request, accepting accepted: Set<String>) throws {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard accepted.contains(name) else {
                throw ConsoleError(.badRequest, "Unknown parameter '\(name)'; this page accepts \(accepted.sorted().map { "'\($0)'" }.joined(separator: ", ")).")
            }
            if values[name] == nil { values[name] = String(value) }
        }
        self.values = values
    }

    /// A value, `nil` when absent or empty (an empty form field means "no filter").
    subscript(_ name: String) -> String? {
        values[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    static func integer(_ text: String, name: String, in range: ClosedRange<Int64>) throws -> Int64 {
        guard text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int64(text), range.contains(value) else {
            throw ConsoleError.badParameter(name, text, expected: "an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func integer(_ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        try self[name].map { try Self.integer($0, name: name, in: range) }
    }

    /// A page size: at most `maximum` rows.
    func limit(default value: Int, maximum: Int) throws -> Int {
        Int(try integer("limit", in: 1...Int64(maximum)) ?? Int64(value))
    }

    static func streamID(_ text: String, name: String) throws -> StreamID {
        do {
            return try StreamID(text)
        } catch {
            throw ConsoleError(.badRequest, "Parameter '\(name)': \(error.message)")
        }
    }

    func streamID(_ name: String) throws -> StreamID? {
        try self[name].map { try Self.streamID($0, name: name) }
    }

    /// A category: a stream id's part before its first `-`.
    func category(_ name: String) throws -> String? {
        guard let text = self[name] else { return nil }
        let id = try Self.streamID(text, name: name)
        guard id.idWithinCategory == nil else {
            throw ConsoleError.badParameter(name, text, expected: "a category (the part of a stream id before its first '-')")
        }
        return text
    }

    /// Event types, `A,B`.
    func eventTypes(_ name: String) throws -> Set<String>? {
        guard let text = self[name] else { return nil }
        guard let types = ProjectionFilter.eventTypes(parsing: text) else {
            throw ConsoleError.badParameter(name, text, expected: ProjectionFilter.eventTypesSyntax)
        }
        return types
    }
}
