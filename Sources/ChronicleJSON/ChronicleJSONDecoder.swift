public import Foundation

/// A JSON decoder with the values of Foundation's `JSONDecoder()` with default strategies,
/// decoded straight from the bytes through a flat scan of the document, several times faster.
///
/// Anything it does not handle exactly (input outside strict UTF-8 RFC 8259 such as a byte
/// order mark or trailing commas, duplicate keys, integers written with fractions or
/// exponents, URL and Decimal values, a missing "super" key or an unkeyed container's
/// `superDecoder`, and every error) is decoded again by a Foundation `JSONDecoder`, so the
/// values and errors callers see are always Foundation's. Unlike Foundation, which checks
/// only the strings it is asked for, the whole document is checked up front; where that
/// refuses something Foundation would let pass, Foundation decides.
/// Chronicle's `JSONEventCodec` decodes event payloads with it unless given a `JSONDecoder`.
///
/// ```swift
/// let event = try ChronicleJSONDecoder().decode(Deposited.self, from: payload)
/// ```
public struct ChronicleJSONDecoder: Sendable {
    /// Creates a decoder.
    public init() {}

    /// Decodes a value from JSON, exactly as Foundation's `JSONDecoder` would.
    ///
    /// - Parameters:
    ///   - type: the type to decode.
    ///   - data: the JSON text.
    /// - Returns: the decoded value.
    /// - Throws: Foundation's `DecodingError` where Foundation's decoder throws one (invalid
    ///   JSON, a missing key, a type mismatch, …).
    public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try decodeWithoutFallback(type, from: data)
        } catch {
            return try JSONDecoder().decode(type, from: data)
        }
    }

    /// Decodes a value from JSON bytes that stay where they are (a database row's buffer, a
    /// network buffer): the same values and errors as ``decode(_:from:)``, without first copying
    /// the bytes into a `Data`. The bytes are read only during the call.
    ///
    /// - Parameters:
    ///   - type: the type to decode.
    ///   - bytes: the JSON text.
    /// - Returns: the decoded value.
    /// - Throws: Foundation's `DecodingError` where Foundation's decoder throws one.
    public func decode<T: Decodable>(_ type: T.Type, fromBytes bytes: UnsafeRawBufferPointer) throws -> T {
        do {
            return try decodeWithoutFallback(type, fromBytes: bytes)
        } catch {
            return try JSONDecoder().decode(type, from: Data(bytes))
        }
    }

    /// The fast path alone: throws where ``decode(_:from:)`` would ask Foundation.
    func decodeWithoutFallback<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try data.withUnsafeBytes { raw in try decodeWithoutFallback(type, fromBytes: raw) }
    }

    /// The fast path alone, over bytes in place.
    func decodeWithoutFallback<T: Decodable>(_ type: T.Type, fromBytes raw: UnsafeRawBufferPointer) throws -> T {
        let bytes = raw.assumingMemoryBound(to: UInt8.self)
        let document = JSONTapeDocument(bytes: bytes, tape: try JSONTape(parsing: bytes))
        defer { document.finish() }
        let value = try document.decodeValue(type, at: 0, path: nil)
        if document.isUnsupported { throw document.giveUp(document.unsupportedReason ?? "") }
        return value
    }
}
