import Chronicle
import Foundation
import GRDB
import Tracing
import Logging

/// What one step of a runner did.
enum ProjectionStepOutcome: Sendable {
    /// No event after the checkpoint (which is given).
    case caughtUp(GlobalPosition)
    /// A page (or part of one, up to a failing event) was committed.
    case progressed
    /// A rebuild swapped another generation in; step again on the current one.
    case generationReplaced
}

/// Wraps an error thrown by the projector, with the index of the event in the batch.
struct ProjectorFailure: Error {
    let index: Int
    let error: any Error
}

extension SQLiteReadModel {
    /// Reads the page after `partition`'s checkpoint in `generation`, applies the partition's
    /// events and stores the new checkpoint in one transaction. When an event throws, the events
    /// before it are committed, and the event is retried, parked or stops the projection per
    /// the failure policy.
    /// One page, in a `chronicle.projection.page` span (projection, partition, positions, event count).
    nonisolated func step(_ generation: ReadModelGeneration, partition: Int) async throws -> ProjectionStepOutcome {
        let tracer = options.tracer ?? InstrumentationSystem.tracer
        return try await tracer.withSpan("chronicle.projection.page", ofKind: .consumer) { span in
            span.attributes["chronicle.projection"] = name
            span.attributes["chronicle.partition"] = partition
            span.attributes["chronicle.after"] = Int(generation.position(of: partition).value)
            let outcome = try await stepUntraced(generation, partition: partition, span: span)
            span.attributes["chronicle.outcome"] = "\(outcome)"
            return outcome
        }
    }

    private nonisolated func stepUntraced(_ generation: ReadModelGeneration, partition: Int, span: any Span) async throws -> ProjectionStepOutcome {
        let from = generation.position(of: partition)
        let page = try await source.reader.readAll(after: from, limit: options.pageSize)
        guard let last = page.last else {
            head.advance(to: from)
            return .caughtUp(from)
        }
        head.advance(to: last.position)
        let partitioning = options.partitioning
        let events = partitioning.count == 1 ? page : page.filter { partitioning.partition(of: $0.streamID) == partition }
        span.attributes["chronicle.event_count"] = events.count
        span.attributes["chronicle.position"] = Int(last.position.value)
        let projector = self.projector
        do {
            do {
                try await generation.pool.write { db in
                    try generation.ensureCurrent()
                    try Self.apply(events, projector, db)
                    try SQLiteReadModelSchema.saveCheckpoint(db, partition: partition, from: from, to: last.position)
                }
                generation.setPosition(last.position, of: partition)
                publish(generation)
            } catch let failure as ProjectorFailure {
                let failed = events[failure.index]
                let before = Array(events[..<failure.index])
                let checkpoint = GlobalPosition(failed.position.value - 1)
                try await generation.pool.write { db in
                    try generation.ensureCurrent()
                    try Self.apply(before, projector, db)
                    try SQLiteReadModelSchema.saveCheckpoint(db, partition: partition, from: from, to: checkpoint)
                }
                generation.setPosition(checkpoint, of: partition)
                publish(generation)
                try await retryOrPark(failed, firstError: failure.error, generation: generation, partition: partition)
            }
        } catch is RetiredGeneration {
            return .generationReplaced
        } catch let stale as StaleCheckpoint {
            logger.warning("The checkpoint moved under this runner (another runner on the same files?); continuing from it", metadata: ["stored": "\(stale.stored)"])
            generation.setPosition(stale.stored, of: partition)
            publish(generation)
            return .progressed
        }
        return .progressed
    }

    static func apply(_ events: [RecordedEvent], _ projector: any SQLiteProjector, _ db: Database) throws {
        for (index, event) in events.enumerated() {
            do {
                try projector.apply(event, in: db)
            } catch {
                throw ProjectorFailure(index: index, error: error)
            }
        }
    }

    /// Retries `event` alone with backoff; then parks it (and moves on) or throws
    /// ``ProjectionError/Code/failed``, per the policy.
    nonisolated func retryOrPark(_ event: RecordedEvent, firstError: any Error, generation: ReadModelGeneration, partition: Int) async throws {
        let policy = options.failurePolicy
        let projector = self.projector
        let before = GlobalPosition(event.position.value - 1)
        var attempts = 1
        var lastError = firstError
        let eventMetadata: Logger.Metadata = [
            "position": "\(event.position)", "eventID": "\(event.id)", "eventType": "\(event.type)", "stream": "\(event.streamID)",
        ]
        logger.warning("Applying an event failed", metadata: eventMetadata.merging(["error": "\(firstError)"]) { $1 })
        await recordError("Event at position \(event.position) (\(event.type)) failed: \(firstError)")
        while attempts < policy.maxAttempts {
            try await options.sleep(policy.delay(afterAttempt: attempts))
            attempts += 1
            do {
                try await generation.pool.write { db in
                    try generation.ensureCurrent()
                    try Self.apply([event], projector, db)
                    try SQLiteReadModelSchema.saveCheckpoint(db, partition: partition, from: before, to: event.position)
                }
                generation.setPosition(event.position, of: partition)
                publish(generation)
                logger.info("Event applied on retry", metadata: eventMetadata.merging(["attempts": "\(attempts)"]) { $1 })
                return
            } catch let failure as ProjectorFailure {
                lastError = failure.error
            }
        }
        let description = "\(lastError)"
        switch policy.whenExhausted {
        case .park:
            let now = options.now()
            let attemptCount = attempts
            let parkedCount = try await generation.pool.write { db in
                try generation.ensureCurrent()
                try DeadLetterTable.park(db, event: event, partition: partition, error: description, attempts: attemptCount, at: now)
                try SQLiteReadModelSchema.saveCheckpoint(db, partition: partition, from: before, to: event.position)
                return try DeadLetterTable.count(db)
            }
            generation.setPosition(event.position, of: partition)
            generation.setParkedCount(parkedCount)
            publish(generation)
            logger.error("Event parked after \(attempts) attempts", metadata: eventMetadata.merging(["error": "\(description)"]) { $1 })
            await recordError("Event at position \(event.position) (\(event.type)) parked after \(attempts) attempts: \(description)")
        case .stop:
            throw ProjectionError(
                .failed,
                "Projection \(name) stopped: applying event \(event.id) (\(event.type), \(event.streamID)) at position \(event.position) failed \(attempts) time(s): \(description)",
                projection: name, position: event.position, underlying: lastError
            )
        }
    }
}
