import Chronicle
import Foundation
import GRDB

/// The write side of one group-commit transaction, run on the writer connection.
///
/// One transaction (`BEGIN IMMEDIATE` … `COMMIT`) carries a batch of append calls. Each call runs
/// inside its own savepoint, so a conflict or a bad event fails only that call; a batch of one
/// call skips the savepoint and rolls the transaction back instead.
///
/// Positions are assigned here, as head + 1, head + 2…, with head read once under the write lock:
/// gap-free and in commit order (see ``SQLiteSchema``).
struct SQLiteAppendTransaction {
    /// One append call's outcome.
    typealias Outcome = Result<[AppendResult], EventStoreError>

    let db: Database
    let path: String
    let recordedAt: Int64
    /// The last position written so far in this transaction.
    private var head: Int64 = 0
    /// The transaction's statements, looked up in GRDB's cache once each (the lookup hashes the
    /// SQL text: five lookups per event otherwise, in a 1,000-event import).
    private let statements: Statements

    private init(db: Database, path: String, recordedAt: Int64) {
        self.db = db
        self.path = path
        self.recordedAt = recordedAt
        self.statements = Statements(db)
    }

    /// Runs `calls` in one transaction and returns one outcome per call and the head after commit
    /// (`nil` if nothing new was written). Throws only when the transaction as a whole fails
    /// (lock not obtained, commit failed): then no call was written.
    static func run(_ calls: [[StreamAppend]], in db: Database, path: String, recordedAt: Int64) throws -> (outcomes: [Outcome], head: GlobalPosition?) {
        var transaction = SQLiteAppendTransaction(db: db, path: path, recordedAt: recordedAt)
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(calls.count)
        var wroteSomething = false
        try inTransaction(db) {
            let selectHead = try RawStatement(transaction.statements.get(.selectHead))
            defer { selectHead.reset() }
            transaction.head = try selectHead.step() ? selectHead.int64(0) ?? 0 : 0
            let startHead = transaction.head
            if calls.count == 1 {
                do {
                    outcomes.append(.success(try transaction.append(calls[0])))
                } catch {
                    outcomes.append(.failure(try transaction.domainError(error)))
                    return false
                }
            } else {
                for call in calls {
                    let headBefore = transaction.head
                    do {
                        outcomes.append(.success(try inSavepoint(db) { try transaction.append(call) }))
                    } catch {
                        transaction.head = headBefore
                        outcomes.append(.failure(try transaction.domainError(error)))
                    }
                }
            }
            wroteSomething = transaction.head > startHead
            return wroteSomething
        }
        return (outcomes, wroteSomething ? GlobalPosition(transaction.head) : nil)
    }

    /// Runs `body` in one transaction of its own: every append it makes (``appendMapped(_:)``)
    /// commits together when it returns, none when it throws. Returns `body`'s value and the head
    /// after commit (`nil` if nothing new was written).
    static func runAll<T>(
        in db: Database, path: String, recordedAt: Int64, _ body: (inout SQLiteAppendTransaction) throws -> T
    ) throws -> (value: T, head: GlobalPosition?) {
        var transaction = SQLiteAppendTransaction(db: db, path: path, recordedAt: recordedAt)
        var value: T?
        var wroteSomething = false
        try inTransaction(db) {
            let selectHead = try RawStatement(transaction.statements.get(.selectHead))
            transaction.head = try selectHead.step() ? selectHead.int64(0) ?? 0 : 0
            selectHead.reset()
            let startHead = transaction.head
            value = try body(&transaction)
            wroteSomething = transaction.head > startHead
            return wroteSomething
        }
        return (value!, wroteSomething ? GlobalPosition(transaction.head) : nil)
    }

    /// Appends one request inside ``runAll(in:path:recordedAt:_:)``, with SQLite failures mapped.
    /// Rows of a request that fails may stay in the transaction: the caller must roll back.
    mutating func appendMapped(_ request: StreamAppend) throws(EventStoreError) -> AppendResult {
        do {
            return try append(request)
        } catch {
            throw SQLiteErrorMapping.map(error, path: path, operation: "Append")
        }
    }

    /// Runs `body` in `BEGIN IMMEDIATE` … `COMMIT` (or `ROLLBACK` when it returns `false` or
    /// throws), with cached statements: GRDB's `inTransaction` parses them on every call.
    private static func inTransaction(_ db: Database, _ body: () throws -> Bool) throws {
        try db.cachedStatement(sql: SQLiteStatements.beginImmediate).execute()
        do {
            if try body() {
                try db.cachedStatement(sql: SQLiteStatements.commit).execute()
            } else {
                try db.cachedStatement(sql: SQLiteStatements.rollback).execute()
            }
        } catch {
            if db.isInsideTransaction { try? db.rollback() }
            throw error
        }
    }

