import Foundation

/// A scanned document during one decode: the input bytes (valid only while the decode runs),
/// the tape, and whether anything was left to Foundation.
///
/// Every error thrown while decoding marks the document unsupported, even if the value's own
/// `init(from:)` catches it (say with `try?`): the fast path must never succeed where it took a
/// different branch than Foundation would, so the whole value is decoded again by Foundation.
final class JSONTapeDocument {
    private(set) var bytes: UnsafeBufferPointer<UInt8>
    let tape: JSONTape
    private(set) var unsupportedReason: String?

    init(bytes: UnsafeBufferPointer<UInt8>, tape: JSONTape) {
        self.bytes = bytes
        self.tape = tape
    }

    /// Called when the decode returns: the bytes belong to the caller's `Data` again.
    func finish() {
        bytes = UnsafeBufferPointer(start: nil, count: 0)
        if unsupportedReason == nil { unsupportedReason = "decoder used after decoding finished" }
    }

    var isUnsupported: Bool { unsupportedReason != nil }

    /// Marks the decode as one to leave to Foundation and returns the error to throw.
    func giveUp(_ reason: String) -> FastJSONUnsupported {
        if unsupportedReason == nil { unsupportedReason = reason }
        return FastJSONUnsupported(reason: reason)
    }

    @inline(__always)
    func node(_ index: Int) -> JSONTape.Node { tape.nodes[index] }

    /// The key nodes of the object at `index`, in document order, walked on the tape (each key
    /// node's value follows it; the next key follows the value's subtree): no array.
    func keyNodes(ofObjectAt index: Int) -> ObjectKeyNodes {
        ObjectKeyNodes(document: self, upcoming: index + 1, remaining: node(index).start)
    }

    struct ObjectKeyNodes: Sequence, IteratorProtocol {
        let document: JSONTapeDocument
        var upcoming: Int
        var remaining: Int

        var underestimatedCount: Int { remaining }

        mutating func next() -> Int? {
            guard remaining > 0 else { return nil }
            let keyNode = upcoming
            upcoming = document.node(keyNode + 1).next
            remaining -= 1
            return keyNode
        }
    }

    // MARK: Strings

    /// The string at a string node.
    func string(at index: Int) throws(FastJSONUnsupported) -> String {
        let node = tape.nodes[index]
        guard node.kind == .string else { throw giveUp("expected a string, found \(node.kind)") }
        guard bytes.baseAddress != nil else { throw giveUp("decoder used after decoding finished") }
        let raw = UnsafeBufferPointer(rebasing: bytes[node.start..<node.end])
        if node.flags & JSONTape.hasEscapes == 0 {
            return String(decoding: raw, as: UTF8.self)
        }
        return unescape(raw)
    }

