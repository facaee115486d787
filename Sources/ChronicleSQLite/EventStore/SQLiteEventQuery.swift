public import Chronicle
import Foundation
import GRDB

/// The SQL of an ``EventQuery``: the positions of matching events in `(after, upTo]`, in
/// position order, at most `limit`, through the tag index (see ``SQLiteSchema``, version 2).
///
/// Each item becomes one `SELECT` with its own `ORDER BY position LIMIT`: an item with tags
/// walks the `event_tags` key range of its first tag from `after` and probes the item's other
/// tags (and types, on `events` by position) by key; an item with types only walks `events` by
/// position. Items are combined with `UNION` (which also removes an event matching two items).
/// Query shapes are few (the counts of items, tags and types), so statements are cached by text.
struct SQLiteEventQuery {
    /// One bound value, in the order of the text's `?`.
    enum Value {
        case text(String)
        case after, upTo, limit
    }

    /// The text selecting one column, `position`.
    let positionsSQL: String
    /// The values to bind, in order.
    let values: [Value]

    /// Builds the SQL of `query`, which must be valid and not ``EventQuery/all``.
    init(_ query: EventQuery) {
        precondition(!query.matchesEverything && !query.items.isEmpty, "SQLiteEventQuery of an empty query")
        var values: [Value] = []
        var selects: [String] = []
        for item in query.items {
            var sql: String
            let types = item.types.map { _ in "?" }.joined(separator: ", ")
            if let first = item.tags.first {
                sql = "SELECT t0.position AS position FROM event_tags t0"
                for (index, tag) in item.tags.enumerated().dropFirst() {
                    sql += " CROSS JOIN event_tags t\(index) ON t\(index).tag = ? AND t\(index).position = t0.position"
                    values.append(.text(tag))
                }
                if !item.types.isEmpty {
                    sql += " CROSS JOIN events e ON e.position = t0.position AND e.type IN (\(types))"
                    values += item.types.map(Value.text)
                }
                sql += " WHERE t0.tag = ? AND t0.position > ? AND t0.position <= ? ORDER BY t0.position LIMIT ?"
                values += [.text(first), .after, .upTo, .limit]
            } else {
                sql = "SELECT position FROM events WHERE type IN (\(types)) AND position > ? AND position <= ? ORDER BY position LIMIT ?"
                values += item.types.map(Value.text) + [.after, .upTo, .limit]
            }
            selects.append(sql)
        }
        if selects.count == 1 {
            positionsSQL = selects[0]
        } else {
            positionsSQL = selects.map { "SELECT position FROM (\($0))" }.joined(separator: " UNION ") + " ORDER BY position LIMIT ?"
            values.append(.limit)
        }
        self.values = values
    }

    /// The events at the matching positions.
    var eventsSQL: String {
        """
        SELECT \(SQLiteStatements.eventColumns) FROM events e CROSS JOIN streams s ON s.stream_key = e.stream_key
        WHERE e.position IN (\(positionsSQL)) ORDER BY e.position
        """
    }

    /// Binds the values to `statement`, prepared from ``positionsSQL`` or ``eventsSQL``.
    func bind(_ statement: RawStatement, after: GlobalPosition, upTo: Int64, limit: Int) throws {
        for (index, value) in values.enumerated() {
            let parameter = Int32(index + 1)
            switch value {
            case .text(let text): try statement.bind(parameter, text)
            case .after: try statement.bind(parameter, after.value)
            case .upTo: try statement.bind(parameter, upTo)
            case .limit: try statement.bind(parameter, Int64(limit))
            }
        }
    }

    /// The first position matching `query` in `(after, upTo]` on `db` (the writer's connection
    /// inside its transaction, for append conditions).
    static func firstMatch(_ query: EventQuery, after: GlobalPosition, upTo: Int64, in db: Database) throws -> GlobalPosition? {
        if query.matchesEverything { return after.value < upTo ? after.next : nil }
        let built = SQLiteEventQuery(query)
        let statement = try RawStatement(db.cachedStatement(sql: built.positionsSQL))
        defer { statement.reset() }
        try built.bind(statement, after: after, upTo: upTo, limit: 1)
        guard try statement.step(), let position = statement.int64(0) else { return nil }
        return GlobalPosition(position)
    }
}

extension SQLiteEventStore {
    /// Reads up to `limit` events matching `query` after `position`, in position order, through
    /// the tag index (see ``Chronicle/EventReader/readEvents(matching:after:limit:)``).
    public func readEvents(matching query: EventQuery, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try query.validate()
        if query.matchesEverything { return try await readAll(after: position, limit: limit) }
        try ReadLimit.check(limit)
        if limit == 0 { return [] }
        let built = SQLiteEventQuery(query)
        return try readEvents(sql: built.eventsSQL, limit: limit, operation: "Reading events matching \(query)") { statement in
            try built.bind(statement, after: position, upTo: .max, limit: limit)
        }
    }
}

extension SQLiteEventStore {
    /// SQLite's plan for ``readEvents(matching:after:limit:)`` of `query` (`EXPLAIN QUERY PLAN`),
    /// one step per element, such as `SEARCH t0 USING PRIMARY KEY (tag=? AND position>? AND position<?)`:
    /// to check that a query searches the tag index rather than scanning the log.
    ///
    /// - Throws: ``EventStoreError/Code/invalidQuery`` for a malformed query; storage failures.
    public func queryPlan(for query: EventQuery) throws -> [String] {
        try query.validate()
        let sql = query.matchesEverything ? SQLiteStatements.readAll : SQLiteEventQuery(query).eventsSQL
        return try read(operation: "Explaining the query \(query)") { db in
            let statement = try db.makeStatement(sql: "EXPLAIN QUERY PLAN " + sql)
            let raw = RawStatement(statement)
            defer { raw.reset() }
            if query.matchesEverything {
                try raw.bind(1, Int64(0))
                try raw.bind(2, Int64(1000))
            } else {
                try SQLiteEventQuery(query).bind(raw, after: .start, upTo: .max, limit: 1000)
            }
            var steps: [String] = []
            while try raw.step() {
                steps.append(raw.string(3) ?? "")
            }
            return steps
        }
    }
}
