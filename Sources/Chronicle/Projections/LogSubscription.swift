import Foundation

/// A page of the log as a consumer receives it: the events after the filter, and the position
/// everything has been read up to (the consumer's next checkpoint, even when the filter left no
/// event in the page).
public struct LogPage: Sendable, Hashable {
    /// The events that passed the filter, in log order.
    public var events: [RecordedEvent]
    /// Every event at or before this position has been read: the checkpoint after this page.
    public var through: GlobalPosition
    /// Whether the page reached what was the head when it was read (more may have come since).
    public var reachedHead: Bool

    /// Creates a page.
    public init(events: [RecordedEvent], through: GlobalPosition, reachedHead: Bool) {
        self.events = events
        self.through = through
        self.reachedHead = reachedHead
    }
}

/// The one catch-up-then-follow loop of Chronicle: reads the log after a position in pages,
/// filtered, and once at the head waits for the ``ProjectionSource`` to announce a new head (an
/// in-process append at once, another process's through polling). Projection runners, process
/// managers, the HTTP live feed and `chronicle tail` all read the log through it.
///
/// ```swift
/// for try await page in LogSubscription(source: .observing(store), after: .start, filter: .init(categories: ["order"])) {
///     for event in page.events { print(event.position, event.type) }
///     checkpoint = page.through
/// }
/// ```
///
/// The sequence ends when the task is cancelled, when the source's head updates end (the store
/// closed), or, with `follow: false`, at the head.
public struct LogSubscription: AsyncSequence, Sendable {
    public typealias Element = LogPage

    let reader: any EventReader
    let heads: HeadTracker?
    let source: ProjectionSource?
    let start: GlobalPosition
    let filter: ProjectionFilter
    let pageSize: Int
    let follow: Bool
    let atHead: (@Sendable () -> Void)?

    /// Reads `source` after `position`.
    ///
    /// - Parameters:
    ///   - source: the reader to read and how to learn of new events.
    ///   - position: the position to read after (`.start` for the whole log).
    ///   - filter: which events to deliver (the others are read past).
    ///   - pageSize: events read per page (1…100,000); a filtered page may hold fewer.
    ///   - follow: keep waiting for new events at the head (default), or end there.
    /// - Throws: ``ProjectionError`` ``ProjectionError/Code/invalidConfiguration`` for a page size out of range.
    public init(source: ProjectionSource, after position: GlobalPosition, filter: ProjectionFilter = .all, pageSize: Int = 500, follow: Bool = true) throws(ProjectionError) {
        try Self.validate(pageSize: pageSize)
        self.reader = source.reader
        self.heads = nil
        self.source = source
        self.start = position
        self.filter = filter
        self.pageSize = pageSize
        self.follow = follow
        self.atHead = nil
    }

    /// Reads `reader` after `position`, waiting on a head tracker shared with other subscriptions
    /// (or, without one, ending at the head). `atHead` is called each time it is about to wait.
    package init(reader: any EventReader, heads: HeadTracker?, after position: GlobalPosition, filter: ProjectionFilter, pageSize: Int, atHead: (@Sendable () -> Void)?) {
        self.reader = reader
        self.heads = heads
        self.source = nil
        self.start = position
        self.filter = filter
        self.pageSize = pageSize
        self.follow = heads != nil
        self.atHead = atHead
    }

    static func validate(pageSize: Int) throws(ProjectionError) {
        guard (1...100_000).contains(pageSize) else {
            throw ProjectionError(.invalidConfiguration, "Page size \(pageSize) is out of range; use 1 to 100000.")
        }
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(subscription: self)
    }

