import Crypto
public import Foundation

/// A secret shared by a relay and the inbox it delivers to, for the HMAC-SHA256 signature of
/// every delivery. Its description never shows the secret.
///
/// ```swift
/// let secret = RelaySecret(ProcessInfo.processInfo.environment["SHIPPING_RELAY_SECRET"] ?? "")
/// ```
public struct RelaySecret: Sendable, Hashable, CustomStringConvertible {
    let bytes: [UInt8]

    /// A secret from text (its UTF-8 bytes).
    ///
    /// - Parameter text: the secret.
    public init(_ text: String) { bytes = Array(text.utf8) }

    /// A secret from bytes.
    ///
    /// - Parameter bytes: the secret.
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// `RelaySecret(redacted)`.
    public var description: String { "RelaySecret(redacted)" }
}

/// The signature of a relay delivery, in header `Chronicle-Signature`:
/// `t=<unix seconds>,d=<delivery id>,v1=<hex HMAC-SHA256>`, the MAC taken over
/// `"<t>.<delivery id>.<body>"` with the subscription's secret.
///
/// The timestamp lets an inbox refuse old (replayed) requests, the delivery id (new for every
/// try) lets it refuse the same request sent twice, and the MAC covers both and the body.
public enum RelaySignature {
    /// The header carrying the signature.
    public static let header = "Chronicle-Signature"

    /// The header value for `body` sent at `timestamp` as delivery `deliveryID`.
    ///
    /// - Parameters:
    ///   - body: the request body.
    ///   - secret: the subscription's secret.
    ///   - timestamp: when it is sent, in seconds since 1970.
    ///   - deliveryID: a value unique to this try.
    public static func sign(body: some Sequence<UInt8>, secret: RelaySecret, timestamp: Int64, deliveryID: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: signed(body: body, timestamp: timestamp, deliveryID: deliveryID), using: SymmetricKey(data: secret.bytes))
        return "t=\(timestamp),d=\(deliveryID),v1=\(hex(Array(mac)))"
    }

    /// A parsed and checked signature header.
    public struct Verified: Sendable, Hashable {
        /// When the sender signed, in seconds since 1970.
        public var timestamp: Int64
        /// The sender's id of this try.
        public var deliveryID: String
    }

    /// Checks `header` against `body` with any of `secrets` (several during a rotation) and
    /// `now`: the MAC must match and the timestamp be within `tolerance` of `now`.
    ///
    /// - Parameters:
    ///   - header: the `Chronicle-Signature` value, if the request had one.
    ///   - body: the request body.
    ///   - secrets: the secrets accepted.
    ///   - now: the receiver's clock.
    ///   - tolerance: how far the timestamp may be from `now`.
    /// - Returns: the signed timestamp and delivery id.
    /// - Throws: ``RelayError`` ``RelayError/Code/badSignature`` or ``RelayError/Code/staleRequest``.
    public static func verify(header: String?, body: some Collection<UInt8>, secrets: [RelaySecret], now: Date, tolerance: Duration) throws(RelayError) -> Verified {
        guard let header else {
            throw RelayError(.badSignature, "The request has no \(Self.header) header: it was not sent by a Chronicle relay with a secret.")
        }
        var fields: [String: String] = [:]
        for part in header.split(separator: ",") {
            guard let equals = part.firstIndex(of: "=") else { continue }
            fields[part[..<equals].trimmingCharacters(in: .whitespaces)] = String(part[part.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
        }
        guard let timestampText = fields["t"], let timestamp = Int64(timestampText), let deliveryID = fields["d"], !deliveryID.isEmpty,
            let macText = fields["v1"], let mac = bytes(hex: macText)
        else {
            throw RelayError(.badSignature, "The \(Self.header) header is not t=<seconds>,d=<delivery id>,v1=<hex>.")
        }
        let message = signed(body: body, timestamp: timestamp, deliveryID: deliveryID)
        guard secrets.contains(where: { HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: message, using: SymmetricKey(data: $0.bytes)) }) else {
            throw RelayError(.badSignature, "The signature does not match the body with any configured secret: the secrets differ, or the body was changed on the way.")
        }
        let age = now.timeIntervalSince1970 - Double(timestamp)
        let limit = Double(tolerance.components.seconds) + Double(tolerance.components.attoseconds) / 1e18
        guard abs(age) <= limit else {
            throw RelayError(.staleRequest, "The request was signed \(Int(age)) s from now, beyond the tolerance of \(Int(limit)) s: a replayed request, or the clocks disagree.")
        }
        return Verified(timestamp: timestamp, deliveryID: deliveryID)
    }

    private static func signed(body: some Sequence<UInt8>, timestamp: Int64, deliveryID: String) -> [UInt8] {
        Array("\(timestamp).\(deliveryID).".utf8) + Array(body)
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func bytes(hex text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 64 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(32)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
