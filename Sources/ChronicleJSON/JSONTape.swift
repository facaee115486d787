import Foundation

/// A JSON document checked in full and laid out flat: one ``Node`` per value, in document
/// order, each container knowing where its subtree ends. Strings and numbers stay in the
/// input bytes until a decoder asks for them.
///
/// The grammar accepted is strict RFC 8259 over UTF-8 (no byte order mark, no trailing commas,
/// at most ``maximumDepth`` levels), a subset of what Foundation's `JSONDecoder` accepts, so any
/// document this accepts, Foundation accepts too; anything else is left to Foundation.
struct JSONTape {
    enum Kind: UInt8 {
        case null, `true`, `false`, number, string, array, object
    }

    struct Node {
        var kind: Kind
        /// Strings: ``hasEscapes``, ``isNonASCII``. Numbers: ``isInteger``, ``isNegative``.
        var flags: UInt8
        /// Strings and numbers: the byte range (string content without quotes).
        /// Arrays and objects: `start` is the element (member) count.
        var start: Int
        var end: Int
        /// The index just past this value's subtree.
        var next: Int
    }

    static let hasEscapes: UInt8 = 1
    static let isNonASCII: UInt8 = 2
    static let isInteger: UInt8 = 1
    static let isNegative: UInt8 = 2

    /// Foundation's scanner refuses more than 512 levels; we stop well before.
    static let maximumDepth = 256

    var nodes: [Node] = []

