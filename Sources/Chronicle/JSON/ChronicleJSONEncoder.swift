import Foundation

/// Chronicle's JSON payload encoder: the bytes of Foundation's `JSONEncoder` with
/// `outputFormatting = [.sortedKeys]` and default strategies, written in one pass into one
/// buffer.
///
/// Whatever the single pass does not handle exactly (NaN or infinity, a key encoded twice, keys
/// equal as Strings, writing to a container after its parent moved on, a super encoder still
/// held then, an error thrown by a value's own `encode(to:)`, …) is encoded again by a
/// Foundation `JSONEncoder`, so the bytes and errors callers see are always Foundation's.
/// ``JSONEventCodec`` uses it unless you pass your own `JSONEncoder`.
///
/// ```swift
/// let bytes = try ChronicleJSONEncoder().encode(Deposited(seq: 42, amount: 43, currency: "EUR", memo: "rent"))
/// // {"amount":43,"currency":"EUR","memo":"rent","seq":42}
/// ```
public struct ChronicleJSONEncoder: PayloadEncoder, Sendable {
    /// Creates an encoder.
    public init() {}

    /// Encodes a value to JSON with sorted keys, exactly as Foundation's `JSONEncoder` would.
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
