public import Chronicle
import Foundation
public import Logging
import PostgresNIO
import Synchronization

/// The key store of a PostgreSQL event store: the `subject_keys` and `forgotten_subjects` tables
/// of the store's schema (created by ``PostgresEventStore/migrate()``). Dump the log without them
/// (`pg_dump --exclude-table`) and the dump holds no key.
///
/// ```swift
/// let keys = PostgresKeyStore(settings: settings, schema: store.schema)
/// let codec = PersonalDataCodec(JSONEventCodec<CustomerEvent>(), keys: keys)
/// ```
///
/// Codecs call key stores synchronously (see ``Chronicle/SubjectKeyStore``), so this store runs
/// its statements on one connection of its own, opened on first use, and blocks the calling
/// thread for the round trip (the I/O runs on SwiftNIO's event loops, never on the caller's
/// executor). Key changes of one subject are serialised with a transaction-scoped advisory lock,
/// so several processes can share the tables.
///
/// A destroyed key's row is deleted: no query returns it. PostgreSQL reclaims the dead row's
/// space with `VACUUM`; `VACUUM FULL subject_keys` rewrites the table without it (see
/// `Docs/Operations.md`, "Personal data").
public final class PostgresKeyStore: SubjectKeyStore {
    /// The schema holding the tables.
    public let schema: PostgresSchemaName
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let sql: PostgresSQL
    /// The one connection, opened on first use and reopened after a failure; the mutex also
    /// serialises statements on it.
    private let connection = Mutex<PostgresConnection?>(nil)

    /// A key store over the tables of `schema`.
    /// - Parameters:
    ///   - settings: where the database is.
    ///   - schema: the event store's schema.
    ///   - logger: for the driver's logs.
    /// - Throws: ``Chronicle/EventStoreError`` when the TLS context cannot be created.
    public init(settings: PostgresConnectionSettings, schema: PostgresSchemaName = .chronicle, logger: Logger = Logger(label: "chronicle.postgres.keys")) throws(EventStoreError) {
        self.configuration = try settings.connectionConfiguration(applicationName: "chronicle-keys")
        self.schema = schema
        self.logger = logger
        self.sql = PostgresSQL(schema: schema)
    }

    deinit {
        // The connection must outlive its closing (PostgresNIO asserts it is closed when freed).
        if let open = connection.withLock({ $0 }) { open.close().whenComplete { _ in withExtendedLifetime(open) {} } }
    }

    /// Closes the connection (a later call opens a new one).
    public func close() {
        let open = connection.withLock { connection -> PostgresConnection? in
            defer { connection = nil }
            return connection
        }
        _ = try? open?.close().wait()
    }

    // MARK: SubjectKeyStore

    /// The newest key of `subject`, created if needed (see ``Chronicle/SubjectKeyStore/currentKey(for:)``).
    public func currentKey(for subject: String) throws(PrivacyError) -> SubjectKey {
        try DataSubject.validate(subject)
        return try run("Reading or creating a key of \(subject)") { connection in
            if let key = try self.latest(subject, on: connection) { return key }
            let fresh = SubjectKey.random(subject: subject, version: 1)
            try self.rows(self.sql.insertFirstKey, [subject, fresh.material], on: connection)
            if let key = try self.latest(subject, on: connection) { return key }
            throw PrivacyError.subjectForgotten(subject)
        }
    }

    /// A key version of `subject` (see ``Chronicle/SubjectKeyStore/key(for:version:)``).
    public func key(for subject: String, version: Int) throws(PrivacyError) -> SubjectKeyLookup {
        try run("Reading a key of \(subject)") { connection in
            if let row = try self.rows(self.sql.keyVersion, [subject, Int32(clamping: version)], on: connection).first {
                let material = try row.decode(ByteBuffer.self)
                return .found(SubjectKey(subject: subject, version: version, material: Data(material.readableBytesView)))
            }
            return try self.count(self.sql.isForgotten, subject, on: connection) > 0 ? .forgotten : .missing
        }
    }

