import Chronicle
public import Logging
public import PostgresNIO
import Synchronization

/// Exactly one holder at a time across processes and machines, with fail-over: competing
/// projection runners (or any singleton job) run the same code and only the lease holder works.
///
/// The lease is a PostgreSQL session-level advisory lock on a dedicated connection, keyed by
/// `hashtextextended('chronicle.lease.<schema>.<name>', 0)`. The server releases it the moment
/// the holder's session ends: the holder returns, its process dies (the kernel closes the
/// socket), or its backend is terminated. A vanished network peer is noticed by TCP keep-alives
/// (about 20 s with ``PostgresConnectionSettings/connectionConfiguration(applicationName:)``).
/// Waiting contenders retry every `retryInterval`, so one of them takes over within about
/// `retryInterval` of the release.
///
/// While holding, the lease checks every `heartbeatInterval` that its session still holds the
/// lock; if the check fails (the connection dropped, so another process may already hold it),
/// the body is cancelled and ``run(_:)`` throws ``PostgresLeaseError/Code/lost``. Work that
/// commits a checkpoint in the same transaction as its effects (Chronicle's projections) is safe
/// under this: the new holder continues from the last committed checkpoint.
///
/// ```swift
/// let lease = PostgresLease(name: "projection.orders", connection: try settings.connectionConfiguration())
/// while !Task.isCancelled {
///     do { try await lease.run { try await runner.run() } }
///     catch let error as PostgresLeaseError where error.code == .lost { continue }
/// }
/// ```
public final class PostgresLease: Sendable {
    /// The lease's name, unique within its schema.
    public let name: String
    /// The text hashed into the advisory lock key.
    public let key: String

    /// The key of the lease called `name` in `schema`.
    static func key(name: String, schema: PostgresSchemaName) -> String { "chronicle.lease.\(schema.rawValue).\(name)" }

    private let connection: PostgresConnection.Configuration
    private let retryInterval: Duration
    private let heartbeatInterval: Duration
    private let logger: Logger
    private let held = Atomic<Bool>(false)
    private let connectionIDs = Atomic<Int>(0)

    /// Creates a lease (nothing is acquired until ``run(_:)``).
    ///
    /// - Parameters:
    ///   - name: what is leased, such as `projection.orders`.
    ///   - schema: the store's schema, so stores in different schemas lease independently.
    ///   - connection: the configuration of the lease's own connection.
    ///   - retryInterval: how often a waiting contender tries to take the lease.
    ///   - heartbeatInterval: how often the holder checks that it still holds it.
    ///   - logger: for acquisitions, losses and connection failures.
    public init(
        name: String, schema: PostgresSchemaName = .chronicle, connection: PostgresConnection.Configuration,
        retryInterval: Duration = .seconds(1), heartbeatInterval: Duration = .seconds(1),
        logger: Logger = Logger(label: "chronicle.postgres.lease")
    ) {
        self.name = name
        self.key = Self.key(name: name, schema: schema)
        self.connection = connection
        self.retryInterval = retryInterval
        self.heartbeatInterval = heartbeatInterval
        self.logger = logger
    }

    /// Whether this instance holds the lease now.
    public var isHeld: Bool { held.load(ordering: .acquiring) }

    private enum Outcome<Value: Sendable>: Sendable {
        case finished(Value)
        case lost
    }

