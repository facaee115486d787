import ChronicleJSON
public import Foundation

/// A JSON document as a value: what upcasters read and edit when they reshape old events.
///
/// Integers and floating-point numbers are kept apart so 64-bit ids survive a round trip.
///
/// ```swift
/// var json: JSONValue = ["name": "Ada", "total": 12]
/// json["currency"] = "EUR"                   // add a field
/// json.renameField("name", to: "customer")   // rename a field
/// json["total"]?.intValue                    // 12
/// ```
public enum JSONValue: Hashable, Sendable, Codable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number without fraction or exponent that fits in 64 bits.
    case int(Int64)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object.
    case object([String: JSONValue])

    /// Parses a JSON document.
    /// - Throws: the decoder's error when `data` is not JSON.
    public init(parsing data: Data) throws {
        self = try ChronicleJSONDecoder().decode(JSONValue.self, from: data)
    }

    /// The document as compact JSON with sorted keys (deterministic bytes).
    public func encoded() throws -> Data {
        try ChronicleJSONEncoder().encode(self)
    }

    /// The value of an object's field, or `nil` if this is not an object or has no such field.
    /// Setting a field on a non-object does nothing; setting `nil` removes the field.
    public subscript(field: String) -> JSONValue? {
        get {
            guard case .object(let fields) = self else { return nil }
            return fields[field]
        }
        set {
            guard case .object(var fields) = self else { return }
            fields[field] = newValue
            self = .object(fields)
        }
    }

    /// Renames an object's field, keeping its value. Does nothing if the field is absent.
    public mutating func renameField(_ field: String, to newName: String) {
        guard case .object(var fields) = self, let value = fields.removeValue(forKey: field) else { return }
        fields[newName] = value
        self = .object(fields)
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, if this is one.
    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    /// The number as a `Double`, if this is a number.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    /// The boolean, if this is one.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The fields, if this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// Decodes any JSON value, keeping integers apart from other numbers.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Encodes the value as the JSON it stands for.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// `null`.
    public init(nilLiteral: ()) { self = .null }
    /// A boolean literal.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An integer literal.
    public init(integerLiteral value: Int64) { self = .int(value) }
    /// A floating-point literal.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// A string literal.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An array literal.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// A dictionary literal (the last value wins for a repeated key).
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
