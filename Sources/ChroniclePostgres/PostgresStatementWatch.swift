public import Logging
import NIOCore
public import PostgresNIO
import Synchronization

/// Thrown by `PostgresConnection.statement(_:logger:)` when the connection closed
/// before the statement's answer arrived. Whether the statement ran is unknown; its transaction
/// (if it was in one) is gone with the connection. Run it again on another connection (the
/// projection and read-model runners do so on their own: it is a failure of the attempt).
public struct PostgresConnectionClosed: Error, CustomStringConvertible {
    /// Creates the error.
    public init() {}

    /// What happened and what to do.
    public var description: String {
        "The PostgreSQL connection closed before the statement's answer arrived; whether it ran is unknown. Run it again on another connection."
    }
}

extension PostgresConnection {
    /// Runs `query` on this connection and returns its rows, like `query(_:logger:)`, but fails
    /// with a connection error when the connection closes before the answer comes, instead of
    /// waiting for ever. Every statement Chronicle runs goes through here; use it for the
    /// statements of your own handlers (projectors, read models, inbox handlers) too.
    ///
    /// ```swift
    /// try await connection.statement("INSERT INTO shipments (order_id) VALUES (\(id))", logger: connection.logger)
    /// ```
    ///
    /// Why: postgres-nio 1.33 writes a statement into the channel without a write promise, so a
    /// statement written to a connection whose channel has already closed is dropped and its
    /// caller waits for ever, holding its lease. That happens when a pool hands out a connection
    /// the server has just terminated (its holder gave it back before the pool heard of the
    /// close), or when a connection drops between two statements of a handler.
    ///
    /// - Throws: the driver's error for a failed statement; ``PostgresConnectionClosed`` (which
    ///   the store maps to ``Chronicle/EventStoreError/Code/storageFailure``) when the connection
    ///   closed first.
    @discardableResult
    public func statement(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        try await PostgresStatementWatch.shared.run(query, on: self, logger: logger)
    }
}

/// Watches the connections statements are running on: each connection's close fails the
/// statements still waiting on it. One close callback per connection (registered by its first
/// statement, dropped when it closes), so a long-lived connection collects nothing.
final class PostgresStatementWatch: Sendable {
    static let shared = PostgresStatementWatch()

    private struct State: ~Copyable {
        var nextID: UInt64 = 0
        /// What to do for each statement waiting on each watched connection if it closes; a
        /// connection stays here (with nothing waiting, between statements) until it closes.
        var connections: [ObjectIdentifier: [UInt64: @Sendable () -> Void]] = [:]
    }

    private let state = Mutex(State())

    /// Whether `connection` is watched now: from its first statement until it closes (for tests).
    func isWatching(_ connection: PostgresConnection) -> Bool {
        state.withLock { $0.connections[ObjectIdentifier(connection)] != nil }
    }

    /// Runs `onClose` if `connection` closes (or has closed) before ``forget(_:on:)`` is called
    /// with the returned id.
    func watch(_ connection: PostgresConnection, onClose: @escaping @Sendable () -> Void) -> UInt64 {
        let key = ObjectIdentifier(connection)
        let (id, firstStatement) = state.withLock { state in
            state.nextID &+= 1
            let first = state.connections[key] == nil
            state.connections[key, default: [:]][state.nextID] = onClose
            return (state.nextID, first)
        }
        if firstStatement {
            // Runs at once if the connection has closed already. Keeps the connection alive until
            // then, so its identifier cannot be reused while it is watched.
            connection.closeFuture.whenComplete { [connection] _ in
                let waiting = self.state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(connection)) } ?? [:]
                for onClose in waiting.values { onClose() }
            }
        }
        return id
    }

    /// Stops watching the statement `id` on `connection`.
    func forget(_ id: UInt64, on connection: PostgresConnection) {
        _ = state.withLock { $0.connections[ObjectIdentifier(connection)]?.removeValue(forKey: id) }
    }

    func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> PostgresRowSequence {
        if connection.isClosed { throw PostgresConnectionClosed() }
        return try await withCheckedThrowingContinuation { continuation in
            let once = Once(continuation)
            let id = watch(connection) { once.resume(with: .failure(PostgresConnectionClosed())) }
            // The statement runs in a task of its own: if it is lost, the close resumes the caller
            // and only that task waits for ever.
            Task {
                let result: Result<PostgresRowSequence, any Error>
                do {
                    result = .success(try await connection.query(query, logger: logger))
                } catch {
                    result = .failure(error)
                }
                self.forget(id, on: connection)
                once.resume(with: result)
            }
        }
    }

    /// Runs `query` and collects every row on the connection's event loop: the caller is resumed
    /// once, with all of them (``run(_:on:logger:)`` resumes it with the rows' sequence, then
    /// again while it iterates). For statements whose answer is a row or a few: the appends and
    /// the scalar reads. Fails when the connection closes first.
    func all(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> [PostgresRow] {
        let (rows, id) = try collect(query, on: connection, logger: logger)
        defer { forget(id, on: connection) }
        return try await rows.get()
    }

    /// Runs `query` and collects its rows, blocking the calling thread (for synchronous callers
    /// that own their connection); fails when the connection closes first.
    func rows(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) throws -> [PostgresRow] {
        let (rows, id) = try collect(query, on: connection, logger: logger)
        defer { forget(id, on: connection) }
        return try rows.wait()
    }

    /// Sends `query` through postgres-nio's future-based API (every row collected on the event
    /// loop) and watches the connection; the caller forgets the returned watch id when done.
    private func collect(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) throws -> (EventLoopFuture<[PostgresRow]>, UInt64) {
        if connection.isClosed { throw PostgresConnectionClosed() }
        let promise = connection.eventLoop.makePromise(of: [PostgresRow].self)
        let id = watch(connection) { promise.fail(PostgresConnectionClosed()) }
        connection.query(query, logger: logger).map(\.rows).cascade(to: promise)
        return (promise.futureResult, id)
    }

    /// A caller's continuation, resumed once: by its statement or by the close.
    private final class Once: Sendable {
        private let continuation: Mutex<CheckedContinuation<PostgresRowSequence, any Error>?>

        init(_ continuation: CheckedContinuation<PostgresRowSequence, any Error>) {
            self.continuation = Mutex(continuation)
        }

        func resume(with result: Result<PostgresRowSequence, any Error>) {
            continuation.withLock { taken in
                let continuation = taken
                taken = nil
                return continuation
            }?.resume(with: result)
        }
    }
}
