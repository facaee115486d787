import Chronicle
import Foundation
import GRDB

/// A process manager: a projector whose effect is new events (the outcome of the commands it
/// issues), appended to the store. The user extension point; ``SQLiteProcessManagerRunner`` runs it.
///
/// `react(to:in:)` runs inside the page transaction of the manager's own SQLite file, like a
/// ``SQLiteProjector``'s `apply`: it may read and write the manager's state tables, and returns the
/// appends to make. They are stored in an outbox **in the same transaction** (so a crash never
/// loses or duplicates a reaction), then appended to the store by the runner, at least once.
/// Their event ids are replaced by ids derived from the triggering event, the manager's name and
/// the event's place in the reaction, so appending a reaction again (after a crash, a redelivery
/// or a rebuild) is an idempotent no-op. Their metadata gets the triggering event as causation
/// (and its correlation id) when it has none.
///
/// ```swift
/// struct ShipPaidOrders: SQLiteProcessManager {
///     let name = "ship-paid-orders"
///     func react(to event: RecordedEvent, in db: Database) throws -> [StreamAppend] {
///         guard event.type == "OrderPaid", let order = event.streamID.idWithinCategory else { return [] }
///         let requested = EventData(type: "ShipmentRequested", payload: event.payload)
///         return [StreamAppend([requested], to: StreamID(category: "shipment", id: order), expectedVersion: .noStream)]
///     }
/// }
/// ```
///
/// Keep `react` deterministic: the same event and state must give the same appends.
public protocol SQLiteProcessManager: Sendable {
    /// The manager's unique name (it names its files, like a projection's).
    var name: String { get }

    /// Registers migrations for the manager's own state tables (none by default).
    func registerMigrations(in migrator: inout DatabaseMigrator)

    /// Decides what to append in reaction to `event`. Throw if it cannot decide (the projection
    /// failure policy applies: retries, then park or stop).
    func react(to event: RecordedEvent, in db: Database) throws -> [StreamAppend]
}

extension SQLiteProcessManager {
    /// No state tables.
    public func registerMigrations(in migrator: inout DatabaseMigrator) {}
}

/// Runs a process manager as a projector whose writes are its state and its outbox.
struct ProcessManagerProjector: SQLiteProjector {
    let manager: any SQLiteProcessManager
    var name: String { manager.name }

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("chronicle-outbox-1") { db in
            try db.execute(sql: ProcessManagerOutbox.createTable)
        }
        manager.registerMigrations(in: &migrator)
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        let appends = try manager.react(to: event, in: db)
        for (appendIndex, request) in appends.enumerated() {
            var events = request.events
            for eventIndex in events.indices {
                events[eventIndex].id = ProcessManagerOutbox.derivedID(manager: manager.name, trigger: event.id, append: appendIndex, event: eventIndex)
                if events[eventIndex].metadata.correlationID == nil && events[eventIndex].metadata.causationID == nil {
                    var metadata = EventMetadata.causedBy(event)
                    metadata.custom = events[eventIndex].metadata.custom
                    events[eventIndex].metadata = metadata
                }
            }
            try ProcessManagerOutbox.insert(db, StreamAppend(events, to: request.streamID, expectedVersion: request.expectedVersion), trigger: event.position)
        }
    }
}

/// The outbox table of a process manager's file, and its SQL.
enum ProcessManagerOutbox {
    static let createTable = """
        CREATE TABLE chronicle_outbox (
            id INTEGER NOT NULL CONSTRAINT chronicle_outbox_pk PRIMARY KEY AUTOINCREMENT,
            trigger_position INTEGER NOT NULL,
            stream_id TEXT NOT NULL,
            expected_version TEXT NOT NULL,
            events BLOB NOT NULL
        )
        """

    struct StoredEvent: Codable {
        var id: UUID
        var type: String
        var schemaVersion: Int
        var payload: Data
        var metadata: EventMetadata
    }

    struct Row: Sendable {
        let id: Int64
        let trigger: GlobalPosition
        let append: StreamAppend
    }

    static func insert(_ db: Database, _ append: StreamAppend, trigger: GlobalPosition) throws {
        let stored = append.events.map { StoredEvent(id: $0.id, type: $0.type, schemaVersion: $0.schemaVersion, payload: $0.payload, metadata: $0.metadata) }
        try db.execute(
            sql: "INSERT INTO chronicle_outbox (trigger_position, stream_id, expected_version, events) VALUES (?, ?, ?, ?)",
            arguments: [trigger.value, append.streamID.rawValue, encode(append.expectedVersion), try JSONEncoder().encode(stored)]
        )
    }

    static func pending(_ db: Database, limit: Int) throws -> [Row] {
        try GRDB.Row.fetchAll(db, sql: "SELECT * FROM chronicle_outbox ORDER BY id LIMIT ?", arguments: [limit]).map { row in
            let stored = try JSONDecoder().decode([StoredEvent].self, from: row["events"] as Data)
            let rawStream: String = row["stream_id"]
            let rawExpected: String = row["expected_version"]
            guard let expected = decode(rawExpected) else {
                throw ProjectionError(.storageFailure, "An outbox row has an unreadable expected version \(rawExpected.debugDescription).")
            }
            let events = stored.map { EventData(id: $0.id, type: $0.type, schemaVersion: $0.schemaVersion, payload: $0.payload, metadata: $0.metadata) }
            let trigger: Int64 = row["trigger_position"]
            return Row(id: row["id"], trigger: GlobalPosition(max(0, trigger)), append: StreamAppend(events, to: StreamID(unchecked: rawStream), expectedVersion: expected))
        }
    }

    static func count(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM chronicle_outbox") ?? 0
    }

    static func remove(_ db: Database, id: Int64) throws {
        try db.execute(sql: "DELETE FROM chronicle_outbox WHERE id = ?", arguments: [id])
    }

    static func encode(_ expected: ExpectedVersion) -> String {
        switch expected {
        case .any: "any"
        case .noStream: "noStream"
        case .streamExists: "streamExists"
        case .exactly(let version): "exactly:\(version.value)"
        }
    }

    static func decode(_ raw: String) -> ExpectedVersion? {
        switch raw {
        case "any": return .any
        case "noStream": return .noStream
        case "streamExists": return .streamExists
        default:
            guard raw.hasPrefix("exactly:"), let value = Int64(raw.dropFirst("exactly:".count)), value >= 0 else { return nil }
            return .exactly(StreamVersion(value))
        }
    }

    /// A UUID (version 8, RFC 9562) derived from the manager, the triggering event and the place
    /// of the event in the reaction: the same inputs always give the same id.
    static func derivedID(manager: String, trigger: UUID, append: Int, event: Int) -> UUID {
        var bytes: [UInt8] = Array(manager.utf8)
        bytes.append(0)
        withUnsafeBytes(of: trigger.uuid) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: append).bigEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: event).bigEndian) { bytes.append(contentsOf: $0) }
        func fnv1a(_ seed: UInt64) -> UInt64 {
            var hash = seed
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
            return hash
        }
        var high = fnv1a(0xcbf2_9ce4_8422_2325).bigEndian
        var low = fnv1a(0x84222325_cbf29ce4 ^ 0x9e37_79b9_7f4a_7c15).bigEndian
        var raw = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: &high) { raw.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: &low) { raw.replaceSubrange(8..<16, with: $0) }
        raw[6] = (raw[6] & 0x0f) | 0x80  // version 8
        raw[8] = (raw[8] & 0x3f) | 0x80  // RFC 9562 variant
        return UUID(uuid: (raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7], raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]))
    }
}
