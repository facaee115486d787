/// Thrown inside the fast JSON coders when they meet input or a use of the `Codable` API they
/// leave to Foundation; ``ChronicleJSONEncoder`` and ``ChronicleJSONDecoder`` then code the value
/// again with Foundation, so callers only ever see Foundation's results and errors.
struct FastJSONUnsupported: Error, CustomStringConvertible {
    let reason: String
    var description: String { "fast JSON path gave up: \(reason)" }
}

/// A coding path as a linked list, so nested values pay for their path only when it is read.
final class FastJSONPath: Sendable {
    let key: any CodingKey & Sendable
    let parent: FastJSONPath?

    init(_ key: any CodingKey & Sendable, parent: FastJSONPath?) {
        self.key = key
        self.parent = parent
    }

    static func appending(_ key: some CodingKey, to parent: FastJSONPath?) -> FastJSONPath {
        FastJSONPath(FastJSONKey(key), parent: parent)
    }

    static func keys(_ node: FastJSONPath?) -> [any CodingKey] {
        var keys: [any CodingKey] = []
        var node = node
        while let current = node {
            keys.append(current.key)
            node = current.parent
        }
        return keys.reversed()
    }
}

/// A coding key by value: array indices (named "Index n" as Foundation does) and copies of
/// other keys for coding paths.
struct FastJSONKey: CodingKey, Sendable {
    let stringValue: String
    let intValue: Int?

    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    init(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }

    init(index: Int) {
        self.stringValue = "Index \(index)"
        self.intValue = index
    }

    init(_ key: some CodingKey) {
        self.stringValue = key.stringValue
        self.intValue = key.intValue
    }

    static let `super` = FastJSONKey(stringValue: "super")
}

extension UInt8 {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let minus = UInt8(ascii: "-")
    static let zero = UInt8(ascii: "0")
}
