@testable import ChronicleJSON
import Foundation
import Testing

// Differential tests: ChronicleJSONEncoder/Decoder against Foundation's JSONEncoder
// (`.sortedKeys`) and JSONDecoder with default strategies. The fast path alone may give up
// (and then Foundation takes over), but whenever it succeeds its bytes and values must be
// Foundation's; the public coders must always give Foundation's bytes, values and errors.

// MARK: - Harness

private func foundationEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return encoder
}

private enum Outcome: Equatable, CustomStringConvertible {
    case bytes(Data)
    case error(String)

    init(_ body: () throws -> Data) {
        do { self = .bytes(try body()) } catch { self = .error(String(describing: error)) }
    }

    var description: String {
        switch self {
        case .bytes(let data): String(decoding: data, as: UTF8.self)
        case .error(let error): "error: \(error)"
        }
    }
}

/// Compares the fast encoder with Foundation. Returns whether the fast path alone succeeded.
@discardableResult
private func checkEncoding<T: Encodable>(_ value: T, expectFast: Bool? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    let foundation = Outcome { try foundationEncoder().encode(value) }
    let ours = Outcome { try ChronicleJSONEncoder().encode(value) }
    #expect(ours == foundation, "public encoder differs from Foundation for \(value)", sourceLocation: sourceLocation)
    let fast = Outcome { try ChronicleJSONEncoder().encodeWithoutFallback(value) }
    var tookFastPath = false
    if case .bytes = fast {
        tookFastPath = true
        #expect(fast == foundation, "fast path differs from Foundation for \(value)", sourceLocation: sourceLocation)
    }
    if let expectFast {
        #expect(tookFastPath == expectFast, "fast path \(tookFastPath ? "taken" : "not taken: \(fast)") for \(value)", sourceLocation: sourceLocation)
    }
    return tookFastPath
}

/// A canonical form of a decoded value for comparison: Foundation's encoding of it (tells -0.0
/// from 0.0), or its description when it does not encode.
private func fingerprint<T>(_ value: T) -> String {
    if let encodable = value as? any Encodable, let data = try? foundationEncoder().encode(encodable) {
        return String(decoding: data, as: UTF8.self)
    }
    return String(reflecting: value)
}

/// Compares the fast decoder with Foundation on some bytes. Returns whether the fast path alone succeeded.
@discardableResult
private func checkDecoding<T: Decodable & Equatable>(
    _ type: T.Type, _ data: Data, expectFast: Bool? = nil, sourceLocation: SourceLocation = #_sourceLocation
) -> Bool {
    let text = String(decoding: data, as: UTF8.self).debugDescription
    let foundation: Result<T, any Error> = Result { try JSONDecoder().decode(type, from: data) }
    let ours: Result<T, any Error> = Result { try ChronicleJSONDecoder().decode(type, from: data) }
    switch (foundation, ours) {
    case (.success(let expected), .success(let actual)):
        #expect(actual == expected && fingerprint(actual) == fingerprint(expected), "public decoder differs for \(text)", sourceLocation: sourceLocation)
    case (.failure(let expected), .failure(let actual)):
        #expect(String(describing: actual) == String(describing: expected), "public decoder error differs for \(text)", sourceLocation: sourceLocation)
    default:
        Issue.record("public decoder: Foundation \(foundation), ours \(ours) for \(text)", sourceLocation: sourceLocation)
    }
    var tookFastPath = false
    if case .success(let fast) = Result(catching: { try ChronicleJSONDecoder().decodeWithoutFallback(type, from: data) }) {
        tookFastPath = true
        if case .success(let expected) = foundation {
            #expect(fast == expected && fingerprint(fast) == fingerprint(expected), "fast path decoded \(fast), Foundation \(expected) for \(text)", sourceLocation: sourceLocation)
        } else {
            Issue.record("fast path succeeded with \(fast) where Foundation failed for \(text)", sourceLocation: sourceLocation)
        }
    }
    if let expectFast {
        #expect(tookFastPath == expectFast, "fast path \(tookFastPath ? "taken" : "not taken") for \(text)", sourceLocation: sourceLocation)
    }
    return tookFastPath
}

private func checkDecoding<T: Decodable & Equatable>(_ type: T.Type, _ json: String, expectFast: Bool? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    checkDecoding(type, Data(json.utf8), expectFast: expectFast, sourceLocation: sourceLocation)
}

/// Encodes with Foundation and checks both directions, expecting the fast path both ways.
private func checkRoundTrip<T: Codable & Equatable>(_ value: T, fastDecode: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) {
    checkEncoding(value, expectFast: true, sourceLocation: sourceLocation)
    if let data = try? foundationEncoder().encode(value) {
        checkDecoding(T.self, data, expectFast: fastDecode, sourceLocation: sourceLocation)
    }
}

/// SplitMix64, as ChronicleTesting's `SeededRandomNumberGenerator` (this module depends on
/// nothing of Chronicle's): the same seed gives the same corpus on every run.
private struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Corpus

struct FastDeposited: Codable, Equatable, Sendable {
    var seq: Int
    var amount: Int
    var currency: String
    var memo: String
}

struct Scalars: Codable, Equatable {
    var bool: Bool
    var int: Int
    var int8: Int8
    var int16: Int16
    var int32: Int32
    var int64: Int64
    var uint: UInt
    var uint8: UInt8
    var uint16: UInt16
    var uint32: UInt32
    var uint64: UInt64
    var float: Float
    var double: Double
    var string: String
}

struct Optionals: Codable, Equatable {
    var present: Int?
    var absent: Int?
    var nested: Int??
    var strings: [String?]
    var arrays: [[Int]?]
}

struct Foundations: Codable, Equatable {
    var date: Date
    var data: Data
    var uuid: UUID
    var dates: [Date]
}

