import Chronicle
import Foundation
import GRDB
import Logging

/// Opens a store file: inspects it read-only first (so a foreign or newer file is never written),
/// then opens the connection pool, migrates inside `BEGIN IMMEDIATE`, applies the durability
/// setting and reads every pragma back.
enum SQLiteStoreOpening {
    private static let sqliteMagic = Data("SQLite format 3\u{0}".utf8)

    /// Opens the pool and registers `path` as open in this process (see
    /// ``SQLiteWALInspection/register(_:)``); the store unregisters it when it closes.
    static func open(path: String, configuration: SQLiteEventStore.Configuration) throws(EventStoreError) -> DatabasePool {
        let openedHereAlready = SQLiteWALInspection.register(path)
        do {
            return try openPool(path: path, configuration: configuration, walInUseHere: openedHereAlready)
        } catch {
            SQLiteWALInspection.unregister(path)
            throw error
        }
    }

    private static func openPool(path: String, configuration: SQLiteEventStore.Configuration, walInUseHere: Bool) throws(EventStoreError) -> DatabasePool {
        let logger = configuration.logger
        try inspect(path: path, configuration: configuration, walInUseHere: walInUseHere)

        var grdb = GRDB.Configuration()
        grdb.busyMode = .timeout(configuration.busyTimeoutSeconds)
        grdb.maximumReaderCount = max(1, configuration.maximumReaderCount)
        grdb.foreignKeysEnabled = false  // declared, not enforced: see SQLiteSchema
        grdb.label = "chronicle.sqlite"
        // Deleted and overwritten rows (snapshots sharing the file, scavenged payloads) are
        // zeroed in the file, not only unlinked: erasure that a scan of the bytes can prove.
        grdb.prepareDatabase { db in try db.execute(sql: SQLiteStatements.secureDelete) }
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
    ///
    /// A `-wal` is checked first (``SQLiteWALInspection``). When a store of this process has the
    /// file open already (`walInUseHere`), it was inspected by that store's opening and its WAL is
    /// live: nothing is read here, since closing a descriptor of our own would drop the POSIX
    /// locks SQLite's connections of this process hold on the file.
    private static func inspect(path: String, configuration: SQLiteEventStore.Configuration, walInUseHere: Bool) throws(EventStoreError) {
        if walInUseHere { return }
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
        // Before any SQLite connection: SQLite would silently drop committed transactions of a
        // deleted or truncated WAL, and replay another database's WAL (see SQLiteWALInspection).
        let wal = try SQLiteWALInspection.check(path: path, header: header)
        let replaysWAL = (wal?.committedFrames ?? 0) > 0
        var grdb = GRDB.Configuration()
        grdb.readonly = true
        grdb.busyMode = .timeout(configuration.busyTimeoutSeconds)
        let readIdentity = {
            do {
                let queue = try DatabaseQueue(path: path, configuration: grdb)
                defer { try? queue.close() }
                return try queue.read { db in
                    let version = try checkIdentity(db, path: path)
                    // A read-only connection never checkpoints: the WAL's pages reach the file
                    // only after this check.
                    if replaysWAL && version > 0 { try checkReplayedLog(db, path: path) }
                    return version
                }
            } catch let error as DatabaseError where replaysWAL && (error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB) {
                throw SQLiteWALInspection.foreignWAL(path: path, why: "with its pages, SQLite reads a damaged database: \(error.message ?? "SQLite error \(error.extendedResultCode.rawValue)")")
            } catch let error as EventStoreError where replaysWAL && error.code == .notADatabase && headerApplicationID == SQLiteSchema.applicationID {
                throw SQLiteWALInspection.foreignWAL(path: path, why: "with its pages, the Chronicle store reads as another database")
            }
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

    /// Checks, on the read-only connection that first replays a WAL left by a process that did
    /// not close the store, what every committed state of the log keeps, at a cost of a few dozen
    /// page reads (a scan of `streams` aside):
    ///
    /// - the streams' last position is the head, and the last event ends its stream;
    /// - at 16 positions spread over the log, the event is there (positions are gap-free), its id
    ///   and its (stream, version) find it again through their unique indexes, and its stream's
    ///   version reaches it: three b-trees that another database's pages, mixed with the store's,
    ///   do not keep in agreement;
    /// - the database file alone (read with `immutable=1`, which ignores the WAL) is a prefix of
    ///   the log: its first and last events are the same in both (events are never changed, and
    ///   positions never reused), which another store's WAL holding a whole store breaks.
    private static func checkReplayedLog(_ db: Database, path: String) throws {
        func refuse(_ problem: String) -> EventStoreError {
            SQLiteWALInspection.foreignWAL(path: path, why: "with its pages, \(problem)")
        }
        let head = try Int64.fetchOne(db, sql: SQLiteStatements.headPosition) ?? 0
        let recorded = try Int64.fetchOne(db, sql: SQLiteStatements.maxStreamLastPosition) ?? 0
        guard recorded == head else { throw refuse("the streams' last position is \(recorded) but the log's head is \(head)") }
        guard head > 0 else { return }
        guard try Bool.fetchOne(db, sql: SQLiteStatements.lastEventEndsItsStream) == true else {
            throw refuse("the last event (position \(head)) does not end its stream")
        }
        let probes = Set((0...15).map { 1 + (head - 1) * Int64($0) / 15 }).sorted()
        for position in probes {
            guard let row = try Row.fetchOne(db, sql: SQLiteStatements.probeEvent, arguments: [position]) else {
                throw refuse("position \(position) of 1–\(head) is missing")
            }
            let id: Data = row[0], streamKey: Int64 = row[1], version: Int64 = row[2]
            let byID = try Int64.fetchOne(db, sql: SQLiteStatements.probePositionByID, arguments: [id])
            let byVersion = try Int64.fetchOne(db, sql: SQLiteStatements.probePositionByStreamVersion, arguments: [streamKey, version])
            let streamVersion = try Int64.fetchOne(db, sql: SQLiteStatements.probeStreamVersion, arguments: [streamKey]) ?? 0
            guard byID == position, byVersion == position, streamVersion >= version else {
                throw refuse("the event at position \(position) is not where the event id and stream version indexes say (\(byID.map(String.init) ?? "absent"), \(byVersion.map(String.init) ?? "absent"))")
            }
        }
        for (position, id) in eventIDsInFileAlone(path: path) {
            let replayed = try Data.fetchOne(db, sql: SQLiteStatements.probeEventID, arguments: [position])
            guard replayed == id else {
                throw refuse("the event at position \(position) differs from the one \(path) itself holds (a store's events never change)")
            }
        }
    }

    /// The ids of the first and last events of the database file alone, read with `immutable=1`
    /// (no lock, no WAL, nothing written); empty when the file alone cannot be read (before its
    /// first checkpoint, or mid-checkpoint pages that do not read back: the check is then skipped).
    private static func eventIDsInFileAlone(path: String) -> [(Int64, Data)] {
        var grdb = GRDB.Configuration()
        grdb.readonly = true
        let escaped = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
        do {
            let queue = try DatabaseQueue(path: "file:\(escaped)?immutable=1", configuration: grdb)
            defer { try? queue.close() }
            return try queue.read { db in
                guard try db.tableExists("events") else { return [] }
                let head = try Int64.fetchOne(db, sql: SQLiteStatements.headPosition) ?? 0
                guard head > 0 else { return [] }
                return try Set([1, head]).sorted().compactMap { position in
                    try Data.fetchOne(db, sql: SQLiteStatements.probeEventID, arguments: [position]).map { (position, $0) }
                }
            }
        } catch {
            return []
        }
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
            try SQLiteSchema.ladder.apply(db, after: version) { step in
                logger.info("Migrating event store schema", metadata: ["path": "\(path)", "to": "\(step)"])
            }
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