    /// Runs `body` in its own savepoint, rolled back (and released) if it throws.
    private static func inSavepoint<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try db.cachedStatement(sql: SQLiteStatements.savepoint).execute()
        do {
            let result = try body()
            try db.cachedStatement(sql: SQLiteStatements.releaseSavepoint).execute()
            return result
        } catch {
            if db.isInsideTransaction {
                try db.cachedStatement(sql: SQLiteStatements.rollbackToSavepoint).execute()
                try db.cachedStatement(sql: SQLiteStatements.releaseSavepoint).execute()
            }
            throw error
        }
    }

    /// The error to report for one failed call; rethrows failures that broke the transaction.
    private func domainError(_ error: any Error) throws -> EventStoreError {
        if let error = error as? EventStoreError { return error }
        if !db.isInsideTransaction { throw error }
        return SQLiteErrorMapping.map(error, path: path, operation: "Append")
    }

    /// Appends one call (one or more streams) at the current head, planned by the core's
    /// ``AppendPlanner`` (this type supplies the reads and writes).
    private mutating func append(_ call: [StreamAppend]) throws -> [AppendResult] {
        var planner = AppendPlanner(replayCheck: .onConflict)
        let base = head
        let conditions = conditionProbe(head: base)
        for request in call {
            try append(request, planner: &planner, conditions: conditions)
        }
        return planner.results(base: base)
    }

    /// Appends `request` planned alone (``runAll(in:path:recordedAt:_:)``'s appends).
    private mutating func append(_ request: StreamAppend) throws -> AppendResult {
        var planner = AppendPlanner(replayCheck: .onConflict)
        let base = head
        try append(request, planner: &planner, conditions: conditionProbe(head: base))
        return planner.results(base: base)[0]
    }

    /// Append conditions are checked here, under the write lock and inside the transaction (so
    /// also against the calls committed before this one in the same group commit), over the
    /// events up to `head`, the head before the call.
    private func conditionProbe(head: Int64) -> AppendPlanner.ConditionProbe {
        let db = self.db
        return AppendPlanner.ConditionProbe(head: GlobalPosition(head)) { query, after in
            try SQLiteEventQuery.firstMatch(query, after: after, upTo: head, in: db)
        }
    }

    private mutating func append(_ request: StreamAppend, planner: inout AppendPlanner, conditions: AppendPlanner.ConditionProbe) throws {
        let headBefore = head
        let selectStream = try RawStatement(statements.get(.selectStream))
        defer { selectStream.reset() }
        try selectStream.bind(1, request.streamID.rawValue)
        let current: StreamVersion
        var streamKey: Int64?
        var categoryKey: Int64
        var deleted = false
        let streamExists = try selectStream.step()
        if streamExists {
            guard let key = selectStream.int64(0), let version = selectStream.int64(1), version >= 0,
                let category = selectStream.int64(2)
            else {
                throw EventStoreError(.corruptRecord, "The row of stream \(request.streamID) is damaged. Restore from a backup.", streamID: request.streamID)
            }
            streamKey = key
            categoryKey = category
            current = StreamVersion(version)
            deleted = selectStream.int64(3) == 1
            selectStream.reset()  // before this transaction writes to streams
        } else {
            categoryKey = 0
            current = .initial
        }

        let step = try planner.plan(request, current: current, deleted: deleted, storedEvents: { try storedEvents(request, storedUpTo: headBefore) }, conditions: conditions)
        guard case .write(_, let firstVersion, _) = step else { return }
        let count = Int64(request.events.count)
        let newVersion = firstVersion.value + count - 1
        let lastPosition = headBefore + count
        if streamKey == nil {
            categoryKey = try self.categoryKey(request.streamID.category)
            let insertStream = try RawStatement(statements.get(.insertStream))
            try insertStream.bind(1, request.streamID.rawValue)
            try insertStream.bind(2, categoryKey)
            try insertStream.bind(3, newVersion)
            try insertStream.bind(4, lastPosition)
            try insertStream.run()
            streamKey = db.lastInsertedRowID
        }
        let insert = try RawStatement(statements.get(.insertEvent))
        var version = firstVersion.value - 1
        var position = headBefore
        for event in request.events {
            version += 1
            position += 1
            let metadata: Data?
            do {
                metadata = try SQLiteValues.metadataBlob(event.metadata)
            } catch {
                throw EventStoreError(.invalidEvent, "The metadata of event \(event.id) does not encode. Nothing was written.", streamID: request.streamID, eventID: event.id, underlying: error)
            }
            do {
                try insert.bind(1, position)
                try insert.bind(2, streamKey!)
                try insert.bind(3, version)
                try insert.bind(4, categoryKey)
                try insert.bind(5, event.id)
                try insert.bind(6, event.type)
                try insert.bind(7, Int64(event.schemaVersion))
                try insert.bind(8, event.payload)
                try insert.bind(9, metadata)
                try insert.bind(10, recordedAt)
                if let tags = SQLiteValues.tagsText(event.tags) { try insert.bind(11, tags) } else { try insert.bindNull(11) }
                try insert.run()
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                // An id already stored: an idempotent retry, or a duplicate.
                let stored = try storedEvents(request, storedUpTo: headBefore)
                if !stored.isEmpty {
                    if position > headBefore + 1 {
                        // Cannot happen (a replay's first event is already stored), but never
                        // report a replay while rows of this request are written.
                        throw EventStoreError(.duplicateEventID, "Some events of the append to \(request.streamID) are already stored. Nothing was written.", streamID: request.streamID)
                    }
                    // (An exact replay's events are in this stream, so the stream existed: no
                    // stream row was inserted above.)
                    _ = try planner.replayLastWrite(storedEvents: stored)
                    return
                }
                throw EventStoreError(
                    .corruptRecord,
                    "Stream \(request.streamID) is at version \(current) but version \(version) is already taken. The store is damaged; restore from a backup.",
                    streamID: request.streamID, streamVersion: StreamVersion(version), underlying: error)
            }
            if !event.tags.isEmpty {
                let insertTag = try RawStatement(statements.get(.insertTag))
                for tag in event.tags {
                    try insertTag.bind(1, tag)
                    try insertTag.bind(2, position)
                    try insertTag.run()
                }
            }
        }
        if streamExists {
            let update = try RawStatement(statements.get(.updateStream))
            try update.bind(1, newVersion)
            try update.bind(2, lastPosition)
            try update.bind(3, streamKey!)
            try update.run()
        }
        head = lastPosition
    }

    /// The stored events (at or before `storedUpTo`) among `request`'s event ids.
    private func storedEvents(_ request: StreamAppend, storedUpTo: Int64) throws -> [RecordedEvent] {
        var decoder = SQLiteRecordDecoder()
        var stored: [RecordedEvent] = []
        for event in request.events {
            let select = try RawStatement(statements.get(.selectEventByID))
            defer { select.reset() }
            try select.bind(1, event.id)
            try select.bind(2, storedUpTo)
            if try select.step() {
                stored.append(try decoder.decode(select))
            }
        }
        return stored
    }

    private func categoryKey(_ name: String) throws -> Int64 {
        let select = try RawStatement(statements.get(.selectCategoryKey))
        defer { select.reset() }
        try select.bind(1, name)
        if try select.step(), let key = select.int64(0) {
            return key
        }
        let insert = try RawStatement(statements.get(.insertCategory))
        try insert.bind(1, name)
        try insert.run()
        return db.lastInsertedRowID
    }
}

/// The append path's statements, fetched from GRDB's statement cache on first use.
private final class Statements {
    enum Slot: Int, CaseIterable {
        case selectHead, selectStream, insertStream, insertEvent, updateStream, selectEventByID, selectCategoryKey, insertCategory, insertTag

        var sql: String {
            switch self {
            case .selectHead: SQLiteStatements.selectHead
            case .selectStream: SQLiteStatements.selectStreamForAppend
            case .insertStream: SQLiteStatements.insertStream
            case .insertEvent: SQLiteStatements.insertEvent
            case .updateStream: SQLiteStatements.updateStream
            case .selectEventByID: SQLiteStatements.selectEventByID
            case .selectCategoryKey: SQLiteStatements.selectCategoryKey
            case .insertCategory: SQLiteStatements.insertCategory
            case .insertTag: SQLiteStatements.insertTag
            }
        }
    }

    private let db: Database
    private var cache = [Statement?](repeating: nil, count: Slot.allCases.count)

    init(_ db: Database) { self.db = db }

    func get(_ slot: Slot) throws -> Statement {
        if let statement = cache[slot.rawValue] { return statement }
        let statement = try db.cachedStatement(sql: slot.sql)
        cache[slot.rawValue] = statement
        return statement
    }
}