    /// Waits until the lease is free, takes it, runs `body` while holding it, and releases it
    /// when `body` returns or throws.
    ///
    /// - Throws: ``PostgresLeaseError`` with code ``PostgresLeaseError/Code/lost`` when the lease
    ///   is lost while `body` runs (`body` is cancelled first); `CancellationError` when cancelled
    ///   while waiting; whatever `body` throws.
    public func run<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        guard let connection = try await acquire(waiting: true) else { throw CancellationError() }
        return try await hold(connection, body)
    }

    /// Like ``run(_:)``, but returns `nil` at once (running nothing) when another session holds
    /// the lease.
    func runIfFree<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) async throws -> Value? {
        guard let connection = try await acquire(waiting: false) else { return nil }
        return try await hold(connection, body)
    }

    private func hold<Value: Sendable>(_ connection: PostgresConnection, _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        defer { held.store(false, ordering: .releasing) }
        let outcome: Outcome<Value>
        do {
            outcome = try await withThrowingTaskGroup(of: Outcome<Value>.self) { group in
                group.addTask { .finished(try await body()) }
                group.addTask {
                    await self.heartbeat(on: connection)
                    return .lost
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch {
            await release(connection)
            throw error
        }
        switch outcome {
        case .finished(let value):
            await release(connection)
            return value
        case .lost where Task.isCancelled:
            // The heartbeat ended because the work is being cancelled, not because the lock was lost.
            await release(connection)
            throw CancellationError()
        case .lost:
            try? await connection.close()
            logger.warning("lease lost", metadata: ["lease": "\(name)"])
            throw PostgresLeaseError(.lost, "Lease \(name) was lost (its connection failed); another process may hold it now. The work was cancelled; run again to contend for the lease.")
        }
    }

    /// Connects (retrying) and polls `pg_try_advisory_lock` until it succeeds; without
    /// `waiting`, returns `nil` when the first try fails.
    private func acquire(waiting: Bool) async throws -> PostgresConnection? {
        while true {
            try Task.checkCancellation()
            let connection: PostgresConnection
            do {
                let id = connectionIDs.wrappingAdd(1, ordering: .relaxed).newValue
                let (configuration, logger) = (self.connection, self.logger)
                // Under a deadline, as every call of this driver that may never complete.
                guard let connected = try await withDeadline(Self.callDeadline, {
                    try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
                }) else {
                    throw PostgresLeaseError(.lost, "Connecting for lease \(name) took longer than \(Self.callDeadline).")
                }
                connection = connected
            } catch {
                if !waiting { throw PostgresFailure.map(error, while: "connecting to take lease \(name)") }
                logger.info("lease connection failed; retrying", metadata: ["lease": "\(name)", "error": "\(PostgresFailure.summary(of: error))"])
                try await Task.sleep(for: retryInterval)
                continue
            }
            do {
                while true {
                    // See heartbeat(on:): never write to a closed connection.
                    guard !connection.isClosed else { throw PostgresLeaseError(.lost, "The lease connection closed while waiting.") }
                    // Under a deadline too: the connection may close between the check and the
                    // query, and then the query would never complete.
                    let key = self.key, logger = self.logger
                    guard let taken = try await withDeadline(Self.callDeadline, {
                        try await Self.query(PostgresSQL.tryLease, key: key, on: connection, logger: logger)
                    }) else {
                        throw PostgresLeaseError(.lost, "Trying lease \(name) took longer than \(Self.callDeadline).")
                    }
                    if taken {
                        held.store(true, ordering: .releasing)
                        logger.info("lease acquired", metadata: ["lease": "\(name)"])
                        return connection
                    }
                    if !waiting {
                        try? await connection.close()
                        return nil
                    }
                    try await Task.sleep(for: retryInterval)
                }
            } catch {
                try? await connection.close()
                if error is CancellationError || Task.isCancelled { throw CancellationError() }
                if !waiting { throw PostgresFailure.map(error, while: "taking lease \(name)") }
                logger.info("lease connection failed while waiting; reconnecting", metadata: ["lease": "\(name)", "error": "\(PostgresFailure.summary(of: error))"])
            }
        }
    }

    /// Returns when the lease is no longer held (or the task is cancelled).
    ///
    /// The connection's `isClosed` is checked before each query because postgres-nio 1.33.2 never
    /// completes a query written to a connection the server already closed; the query also runs
    /// under a deadline, so a server that stops answering counts as a lost lease.
    private func heartbeat(on connection: PostgresConnection) async {
        let deadline = max(heartbeatInterval * 5, .seconds(2))
        while !Task.isCancelled {
            do { try await Task.sleep(for: heartbeatInterval) } catch { return }
            if !connection.isClosed {
                do {
                    let key = self.key
                    let held = try await withDeadline(deadline) {
                        try await Self.query(PostgresSQL.holdsLease, key: key, on: connection, logger: self.logger)
                    }
                    if held == true { continue }
                } catch {
                    if Task.isCancelled { return }
                }
            }
            held.store(false, ordering: .releasing)
            return
        }
    }

    private func release(_ connection: PostgresConnection) async {
        held.store(false, ordering: .releasing)
        do {
            if !connection.isClosed {
                let key = self.key, logger = self.logger
                // In a task of its own: the caller is usually being cancelled (shutdown), and a
                // cancelled query would leave the unlock to the server noticing the closed
                // connection later, so another process could still see the lease held after
                // `run()` returned (a CLI status right after a stop once did).
                _ = try await Task {
                    try await withDeadline(.seconds(5)) {
                        try await Self.query(PostgresSQL.releaseLease, key: key, on: connection, logger: logger)
                    }
                }.value
            }
        } catch {
            logger.debug("lease release failed; closing its connection releases it", metadata: ["lease": "\(name)"])
        }
        try? await connection.close()
    }

    /// How long a connect or a lease query may take before the connection counts as failed.
    static let callDeadline: Duration = .seconds(10)

    /// Runs a one-row, one-column statement about the lease key, true for `true` or a count > 0.
    private static func query(_ statement: String, key: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        var binds = PostgresBindings()
        binds.append(key)
        var result = false
        let rows = try await connection.statement(PostgresQuery(unsafeSQL: statement, binds: binds), logger: logger)
        for try await row in rows {
            let cell = row.first
            if let flag = try? cell?.decode(Bool.self) { result = flag } else if let count = try? cell?.decode(Int64.self) { result = count > 0 }
        }
        return result
    }
}

/// Runs `operation`, but stops waiting for it after `timeout` and returns `nil` (the operation is
/// cancelled and left to finish on its own: used for driver calls that may never complete).
func withDeadline<Value: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value? {
    let (results, continuation) = AsyncThrowingStream.makeStream(of: Value?.self)
    let work = Task {
        do { continuation.yield(try await operation()) } catch { continuation.finish(throwing: error) }
    }
    let timer = Task {
        try? await Task.sleep(for: timeout)
        continuation.yield(nil)
    }
    defer {
        work.cancel()
        timer.cancel()
        continuation.finish()
    }
    for try await result in results { return result }
    return nil
}

/// A failure of a ``PostgresLease`` or of a fenced ``PostgresCheckpointStore`` move.
public struct PostgresLeaseError: Error, CustomStringConvertible, Sendable {
    /// What went wrong. New codes may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable { case lost, fenced }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The holder's connection failed while it held the lease; the work was cancelled.
        public static let lost = Code(.lost)
        /// A fenced write found that another holder had moved on (see ``PostgresCheckpointStore``);
        /// nothing was committed.
        public static let fenced = Code(.fenced)

        /// The code's name.
        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// What happened and what to do.
    public var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The code, then the message.
    public var description: String { "\(code): \(message)" }
}
