import Foundation

/// The `Encoder` handed to one value's `encode(to:)`: it owns one slot in the output buffer,
/// which the value fills with exactly one container or single value.
final class JSONWritingEncoder: Encoder {
    enum Production {
        case nothing
        case keyed(frame: Int, id: Int)
        case unkeyed(frame: Int, id: Int)
        case single
        case failed
    }

    let state: JSONEncodingState
    let path: FastJSONPath?
    /// The buffer length and container depth when the slot opened; the value may only start
    /// writing while both are unchanged.
    private let mark: Int
    private let depth: Int
    var production = Production.nothing
    var isFinished = false

    init(state: JSONEncodingState, path: FastJSONPath?) {
        self.state = state
        self.path = path
        self.mark = state.byteCount
        self.depth = state.depth
    }

    var codingPath: [any CodingKey] { FastJSONPath.keys(path) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// Whether the slot can still take its one value.
    private var canProduce: Bool {
        !isFinished && !state.isUnsupported && state.byteCount == mark && state.depth == depth
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        switch production {
        case .keyed(let frame, let id):
            // Foundation hands back the same object.
            return KeyedEncodingContainer(JSONWritingKeyedContainer<Key>(state: state, frame: frame, id: id, path: path, encoderPath: path))
        case .nothing where canProduce:
            do {
                let (frame, id) = try state.output.pointee.pushFrame(isObject: true)
                production = .keyed(frame: frame, id: id)
                return KeyedEncodingContainer(JSONWritingKeyedContainer<Key>(state: state, frame: frame, id: id, path: path, encoderPath: path))
            } catch {
                production = .failed
            }
        default:
            state.giveUp("a keyed container requested after other encoding in the same value")
        }
        return KeyedEncodingContainer(JSONWritingKeyedContainer<Key>(state: state, frame: -1, id: -1, path: path, encoderPath: path))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        switch production {
        case .unkeyed(let frame, let id):
            return JSONWritingUnkeyedContainer(state: state, frame: frame, id: id, path: path, encoderPath: path)
        case .nothing where canProduce:
            do {
                let (frame, id) = try state.output.pointee.pushFrame(isObject: false)
                production = .unkeyed(frame: frame, id: id)
                return JSONWritingUnkeyedContainer(state: state, frame: frame, id: id, path: path, encoderPath: path)
            } catch {
                production = .failed
            }
        default:
            state.giveUp("an unkeyed container requested after other encoding in the same value")
        }
        return JSONWritingUnkeyedContainer(state: state, frame: -1, id: -1, path: path, encoderPath: path)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        JSONWritingSingleValueContainer(encoder: self)
    }

    /// Claims the slot for a single value, or gives up.
    func beginSingleValue() throws(FastJSONUnsupported) {
        guard case .nothing = production, canProduce else {
            throw state.giveUp("a single value encoded after other encoding in the same value")
        }
        production = .single
    }

    var producedSomething: Bool {
        if case .nothing = production { return false }
        return true
    }
}

extension JSONEncodingState {
    /// Encodes any value at the current position (after a member's key or an element's comma),
    /// with Foundation's special cases for Data (base64), URL (absolute string) and Decimal
    /// (a number). A value that encodes nothing becomes `{}` as in Foundation, except at the top.
    func encodeValue<T: Encodable>(_ value: T, path: FastJSONPath?, isTopLevel: Bool = false) throws {
        if T.self == Data.self {
            output.pointee.appendString((value as! Data).base64EncodedString())
            return
        }
        if T.self == URL.self {
            output.pointee.appendString((value as! URL).absoluteString)
            return
        }
        if T.self == Decimal.self {
            output.pointee.bytes.append(contentsOf: (value as! Decimal).description.utf8)
            return
        }
        let depth = self.depth
        let encoder = JSONWritingEncoder(state: self, path: path)
        do {
            try value.encode(to: encoder)
        } catch {
            encoder.isFinished = true
            // Whatever the value's own code does with this error, Foundation must redo it.
            giveUp("an error was thrown while encoding: \(error)")
            throw error
        }
        encoder.isFinished = true
        if isUnsupported { throw giveUp(unsupportedReason ?? "") }
        if case .failed = encoder.production { throw giveUp("container could not be opened") }
        if !encoder.producedSomething {
            if isTopLevel { throw giveUp("top-level value encoded nothing") }
            output.pointee.appendLiteral("{}")
        }
        try output.pointee.close(downTo: depth)
    }
}

struct JSONWritingSingleValueContainer: SingleValueEncodingContainer {
    let encoder: JSONWritingEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }
    private var state: JSONEncodingState { encoder.state }

    mutating func encodeNil() throws { try encoder.beginSingleValue(); state.output.pointee.appendLiteral("null") }
    mutating func encode(_ value: Bool) throws { try encoder.beginSingleValue(); state.output.pointee.appendLiteral(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { try encoder.beginSingleValue(); state.output.pointee.appendString(value) }
    mutating func encode(_ value: Double) throws { try encoder.beginSingleValue(); try state.output.pointee.appendFloatingPoint(value) }
    mutating func encode(_ value: Float) throws { try encoder.beginSingleValue(); try state.output.pointee.appendFloatingPoint(value) }
    mutating func encode(_ value: Int) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int8) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int16) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int32) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int64) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int128) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt128) throws { try encoder.beginSingleValue(); state.output.pointee.appendInteger(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try encoder.beginSingleValue()
        try state.encodeValue(value, path: encoder.path)
    }
}

