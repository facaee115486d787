import Synchronization

/// A key store in memory, for tests. Nothing survives the process.
///
/// ```swift
/// let keys = InMemorySubjectKeyStore()
/// let codec = PersonalDataCodec(JSONEventCodec<CustomerEvent>(), keys: keys)
/// ```
public final class InMemorySubjectKeyStore: SubjectKeyStore {
    private struct State {
        var keys: [String: [SubjectKey]] = [:]
        var forgotten: Set<String> = []
    }
    private let state = Mutex(State())

    /// An empty key store.
    public init() {}

    /// The newest key of `subject`, created if needed (see ``SubjectKeyStore/currentKey(for:)``).
    public func currentKey(for subject: String) throws(PrivacyError) -> SubjectKey {
        try DataSubject.validate(subject)
        return try state.withLock { state throws(PrivacyError) in
            if state.forgotten.contains(subject) { throw InMemorySubjectKeyStore.forgottenError(subject) }
            if let key = state.keys[subject]?.last { return key }
            let key = SubjectKey.random(subject: subject, version: 1)
            state.keys[subject] = [key]
            return key
        }
    }

    /// A key version of `subject` (see ``SubjectKeyStore/key(for:version:)``).
    public func key(for subject: String, version: Int) throws(PrivacyError) -> SubjectKeyLookup {
        state.withLock { state in
            if state.forgotten.contains(subject) { return .forgotten }
            guard let key = state.keys[subject]?.first(where: { $0.version == version }) else { return .missing }
            return .found(key)
        }
    }

    /// Adds a key version (see ``SubjectKeyStore/rotateKey(for:)``).
    public func rotateKey(for subject: String) throws(PrivacyError) -> SubjectKey {
        try state.withLock { state throws(PrivacyError) in
            if state.forgotten.contains(subject) { throw InMemorySubjectKeyStore.forgottenError(subject) }
            guard let last = state.keys[subject]?.last else { throw InMemorySubjectKeyStore.unknownError(subject) }
            let key = SubjectKey.random(subject: subject, version: last.version + 1)
            state.keys[subject, default: []].append(key)
            return key
        }
    }

    /// Destroys `subject`'s keys (see ``SubjectKeyStore/destroyKeys(of:)``).
    public func destroyKeys(of subject: String) throws(PrivacyError) -> KeyDestruction {
        try state.withLock { state throws(PrivacyError) in
            if state.forgotten.contains(subject) { return KeyDestruction(subject: subject, destroyedKeys: 0, wasAlreadyForgotten: true) }
            guard let keys = state.keys.removeValue(forKey: subject) else { throw InMemorySubjectKeyStore.unknownError(subject) }
            state.forgotten.insert(subject)
            return KeyDestruction(subject: subject, destroyedKeys: keys.count, wasAlreadyForgotten: false)
        }
    }

    /// What the store holds for `subject` (see ``SubjectKeyStore/status(of:)``).
    public func status(of subject: String) throws(PrivacyError) -> SubjectKeyStatus {
        state.withLock { state in
            if state.forgotten.contains(subject) { return .forgotten }
            if let keys = state.keys[subject] { return .active(keyVersions: keys.count) }
            return .unknown
        }
    }

    static func forgottenError(_ subject: String) -> PrivacyError {
        PrivacyError(.subjectForgotten, "Subject \(subject) was forgotten: their keys are destroyed and no new key is made for them. Nothing was encoded; do not record personal data of a forgotten subject.", subject: subject)
    }

    static func unknownError(_ subject: String) -> PrivacyError {
        PrivacyError(.unknownSubject, "Subject \(subject) has no key in this key store: nothing of theirs was encrypted with it. Nothing was changed; check the subject id and the key store.", subject: subject)
    }
}

extension PrivacyError {
    /// The error for a forgotten subject asked for a new key (shared by the key stores).
    public static func subjectForgotten(_ subject: String) -> PrivacyError { InMemorySubjectKeyStore.forgottenError(subject) }
    /// The error for a subject without a key (shared by the key stores).
    public static func unknownSubject(_ subject: String) -> PrivacyError { InMemorySubjectKeyStore.unknownError(subject) }
}