struct WithURL: Codable, Equatable { var url: URL }
struct WithDecimal: Codable, Equatable { var amount: Decimal }

indirect enum Shape: Codable, Equatable {
    case circle(radius: Double)
    case rectangle(width: Int, height: Int)
    case point
    case labelled(String, Int)
    case nested(Shape?)
}

enum Currency: String, Codable, CodingKeyRepresentable, Equatable { case eur = "EUR", usd = "USD" }
enum Level: Int, Codable, Equatable { case low = 1, high = 10 }

struct Dictionaries: Codable, Equatable {
    var byName: [String: Int]
    var byNumber: [Int: String]
    var nested: [String: [String: Double]]
    var byCurrency: [Currency: Int]
}

struct OddKeys: Codable, Equatable {
    var a: Int
    var upperB: Int
    var slash: Int
    var quote: Int
    var control: Int
    var accented: Int
    var emoji: Int
    var empty: Int
    var ten: Int
    var nine: Int
    var bmpLast: Int
    var astral: Int

    enum CodingKeys: String, CodingKey {
        case a, upperB = "B", slash = "a/b", quote = "say \"hi\"", control = "tab\there\u{1}"
        case accented = "é", emoji = "😀", empty = "", ten = "10", nine = "9", bmpLast = "\u{FFFF}", astral = "\u{10000}"
    }
}

/// Two keys equal as Strings (é precomposed and decomposed): Foundation merges them.
struct EquivalentKeys: Codable, Equatable {
    var composed: Int
    var decomposed: Int
    enum CodingKeys: String, CodingKey { case composed = "é", decomposed = "e\u{301}" }
}

/// KELVIN SIGN is canonically "K".
struct KelvinKeys: Codable, Equatable {
    var letter: Int
    var kelvin: Int
    enum CodingKeys: String, CodingKey { case letter = "K", kelvin = "\u{212A}" }
}

struct Composed: Codable, Equatable {
    var value: Int
    enum CodingKeys: String, CodingKey { case value = "é" }
}

/// Hand-written Codable using nested containers out of declaration order.
struct Manual: Codable, Equatable {
    var name: String
    var tags: [String]
    var position: (x: Int, y: Int)

    enum Keys: String, CodingKey { case name, info, tags }
    enum PositionKeys: String, CodingKey { case x, y }

    init(name: String, tags: [String], position: (x: Int, y: Int)) {
        self.name = name
        self.tags = tags
        self.position = position
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        var info = container.nestedContainer(keyedBy: PositionKeys.self, forKey: .info)
        try info.encode(position.y, forKey: .y)
        try info.encode(position.x, forKey: .x)
        var tags = container.nestedUnkeyedContainer(forKey: .tags)
        for tag in self.tags { try tags.encode(tag) }
        try container.encode(name, forKey: .name)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let info = try container.nestedContainer(keyedBy: PositionKeys.self, forKey: .info)
        position = (try info.decode(Int.self, forKey: .x), try info.decode(Int.self, forKey: .y))
        var tags = try container.nestedUnkeyedContainer(forKey: .tags)
        var collected: [String] = []
        while !tags.isAtEnd { collected.append(try tags.decode(String.self)) }
        self.tags = collected
        name = try container.decode(String.self, forKey: .name)
    }

    static func == (a: Manual, b: Manual) -> Bool { a.name == b.name && a.tags == b.tags && a.position == b.position }
}

/// Writes to a nested container after its parent moved on: Foundation allows it.
struct LateNestedWrite: Encodable {
    enum Keys: String, CodingKey { case first, second }
    enum Inner: String, CodingKey { case value }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        var first = container.nestedContainer(keyedBy: Inner.self, forKey: .first)
        var second = container.nestedContainer(keyedBy: Inner.self, forKey: .second)
        try second.encode(2, forKey: .value)
        try first.encode(1, forKey: .value)
    }
}

/// Reads a nested array's count after writing to its parent (which finished the array).
struct LateCount: Encodable {
    enum Keys: String, CodingKey { case list, zero, size }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        var list = container.nestedUnkeyedContainer(forKey: .list)
        try list.encode(1)
        try list.encode(2)
        try container.encode(0, forKey: .zero)
        try container.encode(list.count, forKey: .size)
    }
}

/// Encodes the same key twice: Foundation keeps the last value.
struct RepeatedKey: Encodable {
    enum Keys: String, CodingKey { case key }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(1, forKey: .key)
        try container.encode(2, forKey: .key)
    }
}

/// Asks for the keyed container twice: Foundation hands back the same object.
struct TwoKeyedContainers: Encodable {
    enum Keys: String, CodingKey { case b, a }
    func encode(to encoder: any Encoder) throws {
        var first = encoder.container(keyedBy: Keys.self)
        try first.encode(1, forKey: .b)
        var second = encoder.container(keyedBy: Keys.self)
        try second.encode(2, forKey: .a)
    }
}

struct EncodesNothing: Codable, Equatable {
    func encode(to encoder: any Encoder) throws {}
    init() {}
    init(from decoder: any Decoder) throws {}
}

struct HoldsNothing: Codable, Equatable { var inner = EncodesNothing(); var list = [EncodesNothing()] }

class Base: Codable {
    var base: Int
    init(base: Int) { self.base = base }
}

class Derived: Base, @unchecked Sendable {
    var derived: String
    enum Keys: String, CodingKey { case derived }
    init(base: Int, derived: String) {
        self.derived = derived
        super.init(base: base)
    }
    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        derived = try container.decode(String.self, forKey: .derived)
        try super.init(from: try container.superDecoder())
    }
    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(derived, forKey: .derived)
        try super.encode(to: container.superEncoder())
    }
}

