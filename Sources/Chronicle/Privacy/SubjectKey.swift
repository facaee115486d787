public import Foundation

/// Rules for data subject ids: the opaque id of the person whose personal fields are encrypted
/// with their own key (a customer id, an account id).
///
/// A subject id is stored in clear (in the key store, in each encrypted field, in a tag and in
/// the ``SubjectForgotten`` event), so it must **not** be personal data itself: use a generated
/// id, never an email address or a name. It is 1 to ``maximumLength`` bytes of printable ASCII
/// without spaces or commas, so it fits in a tag and a stream id.
public enum DataSubject {
    /// The most bytes a subject id may have.
    public static let maximumLength = 100

    /// Why `subject` cannot be a subject id, or `nil` if it can.
    public static func problem(with subject: String) -> String? {
        let bytes = subject.utf8
        if bytes.isEmpty { return "it is empty" }
        if bytes.count > maximumLength { return "it is longer than \(maximumLength) bytes" }
        if !bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") }) {
            return "it has a character other than printable ASCII without spaces and commas"
        }
        return nil
    }

    /// Throws ``PrivacyError/Code/invalidSubject`` unless `subject` is a valid subject id.
    public static func validate(_ subject: String) throws(PrivacyError) {
        if let problem = problem(with: subject) {
            throw PrivacyError(.invalidSubject, "Subject id \(subject.prefix(40).debugDescription) is invalid: \(problem). Use an opaque id (such as a customer id) of 1 to \(maximumLength) printable ASCII characters without spaces or commas.", subject: subject)
        }
    }

    /// The tag the personal-data codec adds to every event carrying the subject's encrypted
    /// fields (`subject:<id>`), so the subject's events and streams can be found.
    public static func tag(_ subject: String) -> String { "subject:\(subject)" }
}

/// One version of a data subject's encryption key.
public struct SubjectKey: Sendable, Hashable {
    /// The bytes a key has (AES-256).
    public static let byteCount = 32

    /// The subject the key belongs to.
    public var subject: String
    /// The key's version for the subject: 1 for the first, one more for each rotation.
    public var version: Int
    /// The key material: ``byteCount`` random bytes.
    public var material: Data

    /// Creates a key.
    public init(subject: String, version: Int, material: Data) {
        self.subject = subject
        self.version = version
        self.material = material
    }

    /// A new key with ``byteCount`` bytes from the system's cryptographically secure generator.
    public static func random(subject: String, version: Int) -> SubjectKey {
        var generator = SystemRandomNumberGenerator()
        var bytes = Data(count: byteCount)
        for index in 0..<byteCount { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        return SubjectKey(subject: subject, version: version, material: bytes)
    }
}

/// What a key store knows of a subject's key.
public enum SubjectKeyLookup: Sendable, Hashable {
    /// The key is there.
    case found(SubjectKey)
    /// The subject was forgotten: every key of theirs is destroyed. Their fields read as redacted.
    case forgotten
    /// The key store has no such key and never forgot the subject: the wrong key store, or a
    /// damaged one. Reading fails rather than redact.
    case missing
}

/// What forgetting a subject's keys did.
public struct KeyDestruction: Sendable, Hashable {
    /// The subject.
    public var subject: String
    /// How many key versions were destroyed (0 when the subject was already forgotten).
    public var destroyedKeys: Int
    /// Whether the subject had been forgotten before.
    public var wasAlreadyForgotten: Bool

    /// Creates a result.
    public init(subject: String, destroyedKeys: Int, wasAlreadyForgotten: Bool) {
        self.subject = subject
        self.destroyedKeys = destroyedKeys
        self.wasAlreadyForgotten = wasAlreadyForgotten
    }
}
