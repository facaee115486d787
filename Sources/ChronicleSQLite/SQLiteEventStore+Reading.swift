import Chronicle
import Foundation
import GRDB

extension SQLiteEventStore {
    /// Reads up to `limit` events of `stream` from version `start`, in `direction`, on a reader
    /// connection (see ``EventReader/readStream(_:from:direction:limit:)``).
    public func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        if limit == 0 { return [] }
        let sql = direction == .forwards ? SQLiteStatements.readStreamForwards : SQLiteStatements.readStreamBackwards
        return try await readEvents(sql: sql, arguments: [stream.rawValue, start.value, Int64(limit)], operation: "Reading stream \(stream)")
    }

    /// Reads up to `limit` events of the global log after `position`, in position order.
    public func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        if limit == 0 { return [] }
        return try await readEvents(sql: SQLiteStatements.readAll, arguments: [position.value, Int64(limit)], operation: "Reading the log")
    }

    /// Reads up to `limit` events of the streams in `category` after `position`, in position
    /// order, through the `(category, position)` index.
    public func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try ReadLimit.check(limit)
        if limit == 0 { return [] }
        return try await readEvents(sql: SQLiteStatements.readCategory, arguments: [category, position.value, Int64(limit)], operation: "Reading category \(category)")
    }

    /// The stream's current version; ``StreamVersion/initial`` if it has no events.
    public func streamVersion(of stream: StreamID) async throws -> StreamVersion {
        try await read(operation: "Reading the version of \(stream)") { db in
            guard let value = try DatabaseValue.fetchOne(db.cachedStatement(sql: SQLiteStatements.streamVersion), arguments: [stream.rawValue]) else {
                return .initial
            }
            guard let version = SQLiteValues.int64(value), version >= 0 else {
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
        return try await read(operation: "Listing streams") { db in
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
        try await read(operation: "Reading the head position") { db in
            GlobalPosition(try Int64.fetchOne(db.cachedStatement(sql: SQLiteStatements.headPosition)) ?? 0)
        }
    }

    private func readEvents(sql: String, arguments: StatementArguments, operation: String) async throws -> [RecordedEvent] {
        try await read(operation: operation) { db in
            let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
            let decoder = SQLiteRecordDecoder()
            var events: [RecordedEvent] = []
            while let row = try rows.next() {
                events.append(try decoder.decode(row))
            }
            return events
        }
    }

    /// Runs `body` on a reader connection, mapping failures to ``EventStoreError``.
    func read<T: Sendable>(operation: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try checkOpen()
        do {
            return try await pool.read(body)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if !isOpen { throw Self.closedError(path) }
            throw SQLiteErrorMapping.map(error, path: path, operation: operation)
        }
    }
}
