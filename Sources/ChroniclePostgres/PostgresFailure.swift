import Chronicle
import PostgresNIO

/// Maps PostgreSQL and driver errors to ``EventStoreError`` codes, keeping the original as
/// `underlying` (its SQLSTATE, message and the statement are in there).
enum PostgresFailure {
    /// SQLSTATEs the backend reacts to.
    enum State {
        static let uniqueViolation = "23505"
        static let serializationFailure = "40001"
        static let deadlockDetected = "40P01"
        static let undefinedTable = "42P01"
        static let undefinedFunction = "42883"
        static let invalidSchemaName = "3F000"
        static let lockNotAvailable = "55P03"
        static let queryCanceled = "57014"
        static let adminShutdown = "57P01"
    }

    /// The SQLSTATE of a server error, if `error` is one.
    static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// The constraint a server error names, if any.
    static func constraint(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.constraintName]
    }

    /// Whether running the whole transaction again may succeed (deadlock, serialization failure,
    /// an event id inserted concurrently by another append).
    static func isRetryable(_ error: any Error) -> Bool {
        switch sqlState(of: error) {
        case State.deadlockDetected, State.serializationFailure: true
        case State.uniqueViolation: constraint(of: error) == "events_event_id_uq"
        default: false
        }
    }

    /// Whether the connection (rather than the statement) failed.
    static func isConnectionFailure(_ error: any Error) -> Bool {
        if error is PostgresConnectionClosed { return true }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed: return true
        default: return sqlState(of: error) == State.adminShutdown
        }
    }

    /// The server's message and SQLSTATE, or the driver's error code (PSQLError's own description
    /// is deliberately generic, so the context is spelled out here).
    static func summary(of error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo {
            return "server said: \(info[.message] ?? "?") (SQLSTATE \(info[.sqlState] ?? "?"))"
        }
        return "driver error: \(error.code)"
    }

    /// An ``EventStoreError`` for `error`, raised while doing `what` (a phrase: "reading stream order-1").
    static func map(_ error: any Error, while what: String) -> EventStoreError {
        if let error = error as? EventStoreError { return error }
        if let error = error as? PSQLError {
            if error.code == .poolClosed || error.code == .clientClosedConnection {
                return EventStoreError(.closed, "The PostgreSQL client is closed (while \(what)). Keep the client's run() task alive as long as the store is used.", underlying: error)
            }
            switch sqlState(of: error) {
            case State.undefinedTable, State.invalidSchemaName:
                return EventStoreError(.notADatabase, "The Chronicle tables are missing (while \(what)). Call migrate() on the store once before using it.", underlying: error)
            case State.lockNotAvailable:
                return EventStoreError(.databaseBusy, "A lock stayed taken (while \(what)). Nothing was written; try again.", underlying: error)
            case State.queryCanceled:
                return EventStoreError(.timeout, "The statement was cancelled or timed out (while \(what)).", underlying: error)
            default:
                break
            }
        }
        if isConnectionFailure(error) {
            return EventStoreError(.storageFailure, "The connection to PostgreSQL failed while \(what). An append in flight may or may not have committed; retrying it with the same event ids is safe.", underlying: error)
        }
        return EventStoreError(.storageFailure, "PostgreSQL failed while \(what); \(summary(of: error)).", underlying: error)
    }
}
