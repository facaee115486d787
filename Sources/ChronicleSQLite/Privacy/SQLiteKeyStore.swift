public import Chronicle
public import Foundation
import GRDB

/// The key store of a SQLite event store: a SQLite file of its own (back it up separately from
/// the event store: a backup of the log alone holds no key), paired with one event store.
///
/// ```swift
/// let store = try SQLiteEventStore(path: "events.sqlite")
/// let keys = try SQLiteKeyStore(path: "keys.sqlite", pairedWith: store)
/// ```
///
/// Pairing: the first opening records the event store's id in the key store and the key store's
/// id in the event store. Afterwards a key store of another event store is refused
/// (``Chronicle/PrivacyError/Code/keyStoreMismatch``), and so is a missing file when the event
/// store was paired (``Chronicle/PrivacyError/Code/keyStoreMissing``): a new, empty key store
/// would make every personal field unreadable, so it is never made silently.
///
/// Destroyed keys are overwritten in the file (`PRAGMA secure_delete`, rollback journal): a scan
/// of the file's bytes finds none. Calls are synchronous and short (one statement on a local
/// file), as codecs need.
public final class SQLiteKeyStore: SubjectKeyStore {
    /// The key store file.
    public let path: String
    /// The key store's own id (random, made on creation).
    public let keyStoreID: String
    /// The id of the event store it is paired with.
    public let storeID: String
    private let queue: DatabaseQueue
    private let now: @Sendable () -> Date

