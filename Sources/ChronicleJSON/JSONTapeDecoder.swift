import Foundation

/// The `Decoder` for one value of a scanned document (its tape index). A struct of three words:
/// passed as `any Decoder` it fits the existential's inline buffer, so decoding a value
/// allocates no decoder.
struct JSONTapeDecoder: Decoder {
    let document: JSONTapeDocument
    let index: Int
    let path: FastJSONPath?

    init(document: JSONTapeDocument, index: Int, path: FastJSONPath?) {
        self.document = document
        self.index = index
        self.path = path
    }

    var codingPath: [any CodingKey] { FastJSONPath.keys(path) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try JSONTapeKeyedContainer<Key>(document: document, index: index, path: path))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try JSONTapeUnkeyedContainer(document: document, index: index, path: path)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        JSONTapeSingleValueContainer(decoder: self)
    }
}

extension JSONTapeDocument {
    /// Decodes any value at a tape index, with Foundation's special case for Data (base64);
    /// URL and Decimal are left to Foundation. Any error marks the document unsupported.
    func decodeValue<T: Decodable>(_ type: T.Type, at index: Int, path: FastJSONPath?) throws -> T {
        if isUnsupported { throw FastJSONUnsupported(reason: unsupportedReason ?? "") }
        if T.self == Data.self {
            guard let data = Data(base64Encoded: try string(at: index)) else { throw giveUp("invalid base64") }
            return data as! T
        }
        if T.self == URL.self || T.self == Decimal.self { throw giveUp("\(T.self) is left to Foundation") }
        do {
            return try T(from: JSONTapeDecoder(document: self, index: index, path: path))
        } catch {
            // Whatever the value's own code does with this error, Foundation must redo it.
            _ = giveUp("an error was thrown while decoding: \(error)")
            throw error
        }
    }

    func bool(at index: Int) throws(FastJSONUnsupported) -> Bool {
        switch node(index).kind {
        case .true: return true
        case .false: return false
        default: throw giveUp("expected a Bool")
        }
    }
}

struct JSONTapeSingleValueContainer: SingleValueDecodingContainer {
    let decoder: JSONTapeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    private var document: JSONTapeDocument { decoder.document }
    private var index: Int { decoder.index }

