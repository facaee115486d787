public import Chronicle
import Foundation

/// The behaviour every ``Chronicle/SubjectKeyStore`` must show (``Chronicle/InMemorySubjectKeyStore``,
/// `SQLiteKeyStore`, `PostgresKeyStore`), as named cases any test framework can run.
///
/// Each case gets a ``Fixture``: a fresh, empty key store and a way to open a second instance
/// on the same storage, which must see what the first one did.
///
/// ```swift
/// @Test(arguments: SubjectKeyStoreConformance.cases)
/// func inMemoryKeyStoresConform(_ conformanceCase: SubjectKeyStoreConformance.Case) async throws {
///     let keys = InMemorySubjectKeyStore()
///     try await conformanceCase.run(.init(keys: keys, reopen: { keys }))
/// }
/// ```
public enum SubjectKeyStoreConformance {
    /// A fresh, empty key store and a second view of the same storage.
    public struct Fixture: Sendable {
        /// The key store under test, empty.
        public var keys: any SubjectKeyStore
        /// Opens another instance on the same storage.
        public var reopen: @Sendable () async throws -> any SubjectKeyStore

        /// Creates a fixture.
        public init(keys: any SubjectKeyStore, reopen: @escaping @Sendable () async throws -> any SubjectKeyStore) {
            self.keys = keys
            self.reopen = reopen
        }
    }

    /// One named behaviour; run it on a fresh ``Fixture``.
    public typealias Case = ConformanceCase<Fixture>

    static func privacyError<T>(_ code: PrivacyError.Code, _ check: ConformanceCheck, _ what: String, _ body: () throws -> T) throws {
        do {
            let value = try body()
            throw check.failure("\(what): expected \(code), but it succeeded with \(value)")
        } catch let error as PrivacyError {
            try check.equal(error.code, code, "\(what): the error's code (\(error))")
        }
    }

    /// Every case, in a stable order.
    public static let cases: [Case] = [
        Case("theFirstKeyIsMadeOnceAndReadBackByAnotherInstance") { check, fixture in
            try check.equal(try fixture.keys.status(of: "customer-1"), .unknown, "status before any key")
            let key = try fixture.keys.currentKey(for: "customer-1")
            try check.equal(key.version, 1, "the first key's version")
            try check.equal(key.material.count, SubjectKey.byteCount, "the key's length")
            try check.equal(try fixture.keys.currentKey(for: "customer-1"), key, "the current key asked again")
            let other = try await fixture.reopen()
            try check.equal(try other.key(for: "customer-1", version: 1), .found(key), "the key read by another instance")
            try check.equal(try other.status(of: "customer-1"), .active(keyVersions: 1), "status with one key")
            try check.expect(try other.currentKey(for: "customer-2").material != key.material, "two subjects share no key")
        },
        Case("rotationAddsAVersionAndKeepsTheOlderOnes") { check, fixture in
            let first = try fixture.keys.currentKey(for: "customer-1")
            let second = try fixture.keys.rotateKey(for: "customer-1")
            try check.equal(second.version, 2, "the rotated key's version")
            try check.expect(second.material != first.material, "rotation makes new material")
            try check.equal(try fixture.keys.currentKey(for: "customer-1"), second, "the current key after rotation")
            try check.equal(try fixture.keys.key(for: "customer-1", version: 1), .found(first), "the older version")
            try check.equal(try fixture.keys.key(for: "customer-1", version: 3), .missing, "a version never made")
            try privacyError(.unknownSubject, check, "rotating a subject without a key") { try fixture.keys.rotateKey(for: "customer-9") }
        },
        Case("destroyingKeysForgetsTheSubjectForGood") { check, fixture in
            _ = try fixture.keys.currentKey(for: "customer-1")
            _ = try fixture.keys.rotateKey(for: "customer-1")
            let kept = try fixture.keys.currentKey(for: "customer-2")
            try check.equal(
                try fixture.keys.destroyKeys(of: "customer-1"),
                KeyDestruction(subject: "customer-1", destroyedKeys: 2, wasAlreadyForgotten: false), "the destruction")
            let other = try await fixture.reopen()
            try check.equal(try other.key(for: "customer-1", version: 1), .forgotten, "version 1 after forgetting")
            try check.equal(try other.key(for: "customer-1", version: 2), .forgotten, "version 2 after forgetting")
            try check.equal(try other.status(of: "customer-1"), .forgotten, "status after forgetting")
            try privacyError(.subjectForgotten, check, "a new key for a forgotten subject") { try other.currentKey(for: "customer-1") }
            try privacyError(.subjectForgotten, check, "rotating a forgotten subject's key") { try other.rotateKey(for: "customer-1") }
            try check.equal(
                try other.destroyKeys(of: "customer-1"),
                KeyDestruction(subject: "customer-1", destroyedKeys: 0, wasAlreadyForgotten: true), "forgetting again")
            try check.equal(try other.currentKey(for: "customer-2"), kept, "another subject's key")
        },
        Case("forgettingAnUnknownSubjectFailsAndChangesNothing") { check, fixture in
            try privacyError(.unknownSubject, check, "forgetting a subject without a key") { try fixture.keys.destroyKeys(of: "customer-404") }
            try check.equal(try fixture.keys.status(of: "customer-404"), .unknown, "status afterwards")
            try check.equal(try fixture.keys.currentKey(for: "customer-404").version, 1, "a key can still be made")
        },
        Case("invalidSubjectIdsAreRefused") { check, fixture in
            for subject in ["", "has space", "a,b", String(repeating: "x", count: DataSubject.maximumLength + 1)] {
                try privacyError(.invalidSubject, check, "a key for \(subject.debugDescription)") { try fixture.keys.currentKey(for: subject) }
            }
        },
        Case("concurrentFirstKeysOfOneSubjectAreOneKey") { check, fixture in
            let stores = [fixture.keys, try await fixture.reopen()]
            let keys = try await withThrowingTaskGroup(of: SubjectKey.self) { group in
                for index in 0..<8 {
                    let store = stores[index % 2]
                    group.addTask { try store.currentKey(for: "customer-7") }
                }
                var keys: [SubjectKey] = []
                for try await key in group { keys.append(key) }
                return keys
            }
            try check.equal(Set(keys).count, 1, "distinct keys made for one subject")
        },
    ]
}
