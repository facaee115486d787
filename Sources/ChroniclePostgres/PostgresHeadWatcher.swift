public import Chronicle
public import Logging
public import PostgresNIO
public import ServiceLifecycle
import Synchronization

/// Hears about appends from every process (LISTEN/NOTIFY) and announces the new head on the
/// store's ``PostgresEventStore/appendNotifier``, so projection runners and live feeds wake at
/// once, whoever wrote.
///
/// Every append transaction sends `pg_notify('<schema>_head', '<head>')`, delivered only if it
/// commits. The watcher keeps one dedicated connection LISTENing on that channel. Because a
/// notification can be missed (the connection drops, the server restarts), it also:
/// - reads the head each time it (re)starts listening, so nothing committed while it was
///   deaf is missed;
/// - polls the head every `pollInterval` as a fallback (cheap: one indexed row);
/// - reconnects with exponential backoff (from `reconnectDelay` up to 5 s) when the listening
///   connection fails, for example when its backend is terminated.
///
/// Run it as a `Service` (or call ``run()`` in a task) and read ``PostgresEventStore/headUpdates()``:
///
/// ```swift
/// let watcher = PostgresHeadWatcher(store: store, connection: try settings.connectionConfiguration())
/// group.addTask { try await watcher.run() }
/// for await head in store.headUpdates() { … }
/// ```
public final class PostgresHeadWatcher: Service, Sendable {
    /// What the watcher is doing (for status pages and tests).
    public struct Status: Sendable, Hashable {
        /// Whether the LISTEN connection is up and listening now.
        public var isListening: Bool
        /// How many times a LISTEN connection was established (1 after the first start).
        public var listenSessions: Int
        /// How many times the head was polled.
        public var polls: Int
        /// The last head announced by the watcher.
        public var lastHead: GlobalPosition
    }

    private let store: PostgresEventStore
    private let connection: PostgresConnection.Configuration
    private let pollInterval: Duration
    private let reconnectDelay: Duration
    private let logger: Logger
    private let state = Mutex(Status(isListening: false, listenSessions: 0, polls: 0, lastHead: .start))
    private let connectionIDs = Atomic<Int>(0)

    /// Creates a watcher for `store`.
    ///
    /// - Parameters:
    ///   - store: whose notifier to feed, and whose head to poll.
    ///   - connection: the configuration of the dedicated LISTEN connection
    ///     (``PostgresConnectionSettings/connectionConfiguration(applicationName:)``).
    ///   - pollInterval: how often to read the head as a fallback; the longest a missed
    ///     notification can delay a wake-up.
    ///   - reconnectDelay: the first wait before reconnecting a failed listener (doubles, up to 5 s).
    ///   - logger: for connection failures.
    public init(
        store: PostgresEventStore, connection: PostgresConnection.Configuration, pollInterval: Duration = .seconds(1),
        reconnectDelay: Duration = .milliseconds(100), logger: Logger = Logger(label: "chronicle.postgres.watcher")
    ) {
        self.store = store
        self.connection = connection
        self.pollInterval = pollInterval
        self.reconnectDelay = reconnectDelay
        self.logger = logger
    }

    /// What the watcher is doing now.
    public var status: Status { state.withLock { $0 } }

    /// Listens and polls until the task is cancelled or a graceful shutdown is requested.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.listenLoop() }
                group.addTask { await self.pollLoop() }
            }
        }
        state.withLock { $0.isListening = false }
    }

    private func announce(_ head: GlobalPosition) {
        state.withLock { $0.lastHead = max($0.lastHead, head) }
        store.appendNotifier.notify(head: head)
    }

    private func refreshHead() async {
        do {
            announce(try await store.headPosition())
        } catch {
            logger.debug("could not read the head", metadata: ["error": "\(error)"])
        }
    }

    private func pollLoop() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: pollInterval) } catch { return }
            state.withLock { $0.polls += 1 }
            await refreshHead()
        }
    }

    private func listenLoop() async {
        var delay = reconnectDelay
        while !Task.isCancelled {
            do {
                let id = connectionIDs.wrappingAdd(1, ordering: .relaxed).newValue
                let connection = try await PostgresConnection.connect(configuration: self.connection, id: id, logger: logger)
                do {
                    try await connection.listen(on: store.notificationChannel) { notifications in
                        state.withLock {
                            $0.isListening = true
                            $0.listenSessions += 1
                        }
                        delay = reconnectDelay
                        // Anything committed while nobody listened is caught by this read.
                        await refreshHead()
                        for try await notification in notifications {
                            if let head = Int64(notification.payload), head >= 0 {
                                announce(GlobalPosition(head))
                            }
                        }
                    }
                } catch {
                    state.withLock { $0.isListening = false }
                    try? await connection.close()
                    throw error
                }
                state.withLock { $0.isListening = false }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                logger.info("LISTEN connection failed; reconnecting", metadata: ["error": "\(PostgresFailure.summary(of: error))", "delay": "\(delay)"])
            }
            do { try await Task.sleep(for: delay) } catch { return }
            delay = min(delay * 2, .seconds(5))
        }
    }
}

extension PostgresEventStore {
    /// Head positions as they move: the current head first, then each new head announced by this
    /// store's appends or by a running ``PostgresHeadWatcher``. Intermediate values may be
    /// coalesced. Ends when the caller stops iterating.
    public func headUpdates() -> AsyncStream<GlobalPosition> {
        appendNotifier.updates()
    }
}