    func decodeNil() -> Bool { document.node(index).kind == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try document.bool(at: index) }
    func decode(_ type: String.Type) throws -> String { try document.string(at: index) }
    func decode(_ type: Double.Type) throws -> Double { try document.double(at: index) }
    func decode(_ type: Float.Type) throws -> Float { try document.float(at: index) }
    func decode(_ type: Int.Type) throws -> Int { try document.integer(at: index, as: type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try document.integer(at: index, as: type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try document.integer(at: index, as: type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try document.integer(at: index, as: type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try document.integer(at: index, as: type) }
    func decode(_ type: Int128.Type) throws -> Int128 { try document.integer(at: index, as: type) }
    func decode(_ type: UInt.Type) throws -> UInt { try document.integer(at: index, as: type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try document.integer(at: index, as: type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try document.integer(at: index, as: type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try document.integer(at: index, as: type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try document.integer(at: index, as: type) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { try document.integer(at: index, as: type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try document.decodeValue(type, at: index, path: decoder.path) }
}

/// An object's members looked up by key. Keys compare as bytes when both sides are plain
/// ASCII; otherwise as Strings (Foundation matches keys with String equality, so "é" written
/// decomposed still matches). An object with two keys equal as Strings is left to Foundation
/// (it keeps the first).
struct JSONTapeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let document: JSONTapeDocument
    let index: Int
    let path: FastJSONPath?
    /// Objects with an escaped or non-ASCII key, or many members, look keys up here; plain small
    /// objects (nearly all) walk their members on the tape instead, so copying this container
    /// (the `Codable` box does, per key) retains nothing more than the document and path.
    private let slowKeys: SlowKeys?

    /// The key nodes, and the keys as Strings, of the objects that need them.
    final class SlowKeys {
        let keyNodes: [Int]
        /// The decoded keys, when some key is escaped or non-ASCII.
        let complexKeys: [String]?
        /// Key node by key, for objects too large to search member by member.
        let keyIndex: [String: Int]?

        init(keyNodes: [Int], complexKeys: [String]?, keyIndex: [String: Int]?) {
            self.keyNodes = keyNodes
            self.complexKeys = complexKeys
            self.keyIndex = keyIndex
        }
    }

    static var indexThreshold: Int { 16 }

    init(document: JSONTapeDocument, index: Int, path: FastJSONPath?) throws(FastJSONUnsupported) {
        let node = document.node(index)
        guard node.kind == .object else { throw document.giveUp("expected an object, found \(node.kind)") }
        self.document = document
        self.index = index
        self.path = path
        let members = document.keyNodes(ofObjectAt: index)
        let complex = members.contains { document.node($0).flags != 0 }
        if complex || node.start > Self.indexThreshold {
            // Keys as Strings: equal (canonically equivalent) ones are duplicates to Foundation.
            var keyNodes: [Int] = []
            keyNodes.reserveCapacity(node.start)
            var keys: [String] = []
            keys.reserveCapacity(node.start)
            var keyIndex: [String: Int] = [:]
            keyIndex.reserveCapacity(node.start)
            for keyNode in members {
                let key = try document.string(at: keyNode)
                guard keyIndex.updateValue(keyNode, forKey: key) == nil else { throw document.giveUp("duplicate keys") }
                keyNodes.append(keyNode)
                keys.append(key)
            }
            slowKeys = SlowKeys(keyNodes: keyNodes, complexKeys: complex ? keys : nil, keyIndex: node.start > Self.indexThreshold ? keyIndex : nil)
        } else {
            slowKeys = nil
            // Plain ASCII keys: equal as Strings exactly when their bytes are equal.
            if node.start > 1, let base = document.bytes.baseAddress {
                for (position, later) in members.enumerated() {
                    let a = document.node(later)
                    for earlier in members.prefix(position) {
                        let b = document.node(earlier)
                        if a.end - a.start == b.end - b.start, memcmp(base + a.start, base + b.start, a.end - a.start) == 0 {
                            throw document.giveUp("duplicate keys")
                        }
                    }
                }
            }
        }
    }

    var codingPath: [any CodingKey] { FastJSONPath.keys(path) }

    var allKeys: [Key] {
        let members = document.keyNodes(ofObjectAt: index)
        var keys: [Key] = []
        keys.reserveCapacity(members.underestimatedCount)
        for (position, keyNode) in members.enumerated() {
            let name = slowKeys?.complexKeys?[position] ?? ((try? document.string(at: keyNode)) ?? "")
            if let key = Key(stringValue: name) { keys.append(key) }
        }
        return keys
    }

    /// The tape index of the value for a key, or nil.
    private func valueIndex(for key: Key) -> Int? {
        valueIndex(forName: key.stringValue)
    }

    private func valueIndex(forName name: String) -> Int? {
        if let slowKeys {
            if let keyIndex = slowKeys.keyIndex { return keyIndex[name].map { $0 + 1 } }
            if let complexKeys = slowKeys.complexKeys {
                for (position, candidate) in complexKeys.enumerated() where candidate == name { return slowKeys.keyNodes[position] + 1 }
                return nil
            }
        }
        let found: Int?? = name.utf8.withContiguousStorageIfAvailable { utf8 -> Int? in
            for byte in utf8 where byte >= 0x80 { return lookUpAsString(name) }
            for keyNode in document.keyNodes(ofObjectAt: index) where document.plainString(at: keyNode, equals: utf8) { return keyNode + 1 }
            return nil
        }
        if let found { return found }
        return lookUpAsString(name)
    }

    private func lookUpAsString(_ name: String) -> Int? {
        for keyNode in document.keyNodes(ofObjectAt: index) where (try? document.string(at: keyNode)) == name { return keyNode + 1 }
        return nil
    }

    private func value(for key: Key) throws(FastJSONUnsupported) -> Int {
        if document.isUnsupported { throw FastJSONUnsupported(reason: document.unsupportedReason ?? "") }
        guard let index = valueIndex(for: key) else { throw document.giveUp("no value for key \(key.stringValue)") }
        return index
    }

    func contains(_ key: Key) -> Bool { valueIndex(for: key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { document.node(try value(for: key)).kind == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try document.bool(at: try value(for: key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try document.string(at: try value(for: key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try document.double(at: try value(for: key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try document.float(at: try value(for: key)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try document.integer(at: try value(for: key), as: type) }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { try document.integer(at: try value(for: key), as: type) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try document.decodeValue(type, at: try value(for: key), path: FastJSONPath.appending(key, to: path))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let nested = try value(for: key)
        return KeyedDecodingContainer(try JSONTapeKeyedContainer<NestedKey>(document: document, index: nested, path: FastJSONPath.appending(key, to: path)))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let nested = try value(for: key)
        return try JSONTapeUnkeyedContainer(document: document, index: nested, path: FastJSONPath.appending(key, to: path))
    }

    /// A decoder for the value under "super" (a missing key, which Foundation decodes as null,
    /// is left to it).
    func superDecoder() throws -> any Decoder {
        guard let index = valueIndex(forName: FastJSONKey.super.stringValue) else { throw document.giveUp("no value for super") }
        return JSONTapeDecoder(document: document, index: index, path: FastJSONPath(FastJSONKey.super, parent: path))
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        let index = try value(for: key)
        return JSONTapeDecoder(document: document, index: index, path: FastJSONPath.appending(key, to: path))
    }
}

struct JSONTapeUnkeyedContainer: UnkeyedDecodingContainer {
    let document: JSONTapeDocument
    let path: FastJSONPath?
    let count: Int?
    private(set) var currentIndex = 0
    /// The tape index of the next element.
    private var cursor: Int

    init(document: JSONTapeDocument, index: Int, path: FastJSONPath?) throws(FastJSONUnsupported) {
        let node = document.node(index)
        guard node.kind == .array else { throw document.giveUp("expected an array, found \(node.kind)") }
        self.document = document
        self.path = path
        self.count = node.start
        self.cursor = index + 1
    }

    var codingPath: [any CodingKey] { FastJSONPath.keys(path) }
    var isAtEnd: Bool { currentIndex >= count! }

    /// The next element's tape index; the caller advances after decoding it successfully.
    private func next() throws(FastJSONUnsupported) -> Int {
        if document.isUnsupported { throw FastJSONUnsupported(reason: document.unsupportedReason ?? "") }
        guard !isAtEnd else { throw document.giveUp("unkeyed container is at its end") }
        return cursor
    }

    private mutating func advance() {
        cursor = document.node(cursor).next
        currentIndex += 1
    }

    private var elementPath: FastJSONPath { FastJSONPath(FastJSONKey(index: currentIndex), parent: path) }

    mutating func decodeNil() throws -> Bool {
        let element = try next()
        guard document.node(element).kind == .null else { return false }
        advance()
        return true
    }

    private mutating func decodeElement<T>(_ decode: (JSONTapeDocument, Int) throws -> T) throws -> T {
        let value = try decode(document, try next())
        advance()
        return value
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try decodeElement { try $0.bool(at: $1) } }
    mutating func decode(_ type: String.Type) throws -> String { try decodeElement { try $0.string(at: $1) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try decodeElement { try $0.double(at: $1) } }
    mutating func decode(_ type: Float.Type) throws -> Float { try decodeElement { try $0.float(at: $1) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { try decodeElement { try $0.integer(at: $1, as: type) } }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let path = elementPath
        return try decodeElement { try $0.decodeValue(type, at: $1, path: path) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let path = elementPath
        return try decodeElement { KeyedDecodingContainer(try JSONTapeKeyedContainer<NestedKey>(document: $0, index: $1, path: path)) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let path = elementPath
        return try decodeElement { try JSONTapeUnkeyedContainer(document: $0, index: $1, path: path) }
    }

    mutating func superDecoder() throws -> any Decoder {
        throw document.giveUp("superDecoder")
    }
}
