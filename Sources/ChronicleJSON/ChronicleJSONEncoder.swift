public import Foundation

/// A JSON encoder with the bytes of Foundation's `JSONEncoder` with
/// `outputFormatting = [.sortedKeys]` and default strategies, written in one pass into one
/// buffer, several times faster.
///
/// Whatever the single pass does not handle exactly (NaN or infinity, a key encoded twice, keys
/// equal as Strings, writing to a container after its parent moved on, a super encoder still
/// held then, an error thrown by a value's own `encode(to:)`, …) is encoded again by a
/// Foundation `JSONEncoder`, so the bytes and errors callers see are always Foundation's.
/// Chronicle's `JSONEventCodec` encodes event payloads with it unless given a `JSONEncoder`.
///
/// ```swift
/// let bytes = try ChronicleJSONEncoder().encode(Deposited(seq: 42, amount: 43, currency: "EUR", memo: "rent"))
/// // {"amount":43,"currency":"EUR","memo":"rent","seq":42}
/// ```
public struct ChronicleJSONEncoder: Sendable {
    /// Creates an encoder.
    public init() {}

    /// Encodes a value to JSON with sorted keys, exactly as Foundation's `JSONEncoder` would.
    ///
    /// - Parameter value: the value to encode.
    /// - Returns: the JSON text, UTF-8.
    /// - Throws: Foundation's `EncodingError` where Foundation's encoder throws one (a
    ///   non-finite floating-point value, a value's own `encode(to:)` throwing, …).
    public func encode<T: Encodable>(_ value: T) throws -> Data {
        do {
            return try encodeWithoutFallback(value)
        } catch {
            let foundation = JSONEncoder()
            foundation.outputFormatting = [.sortedKeys]
            return try foundation.encode(value)
        }
    }

    /// The single pass alone: throws where ``encode(_:)`` would ask Foundation.
    func encodeWithoutFallback<T: Encodable>(_ value: T) throws -> Data {
        let state = JSONEncodingState()
        try state.encodeValue(value, path: nil, isTopLevel: true)
        if state.isUnsupported { throw state.giveUp(state.unsupportedReason ?? "") }
        return state.output.pointee.bytes.takeData()
    }
}
