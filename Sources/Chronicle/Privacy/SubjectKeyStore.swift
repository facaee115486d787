/// Where data subjects' encryption keys live, apart from the events they encrypt, so that a
/// backup of the log alone holds no key and destroying a subject's keys erases their personal
/// fields everywhere the log was copied (crypto-shredding).
///
/// Implementations: ``InMemorySubjectKeyStore`` (tests), `SQLiteKeyStore` (a file of its own
/// beside the event store) and `PostgresKeyStore` (a table of the store's schema). All pass
/// `SubjectKeyStoreConformance` of ChronicleTesting.
///
/// The requirements are synchronous because codecs call them while encoding and decoding (a
/// codec is synchronous): implementations answer from memory, a local file or one short query.
///
/// A forgotten subject stays forgotten: its keys are gone for good, ``currentKey(for:)`` refuses
/// to make a new one (an event with their fields could not be encoded), and lookups answer
/// ``SubjectKeyLookup/forgotten`` so their fields decode as redacted.
public protocol SubjectKeyStore: Sendable {
    /// The newest key of `subject`, created (version 1) if the subject has none yet.
    /// - Throws: ``PrivacyError`` — ``PrivacyError/Code/subjectForgotten``,
    ///   ``PrivacyError/Code/invalidSubject``, ``PrivacyError/Code/keyStoreFailure``.
    func currentKey(for subject: String) throws(PrivacyError) -> SubjectKey

    /// Version `version` of `subject`'s key, or why there is none.
    /// - Throws: ``PrivacyError/Code/keyStoreFailure`` when the store cannot be read.
    func key(for subject: String, version: Int) throws(PrivacyError) -> SubjectKeyLookup

    /// Adds a new key version for `subject` (who must have a key already), used for every
    /// event encoded from now on; older versions stay to read older events until the subject
    /// is forgotten.
    /// - Throws: ``PrivacyError/Code/unknownSubject``, ``PrivacyError/Code/subjectForgotten``,
    ///   ``PrivacyError/Code/keyStoreFailure``.
    func rotateKey(for subject: String) throws(PrivacyError) -> SubjectKey

    /// Destroys every key of `subject` and remembers that the subject is forgotten. The bytes
    /// of the keys are overwritten, not only unlinked (see each implementation). Forgetting a
    /// forgotten subject again does nothing and says so.
    /// - Throws: ``PrivacyError/Code/unknownSubject`` (nothing changed),
    ///   ``PrivacyError/Code/keyStoreFailure``.
    func destroyKeys(of subject: String) throws(PrivacyError) -> KeyDestruction

    /// Whether `subject` was forgotten, has keys (how many versions), or is unknown.
    func status(of subject: String) throws(PrivacyError) -> SubjectKeyStatus
}

/// What a key store holds for one subject.
public enum SubjectKeyStatus: Sendable, Hashable {
    /// No key, never forgotten.
    case unknown
    /// The subject has this many key versions.
    case active(keyVersions: Int)
    /// The subject was forgotten.
    case forgotten
}
