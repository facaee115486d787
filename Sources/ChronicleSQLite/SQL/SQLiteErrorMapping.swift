import Chronicle
import Foundation
import GRDB

/// Turns SQLite failures into ``EventStoreError``s that say what happened and what to do.
///
/// Every message names the file and the operation, and ends with SQLite's own words and extended
/// result code (for a search or a bug report), such as `(SQLite 13 SQLITE_FULL: database or disk
/// is full)`.
enum SQLiteErrorMapping {
    /// Maps any error thrown by GRDB during `operation` (EventStoreErrors pass through).
    static func map(_ error: any Error, path: String, operation: String) -> EventStoreError {
        if let error = error as? EventStoreError { return error }
        guard let error = error as? DatabaseError else {
            return EventStoreError(.storageFailure, "\(operation) failed on \(path).", underlying: error)
        }
        let sqlite = "(SQLite \(error.extendedResultCode.rawValue) \(name(of: error.extendedResultCode)): \(error.message ?? "no message"))"
        let extended = error.extendedResultCode
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return EventStoreError(
                .databaseBusy,
                "\(operation) failed: \(path) stayed locked by another connection or process past the busy timeout. Nothing was written; try again, or raise the busy timeout. \(sqlite)",
                underlying: error)
        case .SQLITE_FULL:
            return EventStoreError(
                .diskFull,
                "\(operation) failed: the disk (or quota) holding \(path) is full. Nothing of this operation was written and nothing committed before is lost; free space on that file system (or move the store to a larger one), then retry. \(sqlite)",
                underlying: error)
        case .SQLITE_READONLY:
            let message: String
            switch extended {
            case .SQLITE_READONLY_ROLLBACK:
                message = "\(path) has an unfinished transaction journal (\(path)-journal, left by a process that was killed) which a read-only connection cannot roll back. Nothing was written; open the store once with write access to the file and its directory, which rolls the journal back."
            case .SQLITE_READONLY_DIRECTORY:
                message = "\(operation) failed: the directory of \(path) is read-only, so SQLite cannot create the -wal, -shm or -journal file beside it. Nothing was written; make the directory writable by this user."
            case .SQLITE_READONLY_DBMOVED:
                message = "\(operation) failed: \(path) was moved, renamed or deleted while the store was open. Nothing was written; close the store and open the file where it is now."
            case .SQLITE_READONLY_CANTINIT, .SQLITE_READONLY_CANTLOCK, .SQLITE_READONLY_RECOVERY:
                message = "\(operation) failed: \(path)-shm (the WAL index beside the store) cannot be written. Nothing was written; make \(path), \(path)-shm and their directory writable by this user."
            default:
                message = "\(operation) failed: \(path) is read-only (file permissions, an immutable file, or a read-only file system). Nothing was written; make the file, its directory and the file system writable by this user, or work on a copy."
            }
            return EventStoreError(.readOnly, "\(message) \(sqlite)", underlying: error)
        case .SQLITE_CANTOPEN:
            return EventStoreError(
                .storageFailure,
                "\(operation) failed: SQLite cannot open \(path) or the -wal/-shm files beside it (a missing directory, a read-only directory or file system, a path that is a directory, no permission, or too many open files). Nothing was written; check the path, that its directory exists, and that this user can read and write there. \(sqlite)",
                underlying: error)
        case .SQLITE_IOERR where extended == .SQLITE_IOERR_NOMEM:
            return EventStoreError(.storageFailure, "\(operation) failed on \(path): out of memory. Nothing was written; free memory and retry. \(sqlite)", underlying: error)
        case .SQLITE_IOERR where extended == .SQLITE_IOERR_SHORT_READ:
            return EventStoreError(
                .corruptRecord,
                "\(operation) failed: \(path) is shorter than its own header says (the file was truncated). Nothing was written; run `chronicle verify` to see what is damaged, `chronicle export` to salvage the readable events, and restore from a backup. \(sqlite)",
                underlying: error)
        case .SQLITE_IOERR:
            return EventStoreError(
                .storageFailure,
                "\(operation) failed: the operating system reported an I/O error on \(path) or its -wal/-shm files. Nothing of this operation was acknowledged; check the disk and the kernel log (dmesg), then retry. If it persists, copy the file elsewhere and run `chronicle verify` on the copy. \(sqlite)",
                underlying: error)
        case .SQLITE_NOTADB:
            return EventStoreError(
                .notADatabase,
                "\(path) is not a SQLite database (or it is encrypted, or its first page is damaged). Check the path; nothing was written. \(sqlite)",
                underlying: error)
        case .SQLITE_CORRUPT:
            return EventStoreError(
                .corruptRecord,
                "\(operation) failed: \(path) is damaged (SQLite reports corruption). Nothing was written; run `chronicle verify` to see what is damaged, `chronicle export` to salvage the readable events, and restore from a backup. \(sqlite)",
                underlying: error)
        case .SQLITE_PERM, .SQLITE_AUTH:
            return EventStoreError(
                .readOnly,
                "\(operation) failed: the operating system refused access to \(path) (permissions or a security policy). Nothing was written; give this user read and write access to the file and its directory. \(sqlite)",
                underlying: error)
        case .SQLITE_NOMEM:
            return EventStoreError(.storageFailure, "\(operation) failed on \(path): SQLite ran out of memory. Nothing was written; free memory and retry. \(sqlite)", underlying: error)
        case .SQLITE_TOOBIG:
            return EventStoreError(
                .invalidEvent,
                "\(operation) failed on \(path): a value is larger than SQLite allows (1 GB per payload by default). Nothing was written; store large payloads elsewhere and keep a reference in the event. \(sqlite)",
                underlying: error)
        case .SQLITE_NOLFS:
            return EventStoreError(.storageFailure, "\(operation) failed: the file system holding \(path) cannot hold a file this large. Nothing was written; move the store to another file system. \(sqlite)", underlying: error)
        case .SQLITE_PROTOCOL:
            return EventStoreError(.databaseBusy, "\(operation) failed: SQLite's file locking on \(path) raced with another process. Nothing was written; try again. \(sqlite)", underlying: error)
        case .SQLITE_MISUSE where error.message == "Connection is closed":
            return EventStoreError(.closed, "\(operation) failed: the store at \(path) is closed.", underlying: error)
        default:
            return EventStoreError(.storageFailure, "\(operation) failed on \(path). \(sqlite)", underlying: error)
        }
    }

    /// The symbolic name of a SQLite result code, such as `SQLITE_FULL` (primary name with a
    /// suffix for the extended codes Chronicle distinguishes).
    static func name(of code: ResultCode) -> String {
        switch code {
        case .SQLITE_READONLY_ROLLBACK: return "SQLITE_READONLY_ROLLBACK"
        case .SQLITE_READONLY_DIRECTORY: return "SQLITE_READONLY_DIRECTORY"
        case .SQLITE_READONLY_DBMOVED: return "SQLITE_READONLY_DBMOVED"
        case .SQLITE_READONLY_CANTINIT: return "SQLITE_READONLY_CANTINIT"
        case .SQLITE_READONLY_CANTLOCK: return "SQLITE_READONLY_CANTLOCK"
        case .SQLITE_READONLY_RECOVERY: return "SQLITE_READONLY_RECOVERY"
        case .SQLITE_IOERR_SHORT_READ: return "SQLITE_IOERR_SHORT_READ"
        default: break
        }
        let primary: [Int32: String] = [
            1: "SQLITE_ERROR", 2: "SQLITE_INTERNAL", 3: "SQLITE_PERM", 4: "SQLITE_ABORT", 5: "SQLITE_BUSY", 6: "SQLITE_LOCKED",
            7: "SQLITE_NOMEM", 8: "SQLITE_READONLY", 9: "SQLITE_INTERRUPT", 10: "SQLITE_IOERR", 11: "SQLITE_CORRUPT",
            12: "SQLITE_NOTFOUND", 13: "SQLITE_FULL", 14: "SQLITE_CANTOPEN", 15: "SQLITE_PROTOCOL", 16: "SQLITE_EMPTY",
            17: "SQLITE_SCHEMA", 18: "SQLITE_TOOBIG", 19: "SQLITE_CONSTRAINT", 20: "SQLITE_MISMATCH", 21: "SQLITE_MISUSE",
            22: "SQLITE_NOLFS", 23: "SQLITE_AUTH", 24: "SQLITE_FORMAT", 25: "SQLITE_RANGE", 26: "SQLITE_NOTADB",
        ]
        return primary[code.primaryResultCode.rawValue] ?? "SQLITE_\(code.rawValue)"
    }
}
