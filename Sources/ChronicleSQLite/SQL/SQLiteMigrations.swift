import GRDB

/// The one migration mechanism of the backend's own tables: a numbered, append-only list of SQL
/// scripts, and the place a file records how many of them it has applied.
///
/// The event store records its version in `PRAGMA user_version` (the database header, so a file
/// from a newer Chronicle is refused before a connection pool opens). The tables that share a file
/// with other tables (the projections' bookkeeping in every read-model and process-manager file,
/// the snapshots) record theirs in a one-column table of their own. Callers apply the steps
/// inside their own immediate transaction and turn "newer than this build" into their module's
/// typed error. A user's read-model tables are migrated by GRDB's `DatabaseMigrator`, which
/// ``SQLiteProjector/registerMigrations(in:)`` hands them, not by this.
struct SQLiteMigrations: Sendable {
    /// Where a file records how many steps it has applied.
    enum Record: Sendable {
        /// `PRAGMA user_version`.
        case userVersion
        /// `SELECT max(version) FROM <table>`; the table is created with the first step.
        case table(String)
    }

    /// The scripts, oldest first. Append new ones; never edit a released one. Step `n` (1-based)
    /// brings the file to version `n`.
    let steps: [String]
    let record: Record

    /// The version this build writes and understands.
    var latest: Int { steps.count }

    /// How many steps the file has applied (0 for a file without these tables).
    func applied(_ db: Database) throws -> Int {
        switch record {
        case .userVersion:
            return try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        case .table(let table):
            guard try db.tableExists(table) else { return 0 }
            return try Int.fetchOne(db, sql: "SELECT coalesce(max(version), 0) FROM \(table)") ?? 0
        }
    }

    /// Applies the steps after `applied`, in the caller's transaction, and records the new
    /// version. `willApply` is called with each step's number before it runs (for logging).
    func apply(_ db: Database, after applied: Int, willApply: (Int) -> Void = { _ in }) throws {
        guard applied < latest else { return }
        if case .table(let table) = record {
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(table) (version INTEGER NOT NULL)")
        }
        for (index, script) in steps.enumerated().dropFirst(applied) {
            willApply(index + 1)
            try db.execute(sql: script)
            if case .table(let table) = record {
                try db.execute(sql: "INSERT INTO \(table) (version) VALUES (?)", arguments: [index + 1])
            }
        }
        if case .userVersion = record {
            try db.execute(sql: "PRAGMA user_version = \(latest)")
        }
    }
}
