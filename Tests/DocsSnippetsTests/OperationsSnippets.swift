// The operations and durability snippets of the docs, verbatim: change both together.
import Chronicle
import ChronicleSQLite
import GRDB
import Logging

/// Opens a store whose commits survive a power cut, not only a crash of the process.
func openDurableStore(at path: String, logger: Logger) throws -> SQLiteEventStore {
    var configuration = SQLiteEventStore.Configuration()
    configuration.durability = .full   // fsync the WAL at every commit
    configuration.busyTimeout = .seconds(5)
    configuration.logger = logger
    return try SQLiteEventStore(path: path, configuration: configuration)
}

/// Writes a consistent copy of a live store to `backupPath` while appends go on.
func backUp(storeAt path: String, to backupPath: String) throws {
    let source = try DatabaseQueue(path: path)   // a connection of its own; the store stays open
    try source.inDatabase { db in
        try db.execute(sql: "VACUUM INTO ?", arguments: [backupPath])
    }
    try source.close()
}