/// A third level of class hierarchy.
final class MostDerived: Derived, @unchecked Sendable {
    var most: Bool
    enum MostKeys: String, CodingKey { case most }
    init(base: Int, derived: String, most: Bool) {
        self.most = most
        super.init(base: base, derived: derived)
    }
    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: MostKeys.self)
        most = try container.decode(Bool.self, forKey: .most)
        try super.init(from: try container.superDecoder())
    }
    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: MostKeys.self)
        try container.encode(most, forKey: .most)
        try super.encode(to: container.superEncoder())
    }
}

/// Encodes its own coding path, to compare paths with Foundation's.
struct PathReporter: Encodable {
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(encoder.codingPath.map { "\($0.stringValue)|\($0.intValue.map(String.init) ?? "-")" }.joined(separator: "/"))
    }
}

/// Decodes to its own coding path and its containers' paths, to compare paths with Foundation's.
struct PathProbe: Decodable, Equatable {
    var paths: [String]
    static func describe(_ path: [any CodingKey]) -> String {
        path.map { "\($0.stringValue)|\($0.intValue.map(String.init) ?? "-")" }.joined(separator: "/")
    }
    enum Keys: String, CodingKey { case a, nested, list, probe, superKey = "super" }
    init(from decoder: any Decoder) throws {
        paths = [Self.describe(decoder.codingPath)]
        if let container = try? decoder.container(keyedBy: Keys.self) {
            paths.append(Self.describe(container.codingPath))
            if container.contains(.superKey) { paths += try PathProbe(from: try container.superDecoder()).paths }
            if container.contains(.a) { paths += try PathProbe(from: try container.superDecoder(forKey: .a)).paths }
            if container.contains(.nested) {
                let nested = try container.nestedContainer(keyedBy: Keys.self, forKey: .nested)
                paths.append(Self.describe(nested.codingPath))
                if nested.contains(.superKey) { paths += try PathProbe(from: try nested.superDecoder()).paths }
                if nested.contains(.probe) { paths += try nested.decode(PathProbe.self, forKey: .probe).paths }
            }
            if container.contains(.list) {
                var list = try container.nestedUnkeyedContainer(forKey: .list)
                paths.append(Self.describe(list.codingPath))
                while !list.isAtEnd { paths += try list.decode(PathProbe.self).paths }
            }
            if container.contains(.probe) { paths += try container.decode(PathProbe.self, forKey: .probe).paths }
        }
    }
}

/// Super encoders in every shape: by key, unused, in arrays, in nested containers, held too long.
struct Supers: Encodable {
    var hold = false
    enum Keys: String, CodingKey { case a, nested, custom, list, z, late }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(PathReporter(), forKey: .z)
        try PathReporter().encode(to: container.superEncoder(forKey: .custom))
        _ = container.superEncoder()  // encodes nothing: {}
        var nested = container.nestedContainer(keyedBy: Keys.self, forKey: .nested)
        try PathReporter().encode(to: nested.superEncoder())
        try nested.encode(PathReporter(), forKey: .a)
        var list = container.nestedUnkeyedContainer(forKey: .list)
        try list.encode(PathReporter())
        try PathReporter().encode(to: list.superEncoder())
        try list.encode(PathReporter())
        var inner = list.nestedContainer(keyedBy: Keys.self)
        try PathReporter().encode(to: inner.superEncoder())
        if hold {
            let held = container.superEncoder(forKey: .a)
            try container.encode(1, forKey: .late)
            var single = held.singleValueContainer()
            try single.encode("late")
        }
    }
}

/// Keeps its super encoder past the end of encoding (Foundation writes a super encoder's value
/// only when the encoder is released).
final class SuperKeeper: Encodable, @unchecked Sendable {
    var kept: (any Encoder)?
    enum Keys: String, CodingKey { case a }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(1, forKey: .a)
        kept = container.superEncoder()
    }
}

struct DerivedBox: Codable, Equatable {
    var value: Derived
    static func == (a: DerivedBox, b: DerivedBox) -> Bool { a.value.base == b.value.base && a.value.derived == b.value.derived }
}

/// Catches its own decoding errors: a fast path that failed differently from Foundation would
/// take the other branch; ours must leave such a value to Foundation.
struct Lenient: Decodable, Equatable {
    var number: Int
    enum Keys: String, CodingKey { case number }
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        number = (try? container.decode(Int.self, forKey: .number)) ?? -1
    }
}

/// Keys that are not CodingKeyRepresentable make an array of alternating keys and values.
struct LevelTable: Decodable, Equatable, CustomStringConvertible {
    var table: [Level: Int]
    var description: String { table.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key):\($0.value)" }.joined(separator: ",") }
}

struct DoubleBox: Codable, Equatable { var value: Double }
struct FloatBox: Codable, Equatable { var value: Float }
struct IntBox: Codable, Equatable { var value: Int }
struct Int8Box: Codable, Equatable { var value: Int8 }
struct UInt64Box: Codable, Equatable { var value: UInt64 }
struct Int64Box: Codable, Equatable { var value: Int64 }
struct StringBox: Codable, Equatable { var value: String }
struct OptionalIntBox: Codable, Equatable { var value: Int? }
struct BigIntegers: Codable, Equatable { var signed: Int128; var unsigned: UInt128 }

/// Reads past the end of an unkeyed container with decodeIfPresent.
struct PastTheEnd: Decodable, Equatable {
    var values: [Int?]
    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        values = [try container.decodeIfPresent(Int.self), try container.decodeIfPresent(Int.self), try container.decodeIfPresent(Int.self)]
    }
}

/// Walks a keyed container's allKeys (sorted, since their order is unspecified) and nil checks.
struct KeyWalker: Decodable, Equatable {
    var keys: [String]
    var nulls: [String]
    var contains: Bool
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        keys = container.allKeys.map(\.stringValue).sorted()
        nulls = try keys.filter { try container.decodeNil(forKey: AnyKey(stringValue: $0)) }
        contains = container.contains(AnyKey(stringValue: "missing"))
    }
}

