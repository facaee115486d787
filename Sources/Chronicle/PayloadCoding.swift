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
}

extension JSONEncoder: PayloadEncoder {}
extension JSONDecoder: PayloadDecoder {}
extension ChronicleJSONEncoder: PayloadEncoder {}
extension ChronicleJSONDecoder: PayloadDecoder {}
