public import Chronicle
import Foundation
import GRDB

extension SQLiteEventStore {
    /// Reads up to `limit` events of `stream` from version `start`, in `direction`, on a reader
    /// connection (see ``EventReader/readStream(_:from:direction:limit:)``), from the stream's
    /// truncation point on; a deleted stream throws ``EventStoreError/Code/streamDeleted``.
    public func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        if limit == 0 { return [] }
        let sql = direction == .forwards ? SQLiteStatements.readStreamForwards : SQLiteStatements.readStreamBackwards
        let events = try readEvents(sql: sql, limit: limit, operation: "Reading stream \(stream)") { statement in
            try Self.bindStreamRead(statement, stream, from: start, limit: limit)
        }
        if events.isEmpty { try refuseIfDeleted(stream) }
        return events
    }

    /// Reads up to `limit` events of a stream forwards from `start` and hands each to `body`
    /// with its payload still in SQLite's row buffer (see
    /// ``Chronicle/EventReader/readStreamInPlace(_:from:limit:_:)``): no copy of the payload, no
    /// `RecordedEvent` array. The read runs on the calling thread, inside one read statement,
    /// so keep `body` to decoding and folding; what it throws is rethrown unchanged.
    public func readStreamInPlace(
        _ stream: StreamID, from start: StreamVersion, limit: Int,
        _ body: (_ event: RecordedEvent, _ payload: UnsafeRawBufferPointer) throws -> Void
    ) async throws -> Int {
        try ReadLimit.check(limit)
        if limit == 0 { return 0 }
        var bodyFailure: (any Error)?
        let count: Int
        do {
            count = try readRows(sql: SQLiteStatements.readStreamForwards, operation: "Reading stream \(stream)") { statement in
                try Self.bindStreamRead(statement, stream, from: start, limit: limit)
            } row: { decoder, statement in
                try decoder.decode(statement, inPlace: body, bodyFailure: &bodyFailure)
            }
        } catch {
            throw bodyFailure ?? error
        }
        if count == 0 { try refuseIfDeleted(stream) }
        return count
    }

    /// Binds a stream read (``SQLiteStatements/readStreamForwards`` or `…Backwards`).
    private static func bindStreamRead(_ statement: RawStatement, _ stream: StreamID, from start: StreamVersion, limit: Int) throws {
        try statement.bind(1, stream.rawValue)
        try statement.bind(2, start.value)
        try statement.bind(3, Int64(limit))
    }

    /// A deleted stream reads as no events from its truncation point: a read that found none
    /// calls this to say why.
    private func refuseIfDeleted(_ stream: StreamID) throws {
        let deleted = try read(operation: "Reading stream \(stream)") { db in
            try Int64.fetchOne(db.cachedStatement(sql: SQLiteStatements.streamIsDeleted), arguments: [stream.rawValue]) == 1
        }
        if deleted { throw StreamMaintenanceRules.deleted(stream) }
    }

    /// Reads up to `limit` events of the global log after `position`, in position order.
    public func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        if limit == 0 { return [] }
        return try readEvents(sql: SQLiteStatements.readAll, limit: limit, operation: "Reading the log") { statement in
            try statement.bind(1, position.value)
            try statement.bind(2, Int64(limit))
        }
    }

    /// Reads up to `limit` events of the streams in `category` after `position`, in position
    /// order, through the `(category, position)` index.
    public func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        if limit == 0 { return [] }
        return try readEvents(sql: SQLiteStatements.readCategory, limit: limit, operation: "Reading category \(category)") { statement in
            try statement.bind(1, category)
            try statement.bind(2, position.value)
            try statement.bind(3, Int64(limit))
        }
    }

    /// The stream's current version; ``StreamVersion/initial`` if it has no events.
    public func streamVersion(of stream: StreamID) async throws -> StreamVersion {
        try read(operation: "Reading the version of \(stream)") { db in
            let statement = try RawStatement(db.cachedStatement(sql: SQLiteStatements.streamVersion))
            defer { statement.reset() }
            try statement.bind(1, stream.rawValue)
            guard try statement.step() else { return .initial }
            guard let version = statement.int64(0), version >= 0 else {
                throw EventStoreError(.corruptRecord, "The row of stream \(stream) has no valid version. Restore from a backup.", streamID: stream)
            }
            return StreamVersion(version)
        }
    }

    /// Lists streams ordered by id, optionally of one category, after `after` (exclusive).
    public func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo] {
        try ReadLimit.check(limit)
        if limit == 0 { return [] }
        let after = after?.rawValue ?? ""
        return try read(operation: "Listing streams") { db in
            let rows: RowCursor
            if let category {
                rows = try Row.fetchCursor(db.cachedStatement(sql: SQLiteStatements.listStreamsInCategory), arguments: [category, after, Int64(limit)])
            } else {
                rows = try Row.fetchCursor(db.cachedStatement(sql: SQLiteStatements.listStreams), arguments: [after, Int64(limit)])
            }
            var result: [StreamInfo] = []
            while let row = try rows.next() {
                guard let raw = SQLiteValues.string(row[0]), let id = SQLiteValues.streamID(raw) else {
                    throw EventStoreError(.corruptRecord, "A row of the streams table has an invalid stream id. Restore from a backup.")
                }
                guard let version = SQLiteValues.int64(row[1]), version >= 0, let last = SQLiteValues.int64(row[2]), last >= 0 else {
                    throw EventStoreError(.corruptRecord, "The row of stream \(id) is damaged. Restore from a backup.", streamID: id)
                }
                result.append(StreamInfo(id: id, version: StreamVersion(version), lastPosition: GlobalPosition(last)))
            }
            return result
        }
    }

    /// The position of the last committed event; ``GlobalPosition/start`` if there is none.
    public func headPosition() async throws -> GlobalPosition {
        try read(operation: "Reading the head position") { db in
            GlobalPosition(try Int64.fetchOne(db.cachedStatement(sql: SQLiteStatements.headPosition)) ?? 0)
        }
    }

    func readEvents(sql: String, limit: Int, operation: @autoclosure () -> String, bind: (RawStatement) throws -> Void) throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        // Most reads are short (a stream, a page): one allocation up front instead of
        // doubling through 1, 2, 4… (each growth copies every event so far).
        events.reserveCapacity(Swift.min(limit, 1024))
        _ = try readRows(sql: sql, operation: operation(), bind: bind) { decoder, statement in events.append(try decoder.decode(statement)) }
        return events
    }

    /// Runs an event-selecting statement on a reader connection and calls `row` for each row.
    /// Returns the number of rows.
    func readRows(
        sql: String, operation: @autoclosure () -> String, bind: (RawStatement) throws -> Void,
        row: (inout SQLiteRecordDecoder, RawStatement) throws -> Void
    ) throws -> Int {
        try read(operation: operation()) { db in
            let statement = try RawStatement(db.cachedStatement(sql: sql))
            defer { statement.reset() }
            try bind(statement)
            var decoder = SQLiteRecordDecoder()
            var count = 0
            while try statement.step() {
                try row(&decoder, statement)
                count += 1
            }
            return count
        }
    }

    /// Runs `body` on a reader connection, on the calling thread, mapping failures to
    /// ``EventStoreError``.
    ///
    /// Synchronous on purpose: every read here is one statement on a WAL reader, which never waits
    /// for a writer, so it occupies the calling thread only for its own work. GRDB's async `read`
    /// would hop to the reader's queue and back (two thread switches per call, as costly as a
    /// short read itself). One statement is its own consistent snapshot, so no `BEGIN` is needed.
    func read<T>(operation: @autoclosure () -> String, _ body: (Database) throws -> T) throws -> T {
        try checkOpen()
        try Task.checkCancellation()
        do {
            return try pool.unsafeRead(body)
        } catch {
            if !isOpen { throw Self.closedError(path) }
            throw SQLiteErrorMapping.map(error, path: path, operation: operation())
        }
    }
}
