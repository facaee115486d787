public import Chronicle
import Foundation
public import GRDB

extension SQLiteEventStore {
    /// What ``salvageEvents(path:after:pageSize:_:)`` could and could not read.
    public struct SalvageReport: Sendable, Hashable {
        /// Events read and handed to the body.
        public var eventsRead = 0
        /// The last position read (``GlobalPosition/start`` if none).
        public var lastPosition = GlobalPosition.start
        /// Ranges of positions that could not be read (damaged pages), in order. The upper bound of
        /// a range at the end of the log is the highest `last_position` the streams table records,
        /// or the last position tried when that table is unreadable too.
        public var unreadable: [ClosedRange<Int64>] = []
        /// SQLite's description of each damage met, in order.
        public var damage: [String] = []

        /// Whether every event after the starting position was read.
        public var isComplete: Bool { unreadable.isEmpty && damage.isEmpty }

        /// Creates an empty report.
        public init() {}
    }

    /// Reads every event that can still be read from a damaged store file, in position order,
    /// on a read-only connection (nothing is written, not even a rolled-back journal), skipping
    /// the position ranges whose pages are damaged.
    ///
    /// For `chronicle export` and `chronicle verify` on a store that cannot be opened (a file
    /// truncated by even one page fails the normal open with ``EventStoreError/Code/corruptRecord``).
    /// Positions are gap-free, so a range missing between two readable events is exactly what was
    /// lost; after the last readable event, the streams table's `last_position` (when readable)
    /// says how far the log went.
    ///
    /// ```swift
    /// let report = try SQLiteEventStore.salvageEvents(path: "damaged.sqlite") { event in
    ///     try output.write(event)
    /// }
    /// if !report.isComplete { print("lost positions:", report.unreadable) }
    /// ```
    ///
    /// - Throws: ``EventStoreError`` when the file cannot be opened at all (not SQLite, its first
    ///   page damaged, unreadable), or what `body` throws.
    public static func salvageEvents(
        path: String, after position: GlobalPosition = .start, pageSize: Int = 500, _ body: (RecordedEvent) throws -> Void
    ) throws -> SalvageReport {
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: salvageConfiguration)
        } catch {
            throw SQLiteErrorMapping.map(error, path: path, operation: "Salvaging events")
        }
        defer { try? queue.close() }
        var report = SalvageReport()
        report.lastPosition = position
        let limit = Int64(max(1, pageSize))
        do {
            try queue.inDatabase { db in
                var cursor = position.value
                while true {
                    do {
                        // Row by row, so the rows read before a damaged page count.
                        let statement = try RawStatement(db.cachedStatement(sql: SQLiteStatements.readAll))
                        defer { statement.reset() }
                        try statement.bind(1, cursor)
                        try statement.bind(2, limit)
                        var decoder = SQLiteRecordDecoder()
                        var rows: Int64 = 0
                        while try statement.step() {
                            let event = try decoder.decode(statement)
                            try body(event)
                            cursor = event.position.value
                            report.eventsRead += 1
                            report.lastPosition = event.position
                            rows += 1
                        }
                        if rows < limit { return }
                    } catch let error as DatabaseError where isDamage(error) {
                        report.damage.append("after position \(cursor): \(error.message ?? "SQLite error \(error.extendedResultCode.rawValue)")")
                        guard let next = try nextReadablePosition(db, after: cursor) else {
                            let recorded = (try? Int64.fetchOne(db, sql: SQLiteStatements.salvageLastRecordedPosition)) ?? nil
                            report.unreadable.append((cursor + 1)...max(cursor + 1, recorded ?? cursor + 1))
                            return
                        }
                        report.unreadable.append((cursor + 1)...(next - 1))
                        cursor = next - 1
                    }
                }
            }
        } catch let error as DatabaseError {
            throw SQLiteErrorMapping.map(error, path: path, operation: "Salvaging events")
        } catch let error as EventStoreError where error.code == .corruptRecord {
            // A row that does not decode: report it as damage at the position reached.
            report.damage.append("after position \(report.lastPosition): \(error.message)")
            report.unreadable.append((report.lastPosition.value + 1)...(report.lastPosition.value + 1))
        }
        return report
    }

    /// A read-only connection that opens a truncated file: SQLite refuses a file shorter than its
    /// header's page count (`SQLITE_CORRUPT` on the first read) unless `writable_schema` is on,
    /// and then reads the pages that are there. Read-only, so nothing can be written.
    public static var salvageConfiguration: GRDB.Configuration {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        configuration.prepareDatabase { db in try db.execute(sql: SQLiteStatements.salvageWritableSchema) }
        return configuration
    }

    private static func isDamage(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_IOERR || error.resultCode == .SQLITE_NOTADB
    }

    /// The first position after `position` that reads again past a damaged range, or nil when
    /// nothing after it can be read. Probes `position + 1, + 2, + 4…` (each probe one descent of
    /// the events b-tree), then narrows the first readable probe down by bisection.
    private static func nextReadablePosition(_ db: Database, after position: Int64) throws -> Int64? {
        /// The first position after `probe` if it reads, nil if none; throws on damage.
        func first(after probe: Int64) throws -> Int64? {
            try Int64.fetchOne(db, sql: SQLiteStatements.salvageNextReadablePosition, arguments: [probe])
        }
        var failing = position
        var step: Int64 = 1
        var found: (probe: Int64, next: Int64)?
        while step < (1 << 48) {
            let probe = position + step
            do {
                guard let next = try first(after: probe) else { return nil }
                found = (probe, next)
                break
            } catch let error as DatabaseError where isDamage(error) {
                failing = probe
                step *= 2
            }
        }
        guard var (good, next) = found else { return nil }
        // Bisect between the last failing probe and the first good one.
        var bad = failing
        while good - bad > 1 {
            let middle = bad + (good - bad) / 2
            do {
                if let value = try first(after: middle) {
                    good = middle
                    next = value
                } else {
                    bad = middle  // unreachable in a gap-free log; keep the known answer
                }
            } catch let error as DatabaseError where isDamage(error) {
                bad = middle
            }
        }
        return next
    }
}
