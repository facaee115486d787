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
            await storage.discard(generation)
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

    /// Fills `generation` from position 0 and swaps it in. First it chases the runner's
    /// checkpoints while the runner goes on; once within a page or two of them, it freezes the
    /// serving generation (the runner's writes wait), catches up exactly, and swaps.
    private nonisolated func build(_ generation: ReadModelGeneration, clockStart: ContinuousClock.Instant) async throws {
        let head = max(self.head.value, storage.current.positions.max() ?? .start)
        var target = Array(repeating: head, count: options.partitioning.count)
        for _ in 0..<20 {
            try await catchUp(generation, to: target, clockStart: clockStart)
            target = storage.current.positions
            let gap = zip(target, generation.positions).map { $0.value - $1.value }.max() ?? 0
            if gap <= Int64(options.pageSize) { break }
        }
        while true {
            let frozen = try await storage.freezeCurrent()
            try await catchUp(generation, to: frozen, clockStart: clockStart)
            if try await storage.swap(to: generation) { return }
        }
    }

    /// Steps every partition of `generation` until it is at or past `target` (or the head).
    private nonisolated func catchUp(_ generation: ReadModelGeneration, to target: [GlobalPosition], clockStart: ContinuousClock.Instant) async throws {
        for partition in 0..<options.partitioning.count {
            while generation.position(of: partition) < target[partition] {
                try Task.checkCancellation()
                let outcome = try await step(generation, partition: partition)
                if case .caughtUp = outcome { break }
                if case .generationReplaced = outcome {
                    throw ProjectionError(.storageFailure, "The rebuild's generation was replaced while building.", projection: name)
                }
                await updateRebuildProgress(done: generation.minimumPosition, clockStart: clockStart)
            }
        }
        await updateRebuildProgress(done: generation.minimumPosition, clockStart: clockStart)
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