// MARK: - Random values

/// A recursive value of many shapes, built from a seed.
struct Random: Codable, Equatable {
    var ints: [Int64]
    var unsigned: [UInt64]
    var small: [Int8]
    var doubles: [Double]
    var floats: [Float]
    var strings: [String]
    var flag: Bool?
    var maybe: Int??
    var table: [String: [Double?]]
    var numbered: [Int: String]
    var shape: Shape?
    var children: [Random]
}

private extension SeededGenerator {
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

    mutating func string() -> String {
        let pieces: [String] = [
            "a", "Z", "0", " ", "\"", "\\", "/", "\u{0}", "\u{1}", "\u{8}", "\u{9}", "\u{A}", "\u{C}", "\u{D}", "\u{1F}",
            "\u{7F}", "é", "e\u{301}", "\u{2028}", "\u{FEFF}", "😀", "👩‍👩‍👧", "中", "\u{FFFF}", "\u{10000}", "\u{212A}", "memo",
        ]
        return (0..<int(0...12)).map { _ in pieces[int(0...(pieces.count - 1))] }.joined()
    }

    mutating func double() -> Double {
        switch int(0...9) {
        case 0: return Double(bitPattern: next())  // anything, NaN and infinity included
        case 1: return Double(int(-1_000_000...1_000_000))
        case 2: return Double(int(-1000...1000)) / 100
        case 3: return Double.leastNonzeroMagnitude * Double(int(1...1000))  // subnormal
        case 4: return [0.0, -0.0, 0.1, 1e16, 1e15, 1e21, 1e22, 1e23, .leastNonzeroMagnitude, 2.2250738585072014e-308, .greatestFiniteMagnitude, 123456789012345680][int(0...11)]
        case 5: return Double(sign: chance(50) ? .minus : .plus, exponent: int(-1074...1023), significand: 1 + Double(int(0...1000)) / 1000)
        default:
            let value = Double(bitPattern: next() & 0x7FEF_FFFF_FFFF_FFFF)
            return chance(50) ? -value : value
        }
    }

    mutating func float() -> Float {
        switch int(0...3) {
        case 0: return Float(bitPattern: UInt32(truncatingIfNeeded: next()))
        case 1: return Float(int(-100_000...100_000)) / 1000
        default: return Float(bitPattern: UInt32(truncatingIfNeeded: next()) & 0x7F7F_FFFF)
        }
    }

    mutating func int64() -> Int64 {
        switch int(0...3) {
        case 0: return [Int64.min, Int64.max, 0, -1, 1][int(0...4)]
        case 1: return Int64(int(-1000...1000))
        default: return Int64(bitPattern: next())
        }
    }

    mutating func shape(depth: Int) -> Shape? {
        switch int(0...5) {
        case 0: return nil
        case 1: return .circle(radius: double())
        case 2: return .rectangle(width: int(-5...5), height: int(0...1000))
        case 3: return .point
        case 4: return .labelled(string(), int(-9...9))
        default: return depth > 2 ? .point : .nested(shape(depth: depth + 1))
        }
    }

    mutating func random(depth: Int = 0) -> Random {
        var table: [String: [Double?]] = [:]
        for _ in 0..<int(0...3) { table[string()] = (0..<int(0...3)).map { _ in chance(30) ? nil : double() } }
        var numbered: [Int: String] = [:]
        for _ in 0..<int(0...3) { numbered[int(-20...20)] = string() }
        let maybe: Int?? = switch int(0...2) {
        case 0: .none
        case 1: .some(.none)
        default: .some(.some(int(-100...100)))
        }
        return Random(
            ints: (0..<int(0...4)).map { _ in int64() },
            unsigned: (0..<int(0...2)).map { _ in chance(20) ? UInt64.max : next() },
            small: (0..<int(0...2)).map { _ in Int8(truncatingIfNeeded: next()) },
            doubles: (0..<int(0...4)).map { _ in double() },
            floats: (0..<int(0...2)).map { _ in float() },
            strings: (0..<int(0...3)).map { _ in string() },
            flag: chance(30) ? nil : chance(50),
            maybe: maybe,
            table: table,
            numbered: numbered,
            shape: shape(depth: 0),
            children: depth > 2 ? [] : (0..<int(0...2)).map { _ in random(depth: depth + 1) }
        )
    }
}

// MARK: - Tests

@Suite struct FastJSONEncodingTests {
    @Test func depositedEncodesToFoundationsBytes() throws {
        let value = FastDeposited(seq: 42, amount: 43, currency: "EUR", memo: String(repeating: "x", count: 150))
        checkEncoding(value, expectFast: true)
        let bytes = try ChronicleJSONEncoder().encodeWithoutFallback(value)
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"amount":43,"currency":"EUR","memo":"xxx"#))
    }

    @Test func scalarsAtTheirLimitsEncodeLikeFoundation() {
        checkEncoding(Scalars(
            bool: true, int: .min, int8: .min, int16: .min, int32: .min, int64: .min, uint: .max, uint8: .max, uint16: .max,
            uint32: .max, uint64: .max, float: .greatestFiniteMagnitude, double: -.greatestFiniteMagnitude, string: ""
        ), expectFast: true)
        checkEncoding(Scalars(
            bool: false, int: .max, int8: .max, int16: .max, int32: .max, int64: .max, uint: 0, uint8: 0, uint16: 0,
            uint32: 0, uint64: 0, float: .leastNonzeroMagnitude, double: .leastNonzeroMagnitude, string: "x"
        ), expectFast: true)
        checkEncoding(BigIntegers(signed: .min, unsigned: .max), expectFast: true)
    }

