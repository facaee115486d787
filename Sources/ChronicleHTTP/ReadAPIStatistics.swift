import Synchronization

/// What the read API's limits have done so far: open feeds, refused feeds, dropped clients and
/// the largest piece it handed to a connection at once. Read it from ``ReadAPI/statistics`` (for
/// a metrics gauge or a health page).
public struct ReadAPIStatistics: Sendable, Hashable {
    /// Live feeds open now.
    public var openFeeds: Int = 0
    /// Feeds refused with 503 because ``ReadAPIConfiguration/maximumConcurrentFeeds`` were open.
    public var refusedFeeds: Int = 0
    /// Streamed responses (feeds, event pages) whose client did not read for
    /// ``ReadAPIConfiguration/writeTimeout`` and whose connection was closed.
    public var droppedSlowClients: Int = 0
    /// The largest single write handed to a connection, in bytes: what one slow client can make
    /// the server hold beyond the socket's buffers.
    public var largestWrite: Int = 0
    /// Bytes handed to connections by streamed responses since the API was created.
    public var bytesWritten: Int64 = 0
}

/// The counters behind ``ReadAPIStatistics``, shared by every copy of a ``ReadAPI``.
final class ReadAPIMonitor: Sendable {
    private let state = Mutex(ReadAPIStatistics())

    var statistics: ReadAPIStatistics { state.withLock { $0 } }

    /// Takes a feed slot, or returns `nil` when `maximum` feeds are open.
    func openFeed(maximum: Int) -> FeedSlot? {
        let opened = state.withLock { statistics in
            guard statistics.openFeeds < maximum else {
                statistics.refusedFeeds += 1
                return false
            }
            statistics.openFeeds += 1
            return true
        }
        return opened ? FeedSlot(monitor: self) : nil
    }

    func closeFeed() { state.withLock { $0.openFeeds -= 1 } }

    func wrote(_ bytes: Int) {
        state.withLock {
            $0.bytesWritten += Int64(bytes)
            $0.largestWrite = max($0.largestWrite, bytes)
        }
    }

    func droppedSlowClient() { state.withLock { $0.droppedSlowClients += 1 } }
}

/// One open feed's place under ``ReadAPIConfiguration/maximumConcurrentFeeds``; gives it back
/// when released, at the latest when the response holding it is gone (so a feed whose body
/// never ran cannot leak its place).
final class FeedSlot: Sendable {
    private let monitor: ReadAPIMonitor
    private let released = Atomic(false)

    init(monitor: ReadAPIMonitor) { self.monitor = monitor }

    func release() {
        if !released.exchange(true, ordering: .relaxed) { monitor.closeFeed() }
    }

    deinit { release() }
}
