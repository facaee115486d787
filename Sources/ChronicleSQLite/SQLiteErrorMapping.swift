import Chronicle
import Foundation
import GRDB

/// Turns SQLite failures into ``EventStoreError``s with their context.
enum SQLiteErrorMapping {
    /// Maps any error thrown by GRDB during `operation` (EventStoreErrors pass through).
    static func map(_ error: any Error, path: String, operation: String) -> EventStoreError {
        if let error = error as? EventStoreError { return error }
        guard let error = error as? DatabaseError else {
            return EventStoreError(.storageFailure, "\(operation) failed on \(path).", underlying: error)
        }
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return EventStoreError(
                .databaseBusy,
                "\(operation) failed: \(path) stayed locked by another connection or process past the busy timeout. Nothing was written; try again, or raise the busy timeout.",
                underlying: error)
        case .SQLITE_NOTADB:
            return EventStoreError(.notADatabase, "\(path) is not a SQLite database. Check the path; nothing was written.", underlying: error)
        case .SQLITE_CORRUPT:
            return EventStoreError(.corruptRecord, "\(operation) failed: \(path) is damaged (SQLite reports corruption). Restore from a backup.", underlying: error)
        case .SQLITE_MISUSE where error.message == "Connection is closed":
            return EventStoreError(.closed, "\(operation) failed: the store at \(path) is closed.", underlying: error)
        default:
            return EventStoreError(.storageFailure, "\(operation) failed on \(path): SQLite error \(error.extendedResultCode.rawValue).", underlying: error)
        }
    }
}