    @Test func doublesAndFloatsFormatLikeFoundation() {
        let doubles: [Double] = [
            0, -0.0, 1, -1, 1.5, 0.1, 1e15, 1e16, 1e21, 1e22, 1e23, 1e-7, 0.0001, 2.5e-5, .leastNonzeroMagnitude, 2.2250738585072014e-308,
            .greatestFiniteMagnitude, 123456789012345680, 9007199254740994, 100, 1e100, -1e-100, 0.3, 2.0 / 3.0,
        ]
        for double in doubles { checkEncoding(DoubleBox(value: double), expectFast: true) }
        checkEncoding(doubles, expectFast: true)
        let floats: [Float] = [0, -0.0, 1, 0.1, 1e16, 3.4028235e38, .leastNonzeroMagnitude, 16_777_216, 0.3, 1e-10]
        for float in floats { checkEncoding(FloatBox(value: float), expectFast: true) }
    }

    @Test func nonFiniteNumbersFailAsInFoundation() {
        for value in [Double.nan, .infinity, -.infinity] { checkEncoding(DoubleBox(value: value), expectFast: false) }
        checkEncoding(FloatBox(value: .nan), expectFast: false)
        checkEncoding([1, Double.infinity], expectFast: false)
    }

    @Test func stringsEscapeLikeFoundation() {
        var all = ""
        for scalar in 0..<0x80 { all.unicodeScalars.append(Unicode.Scalar(UInt8(scalar))) }
        checkEncoding(StringBox(value: all), expectFast: true)
        checkEncoding(["a/b", "\u{2028}\u{2029}", "é", "e\u{301}", "😀", "\u{FEFF}", "\u{0}", "\\\"", "</script>"], expectFast: true)
    }

    @Test func keysSortByUTF8BytesLikeFoundation() {
        checkEncoding(OddKeys(a: 1, upperB: 2, slash: 3, quote: 4, control: 5, accented: 6, emoji: 7, empty: 8, ten: 9, nine: 10, bmpLast: 11, astral: 12), expectFast: true)
        checkEncoding(["b": 1, "a": 2, "B": 3, "é": 4, "f": 5, "ü": 6, "\u{10000}": 7, "\u{FFFF}": 8, "10": 9, "9": 10, "": 11, "a\u{0}": 12, "a/": 13, "a\"": 14], expectFast: true)
        checkEncoding([10: "b", 2: "c", 1: "a", -1: "m"], expectFast: true)
    }

    @Test func keysEqualAsStringsAreLeftToFoundation() {
        checkEncoding(EquivalentKeys(composed: 1, decomposed: 2), expectFast: false)
        checkEncoding(KelvinKeys(letter: 1, kelvin: 2), expectFast: false)
    }

    @Test func foundationSpecialCasesEncodeLikeFoundation() throws {
        checkEncoding(Foundations(
            date: Date(timeIntervalSinceReferenceDate: 12.5), data: Data([0, 1, 2, 250, 251, 252, 253, 254, 255]),
            uuid: UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!, dates: [Date(timeIntervalSince1970: 0)]
        ), expectFast: true)
        checkEncoding(Data(), expectFast: true)
        checkEncoding(WithURL(url: URL(string: "https://example.com/a b?c=d#e")!), expectFast: true)
        checkEncoding(WithURL(url: URL(string: "b/c", relativeTo: URL(string: "http://a.com/x/"))!), expectFast: true)
        for text in ["1.10", "-0.000123", "12345678901234567890.123", "0", "-3"] {
            checkEncoding(WithDecimal(amount: Decimal(string: text)!), expectFast: true)
        }
        checkEncoding(WithDecimal(amount: .nan), expectFast: true)  // Foundation writes NaN, not JSON
    }

    @Test func nestedContainersOptionalsEnumsAndDictionariesEncodeLikeFoundation() {
        checkEncoding(Optionals(present: 1, absent: nil, nested: .some(nil), strings: [nil, "x"], arrays: [nil, [], [1, 2]]), expectFast: true)
        checkEncoding(Optionals(present: nil, absent: nil, nested: .some(.some(3)), strings: [], arrays: []), expectFast: true)
        checkEncoding([Shape.circle(radius: 1.5), .rectangle(width: 2, height: 3), .point, .labelled("x", 1), .nested(.nested(nil)), .nested(.point)], expectFast: true)
        checkEncoding(Dictionaries(byName: ["z": 1, "a": 2], byNumber: [3: "c", 20: "t"], nested: ["k": ["y": 1, "x": 2]], byCurrency: [.usd: 1, .eur: 2]), expectFast: true)
        checkEncoding([Currency.eur: Level.high], expectFast: true)
        checkEncoding(Manual(name: "n", tags: ["b", "a"], position: (3, 4)), expectFast: true)
        checkEncoding(HoldsNothing(), expectFast: true)
        checkEncoding([[[Int]]](arrayLiteral: [[1], []], []), expectFast: true)
        checkEncoding(Int?.none, expectFast: true)
        checkEncoding("top-level fragment", expectFast: true)
    }

    @Test func unusualContainerUseIsLeftToFoundation() {
        checkEncoding(LateNestedWrite(), expectFast: false)
        checkEncoding(RepeatedKey(), expectFast: false)
        checkEncoding(LateCount(), expectFast: false)
        checkEncoding(TwoKeyedContainers(), expectFast: true)
        checkEncoding(EncodesNothing(), expectFast: false)  // Foundation: top-level value encoded nothing

    }

    @Test func superEncodersWriteWhereFoundationDoes() {
        checkEncoding(DerivedBox(value: Derived(base: 1, derived: "d")), expectFast: true)
        checkEncoding([MostDerived(base: 1, derived: "d", most: true)], expectFast: true)
        checkEncoding(Supers(), expectFast: true)
        checkEncoding(Supers(hold: true), expectFast: false)
        checkEncoding(SuperKeeper(), expectFast: false)
    }

