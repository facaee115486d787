import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// A statement's connection closed before the statement's rows (or its failure) came back.
struct PostgresConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the PostgreSQL connection closed before the statement's answer arrived" }
}

extension PostgresConnection {
    /// Runs `query` on this connection and returns its rows; throws ``PostgresConnectionClosed``
    /// when the connection closes first. Every statement Chronicle runs goes through here.
    ///
    /// Why not `query(_:logger:)` alone: postgres-nio 1.33 writes a statement into the channel
    /// without a write promise, so a statement written to a connection whose channel has already
    /// closed is dropped, and its caller waits for ever. That happens whenever a pool hands out a
    /// connection the server has just terminated (its holder gave it back before the pool heard of
    /// the close): the caller hangs, and its lease is never returned.
    @discardableResult
    func statement(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        try await PostgresStatementWatch.shared.run(query, on: self, logger: logger)
    }
}

/// Watches the connections statements are running on: each connection's close fails the
/// statements still waiting on it. One close callback per connection (registered by its first
/// statement, dropped when it closes), so a long-lived connection collects nothing.
final class PostgresStatementWatch: Sendable {
    static let shared = PostgresStatementWatch()

    /// A caller waiting for its statement; resumed once, by the statement or by the close.
    private final class Waiter: Sendable {
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

    private struct State: ~Copyable {
        var nextID: UInt64 = 0
        /// The waiting statements of each watched connection; a connection stays here (with no
        /// statements, between them) until it closes.
        var connections: [ObjectIdentifier: [UInt64: Waiter]] = [:]
    }

    private let state = Mutex(State())

    /// Connections watched now (for tests).
    var watchedConnections: Int { state.withLock { $0.connections.count } }

    func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> PostgresRowSequence {
        if connection.isClosed { throw PostgresConnectionClosed() }
        let key = ObjectIdentifier(connection)
        return try await withCheckedThrowingContinuation { continuation in
            let waiter = Waiter(continuation)
            let (id, firstStatement) = state.withLock { state in
                state.nextID &+= 1
                let first = state.connections[key] == nil
                state.connections[key, default: [:]][state.nextID] = waiter
                return (state.nextID, first)
            }
            if firstStatement {
                // Runs at once if the connection has closed already. Keeps the connection alive
                // until then, so its identifier cannot be reused while it is watched.
                connection.closeFuture.whenComplete { [connection] _ in
                    _ = connection
                    self.closed(key)
                }
            }
            Task {
                let result: Result<PostgresRowSequence, any Error>
                do {
                    result = .success(try await connection.query(query, logger: logger))
                } catch {
                    result = .failure(error)
                }
                _ = self.state.withLock { $0.connections[key]?.removeValue(forKey: id) }
                waiter.resume(with: result)
            }
        }
    }

    private func closed(_ key: ObjectIdentifier) {
        let waiting = state.withLock { $0.connections.removeValue(forKey: key) } ?? [:]
        for waiter in waiting.values { waiter.resume(with: .failure(PostgresConnectionClosed())) }
    }
}
