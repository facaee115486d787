import ChronicleJSON
public import Foundation

/// Encodes event payloads to bytes for an ``EventCodec`` (``ChronicleJSONEncoder`` and `JSONEncoder` are two).
public protocol PayloadEncoder {
    /// Encodes a value.
    func encode<T: Encodable>(_ value: T) throws -> Data
}

/// Decodes event payloads from bytes for an ``EventCodec`` (``ChronicleJSONDecoder`` and `JSONDecoder` are two).
public protocol PayloadDecoder {
    /// Decodes a value of the given type.
    func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T

    /// Decodes a value of the given type from bytes read only during the call (the store's own
    /// buffer, see ``EventReader/readStreamInPlace(_:from:limit:_:)``). The default copies them
    /// into a `Data` for ``decode(_:from:)``; ``ChronicleJSONDecoder`` reads them in place.
    func decode<T: Decodable>(_ type: T.Type, fromBytes bytes: UnsafeRawBufferPointer) throws -> T
}

extension PayloadDecoder {
    /// Copies the bytes into a `Data` and decodes that.
    public func decode<T: Decodable>(_ type: T.Type, fromBytes bytes: UnsafeRawBufferPointer) throws -> T {
        try decode(type, from: Data(bytes))
    }
}

extension JSONEncoder: PayloadEncoder {}
extension JSONDecoder: PayloadDecoder {}
extension ChronicleJSONEncoder: PayloadEncoder {}
extension ChronicleJSONDecoder: PayloadDecoder {}