struct JSONWritingKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: JSONEncodingState
    let frame: Int
    let id: Int
    let path: FastJSONPath?
    /// The path of the encoder the container came from (Foundation's super encoders hang off it).
    let encoderPath: FastJSONPath?
    var codingPath: [any CodingKey] { FastJSONPath.keys(path) }

    @inline(__always)
    private func begin(_ key: Key) throws(FastJSONUnsupported) {
        try state.output.pointee.beginMember(frame, id, key: key.stringValue)
    }

    mutating func encodeNil(forKey key: Key) throws { try begin(key); state.output.pointee.appendLiteral("null") }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try begin(key); state.output.pointee.appendLiteral(value ? "true" : "false") }
    mutating func encode(_ value: String, forKey key: Key) throws { try begin(key); state.output.pointee.appendString(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try begin(key); try state.output.pointee.appendFloatingPoint(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try begin(key); try state.output.pointee.appendFloatingPoint(value) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int128, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt128, forKey key: Key) throws { try begin(key); state.output.pointee.appendInteger(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try begin(key)
        // Foundation gives the value's encoder its own encoder's path plus the key, leaving out
        // the keys of nested containers in between.
        try state.encodeValue(value, path: FastJSONPath.appending(key, to: encoderPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nestedPath = FastJSONPath.appending(key, to: path)
        do {
            try begin(key)
            let (frame, id) = try state.output.pointee.pushFrame(isObject: true)
            return KeyedEncodingContainer(JSONWritingKeyedContainer<NestedKey>(state: state, frame: frame, id: id, path: nestedPath, encoderPath: encoderPath))
        } catch {
            return KeyedEncodingContainer(JSONWritingKeyedContainer<NestedKey>(state: state, frame: -1, id: -1, path: nestedPath, encoderPath: encoderPath))
        }
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nestedPath = FastJSONPath.appending(key, to: path)
        do {
            try begin(key)
            let (frame, id) = try state.output.pointee.pushFrame(isObject: false)
            return JSONWritingUnkeyedContainer(state: state, frame: frame, id: id, path: nestedPath, encoderPath: encoderPath)
        } catch {
            return JSONWritingUnkeyedContainer(state: state, frame: -1, id: -1, path: nestedPath, encoderPath: encoderPath)
        }
    }

    mutating func superEncoder() -> any Encoder {
        makeSuperEncoder(name: FastJSONKey.super.stringValue, path: FastJSONPath(FastJSONKey.super, parent: encoderPath))
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        makeSuperEncoder(name: key.stringValue, path: FastJSONPath.appending(key, to: encoderPath))
    }

    private func makeSuperEncoder(name: String, path: FastJSONPath) -> JSONWritingEncoder {
        do {
            try state.output.pointee.beginMember(frame, id, key: name)
        } catch {
            return JSONWritingEncoder(state: state, path: path)  // the output has given up already
        }
        let encoder = JSONWritingEncoder(state: state, path: path)
        state.output.pointee.beginSuper(frameIndex: frame, encoder: encoder)
        return encoder
    }
}

struct JSONWritingUnkeyedContainer: UnkeyedEncodingContainer {
    let state: JSONEncodingState
    let frame: Int
    let id: Int
    let path: FastJSONPath?
    /// The path of the encoder the container came from (Foundation's super encoders hang off it).
    let encoderPath: FastJSONPath?
    var codingPath: [any CodingKey] { FastJSONPath.keys(path) }
    var count: Int { state.output.pointee.elementCount(frame, id) }

    @inline(__always)
    private func begin() throws(FastJSONUnsupported) {
        try state.output.pointee.beginElement(frame, id)
    }

    mutating func encodeNil() throws { try begin(); state.output.pointee.appendLiteral("null") }
    mutating func encode(_ value: Bool) throws { try begin(); state.output.pointee.appendLiteral(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { try begin(); state.output.pointee.appendString(value) }
    mutating func encode(_ value: Double) throws { try begin(); try state.output.pointee.appendFloatingPoint(value) }
    mutating func encode(_ value: Float) throws { try begin(); try state.output.pointee.appendFloatingPoint(value) }
    mutating func encode(_ value: Int) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int8) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int16) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int32) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int64) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: Int128) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt8) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt16) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt32) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt64) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode(_ value: UInt128) throws { try begin(); state.output.pointee.appendInteger(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = count
        try begin()
        try state.encodeValue(value, path: FastJSONPath(FastJSONKey(index: index), parent: encoderPath))  // as Foundation
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nestedPath = FastJSONPath(FastJSONKey(index: count), parent: path)
        do {
            try begin()
            let (frame, id) = try state.output.pointee.pushFrame(isObject: true)
            return KeyedEncodingContainer(JSONWritingKeyedContainer<NestedKey>(state: state, frame: frame, id: id, path: nestedPath, encoderPath: encoderPath))
        } catch {
            return KeyedEncodingContainer(JSONWritingKeyedContainer<NestedKey>(state: state, frame: -1, id: -1, path: nestedPath, encoderPath: encoderPath))
        }
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nestedPath = FastJSONPath(FastJSONKey(index: count), parent: path)
        do {
            try begin()
            let (frame, id) = try state.output.pointee.pushFrame(isObject: false)
            return JSONWritingUnkeyedContainer(state: state, frame: frame, id: id, path: nestedPath, encoderPath: encoderPath)
        } catch {
            return JSONWritingUnkeyedContainer(state: state, frame: -1, id: -1, path: nestedPath, encoderPath: encoderPath)
        }
    }

    mutating func superEncoder() -> any Encoder {
        let path = FastJSONPath(FastJSONKey(index: count), parent: encoderPath)
        do {
            try begin()
        } catch {
            return JSONWritingEncoder(state: state, path: path)  // the output has given up already
        }
        let encoder = JSONWritingEncoder(state: state, path: path)
        state.output.pointee.beginSuper(frameIndex: frame, encoder: encoder)
        return encoder
    }
}
