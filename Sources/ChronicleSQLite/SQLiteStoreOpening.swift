import Chronicle
import Foundation
import GRDB
import Logging

/// Opens a store file: inspects it read-only first (so a foreign or newer file is never written),
/// then opens the connection pool, migrates inside `BEGIN IMMEDIATE`, applies the durability
/// setting and reads every pragma back.
enum SQLiteStoreOpening {
    private static let sqliteMagic = Data("SQLite format 3\u{0}".utf8)

    static func open(path: String, configuration: SQLiteEventStore.Configuration) throws(EventStoreError) -> DatabasePool {
        let logger = configuration.logger
        try inspect(path: path, configuration: configuration)

        var grdb = GRDB.Configuration()
        grdb.busyMode = .timeout(configuration.busyTimeoutSeconds)
        grdb.maximumReaderCount = max(1, configuration.maximumReaderCount)
        grdb.foreignKeysEnabled = false  // declared, not enforced: see SQLiteSchema
        grdb.label = "chronicle.sqlite"
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: grdb)
        } catch {
            throw SQLiteErrorMapping.map(error, path: path, operation: "Opening the store")
        }
        do {
            try pool.writeWithoutTransaction { db in
                try migrate(db, path: path, logger: logger)
                try db.execute(sql: configuration.durability == .full ? SQLiteStatements.setSynchronousFull : SQLiteStatements.setSynchronousNormal)
                try verifyPragmas(db, path: path, configuration: configuration)
            }
        } catch {
            try? pool.close()
            throw SQLiteErrorMapping.map(error, path: path, operation: "Opening the store")
        }
        logger.debug("Opened event store", metadata: ["path": "\(path)", "durability": "\(configuration.durability.rawValue)"])
        return pool
    }

    /// Refuses, without writing, a file that is not a SQLite database, a SQLite database of another
    /// application, or a Chronicle store with a newer schema. A missing or empty file passes, unless
    /// ``SQLiteEventStore/Configuration/createIfNeeded`` is off.
    ///
    /// A hot rollback journal (`-journal` left by a process killed during the very first open, while
    /// SQLite switched the new file to WAL mode) makes the read-only check fail with
    /// `SQLITE_READONLY_ROLLBACK`; for a file that is not another application's, it is rolled back
    /// on a read-write connection (what any SQLite connection does on its first read) and the
    /// check runs again.
    private static func inspect(path: String, configuration: SQLiteEventStore.Configuration) throws(EventStoreError) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw EventStoreError(.readOnly, "\(path) exists but cannot be read. Nothing was written; give this user read and write access to it and its directory.")
            }
            if !configuration.createIfNeeded {
                throw notAStore(path: path, why: "there is no such file")
            }
            return  // a new store
        }
        let header: Data
        do {
            header = try handle.read(upToCount: 100) ?? Data()
            try handle.close()
        } catch {
            throw EventStoreError(.storageFailure, "\(path) cannot be read.", underlying: error)
        }
        let walBytes = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.intValue ?? 0
        if header.isEmpty && walBytes == 0 {  // an empty file is an empty database (a WAL may hold its pages)
            if !configuration.createIfNeeded { throw notAStore(path: path, why: "the file is empty") }
            return
        }
        guard header.isEmpty || (header.count >= 100 && header.prefix(sqliteMagic.count) == sqliteMagic) else {
            throw EventStoreError(.notADatabase, "\(path) is not a SQLite database (its header is not SQLite's). Check the path; nothing was written.")
        }
        // The header's copies of application_id and user_version refuse most foreign or newer
        // files without even opening a connection (which could leave -wal/-shm files behind).
        // They may lag behind a WAL that was not checkpointed, so the SQL check below decides.
        let headerApplicationID = bigEndianInt32(header, at: 68)
        let headerUserVersion = Int(bigEndianInt32(header, at: 60))
        if headerApplicationID != 0 && headerApplicationID != SQLiteSchema.applicationID {
            throw foreignApplication(path: path, applicationID: headerApplicationID)
        }
        if headerApplicationID == SQLiteSchema.applicationID && headerUserVersion > SQLiteSchema.currentVersion {
            throw newerSchema(path: path, version: headerUserVersion)
        }
        var grdb = GRDB.Configuration()
        grdb.readonly = true
        grdb.busyMode = .timeout(configuration.busyTimeoutSeconds)
        let readIdentity = {
            let queue = try DatabaseQueue(path: path, configuration: grdb)
            defer { try? queue.close() }
            return try queue.read { db in try checkIdentity(db, path: path) }
        }
        let version: Int
        do {
            do {
                version = try readIdentity()
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_READONLY_ROLLBACK {
                try rollBackHotJournal(path: path, configuration: configuration)
                version = try readIdentity()
            }
        } catch {
            throw SQLiteErrorMapping.map(error, path: path, operation: "Opening the store")
        }
        if version == 0 && !configuration.createIfNeeded {
            throw notAStore(path: path, why: "it is a SQLite database without Chronicle's tables")
        }
    }

    /// Rolls back the hot journal of `path` (the header was checked: not another application's
    /// file) by reading it on a read-write connection, as SQLite does on any connection's first
    /// read. Restores the file to its last committed state; writes nothing else.
    private static func rollBackHotJournal(path: String, configuration: SQLiteEventStore.Configuration) throws {
        configuration.logger.warning(
            "Rolling back an unfinished transaction journal left by a killed process",
            metadata: ["path": "\(path)", "journal": "\(path)-journal"])
        var grdb = GRDB.Configuration()
        grdb.busyMode = .timeout(configuration.busyTimeoutSeconds)
        let queue = try DatabaseQueue(path: path, configuration: grdb)
        defer { try? queue.close() }
        _ = try queue.read { db in try Int.fetchOne(db, sql: SQLiteStatements.countSchemaObjects) }
    }

    private static func notAStore(path: String, why: String) -> EventStoreError {
        EventStoreError(.notADatabase, "\(path) is not a Chronicle store (\(why)). Nothing was written; check the path, or create a store there first (`chronicle init`).")
    }

    /// Throws unless the database is empty or a Chronicle store this build understands.
    /// Returns the schema version (0 for an empty database).
    @discardableResult
    private static func checkIdentity(_ db: Database, path: String) throws -> Int {
        let applicationID = try Int32.fetchOne(db, sql: SQLiteStatements.readApplicationID) ?? 0
        let userVersion = try Int.fetchOne(db, sql: SQLiteStatements.readUserVersion) ?? 0
        if applicationID == 0 {
            let objects = try Int.fetchOne(db, sql: SQLiteStatements.countSchemaObjects) ?? 0
            if objects > 0 || userVersion != 0 {
                throw EventStoreError(.notADatabase, "\(path) is a SQLite database of another application (it has tables but no Chronicle application id). Nothing was written; point the store at its own file.")
            }
            return 0
        }
        if applicationID != SQLiteSchema.applicationID {
            throw foreignApplication(path: path, applicationID: applicationID)
        }
        if userVersion > SQLiteSchema.currentVersion {
            throw newerSchema(path: path, version: userVersion)
        }
        return userVersion
    }

    private static func foreignApplication(path: String, applicationID: Int32) -> EventStoreError {
        EventStoreError(.notADatabase, "\(path) is a SQLite database of another application (application_id \(applicationID), Chronicle's is \(SQLiteSchema.applicationID)). Nothing was written; point the store at its own file.")
    }

    private static func newerSchema(path: String, version: Int) -> EventStoreError {
        EventStoreError(.unsupportedSchema, "\(path) has Chronicle schema version \(version); this build understands up to \(SQLiteSchema.currentVersion). Nothing was written; upgrade Chronicle.")
    }

    private static func bigEndianInt32(_ data: Data, at offset: Int) -> Int32 {
        let bytes = data.dropFirst(offset).prefix(4)
        guard bytes.count == 4 else { return 0 }
        return Int32(bitPattern: bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }

    /// Applies the missing migrations in one immediate transaction (re-checking the identity
    /// under the write lock, in case another process got there first).
    private static func migrate(_ db: Database, path: String, logger: Logger) throws {
        // Cheap check first, without the write lock: most opens find the schema current.
        if try checkIdentity(db, path: path) == SQLiteSchema.currentVersion { return }
        try db.inTransaction(.immediate) {
            let version = try checkIdentity(db, path: path)
            guard version < SQLiteSchema.currentVersion else { return .commit }
            for (index, script) in SQLiteSchema.migrations.enumerated().dropFirst(version) {
                logger.info("Migrating event store schema", metadata: ["path": "\(path)", "to": "\(index + 1)"])
                try db.execute(sql: script)
            }
            try db.execute(sql: SQLiteStatements.writeUserVersion(SQLiteSchema.currentVersion))
            try db.execute(sql: SQLiteStatements.writeApplicationID)
            return .commit
        }
    }

    /// Reads the connection settings back and fails if SQLite did not apply them.
    private static func verifyPragmas(_ db: Database, path: String, configuration: SQLiteEventStore.Configuration) throws {
        let journalMode = try String.fetchOne(db, sql: SQLiteStatements.readJournalMode)
        guard journalMode?.lowercased() == "wal" else {
            throw EventStoreError(.storageFailure, "\(path) could not be put in WAL mode (journal_mode is \(journalMode ?? "unknown")). Use a local file system.")
        }
        let expectedSynchronous = configuration.durability == .full ? 2 : 1
        let synchronous = try Int.fetchOne(db, sql: SQLiteStatements.readSynchronous)
        guard synchronous == expectedSynchronous else {
            throw EventStoreError(.storageFailure, "\(path): PRAGMA synchronous is \(synchronous.map(String.init) ?? "unknown"), expected \(expectedSynchronous).")
        }
        let busyTimeout = try Int.fetchOne(db, sql: SQLiteStatements.readBusyTimeout) ?? -1
        let expectedBusyTimeout = configuration.busyTimeoutMilliseconds
        guard busyTimeout == expectedBusyTimeout else {
            throw EventStoreError(.storageFailure, "\(path): PRAGMA busy_timeout is \(busyTimeout) ms, expected \(expectedBusyTimeout) ms.")
        }
        let applicationID = try Int32.fetchOne(db, sql: SQLiteStatements.readApplicationID)
        guard applicationID == SQLiteSchema.applicationID else {
            throw EventStoreError(.storageFailure, "\(path): PRAGMA application_id is \(applicationID.map(String.init) ?? "unknown") after migration.")
        }
    }
}