    @Test func codingPathsAreFoundations() {
        checkEncoding(["k": [PathReporter(), PathReporter()]], expectFast: true)
        checkEncoding([Shape?.none], expectFast: true)
        checkEncoding(PathReporter(), expectFast: true)
        checkEncoding([[PathReporter()]], expectFast: true)
    }

    @Test func deepNestingMatchesFoundation() {
        var deep: Shape? = .point
        for _ in 0..<300 { deep = .nested(deep) }
        checkEncoding(deep)
        var shallow: Shape? = .point
        for _ in 0..<100 { shallow = .nested(shallow) }
        checkEncoding(shallow, expectFast: true)
    }

    @Test func seededRandomValuesEncodeLikeFoundation() {
        var generator = SeededGenerator(seed: 0x5EED)
        var fast = 0
        let count = 2000
        for _ in 0..<count where checkEncoding(generator.random()) { fast += 1 }
        // NaN and infinity send some to Foundation; most must take the fast path.
        #expect(fast > count / 2, "only \(fast) of \(count) took the fast path")
    }
}

@Suite struct FastJSONDecodingTests {
    @Test func depositedDecodesOnTheFastPath() {
        checkRoundTrip(FastDeposited(seq: 42, amount: 43, currency: "EUR", memo: String(repeating: "x", count: 150)))
        checkDecoding(FastDeposited.self, " {\"seq\" : 1 ,\n\"amount\":\t2,\"currency\":\"\",\"memo\":\"m\", \"extra\": [1, {\"a\": null}]}\r\n", expectFast: true)
    }

    @Test func corpusRoundTripsOnTheFastPath() {
        checkRoundTrip(Scalars(
            bool: true, int: .min, int8: .min, int16: .min, int32: .min, int64: .min, uint: .max, uint8: .max, uint16: .max,
            uint32: .max, uint64: .max, float: .greatestFiniteMagnitude, double: -.greatestFiniteMagnitude, string: "\u{0}\"\\/é😀"
        ))
        checkRoundTrip(BigIntegers(signed: .min, unsigned: .max))
        checkRoundTrip(Optionals(present: 1, absent: nil, nested: .some(nil), strings: [nil, "x"], arrays: [nil, [], [1, 2]]))
        checkRoundTrip(Optionals(present: nil, absent: nil, nested: .some(.some(3)), strings: [], arrays: []))
        checkRoundTrip([Shape.circle(radius: 1.5), .rectangle(width: 2, height: 3), .point, .labelled("x", 1), .nested(.nested(nil)), .nested(.point)])
        checkRoundTrip(Dictionaries(byName: ["z": 1, "a": 2], byNumber: [3: "c", 20: "t"], nested: ["k": ["y": 1, "x": 2]], byCurrency: [.usd: 1, .eur: 2]))
        checkRoundTrip(Manual(name: "n", tags: ["b", "a"], position: (3, 4)))
        checkRoundTrip(OddKeys(a: 1, upperB: 2, slash: 3, quote: 4, control: 5, accented: 6, emoji: 7, empty: 8, ten: 9, nine: 10, bmpLast: 11, astral: 12))
        checkRoundTrip(Foundations(
            date: Date(timeIntervalSinceReferenceDate: 12.5), data: Data([0, 1, 2, 250, 255]),
            uuid: UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")!, dates: [Date(timeIntervalSince1970: 0)]
        ))
        checkRoundTrip(HoldsNothing())
        checkRoundTrip(Level.high)
        checkRoundTrip("fragment")
        checkRoundTrip(Int?.none)
    }

