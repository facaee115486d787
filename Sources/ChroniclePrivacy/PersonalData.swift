public import Chronicle

/// A payload type with personal fields, encrypted with its data subject's key when the event is
/// encoded by a ``PersonalDataCodec``. The marking is declarative: list the fields, name the
/// subject; the codec does the rest.
///
/// ```swift
/// struct CustomerRegistered: Codable, Sendable, Equatable, PersonalData {
///     var customerID: String
///     var name: String
///     var email: String
///
///     static let personalFields: [PersonalField] = ["name", "email"]
///     var dataSubject: String { customerID }
/// }
/// ```
///
/// Personal fields are top-level keys of the payload's JSON (the coding keys). After the
/// subject is forgotten they decode as their ``PersonalField/redacted`` value.
public protocol PersonalData {
    /// The personal fields, by coding key.
    static var personalFields: [PersonalField] { get }
    /// The subject whose key encrypts the fields: an opaque id, never personal data itself
    /// (see ``Chronicle/DataSubject``).
    var dataSubject: String { get }
}

/// One personal field of a ``PersonalData`` payload, and the value it decodes as once its
/// subject is forgotten.
public struct PersonalField: Sendable, Hashable, ExpressibleByStringLiteral {
    /// The string a forgotten string field decodes as: `"[forgotten]"`.
    public static let redactedString = "[forgotten]"

    /// The field's coding key.
    public var key: String
    /// The JSON value the field decodes as after the subject is forgotten; `nil` for the default
    /// of its JSON kind: ``redactedString`` for a string, `0` for a number, `false` for a
    /// boolean, `[]` for an array, `{}` for an object, `null` for null.
    public var redacted: JSONValue?

    /// A field with a redacted value of your own (an object with its own required fields, an
    /// optional field as `null`…).
    public init(_ key: String, redacted: JSONValue? = nil) {
        self.key = key
        self.redacted = redacted
    }

    /// A field with the default redacted value of its kind.
    public init(stringLiteral key: String) {
        self.init(key)
    }
}
