import Chronicle
import Foundation
import GRDB

/// The rows of a read-model file's dead-letter table (`chronicle_dead_letter`), where events a
/// projection gave up on are parked.
enum DeadLetterTable {
    static func park(_ db: Database, event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date) throws {
        try db.execute(
            sql: SQLiteProjectionSQL.park,
            arguments: [event.position.value, event.id.uuidString.lowercased(), event.streamID.rawValue, event.type, partition, error, attempts, date.timeIntervalSince1970]
        )
    }

    static func count(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: SQLiteProjectionSQL.countParked) ?? 0
    }

    static func list(_ db: Database, after position: GlobalPosition, limit: Int) throws -> [ParkedEvent] {
        try Row.fetchAll(
            db,
            sql: SQLiteProjectionSQL.listParked,
            arguments: [position.value, limit]
        ).map(parkedEvent)
    }

    static func find(_ db: Database, position: GlobalPosition) throws -> ParkedEvent? {
        try Row.fetchOne(db, sql: SQLiteProjectionSQL.findParked, arguments: [position.value]).map(parkedEvent)
    }

    static func remove(_ db: Database, position: GlobalPosition) throws -> Bool {
        try db.execute(sql: SQLiteProjectionSQL.removeParked, arguments: [position.value])
        return db.changesCount > 0
    }

    static func recordFailure(_ db: Database, position: GlobalPosition, error: String, at date: Date) throws {
        try db.execute(
            sql: SQLiteProjectionSQL.recordParkedFailure,
            arguments: [error, date.timeIntervalSince1970, position.value]
        )
    }

    private static func parkedEvent(_ row: Row) throws -> ParkedEvent {
        let rawID: String = row["event_id"]
        let rawStream: String = row["stream_id"]
        let position: Int64 = row["position"]
        guard let id = UUID(uuidString: rawID), position > 0 else {
            throw EventStoreError(.corruptRecord, "A dead-letter row (position \(position)) is damaged: bad event id \(rawID.debugDescription). Drop it (parked drop) or restore the read model from a backup.", position: GlobalPosition(max(0, position)))
        }
        return ParkedEvent(
            position: GlobalPosition(position), eventID: id, streamID: StreamID(unchecked: rawStream),
            eventType: row["event_type"], partition: row["partition"], error: row["error"], attempts: row["attempts"],
            parkedAt: Date(timeIntervalSince1970: row["parked_at"])
        )
    }
}
