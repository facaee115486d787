import Chronicle
import Logging
import ServiceLifecycle

/// How a ``ProjectionEngine`` runs on PostgreSQL under a lease, for read models and process
/// managers alike: one instance in the whole deployment holds the lease and runs the engine; the
/// others stand by, re-reading the checkpoints now and then so their status and `waitUntil` stay
/// current, and take over when the lease is free (its holder stopped, or its connection died).
struct PostgresLeasedRun: Sendable {
    /// What runs, for messages: "read model", "process manager".
    let kind: String
    let name: String
    let engine: ProjectionEngine
    let lease: PostgresLease
    let logger: Logger
    let leaseRetryInterval: Duration
    let standbyPollInterval: Duration
    let sleep: @Sendable (Duration) async throws -> Void
    /// Before each attempt to take the lease (a read model prepares its tables).
    var prepare: @Sendable () async throws -> Void = {}
    /// Once the lease is held, before the engine runs.
    var tookOver: @Sendable () async throws -> Void = {}
    /// A standby's poll, before the engine re-reads its checkpoints.
    var refresh: @Sendable () async throws -> Void = {}

    /// Runs until graceful shutdown or cancellation (see the owners' `run()`).
    ///
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/alreadyRunning`` when this instance runs already.
    func run() async throws {
        guard engine.status().state == .stopped else {
            throw ProjectionError(.alreadyRunning, "\(kind.prefix(1).uppercased() + kind.dropFirst()) \(name) is already running in this instance; run it once.", projection: name)
        }
        engine.setStandby(true)
        defer { engine.setStandby(false) }
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await contend() }
                    group.addTask { try await followAsStandby() }
                    defer { group.cancelAll() }
                    _ = try await group.next()
                }
            }
        } catch is CancellationError {
            // Shut down while standing by.
        }
    }

    /// Takes the lease (again after losing it) and runs the engine while holding it.
    private func contend() async throws {
        while true {
            try Task.checkCancellation()
            do {
                try await prepare()
                try await lease.run {
                    logger.info("Running the \(kind) (holding its lease)")
                    try await tookOver()
                    try await engine.run()
                }
                return
            } catch let error as PostgresLeaseError where error.code == .lost {
                if Task.isCancelled { throw CancellationError() }
                engine.setStandby(true)
                logger.warning("Lost the lease of the \(kind); contending again")
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if Task.isCancelled { throw CancellationError() }
                engine.setStandby(true)
                logger.warning("The \(kind) could not start; retrying", metadata: ["error": "\(error)"])
                try await sleep(leaseRetryInterval)
            }
        }
    }

    /// While another instance runs it, re-reads the checkpoints now and then.
    private func followAsStandby() async throws {
        while true {
            try await sleep(standbyPollInterval)
            if !lease.isHeld, engine.status().state == .standby {
                try? await refresh()
                // Not `reload()`: the lease may be taken and the engine run while this reads, and
                // a checkpoint read before the run's first commits must not replace them (it did:
                // a stopped model once showed position 0 over a stored 3).
                try? await engine.refreshWhileIdle()
            }
        }
    }
}