    /// Opens (or, on the first pairing, creates) the key store at `path` for `store`.
    ///
    /// - Parameters:
    ///   - path: the key store file, apart from the event store's.
    ///   - store: the event store whose events the keys encrypt.
    ///   - createIfNeeded: whether a missing file may be created when `store` was never paired.
    ///   - now: stamps key creation and forgetting.
    /// - Throws: ``Chronicle/PrivacyError`` — ``Chronicle/PrivacyError/Code/keyStoreMissing``,
    ///   ``Chronicle/PrivacyError/Code/keyStoreMismatch``,
    ///   ``Chronicle/PrivacyError/Code/unsupportedKeyStore``,
    ///   ``Chronicle/PrivacyError/Code/keyStoreFailure``. Nothing is created on any of these.
    public init(path: String, pairedWith store: SQLiteEventStore, createIfNeeded: Bool = true, now: @escaping @Sendable () -> Date = { Date() }) throws(PrivacyError) {
        self.path = path
        self.now = now
        let (storeID, pairedKeyStore) = try Self.storeIdentity(store)
        let exists = ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0) > 0
        if !exists {
            if let pairedKeyStore {
                throw PrivacyError(.keyStoreMissing, "The event store at \(store.path) is paired with key store \(pairedKeyStore), but there is no key store at \(path). Nothing was created (a new key store would make every personal field unreadable): restore the key store from its backup, or pass its path.")
            }
            if !createIfNeeded {
                throw PrivacyError(.keyStoreMissing, "There is no key store at \(path). Nothing was created; pass the key store's path, or allow creating it.")
            }
        }
        var configuration = GRDB.Configuration()
        configuration.label = "chronicle.keys"
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in try db.execute(sql: SQLiteKeyStoreSQL.secureDelete) }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            var opened: (String, String)?
            try queue.inTransaction(.immediate) { db in
                let applicationID = try Int32.fetchOne(db, sql: SQLiteKeyStoreSQL.readApplicationID) ?? 0
                let objects = try Int.fetchOne(db, sql: SQLiteKeyStoreSQL.countSchemaObjects) ?? 0
                if applicationID != SQLiteKeyStoreSQL.applicationID && (applicationID != 0 || objects > 0) {
                    throw PrivacyError(.unsupportedKeyStore, "\(path) is not a Chronicle key store. Nothing was written; check the path.")
                }
                let ladder = SQLiteKeyStoreSQL.ladder
                let applied = try ladder.applied(db)
                if applied > ladder.latest {
                    throw PrivacyError(.unsupportedKeyStore, "The key store at \(path) has schema version \(applied), newer than this Chronicle knows (\(ladder.latest)). Upgrade Chronicle.")
                }
                if applied == 0 { try db.execute(sql: SQLiteKeyStoreSQL.writeApplicationID) }
                try ladder.apply(db, after: applied)
                let keyStoreID = try String.fetchOne(db, sql: SQLiteKeyStoreSQL.readProperty, arguments: ["key_store_id"]) ?? ""
                var pairedStore = try String.fetchOne(db, sql: SQLiteKeyStoreSQL.readProperty, arguments: ["store_id"])
                if let pairedStore, pairedStore != storeID {
                    throw PrivacyError(.keyStoreMismatch, "The key store at \(path) belongs to event store \(pairedStore), not to \(store.path) (\(storeID)). Nothing was changed; pass the key store made for this event store.")
                }
                if let pairedKeyStore, pairedKeyStore != keyStoreID {
                    throw PrivacyError(.keyStoreMismatch, "The event store at \(store.path) is paired with key store \(pairedKeyStore), not with \(path) (\(keyStoreID)). Nothing was changed; pass the key store made for this event store.")
                }
                if pairedStore == nil {
                    try db.execute(sql: SQLiteKeyStoreSQL.writeProperty, arguments: ["store_id", storeID])
                    pairedStore = storeID
                }
                opened = (keyStoreID, pairedStore!)
                return .commit
            }
            let (keyStoreID, pairedStore) = opened!
            self.keyStoreID = keyStoreID
            self.storeID = pairedStore
        } catch let error as PrivacyError {
            throw error
        } catch {
            throw Self.failure(error, path: path, "Opening the key store")
        }
        if pairedKeyStore == nil {
            do {
                try store.pool.write { db in
                    try db.execute(sql: SQLiteStatements.writeProperty, arguments: ["key_store_id", keyStoreID])
                }
            } catch {
                throw Self.failure(error, path: store.path, "Recording the key store's pairing in the event store")
            }
        }
    }

    /// The store's id and paired key store, read from the event store.
    private static func storeIdentity(_ store: SQLiteEventStore) throws(PrivacyError) -> (String, String?) {
        do {
            return try store.pool.read { db in
                guard let id = try String.fetchOne(db, sql: SQLiteStatements.readProperty, arguments: ["store_id"]) else {
                    throw PrivacyError(.keyStoreFailure, "The event store at \(store.path) has no store id. Open it with this Chronicle first (it migrates the file).")
                }
                return (id, try String.fetchOne(db, sql: SQLiteStatements.readProperty, arguments: ["key_store_id"]))
            }
        } catch let error as PrivacyError {
            throw error
        } catch {
            throw failure(error, path: store.path, "Reading the event store's id")
        }
    }

    /// Closes the file. Later calls fail with ``Chronicle/PrivacyError/Code/keyStoreFailure``.
    public func close() throws(PrivacyError) {
        do { try queue.close() } catch { throw Self.failure(error, path: path, "Closing the key store") }
    }

    // MARK: SubjectKeyStore

    /// The newest key of `subject`, created if needed (see ``Chronicle/SubjectKeyStore/currentKey(for:)``).
    public func currentKey(for subject: String) throws(PrivacyError) -> SubjectKey {
        try DataSubject.validate(subject)
        if let key = try run("Reading a key", { db in try Self.latest(subject, db) }) { return key }
        return try run("Creating a key") { db in
            try db.inTransaction(.immediate) {
                if try Bool.fetchOne(db, sql: SQLiteKeyStoreSQL.isForgotten, arguments: [subject]) != nil {
                    throw PrivacyError.subjectForgotten(subject)
                }
                if try Self.latest(subject, db) != nil { return .commit }  // made meanwhile by another process
                let key = SubjectKey.random(subject: subject, version: 1)
                try db.execute(sql: SQLiteKeyStoreSQL.insertKey, arguments: [subject, 1, key.material, Self.milliseconds(self.now())])
                return .commit
            }
            guard let key = try Self.latest(subject, db) else { throw PrivacyError.subjectForgotten(subject) }
            return key
        }
    }

    /// A key version of `subject` (see ``Chronicle/SubjectKeyStore/key(for:version:)``).
    public func key(for subject: String, version: Int) throws(PrivacyError) -> SubjectKeyLookup {
        try run("Reading a key") { db in
            if let material = try Data.fetchOne(db, sql: SQLiteKeyStoreSQL.keyVersion, arguments: [subject, version]) {
                return .found(SubjectKey(subject: subject, version: version, material: material))
            }
            if try Bool.fetchOne(db, sql: SQLiteKeyStoreSQL.isForgotten, arguments: [subject]) != nil { return .forgotten }
            return .missing
        }
    }

    /// Adds a key version (see ``Chronicle/SubjectKeyStore/rotateKey(for:)``).
    public func rotateKey(for subject: String) throws(PrivacyError) -> SubjectKey {
        try run("Rotating a key") { db in
            var rotated: SubjectKey?
            try db.inTransaction(.immediate) {
                if try Bool.fetchOne(db, sql: SQLiteKeyStoreSQL.isForgotten, arguments: [subject]) != nil {
                    throw PrivacyError.subjectForgotten(subject)
                }
                guard let last = try Self.latest(subject, db) else { throw PrivacyError.unknownSubject(subject) }
                let key = SubjectKey.random(subject: subject, version: last.version + 1)
                try db.execute(sql: SQLiteKeyStoreSQL.insertKey, arguments: [subject, key.version, key.material, Self.milliseconds(self.now())])
                rotated = key
                return .commit
            }
            return rotated!
        }
    }

    /// Destroys `subject`'s keys, overwriting them in the file (see ``Chronicle/SubjectKeyStore/destroyKeys(of:)``).
    public func destroyKeys(of subject: String) throws(PrivacyError) -> KeyDestruction {
        try run("Destroying keys") { db in
            var result: KeyDestruction?
            try db.inTransaction(.immediate) {
                if try Bool.fetchOne(db, sql: SQLiteKeyStoreSQL.isForgotten, arguments: [subject]) != nil {
                    result = KeyDestruction(subject: subject, destroyedKeys: 0, wasAlreadyForgotten: true)
                    return .commit
                }
                let count = try Int.fetchOne(db, sql: SQLiteKeyStoreSQL.countKeys, arguments: [subject]) ?? 0
                guard count > 0 else { throw PrivacyError.unknownSubject(subject) }
                try db.execute(sql: SQLiteKeyStoreSQL.deleteKeys, arguments: [subject])
                try db.execute(sql: SQLiteKeyStoreSQL.insertForgotten, arguments: [subject, Self.milliseconds(self.now())])
                result = KeyDestruction(subject: subject, destroyedKeys: count, wasAlreadyForgotten: false)
                return .commit
            }
            return result!
        }
    }

    /// What the store holds for `subject` (see ``Chronicle/SubjectKeyStore/status(of:)``).
    public func status(of subject: String) throws(PrivacyError) -> SubjectKeyStatus {
        try run("Reading a subject's keys") { db in
            if try Bool.fetchOne(db, sql: SQLiteKeyStoreSQL.isForgotten, arguments: [subject]) != nil { return .forgotten }
            let count = try Int.fetchOne(db, sql: SQLiteKeyStoreSQL.countKeys, arguments: [subject]) ?? 0
            return count > 0 ? .active(keyVersions: count) : .unknown
        }
    }

    // MARK: Plumbing

    private static func latest(_ subject: String, _ db: Database) throws -> SubjectKey? {
        guard let row = try Row.fetchOne(db, sql: SQLiteKeyStoreSQL.latestKey, arguments: [subject]) else { return nil }
        return SubjectKey(subject: subject, version: row[0], material: row[1])
    }

    private func run<T>(_ operation: String, _ body: (Database) throws -> T) throws(PrivacyError) -> T {
        do {
            return try queue.inDatabase(body)
        } catch let error as PrivacyError {
            throw error
        } catch {
            throw Self.failure(error, path: path, operation)
        }
    }

    private static func failure(_ error: any Error, path: String, _ operation: String) -> PrivacyError {
        PrivacyError(.keyStoreFailure, "\(operation) failed at \(path). Nothing of it was changed; check the file and retry.", underlying: error)
    }

    private static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
}
