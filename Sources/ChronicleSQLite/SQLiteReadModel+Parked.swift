import Chronicle
import Foundation
import GRDB

extension SQLiteReadModel {
    /// Lists parked events in position order, `limit` at a time after `position`.
    public nonisolated func parkedEvents(after position: GlobalPosition = .start, limit: Int = 100) async throws -> [ParkedEvent] {
        guard limit >= 0 else {
            throw ProjectionError(.invalidConfiguration, "A limit of \(limit) is negative.", projection: name)
        }
        return try await storage.withCurrent { generation in
            try await generation.pool.read { db in try DeadLetterTable.list(db, after: position, limit: limit) }
        }
    }

    /// Applies the parked event at `position` again (after a fix); on success it is removed from
    /// the dead-letter table. Its effect commits with its removal, in one transaction.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound``, or
    ///   ``ProjectionError/Code/applyFailed`` when it fails again (it stays parked, attempts + 1).
    public func retryParked(at position: GlobalPosition) async throws {
        let projector = self.projector
        let now = options.now()
        try await storage.withCurrent { generation in
            guard let parked = try await generation.pool.read({ db in try DeadLetterTable.find(db, position: position) }) else {
                throw ProjectionError(.parkedEventNotFound, "Projection \(name) has no parked event at position \(position).", projection: name, position: position)
            }
            let events = try await source.reader.readAll(after: GlobalPosition(max(0, position.value - 1)), limit: 1)
            guard let event = events.first, event.position == position, event.id == parked.eventID else {
                throw ProjectionError(.parkedEventNotFound, "The event parked at position \(position) is no longer in the store; drop it.", projection: name, position: position)
            }
            do {
                let remaining = try await generation.pool.write { db in
                    try generation.ensureCurrent()
                    try Self.apply([event], projector, db)
                    _ = try DeadLetterTable.remove(db, position: position)
                    return try DeadLetterTable.count(db)
                }
                generation.setParkedCount(remaining)
                logger.info("Parked event applied on retry", metadata: ["position": "\(position)"])
            } catch let failure as ProjectorFailure {
                let text = "\(failure.error)"
                try await generation.pool.write { db in
                    try DeadLetterTable.recordFailure(db, position: position, error: text, at: now)
                }
                throw ProjectionError(.applyFailed, "Parked event at position \(position) failed again: \(text)", projection: name, position: position, underlying: failure.error)
            } catch is RetiredGeneration {
                throw ProjectionError(.parkedEventNotFound, "A rebuild replaced the read model meanwhile; list the parked events again.", projection: name, position: position)
            }
        }
    }

    /// Retries every parked event in position order. Returns the positions still parked.
    @discardableResult
    public func retryAllParked() async throws -> [GlobalPosition] {
        var stillParked: [GlobalPosition] = []
        var after = GlobalPosition.start
        while true {
            let batch = try await parkedEvents(after: after, limit: 100)
            guard let last = batch.last else { return stillParked }
            for parked in batch {
                do {
                    try await retryParked(at: parked.position)
                } catch let error as ProjectionError where error.code == .applyFailed {
                    stillParked.append(parked.position)
                }
            }
            after = last.position
        }
    }

    /// Removes the parked event at `position` for good (its effect is never applied).
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/parkedEventNotFound``.
    public func dropParked(at position: GlobalPosition) async throws {
        try await storage.withCurrent { generation in
            let remaining: Int? = try await generation.pool.write { db in
                guard try DeadLetterTable.remove(db, position: position) else { return nil }
                return try DeadLetterTable.count(db)
            }
            guard let remaining else {
                throw ProjectionError(.parkedEventNotFound, "Projection \(name) has no parked event at position \(position).", projection: name, position: position)
            }
            generation.setParkedCount(remaining)
            logger.info("Parked event dropped", metadata: ["position": "\(position)"])
        }
    }
}
