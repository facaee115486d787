package import Foundation

// The two pieces of JSON text handling the rest of Chronicle shares with the coders, so the
// package has one string escaper and one validator: the event JSON writer (HTTP answers, the
// `chronicle` command's lines) writes its strings and checks its payloads through these.

/// Where JSON bytes are written: the encoder's buffer, or a `[UInt8]`.
package protocol JSONByteSink {
    /// Appends one byte.
    mutating func append(_ byte: UInt8)
    /// Appends bytes.
    mutating func append(contentsOf bytes: UnsafeBufferPointer<UInt8>)
}

extension Array: JSONByteSink where Element == UInt8 {}

extension JSONByteSink {
    /// Appends `string` as a JSON string, quotes included (see ``appendJSONStringContent(_:escapingSlashes:)``).
    @inlinable
    package mutating func appendJSONString(_ string: String, escapingSlashes: Bool) {
        append(UInt8(ascii: "\""))
        var copy = string
        copy.withUTF8 { _ = appendJSONStringContent($0, escapingSlashes: escapingSlashes) }
        append(UInt8(ascii: "\""))
    }

    /// Appends UTF-8 text as the content of a JSON string, the way Foundation's JSONWriter
    /// writes it: `"` and `\` escaped (and `/` when `escapingSlashes`, as Foundation does unless
    /// told `.withoutEscapingSlashes`), the short escapes `\b \f \n \r \t`, other control
    /// characters as `\u00xx` (lowercase hex), everything else (DEL, U+2028, non-ASCII) as is.
    ///
    /// Returns whether the text was plain ASCII that needed no escaping.
    @inlinable
    @discardableResult
    package mutating func appendJSONStringContent(_ source: UnsafeBufferPointer<UInt8>, escapingSlashes: Bool) -> Bool {
        var simple = true
        var mark = 0
        var index = 0
        let count = source.count
        let base = source.baseAddress
        while index < count {
            // Eight bytes at a time while none needs escaping.
            if index + 8 <= count, let base {
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                if word & JSONEscaping.highBits != 0 { simple = false }
                if !JSONEscaping.needsEscape(word, escapingSlashes: escapingSlashes) {
                    index += 8
                    continue
                }
            }
            let byte = source[index]
            if byte >= 0x80 {
                simple = false
                index += 1
                continue
            }
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") && (byte != UInt8(ascii: "/") || !escapingSlashes) {
                index += 1
                continue
            }
            simple = false
            if index > mark { append(contentsOf: UnsafeBufferPointer(rebasing: source[mark..<index])) }
            append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): append(byte)
            case 0x08: append(UInt8(ascii: "b"))
            case 0x0C: append(UInt8(ascii: "f"))
            case 0x0A: append(UInt8(ascii: "n"))
            case 0x0D: append(UInt8(ascii: "r"))
            case 0x09: append(UInt8(ascii: "t"))
            default:
                append(UInt8(ascii: "u"))
                append(UInt8(ascii: "0"))
                append(UInt8(ascii: "0"))
                append(JSONEscaping.hexDigit(byte >> 4))
                append(JSONEscaping.hexDigit(byte & 0xF))
            }
            index += 1
            mark = index
        }
        if count > mark { append(contentsOf: UnsafeBufferPointer(rebasing: source[mark..<count])) }
        return simple
    }

    /// Appends an integer in decimal, as its `description` reads.
    @inlinable
    package mutating func appendJSONInteger<T: FixedWidthInteger>(_ value: T) {
        if T.bitWidth > 64 {
            var text = value.description
            text.withUTF8 { append(contentsOf: $0) }
            return
        }
        var magnitude = UInt64(truncatingIfNeeded: value.magnitude)
        if value < 0 { append(UInt8(ascii: "-")) }
        if magnitude < 10 {
            append(UInt8(ascii: "0") + UInt8(magnitude))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var position = 20
            while magnitude > 0 {
                position -= 1
                digits[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            }
            append(contentsOf: UnsafeBufferPointer(rebasing: digits[position..<20]))
        }
    }
}

/// The escaper's word-at-a-time tests.
@usableFromInline
enum JSONEscaping {
    @usableFromInline static let lowBits: UInt64 = 0x0101_0101_0101_0101
    @usableFromInline static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// Whether any of eight ASCII bytes is below 0x20 or is `"`, `\` or (when escaping slashes)
    /// `/` (exact for bytes below 0x80; bytes at or above it may be reported and are then looked
    /// at one by one).
    @inlinable @inline(__always)
    static func needsEscape(_ word: UInt64, escapingSlashes: Bool) -> Bool {
        func hasZeroByte(_ x: UInt64) -> Bool { (x &- lowBits) & ~x & highBits != 0 }
        let control = (word &- lowBits &* 0x20) & ~word & highBits != 0
        return control || hasZeroByte(word ^ (lowBits &* UInt64(UInt8(ascii: "\""))))
            || hasZeroByte(word ^ (lowBits &* UInt64(UInt8(ascii: "\\"))))
            || (escapingSlashes && hasZeroByte(word ^ (lowBits &* UInt64(UInt8(ascii: "/")))))
    }

    @inlinable
    static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}

/// Whole JSON texts.
package enum JSONText {
    /// Whether `data` is one complete JSON text in UTF-8: any value (an object, an array or a
    /// scalar), optionally surrounded by whitespace, in strict RFC 8259 (no byte order mark, no
    /// trailing commas, strings in valid UTF-8 with paired surrogate escapes), nested at most 256
    /// levels deep. It is the check ``ChronicleJSONDecoder`` makes before decoding, so any text it
    /// accepts, Foundation's `JSONDecoder` and `JSONSerialization` accept too.
    package static func isValid(_ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            (try? JSONTape(parsing: raw.assumingMemoryBound(to: UInt8.self))) != nil
        }
    }
}