    /// Decodes escapes (already checked by the scanner, surrogates paired).
    private func unescape(_ raw: UnsafeBufferPointer<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(raw.count)
        var index = 0
        func hex4(_ at: Int) -> UInt32 {
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = raw[at + offset]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - .zero
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                default: digit = byte - UInt8(ascii: "A") + 10
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while index < raw.count {
            let byte = raw[index]
            guard byte == .backslash else {
                output.append(byte)
                index += 1
                continue
            }
            let escape = raw[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(index)
                index += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    let low = hex4(index + 2)
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                output.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: output.append(escape)  // " \ /
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Whether a string node holds exactly these bytes (only for plain, unescaped keys).
    @inline(__always)
    func plainString(at index: Int, equals key: UnsafeBufferPointer<UInt8>) -> Bool {
        let node = tape.nodes[index]
        let length = node.end - node.start
        return length == key.count && (length == 0 || memcmp(bytes.baseAddress! + node.start, key.baseAddress!, length) == 0)
    }

    // MARK: Numbers

    /// An integer from a number node written as a plain integer (no fraction or exponent,
    /// which Foundation accepts for integers but we leave to it).
    func integer<T: FixedWidthInteger>(at index: Int, as type: T.Type) throws(FastJSONUnsupported) -> T {
        let node = tape.nodes[index]
        guard node.kind == .number else { throw giveUp("expected a number, found \(node.kind)") }
        guard node.flags & JSONTape.isInteger != 0 else { throw giveUp("integer written with a fraction or exponent") }
        let negative = node.flags & JSONTape.isNegative != 0
        if negative && !T.isSigned { throw giveUp("negative value for \(T.self)") }
        var digitsStart = node.start
        if negative { digitsStart += 1 }
        if T.bitWidth > 64 {
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[node.start..<node.end]), as: UTF8.self)
            guard let value = T(text, radix: 10) else { throw giveUp("\(text) does not fit in \(T.self)") }
            return value
        }
        guard node.end - digitsStart <= 20 else { throw giveUp("integer too long for \(T.self)") }
        var magnitude: UInt64 = 0
        for position in digitsStart..<node.end {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[position] - .zero))
            if overflow1 || overflow2 { throw giveUp("integer does not fit in \(T.self)") }
            magnitude = sum
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw giveUp("integer does not fit in \(T.self)") }
            let value = magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
            guard let result = T(exactly: value) else { throw giveUp("integer does not fit in \(T.self)") }
            return result
        }
        guard let result = T(exactly: magnitude) else { throw giveUp("integer does not fit in \(T.self)") }
        return result
    }

    /// A Double from a number node, correctly rounded like Foundation's `strtod`. Values that
    /// overflow or underflow to zero are left to Foundation (it refuses them).
    func double(at index: Int) throws(FastJSONUnsupported) -> Double {
        let node = tape.nodes[index]
        guard node.kind == .number else { throw giveUp("expected a number, found \(node.kind)") }
        let raw = UnsafeBufferPointer(rebasing: bytes[node.start..<node.end])
        let value: Double
        if let exact = Self.exactDouble(raw) {
            value = exact
        } else {
            guard let parsed = Double(Substring(decoding: raw, as: UTF8.self)) else { throw giveUp("unparsable number") }
            value = parsed
        }
        try checkRange(value, raw)
        return value
    }

    /// A Float from a number node, as Foundation's `strtof`.
    func float(at index: Int) throws(FastJSONUnsupported) -> Float {
        let node = tape.nodes[index]
        guard node.kind == .number else { throw giveUp("expected a number, found \(node.kind)") }
        let raw = UnsafeBufferPointer(rebasing: bytes[node.start..<node.end])
        guard let value = Float(Substring(decoding: raw, as: UTF8.self)) else { throw giveUp("unparsable number") }
        try checkRange(value, raw)
        return value
    }

    private func checkRange<T: BinaryFloatingPoint>(_ value: T, _ raw: UnsafeBufferPointer<UInt8>) throws(FastJSONUnsupported) {
        guard value.isFinite else { throw giveUp("number out of range for \(T.self)") }
        if value == 0 {
            // Zero only when every significand digit is zero (not an underflow).
            for byte in raw {
                if byte | 0x20 == UInt8(ascii: "e") { break }
                if byte > .zero && byte <= UInt8(ascii: "9") { throw giveUp("number underflows \(T.self)") }
            }
        }
    }

    private static let powersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// Clinger's fast path: a significand of at most 15 digits times a power of ten up to
    /// 10^22 is one correctly rounded IEEE operation on exact operands. `nil` otherwise.
    private static func exactDouble(_ raw: UnsafeBufferPointer<UInt8>) -> Double? {
        var index = 0
        var negative = false
        if raw[0] == .minus {
            negative = true
            index = 1
        }
        var significand: UInt64 = 0
        var digits = 0
        var exponent = 0
        var sawNonZero = false
        var inFraction = false
        // Integer and fraction digits in one pass (the number is valid JSON: at most one '.');
        // each fraction digit lowers the exponent.
        while index < raw.count {
            if !inFraction && raw[index] == UInt8(ascii: ".") {
                inFraction = true
                index += 1
                continue
            }
            let digit = raw[index] &- .zero
            guard digit < 10 else { break }
            if digit != 0 || sawNonZero {
                sawNonZero = true
                digits += 1
                if digits > 15 { return nil }
                significand = significand * 10 + UInt64(digit)
            }
            if inFraction { exponent -= 1 }
            index += 1
        }
        if index < raw.count {
            // exponent part
            index += 1
            var exponentNegative = false
            if raw[index] == UInt8(ascii: "+") {
                index += 1
            } else if raw[index] == .minus {
                exponentNegative = true
                index += 1
            }
            var written = 0
            while index < raw.count {
                written = written * 10 + Int(raw[index] - .zero)
                if written > 1000 { return nil }
                index += 1
            }
            exponent += exponentNegative ? -written : written
        }
        var value = Double(significand)
        if significand == 0 {
            value = 0
        } else if exponent < 0 {
            guard exponent >= -22 else { return nil }
            value /= powersOfTen[-exponent]
        } else if exponent > 0 {
            guard exponent <= 22 else { return nil }
            value *= powersOfTen[exponent]
        }
        return negative ? -value : value
    }
}