    @Test func superDecodersReadTheSuperKey() {
        checkDecoding(DerivedBox.self, #"{"value":{"derived":"d","super":{"base":1}}}"#, expectFast: true)
        checkDecoding(DerivedBox.self, #"{"value":{"derived":"d","super":{"base":"x"}}}"#, expectFast: false)
        checkDecoding(DerivedBox.self, #"{"value":{"derived":"d","super":[]}}"#, expectFast: false)
    }

    @Test func urlsDecimalsAndMissingSuperKeysAreLeftToFoundation() {
        checkRoundTrip(WithURL(url: URL(string: "https://example.com/a?b=c")!), fastDecode: false)
        checkRoundTrip(WithDecimal(amount: Decimal(string: "1.10")!), fastDecode: false)
        checkDecoding(DerivedBox.self, #"{"value":{"derived":"d"}}"#, expectFast: false)  // Foundation: super is null
        checkDecoding(WithURL.self, #"{"url":"http://a b"}"#, expectFast: false)
    }

    @Test func numbersDecodeLikeFoundation() {
        for text in ["0", "-0", "1", "-1", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "1.0", "1e2", "1E2", "100e-2", "1.5", "-1.5e3"] {
            checkDecoding(IntBox.self, #"{"value":\#(text)}"#)
            checkDecoding(Int64Box.self, #"{"value":\#(text)}"#)
            checkDecoding(UInt64Box.self, #"{"value":\#(text)}"#)
            checkDecoding(Int8Box.self, #"{"value":\#(text)}"#)
        }
        for text in ["18446744073709551615", "18446744073709551616", "-0", "127", "128", "-128", "-129"] {
            checkDecoding(UInt64Box.self, #"{"value":\#(text)}"#)
            checkDecoding(Int8Box.self, #"{"value":\#(text)}"#)
        }
        let doubles = [
            "0", "-0", "-0.0", "0e400", "1", "0.1", "1e400", "-1e400", "1e-400", "2e-324", "4.9e-324", "2.4703282292062328e-324", "2.4703282292062327e-324", "2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125e-324", "1e-320", "4.9406564584124654e-324", "1e-310", "2.225073858507201e-308",
            "2.2250738585072011e-308", "2.2250738585072014e-308", "1.7976931348623157e308", "1.7976931348623158e308",
            "1.7976931348623159e308", "18446744073709551616", "123456789012345678901234567890", "0.30000000000000004",
            "9007199254740993", "1e22", "1e23", "1.5e-22", "3.4028235e38", "3.4028236e38", "1e39", "1e-45", "1e-46", "7e-46", "1.4e-45", "1e-40", "1e-50", "0.1e1", "-1e-320",
        ]
        for text in doubles {
            checkDecoding(DoubleBox.self, #"{"value":\#(text)}"#)
            checkDecoding(FloatBox.self, #"{"value":\#(text)}"#)
        }
        checkDecoding(DoubleBox.self, #"{"value":0.1}"#, expectFast: true)
        checkDecoding(IntBox.self, #"{"value":-42}"#, expectFast: true)
        checkDecoding(BigIntegers.self, #"{"signed":-170141183460469231731687303715884105728,"unsigned":340282366920938463463374607431768211455}"#, expectFast: true)
        checkDecoding(BigIntegers.self, #"{"signed":170141183460469231731687303715884105728,"unsigned":1}"#)
    }

    @Test func codingPathsAreFoundations() {
        checkDecoding(PathProbe.self, #"{"probe":{"nested":{"probe":{},"super":{"a":{}}},"list":[{},{"list":[{}]}]},"super":{}}"#, expectFast: true)
        checkDecoding([[PathProbe]].self, #"[[{"probe":{}}]]"#, expectFast: true)
    }

    @Test func stringsDecodeLikeFoundation() {
        let strings = [
            #""plain""#, #""\u0000""#, #""\u0041\u00e9\u4e2d""#, #""\ud83d\ude00""#, #""\uD83D\uDE00""#, #""\ud800""#, #""\ude00""#,
            #""\ud800\u0041""#, #""\/\\\"\b\f\n\r\t""#, #""\a""#, #""\u00""#, #""\u00G0""#, "\"\u{7F}\"", "\"tab\there\"", "\"nl\nhere\"",
            "\"é😀\u{FFFF}\u{10000}\"", #""\u2028""#,
        ]
        for text in strings { checkDecoding(StringBox.self, #"{"value":\#(text)}"#) }
        checkDecoding(StringBox.self, #"{"value":"\ud83d\ude00 \u00e9 \\ \/"}"#, expectFast: true)
        // Invalid UTF-8: lone continuation, overlong, surrogate, beyond U+10FFFF, truncated.
        for bytes: [UInt8] in [[0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF]] {
            checkDecoding(StringBox.self, Data(#"{"value":""#.utf8) + Data(bytes) + Data(#""}"#.utf8))
        }
    }

    @Test func keysMatchLikeFoundation() {
        checkDecoding(Composed.self, #"{"é":1}"#, expectFast: true)
        checkDecoding(Composed.self, #"{"\u00e9":1}"#, expectFast: true)
        checkDecoding(Composed.self, #"{"e\u0301":1}"#)  // canonically equivalent
        checkDecoding(Composed.self, "{\"e\u{301}\":1}")
        checkDecoding(EquivalentKeys.self, #"{"é":1,"e\u0301":2}"#)
        checkDecoding(IntBox.self, #"{"\u0076alue":1}"#, expectFast: true)
        checkDecoding(IntBox.self, #"{"value":1,"value":2}"#, expectFast: false)  // Foundation keeps the first
        checkDecoding(IntBox.self, #"{"value":1,"\u0076alue":2}"#, expectFast: false)
        checkDecoding([String: Int].self, #"{"a":1,"a":2}"#, expectFast: false)
        checkDecoding([String: Int].self, #"{"é":1,"e\u0301":2}"#, expectFast: false)
        checkDecoding(KeyWalker.self, #"{"b":null,"a":1,"é":null}"#, expectFast: true)
        checkDecoding([Int: String].self, #"{"1":"a","-2":"b"}"#, expectFast: true)
        checkDecoding([Int: String].self, #"{"1":"a","x":"b"}"#)
        checkDecoding([Int: String].self, #"{"01":"a"}"#)
        checkDecoding([Currency: Int].self, #"{"EUR":1,"USD":2}"#, expectFast: true)
        // Large objects are looked up through an index.
        let large = (0..<200).map { #""key\#($0)":\#($0)"# }
        checkDecoding([String: Int].self, "{" + large.joined(separator: ",") + "}", expectFast: true)
        checkDecoding([String: Int].self, "{" + (large + [#""key7":0"#]).joined(separator: ",") + "}", expectFast: false)
        checkDecoding([String: Int].self, "{" + (large + [#""\u006bey7":0"#]).joined(separator: ",") + "}", expectFast: false)
        checkDecoding([String: Int].self, "{" + (large + [#""é":1"#, #""e\u0301":2"#]).joined(separator: ",") + "}", expectFast: false)
        checkDecoding(IntBox.self, "{" + (large + [#""value":5"#]).joined(separator: ",") + "}", expectFast: true)
        checkDecoding([Currency: Int].self, #"{"EUR":1,"GBP":2}"#)
        checkDecoding(LevelTable.self, #"{"table":[1,2,10,3]}"#, expectFast: true)  // not CodingKeyRepresentable: an array
        checkDecoding(LevelTable.self, #"{"table":[1,2,1,3]}"#)
        checkDecoding(LevelTable.self, #"{"table":[1,2,10]}"#)
    }

    @Test func optionalsAndNullsDecodeLikeFoundation() {
        checkDecoding(OptionalIntBox.self, #"{"value":null}"#, expectFast: true)
        checkDecoding(OptionalIntBox.self, #"{}"#, expectFast: true)
        checkDecoding(OptionalIntBox.self, #"{"value":"1"}"#, expectFast: false)
        checkDecoding(Optionals.self, #"{"nested":null,"strings":[null],"arrays":[null,[]]}"#, expectFast: true)
        checkDecoding(IntBox.self, #"{"value":null}"#, expectFast: false)
        checkDecoding(IntBox.self, #"{}"#, expectFast: false)
        checkDecoding(PastTheEnd.self, "[1,null]")
        checkDecoding([Int?].self, "[null,1]", expectFast: true)
    }

    @Test func errorsCaughtByTheValueAreLeftToFoundation() {
        checkDecoding(Lenient.self, #"{"number":1}"#, expectFast: true)
        checkDecoding(Lenient.self, #"{"number":"x"}"#, expectFast: false)
        checkDecoding(Lenient.self, #"{"number":1.0}"#, expectFast: false)  // Foundation: 1, not -1
    }

    @Test func wrongTypesFailLikeFoundation() {
        checkDecoding(IntBox.self, #"{"value":"1"}"#)
        checkDecoding(IntBox.self, #"{"value":true}"#)
        checkDecoding(IntBox.self, #"{"value":[1]}"#)
        checkDecoding(StringBox.self, #"{"value":1}"#)
        checkDecoding(Bool.self, "1")
        checkDecoding(Double.self, "true")
        checkDecoding([Int].self, #"{"a":1}"#)
        checkDecoding(IntBox.self, "[1]")
        checkDecoding(Shape.self, #"{"circle":{"radius":1},"point":{}}"#)
        checkDecoding(Shape.self, #"{"square":{}}"#)
        checkDecoding(Currency.self, #""GBP""#)
        checkDecoding(Foundations.self, #"{"date":0,"data":"AQI","uuid":"E621E1F8-C36C-495A-93FC-0C247A3E6E5F","dates":[]}"#)
        checkDecoding(Foundations.self, #"{"date":0,"data":"AQID","uuid":"nope","dates":[]}"#)
    }

    @Test func malformedDocumentsFailLikeFoundation() {
        let documents = [
            "", " ", "{", "}", "[", "[1,]", "[1 2]", #"{"value":1,}"#, #"{"value" 1}"#, #"{value:1}"#, "{'value':1}", #"{"value":01}"#,
            #"{"value":1.}"#, #"{"value":.5}"#, #"{"value":+1}"#, #"{"value":-}"#, #"{"value":1e}"#, #"{"value":1}x"#, #"{"value":1}}"#,
            #"{"value":1} {"value":1}"#, #"{"value":nul}"#, #"{"value":True}"#, "\u{FEFF}{\"value\":1}", "\u{B}{\"value\":1}",
            "\u{C}{\"value\":1}", "{\"value\":1}\u{0}", #"{"value":"unterminated}"#, "{\"value\":\"ctl\u{1}\"}", #"{"value":NaN}"#,
            #"{"value":Infinity}"#, #"/* c */{"value":1}"#, #"{"value":0x10}"#, #"[1,2"#, #"{"value":[1,2}"#,
        ]
        for document in documents {
            checkDecoding(IntBox.self, document)
            checkDecoding([Int].self, document)
        }
        // UTF-16 with and without a byte order mark.
        checkDecoding(IntBox.self, #"{"value":1}"#.data(using: .utf16)!)
        checkDecoding(IntBox.self, #"{"value":1}"#.data(using: .utf16LittleEndian)!)
    }

    @Test func nestingDepthMatchesFoundation() {
        for depth in [100, 256, 257, 300, 511, 512, 513, 600] {
            let document = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            checkDecoding(Nested.self, document, expectFast: depth <= 256 ? true : false)
        }
    }

    @Test func everyTruncationFailsOrMatchesFoundation() throws {
        var generator = SeededGenerator(seed: 7)
        var value = generator.random()
        while (try? foundationEncoder().encode(value)) == nil { value = generator.random() }
        let data = try foundationEncoder().encode(value)
        for end in 0..<data.count { checkDecoding(Random.self, data.prefix(end)) }
    }

    @Test func seededRandomValuesRoundTripLikeFoundation() throws {
        var generator = SeededGenerator(seed: 0xC0FFEE)
        var fast = 0, encoded = 0
        for _ in 0..<1500 {
            let value = generator.random()
            checkEncoding(value)
            guard let data = try? foundationEncoder().encode(value) else { continue }
            encoded += 1
            if checkDecoding(Random.self, data) { fast += 1 }
        }
        #expect(fast > encoded * 9 / 10, "only \(fast) of \(encoded) decoded on the fast path")
    }

    @Test func seededMutationsOfValidDocumentsMatchFoundation() {
        var generator = SeededGenerator(seed: 99)
        let alphabet = Array(#"{}[]",:0123456789-+.eEtrufalsn \ /"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xA9, 0xFF]
        for _ in 0..<600 {
            guard let valid = try? foundationEncoder().encode(generator.random(depth: 2)) else { continue }
            var bytes = [UInt8](valid)
            for _ in 0..<generator.int(1...3) where !bytes.isEmpty {
                let position = generator.int(0...(bytes.count - 1))
                switch generator.int(0...2) {
                case 0: bytes[position] = alphabet[generator.int(0...(alphabet.count - 1))]
                case 1: bytes.remove(at: position)
                default: bytes.insert(alphabet[generator.int(0...(alphabet.count - 1))], at: position)
                }
            }
            checkDecoding(Random.self, Data(bytes))
        }
    }
}

indirect enum Nested: Decodable, Equatable {
    case array([Nested])
    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        var elements: [Nested] = []
        while !container.isAtEnd { elements.append(try container.decode(Nested.self)) }
        self = .array(elements)
    }
}