    /// Adds a key version (see ``Chronicle/SubjectKeyStore/rotateKey(for:)``).
    public func rotateKey(for subject: String) throws(PrivacyError) -> SubjectKey {
        try transaction("Rotating the key of \(subject)", subject: subject) { connection in
            if try self.count(self.sql.isForgotten, subject, on: connection) > 0 { throw PrivacyError.subjectForgotten(subject) }
            guard let last = try self.latest(subject, on: connection) else { throw PrivacyError.unknownSubject(subject) }
            let key = SubjectKey.random(subject: subject, version: last.version + 1)
            try self.rows(self.sql.insertKey, [subject, Int32(clamping: key.version), key.material], on: connection)
            return key
        }
    }

    /// Destroys `subject`'s keys (see ``Chronicle/SubjectKeyStore/destroyKeys(of:)``).
    public func destroyKeys(of subject: String) throws(PrivacyError) -> KeyDestruction {
        try transaction("Destroying the keys of \(subject)", subject: subject) { connection in
            if try self.count(self.sql.isForgotten, subject, on: connection) > 0 {
                return KeyDestruction(subject: subject, destroyedKeys: 0, wasAlreadyForgotten: true)
            }
            let count = try self.count(self.sql.countKeys, subject, on: connection)
            guard count > 0 else { throw PrivacyError.unknownSubject(subject) }
            try self.rows(self.sql.deleteKeys, [subject], on: connection)
            try self.rows(self.sql.insertForgotten, [subject], on: connection)
            return KeyDestruction(subject: subject, destroyedKeys: Int(count), wasAlreadyForgotten: false)
        }
    }

    /// What the store holds for `subject` (see ``Chronicle/SubjectKeyStore/status(of:)``).
    public func status(of subject: String) throws(PrivacyError) -> SubjectKeyStatus {
        try run("Reading the keys of \(subject)") { connection in
            if try self.count(self.sql.isForgotten, subject, on: connection) > 0 { return .forgotten }
            let count = try self.count(self.sql.countKeys, subject, on: connection)
            return count > 0 ? .active(keyVersions: Int(count)) : .unknown
        }
    }

    // MARK: Plumbing

    private func latest(_ subject: String, on connection: PostgresConnection) throws -> SubjectKey? {
        guard let row = try rows(sql.latestKey, [subject], on: connection).first else { return nil }
        let (version, material) = try row.decode((Int32, ByteBuffer).self)
        return SubjectKey(subject: subject, version: Int(version), material: Data(material.readableBytesView))
    }

    private func count(_ statement: String, _ subject: String, on connection: PostgresConnection) throws -> Int64 {
        try rows(statement, [subject], on: connection).first?.decode(Int64.self) ?? 0
    }

    @discardableResult
    private func rows(_ statement: String, _ values: [any PostgresThrowingDynamicTypeEncodable], on connection: PostgresConnection) throws -> [PostgresRow] {
        let query = PostgresQuery(unsafeSQL: statement, binds: try PostgresEventStore.bindings(values))
        return try PostgresStatementWatch.shared.rows(query, on: connection, logger: logger)
    }

    private func transaction<T>(_ what: String, subject: String, _ body: (PostgresConnection) throws -> T) throws(PrivacyError) -> T {
        try run(what) { connection in
            try self.rows("BEGIN", [], on: connection)
            do {
                try self.rows(self.sql.lockSubject, [subject], on: connection)
                let value = try body(connection)
                try self.rows("COMMIT", [], on: connection)
                return value
            } catch {
                _ = try? self.rows("ROLLBACK", [], on: connection)
                throw error
            }
        }
    }

    /// Runs `body` on the connection (opening it if needed), holding the mutex; a failed
    /// connection is dropped so the next call opens a new one.
    private func run<T>(_ what: String, _ body: (PostgresConnection) throws -> T) throws(PrivacyError) -> T {
        do {
            return try connection.withLock { slot in
                let open: PostgresConnection
                if let existing = slot, !existing.isClosed {
                    open = existing
                } else {
                    open = try PostgresConnection.connect(
                        on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration, id: 1, logger: logger
                    ).wait()
                    slot = open
                }
                do {
                    return try body(open)
                } catch let error as PrivacyError {
                    throw error
                } catch {
                    if open.isClosed { slot = nil }
                    throw error
                }
            }
        } catch let error as PrivacyError {
            throw error
        } catch {
            throw PrivacyError(.keyStoreFailure, "\(what) failed in schema \(schema) (\(PostgresFailure.summary(of: error))). Nothing of it was changed; check the database and retry.", underlying: error)
        }
    }
}
