public import Foundation

/// The error of subject keys and forgetting: key stores, ``SubjectEraser``, and the codec that
/// encrypts personal fields.
///
/// Match on ``code``; ``subject`` names the data subject concerned, ``description`` says what
/// happened and what to do.
///
/// ```swift
/// do {
///     try await eraser.forget("customer-42")
/// } catch PrivacyError.Code.unknownSubject {
///     // no key was ever created for this subject: nothing of theirs is encrypted here
/// }
/// ```
public struct PrivacyError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. New codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unknownSubject, subjectForgotten, invalidSubject, keyStoreMissing, keyStoreMismatch
            case keyStoreFailure, unsupportedKeyStore, invalidKey
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The key store has no key for the subject and never had one: nothing of theirs was
        /// encrypted with this key store. Nothing was changed; check the subject id.
        public static let unknownSubject = Code(.unknownSubject)
        /// The subject was forgotten: their keys are destroyed and no new key is made for them.
        /// An event carrying their personal fields cannot be encoded any more.
        public static let subjectForgotten = Code(.subjectForgotten)
        /// A subject id is empty, too long, or has characters other than printable ASCII without
        /// spaces and commas (see ``DataSubject``).
        public static let invalidSubject = Code(.invalidSubject)
        /// The key store an event store was paired with is not where it was looked for. Nothing
        /// was created (a new, empty key store would make every personal field unreadable):
        /// restore the key store from its backup, or pass its path.
        public static let keyStoreMissing = Code(.keyStoreMissing)
        /// The key store belongs to another event store, or the event store is paired with
        /// another key store. Nothing was changed; pass the key store made for this event store.
        public static let keyStoreMismatch = Code(.keyStoreMismatch)
        /// The key store could not be read or written (I/O, a lost connection…); ``underlying``
        /// has the cause. Nothing of the failed operation was changed.
        public static let keyStoreFailure = Code(.keyStoreFailure)
        /// The file is not a key store, or one written by a newer Chronicle.
        public static let unsupportedKeyStore = Code(.unsupportedKeyStore)
        /// Stored key material is not a 256-bit key: the key store is damaged.
        public static let invalidKey = Code(.invalidKey)

        /// The code's name, such as `unknownSubject`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened and what to do.
    public var message: String
    /// The data subject concerned, if any.
    public var subject: String?
    /// The lower-level error, if any.
    public var underlying: (any Error)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, subject: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.subject = subject
        self.underlying = underlying
    }

    /// The code, then the message, then the underlying error if any.
    public var description: String {
        var text = "\(code): \(message)"
        if let underlying { text += " (underlying: \(underlying))" }
        return text
    }
}

extension PrivacyError: LocalizedError {
    /// The same text as ``description``.
    public var errorDescription: String? { description }
}

extension PrivacyError.Code {
    /// Matches an error by code, so a `catch` can name the code alone.
    public static func ~= (code: PrivacyError.Code, error: any Error) -> Bool {
        (error as? PrivacyError)?.code == code
    }
}