    /// Scans a whole document.
    init(parsing bytes: UnsafeBufferPointer<UInt8>) throws(FastJSONUnsupported) {
        nodes.reserveCapacity(16)
        var scanner = Scanner(bytes: bytes)
        scanner.skipWhitespace()
        try scanner.scanValue(into: &nodes, depth: 0)
        scanner.skipWhitespace()
        guard scanner.position == bytes.count else { throw FastJSONUnsupported(reason: "bytes after the JSON value") }
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        @inline(__always)
        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        private func failure(_ what: String) -> FastJSONUnsupported {
            FastJSONUnsupported(reason: "\(what) at byte \(position)")
        }

        mutating func scanValue(into nodes: inout [Node], depth: Int) throws(FastJSONUnsupported) {
            guard position < bytes.count else { throw failure("unexpected end") }
            switch bytes[position] {
            case .quote:
                let (start, end, flags) = try scanString()
                nodes.append(Node(kind: .string, flags: flags, start: start, end: end, next: nodes.count + 1))
            case .openBrace:
                try scanObject(into: &nodes, depth: depth + 1)
            case .openBracket:
                try scanArray(into: &nodes, depth: depth + 1)
            case UInt8(ascii: "t"):
                try scanLiteral("true")
                nodes.append(Node(kind: .true, flags: 0, start: 0, end: 0, next: nodes.count + 1))
            case UInt8(ascii: "f"):
                try scanLiteral("false")
                nodes.append(Node(kind: .false, flags: 0, start: 0, end: 0, next: nodes.count + 1))
            case UInt8(ascii: "n"):
                try scanLiteral("null")
                nodes.append(Node(kind: .null, flags: 0, start: 0, end: 0, next: nodes.count + 1))
            default:
                let start = position
                let flags = try scanNumber()
                nodes.append(Node(kind: .number, flags: flags, start: start, end: position, next: nodes.count + 1))
            }
        }

        private mutating func scanLiteral(_ literal: StaticString) throws(FastJSONUnsupported) {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - position >= count, memcmp(bytes.baseAddress! + position, literal.utf8Start, count) == 0 else {
                throw failure("invalid literal")
            }
            position += count
        }

        private mutating func scanObject(into nodes: inout [Node], depth: Int) throws(FastJSONUnsupported) {
            guard depth <= JSONTape.maximumDepth else { throw failure("nesting too deep") }
            let index = nodes.count
            nodes.append(Node(kind: .object, flags: 0, start: 0, end: 0, next: 0))
            position += 1
            skipWhitespace()
            var count = 0
            if position < bytes.count, bytes[position] == .closeBrace {
                position += 1
            } else {
                while true {
                    guard position < bytes.count, bytes[position] == .quote else { throw failure("expected a key") }
                    let (start, end, flags) = try scanString()
                    nodes.append(Node(kind: .string, flags: flags, start: start, end: end, next: nodes.count + 1))
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == .colon else { throw failure("expected ':'") }
                    position += 1
                    skipWhitespace()
                    try scanValue(into: &nodes, depth: depth)
                    count += 1
                    skipWhitespace()
                    guard position < bytes.count else { throw failure("unexpected end in object") }
                    let byte = bytes[position]
                    position += 1
                    if byte == .closeBrace { break }
                    guard byte == .comma else { throw failure("expected ',' or '}'") }
                    skipWhitespace()
                }
            }
            nodes[index].start = count
            nodes[index].next = nodes.count
        }

        private mutating func scanArray(into nodes: inout [Node], depth: Int) throws(FastJSONUnsupported) {
            guard depth <= JSONTape.maximumDepth else { throw failure("nesting too deep") }
            let index = nodes.count
            nodes.append(Node(kind: .array, flags: 0, start: 0, end: 0, next: 0))
            position += 1
            skipWhitespace()
            var count = 0
            if position < bytes.count, bytes[position] == .closeBracket {
                position += 1
            } else {
                while true {
                    try scanValue(into: &nodes, depth: depth)
                    count += 1
                    skipWhitespace()
                    guard position < bytes.count else { throw failure("unexpected end in array") }
                    let byte = bytes[position]
                    position += 1
                    if byte == .closeBracket { break }
                    guard byte == .comma else { throw failure("expected ',' or ']'") }
                    skipWhitespace()
                }
            }
            nodes[index].start = count
            nodes[index].next = nodes.count
        }

        /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
        private mutating func scanNumber() throws(FastJSONUnsupported) -> UInt8 {
            var flags = JSONTape.isInteger
            if position < bytes.count, bytes[position] == .minus {
                flags |= JSONTape.isNegative
                position += 1
            }
            guard position < bytes.count, isDigit(bytes[position]) else { throw failure("invalid number") }
            if bytes[position] == .zero {
                position += 1
            } else {
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                flags &= ~JSONTape.isInteger
                position += 1
                guard position < bytes.count, isDigit(bytes[position]) else { throw failure("invalid fraction") }
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
                flags &= ~JSONTape.isInteger
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == .minus { position += 1 }
                guard position < bytes.count, isDigit(bytes[position]) else { throw failure("invalid exponent") }
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            return flags
        }

        @inline(__always)
        private func isDigit(_ byte: UInt8) -> Bool { byte &- .zero < 10 }

        /// Scans a string starting at its opening quote; checks escapes (surrogates paired) and
        /// UTF-8 (shortest form, no surrogates, at most U+10FFFF).
        private mutating func scanString() throws(FastJSONUnsupported) -> (Int, Int, UInt8) {
            position += 1
            let start = position
            var flags: UInt8 = 0
            let count = bytes.count
            let base = bytes.baseAddress
            while true {
                // Eight plain ASCII bytes at a time.
                while count - position >= 8, let base {
                    let word = UInt64(littleEndian: UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
                    if Self.isPlainASCII(word) { position += 8 } else { break }
                }
                guard position < count else { throw failure("unterminated string") }
                let byte = bytes[position]
                if byte == .quote {
                    let end = position
                    position += 1
                    return (start, end, flags)
                }
                if byte == .backslash {
                    flags |= JSONTape.hasEscapes
                    position += 1
                    guard position < count else { throw failure("unterminated escape") }
                    switch bytes[position] {
                    case .quote, .backslash, .slash, UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        position += 1
                    case UInt8(ascii: "u"):
                        position += 1
                        let unit = try scanHex4()
                        if unit >= 0xD800 && unit < 0xDC00 {
                            guard count - position >= 2, bytes[position] == .backslash, bytes[position + 1] == UInt8(ascii: "u") else {
                                throw failure("unpaired surrogate")
                            }
                            position += 2
                            let low = try scanHex4()
                            guard low >= 0xDC00 && low < 0xE000 else { throw failure("unpaired surrogate") }
                        } else if unit >= 0xDC00 && unit < 0xE000 {
                            throw failure("unpaired surrogate")
                        }
                    default:
                        throw failure("invalid escape")
                    }
                    continue
                }
                if byte < 0x20 { throw failure("control character in string") }
                if byte < 0x80 {
                    position += 1
                    continue
                }
                flags |= JSONTape.isNonASCII
                try scanUTF8Sequence(lead: byte)
            }
        }

        /// Whether none of eight bytes is a quote, a backslash, a control character or non-ASCII.
        @inline(__always)
        private static func isPlainASCII(_ word: UInt64) -> Bool {
            let low: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080
            func hasZeroByte(_ x: UInt64) -> Bool { (x &- low) & ~x & high != 0 }
            let controlOrHigh = ((word &- low &* 0x20) | word) & high != 0
            return !controlOrHigh && !hasZeroByte(word ^ (low &* UInt64(UInt8.quote))) && !hasZeroByte(word ^ (low &* UInt64(UInt8.backslash)))
        }

        private mutating func scanHex4() throws(FastJSONUnsupported) -> UInt32 {
            guard bytes.count - position >= 4 else { throw failure("short \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - .zero
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw failure("invalid hex digit")
                }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            return value
        }

        private mutating func scanUTF8Sequence(lead: UInt8) throws(FastJSONUnsupported) {
            let length: Int
            var lowerBound: UInt8 = 0x80, upperBound: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lowerBound = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; upperBound = 0x9F
            case 0xF0: length = 4; lowerBound = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; upperBound = 0x8F
            default: throw failure("invalid UTF-8")
            }
            guard bytes.count - position >= length else { throw failure("truncated UTF-8") }
            let second = bytes[position + 1]
            guard second >= lowerBound && second <= upperBound else { throw failure("invalid UTF-8") }
            for offset in 2..<max(length, 2) where bytes[position + offset] & 0xC0 != 0x80 {
                throw failure("invalid UTF-8")
            }
            position += length
        }
    }
}
