import Chronicle
import Foundation
import GRDB

/// A ``ProjectionStorage`` whose checkpoints and parked events live in the bookkeeping tables of
/// one SQLite file (``SQLiteProjectionSchema``, ``DeadLetterTable``): read-model generations and
/// process managers. The operations that do not apply events are written once, here.
protocol SQLiteBookkeeping: ProjectionStorage {
    /// The file holding the bookkeeping tables.
    var bookkeeping: any DatabaseWriter { get }
    /// Throws when this file may no longer be written by the engine (a retired or frozen
    /// generation); called first inside every write transaction that moves a checkpoint.
    func ensureWritable() throws
}

extension SQLiteBookkeeping {
    func checkpoints(partitions: Int) async throws -> [GlobalPosition]? {
        try await bookkeeping.read { db in try SQLiteProjectionSchema.storedCheckpoints(db, partitions: partitions) }
    }

    func initialize(partitions: Int, at position: GlobalPosition) async throws {
        try await bookkeeping.write { db in try SQLiteProjectionSchema.initialize(db, partitions: partitions, at: position) }
    }

    func startPosition() async throws -> GlobalPosition {
        try await bookkeeping.read { db in try SQLiteProjectionSchema.startPosition(db) }
    }

    func park(_ event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date, from: GlobalPosition) async throws -> Int {
        try await bookkeeping.write { db in
            try self.ensureWritable()
            try DeadLetterTable.park(db, event: event, partition: partition, error: error, attempts: attempts, at: date)
            try SQLiteProjectionSchema.saveCheckpoint(db, partition: partition, from: from, to: event.position)
            return try DeadLetterTable.count(db)
        }
    }

    func parkedCount() async throws -> Int {
        try await bookkeeping.read { db in try DeadLetterTable.count(db) }
    }

    func parkedEvents(after position: GlobalPosition, limit: Int) async throws -> [ParkedEvent] {
        try await bookkeeping.read { db in try DeadLetterTable.list(db, after: position, limit: limit) }
    }

    func parkedEvent(at position: GlobalPosition) async throws -> ParkedEvent? {
        try await bookkeeping.read { db in try DeadLetterTable.find(db, position: position) }
    }

    func recordParkedFailure(at position: GlobalPosition, error: String, at date: Date) async throws {
        try await bookkeeping.write { db in try DeadLetterTable.recordFailure(db, position: position, error: error, at: date) }
    }

    func dropParked(at position: GlobalPosition) async throws -> Int? {
        try await bookkeeping.write { db in
            guard try DeadLetterTable.remove(db, position: position) else { return nil }
            return try DeadLetterTable.count(db)
        }
    }
}