    /// Reads one page after `position` without waiting: the events that pass the filter and how
    /// far the read got. An empty, unmoved page means the head is at or before `position`.
    /// Tombstones (``RecordedEvent/isErased``) are read past, never delivered.
    package static func readPage(_ reader: any EventReader, after position: GlobalPosition, filter: ProjectionFilter, pageSize: Int) async throws -> LogPage {
        if let category = filter.singleCategory {
            // The category's index: every event up to the head read first is visible now (positions
            // are gap-free for readers), so a short page means nothing more of it up to that head.
            let head = try await reader.headPosition()
            let page = try await reader.readCategory(category, after: position, limit: pageSize)
            let events = page.contains(where: \.isErased) ? page.filter { !$0.isErased } : page
            if page.count == pageSize, let last = page.last {
                return LogPage(events: events, through: last.position, reachedHead: false)
            }
            return LogPage(events: events, through: Swift.max(position, head, page.last?.position ?? .start), reachedHead: true)
        }
        let page = try await reader.readAll(after: position, limit: pageSize)
        guard let last = page.last else { return LogPage(events: [], through: position, reachedHead: true) }
        let events = filter.isEmpty && !page.contains(where: \.isErased) ? page : page.filter { !$0.isErased && filter.includes($0) }
        return LogPage(events: events, through: last.position, reachedHead: page.count < pageSize)
    }

    /// Iterates the pages; cancelling the iterating task ends it.
    public struct Iterator: AsyncIteratorProtocol {
        let subscription: LogSubscription
        var position: GlobalPosition
        let owned: OwnedHeadTracker?

        init(subscription: LogSubscription) {
            self.subscription = subscription
            self.position = subscription.start
            if subscription.heads == nil, subscription.follow, let source = subscription.source {
                owned = OwnedHeadTracker(source: source)
            } else {
                owned = nil
            }
        }

        public mutating func next() async throws -> LogPage? {
            while true {
                if Task.isCancelled { return nil }
                let page = try await LogSubscription.readPage(subscription.reader, after: position, filter: subscription.filter, pageSize: subscription.pageSize)
                if page.through > position {
                    position = page.through
                    return page
                }
                guard subscription.follow, let heads = subscription.heads ?? owned?.tracker else { return nil }
                subscription.atHead?()
                do {
                    try await heads.wait(beyond: position)
                } catch {
                    return nil  // cancelled, or the source ended
                }
            }
        }
    }
}

/// A head tracker followed by a task of its own, for as long as the iterator that owns it lives.
final class OwnedHeadTracker: Sendable {
    let tracker: HeadTracker
    private let task: Task<Void, Never>

    init(source: ProjectionSource) {
        let tracker = HeadTracker(source: source)
        self.tracker = tracker
        task = source.environment.spawn { await tracker.follow() }
    }

    deinit { task.cancel() }
}

/// The store's head as a consumer knows it, fed by a ``ProjectionSource``'s head updates; many
/// subscriptions (a projection's partitions) can wait on one.
package final class HeadTracker: Sendable {
    let source: ProjectionSource
    /// The highest head seen.
    package let signal = PositionSignal()

    /// Planted bug (simulator tests only): waits beyond the highest head seen, not beyond the caller's position.
    let losesWakeUps: Bool

    package init(source: ProjectionSource, losesWakeUps: Bool = false) {
        self.source = source
        self.losesWakeUps = losesWakeUps
    }

    /// The highest head seen so far.
    package var head: GlobalPosition { signal.value }

    /// Records a head seen otherwise (a page read past it).
    package func saw(_ position: GlobalPosition) { signal.advance(to: position) }

    /// Follows the source's head updates until they end or the task is cancelled; waiters then
    /// get ``ProjectionError/Code/closed``.
    package func follow() async {
        if let position = try? await source.reader.headPosition() { signal.advance(to: position) }
        for await position in source.headUpdates() {
            signal.advance(to: position)
        }
        if !Task.isCancelled {
            signal.fail(ProjectionError(.closed, "The store's head updates ended (the store was closed)."))
        }
    }

    /// Returns once a head beyond `position` has been announced.
    package func wait(beyond position: GlobalPosition) async throws {
        try await signal.wait(until: losesWakeUps ? Swift.max(position, signal.value).next : position.next)
    }
}
