import Chronicle
import Foundation
import GRDB

extension SQLiteReadModel {
    /// Rebuilds the read model from position 0 into a fresh file while the current one keeps
    /// serving queries (and, if running, keeps following the log), then swaps the new one in
    /// atomically once it has caught up. Readers see the old complete model or the new complete
    /// one, never a half-built one. Progress shows in ``ProjectionStatus/rebuild``.
    ///
    /// Returns when the new model serves queries. If the rebuild fails (an event fails under
    /// ``FailurePolicy/Exhausted/stop``, storage fails, the task is cancelled) the new file is
    /// deleted and the current model stays as it was.
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/rebuildInProgress`` if one already runs.
    @discardableResult
    public func rebuild() async throws -> RebuildProgress {
        guard !isRebuilding else {
            throw ProjectionError(.rebuildInProgress, "Projection \(name) is already rebuilding.", projection: name)
        }
        isRebuilding = true
        defer { isRebuilding = false }
        if let position = try? await source.reader.headPosition() { head.advance(to: position) }
        let startedAt = options.now()
        let clockStart = ContinuousClock.now
        let generation = try storage.makeGeneration()
        rebuildProgress = RebuildProgress(eventsDone: 0, eventsTotal: head.value.value, eventsPerSecond: 0, startedAt: startedAt)
        logger.info("Rebuild started", metadata: ["generation": "\(generation.number)", "head": "\(head.value)"])
        do {
            try await build(generation, clockStart: clockStart)
        } catch {
            storage.discard(generation)
            lastError = "Rebuild failed: \(error)"
            logger.error("Rebuild failed; the current read model stays", metadata: ["error": "\(error)"])
            throw error
        }
        updateRebuildProgress(done: generation.minimumPosition, clockStart: clockStart)
        rebuildProgress?.finishedAt = options.now()
        publish(generation)
        logger.info("Rebuild swapped in", metadata: ["generation": "\(generation.number)", "position": "\(generation.minimumPosition)"])
        if failure != nil { resume() }
        return rebuildProgress!
    }

    private nonisolated func build(_ generation: ReadModelGeneration, clockStart: ContinuousClock.Instant) async throws {
        while true {
            var progressed = true
            while progressed {
                progressed = false
                for partition in 0..<options.partitioning.count {
                    try Task.checkCancellation()
                    switch try await step(generation, partition: partition) {
                    case .progressed: progressed = true
                    case .caughtUp: break
                    case .generationReplaced:
                        throw ProjectionError(.storageFailure, "The rebuild's generation was replaced while building.", projection: name)
                    }
                }
                await updateRebuildProgress(done: generation.minimumPosition, clockStart: clockStart)
            }
            // Caught up with the head as read: swap, unless the live runner got further meanwhile.
            if try await storage.swap(to: generation) { return }
        }
    }

    func updateRebuildProgress(done: GlobalPosition, clockStart: ContinuousClock.Instant) {
        guard var progress = rebuildProgress else { return }
        let elapsed = ContinuousClock.now - clockStart
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        progress.eventsDone = done.value
        progress.eventsTotal = max(head.value.value, done.value)
        progress.eventsPerSecond = seconds > 0 ? Double(done.value) / seconds : 0
        rebuildProgress = progress
    }
}
