import Chronicle
import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Synchronization

/// Runs a ``SQLiteProcessManager``: a ``SQLiteReadModel`` over the manager (its state and outbox,
/// checkpointed together) plus a dispatcher that appends the outbox to the store, in order, at
/// least once (idempotent thanks to derived event ids), and removes what was appended.
///
/// ```swift
/// let shipping = try SQLiteProcessManagerRunner(ShipPaidOrders(), store: store, directory: "process-managers",
///                                               source: .sqlite(store), logger: logger)
/// let services = ServiceGroup(services: [shipping], logger: logger)
/// ```
///
/// A reaction the store refuses (a wrong expected version, say) is retried with the failure
/// policy's backoff until it succeeds, holding back the reactions after it (their order is kept);
/// ``status()`` shows the error meanwhile.
public final class SQLiteProcessManagerRunner: Service, Sendable {
    /// The manager's state, checkpoint, parked events and outbox (status, waitUntil, rebuild…).
    public let readModel: SQLiteReadModel
    private let store: any EventWriter
    private let logger: Logger
    private let dispatchFailure = Mutex<String?>(nil)

    /// Opens (or creates) the manager's file in `directory`.
    public init(
        _ manager: some SQLiteProcessManager, store: some EventWriter, directory: String, source: ProjectionSource,
        options: SQLiteReadModel.Options = SQLiteReadModel.Options(), logger: Logger
    ) throws {
        self.readModel = try SQLiteReadModel(ProcessManagerProjector(manager: manager), directory: directory, source: source, options: options, logger: logger)
        self.store = store
        var logger = logger
        logger[metadataKey: "processManager"] = .string(manager.name)
        self.logger = logger
    }

    /// The manager's status; ``ProjectionStatus/lastError`` includes a failing dispatch.
    public func status() async -> ProjectionStatus {
        var status = await readModel.status()
        if let failure = dispatchFailure.withLock({ $0 }) { status.lastError = failure }
        return status
    }

    /// How many reactions wait in the outbox.
    public func pendingCount() async throws -> Int {
        try await readModel.read { db in try ProcessManagerOutbox.count(db) }
    }

    /// Runs the manager and its dispatcher until graceful shutdown or cancellation (then returns).
    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.readModel.run() }
            group.addTask {
                do {
                    try await cancelWhenGracefulShutdown { try await self.dispatchForever() }
                } catch is CancellationError {
                    // Shutdown: what was not appended stays in the outbox for the next run.
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Appends everything in the outbox now, in order; returns how many reactions were appended.
    /// Throws the first append error (the reaction stays in the outbox).
    @discardableResult
    public func dispatchPending() async throws -> Int {
        var dispatched = 0
        while true {
            let rows = try await readModel.read { db in try ProcessManagerOutbox.pending(db, limit: 100) }
            if rows.isEmpty { return dispatched }
            for row in rows {
                let result = try await store.append([row.append])
                try await readModel.storage.withCurrent { generation in
                    try await generation.pool.write { db in try ProcessManagerOutbox.remove(db, id: row.id) }
                }
                dispatched += 1
                if result.first?.wasAlreadyStored == true {
                    logger.debug("Reaction was already appended", metadata: ["trigger": "\(row.trigger)", "stream": "\(row.append.streamID)"])
                }
            }
        }
    }

    private func dispatchForever() async throws {
        var failures = 0
        let policy = readModel.options.failurePolicy
        while true {
            let seen = readModel.checkpoint.value
            do {
                try await dispatchPending()
                if failures > 0 { dispatchFailure.withLock { $0 = nil } }
                failures = 0
                try await readModel.checkpoint.wait(until: seen.next)
            } catch {
                if Task.isCancelled { throw CancellationError() }
                if let error = error as? ProjectionError, error.code == .failed {
                    // The manager stopped on a failure (nothing new will reach the outbox until it
                    // resumes): look again after the longest backoff.
                    try await readModel.options.sleep(policy.maxDelay)
                    continue
                }
                failures += 1
                let delay = policy.delay(afterAttempt: failures)
                dispatchFailure.withLock { $0 = "Appending a reaction failed: \(error)" }
                logger.warning("Appending a reaction failed; retrying", metadata: ["error": "\(error)", "retryIn": "\(delay)"])
                try await readModel.options.sleep(delay)
            }
        }
    }
}
