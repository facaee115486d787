import Foundation

/// Which way a stream is read.
public enum ReadDirection: String, Sendable, Hashable, Codable {
    /// Oldest first (ascending versions).
    case forwards
    /// Newest first (descending versions).
    case backwards
}

/// A stream's identity and current state, as listed by ``EventReader/streams(category:after:limit:)``.
public struct StreamInfo: Sendable, Hashable {
    /// The stream.
    public var id: StreamID
    /// Its current version (number of events).
    public var version: StreamVersion
    /// The global position of its last event.
    public var lastPosition: GlobalPosition

    /// Creates a stream summary.
    public init(id: StreamID, version: StreamVersion, lastPosition: GlobalPosition) {
        self.id = id
        self.version = version
        self.lastPosition = lastPosition
    }
}

/// Reads events from a store. Read-only consumers (projections, the HTTP API) ask only for this.
///
/// Every read is bounded by a `limit`; the paged `AsyncSequence`s in the extension
/// (``allEvents(after:pageSize:)``, ``events(in:from:pageSize:)``) walk any length in constant memory.
public protocol EventReader: Sendable {
    /// Reads up to `limit` events of a stream starting at version `start` (inclusive), in `direction`.
    /// A missing stream reads as no events.
    func readStream(_ stream: StreamID, from start: StreamVersion, direction: ReadDirection, limit: Int) async throws -> [RecordedEvent]

    /// Reads up to `limit` events of a stream forwards from version `start`, as
    /// ``readStream(_:from:direction:limit:)`` does, and hands each to `body`, in stream order,
    /// before its payload is copied out of the store: `body` gets the event with an empty
    /// `payload`, and the payload's bytes, valid only during that call. Returns how many events
    /// it handed over (fewer than `limit`: the stream's end).
    ///
    /// Decode in place with ``EventCodec/decode(_:payload:)`` and fold as you go: a read that
    /// decodes every event (an aggregate's load) saves a payload copy, two allocations and the
    /// `[RecordedEvent]` per event. ``AggregateRepository`` loads this way.
    ///
    /// ```swift
    /// var state = Account.initial
    /// let read = try await store.readStreamInPlace(stream, from: .first, limit: 1000) { event, payload in
    ///     for decoded in try codec.decode(event, payload: payload) { state.evolve(decoded) }
    /// }
    /// ```
    ///
    /// The SQLite store hands over SQLite's row buffer; the default implementation reads
    /// ``readStream(_:from:direction:limit:)`` and hands over each copied payload's bytes.
    ///
    /// - Throws: what ``readStream(_:from:direction:limit:)`` throws, and what `body` throws,
    ///   unchanged (the read stops at the first).
    func readStreamInPlace(
        _ stream: StreamID, from start: StreamVersion, limit: Int,
        _ body: (_ event: RecordedEvent, _ payload: UnsafeRawBufferPointer) throws -> Void
    ) async throws -> Int

    /// Reads up to `limit` events of the global log with positions strictly after `position`,
    /// in position order.
    func readAll(after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent]

    /// Reads up to `limit` events of the streams in `category` with positions strictly after
    /// `position`, in position order.
    func readCategory(_ category: String, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent]

    /// The stream's current version; ``StreamVersion/initial`` if it has no events.
    func streamVersion(of stream: StreamID) async throws -> StreamVersion

    /// Lists streams ordered by id, optionally only those of one category, after the given id
    /// (exclusive, for paging).
    func streams(category: String?, after: StreamID?, limit: Int) async throws -> [StreamInfo]

    /// The position of the last event in the global log; ``GlobalPosition/start`` if empty.
    func headPosition() async throws -> GlobalPosition

    /// Reads up to `limit` events matching `query` (by type and tag, see ``EventQuery``) with
    /// positions strictly after `position`, in position order.
    ///
    /// The stores answer through their tag index. The default implementation, for readers that
    /// wrap another, filters ``readAll(after:limit:)`` pages.
    ///
    /// - Throws: ``EventStoreError/Code/invalidQuery`` for a malformed query,
    ///   ``EventStoreError/Code/invalidArgument`` for a negative limit.
    func readEvents(matching query: EventQuery, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent]
}

/// An event store: a reader and a writer over the same log.
public typealias EventStore = EventReader & EventWriter

extension EventReader {
    /// Reads ``readStream(_:from:direction:limit:)`` forwards and hands each event's payload
    /// bytes to `body`, the event's own `payload` emptied (see
    /// ``EventReader/readStreamInPlace(_:from:limit:_:)``).
    public func readStreamInPlace(
        _ stream: StreamID, from start: StreamVersion, limit: Int,
        _ body: (_ event: RecordedEvent, _ payload: UnsafeRawBufferPointer) throws -> Void
    ) async throws -> Int {
        let events = try await readStream(stream, from: start, direction: .forwards, limit: limit)
        for var event in events {
            let payload = event.payload
            event.payload = Data()
            try payload.withUnsafeBytes { try body(event, $0) }
        }
        return events.count
    }

    /// Filters ``readAll(after:limit:)`` pages by `query` (see
    /// ``EventReader/readEvents(matching:after:limit:)``).
    public func readEvents(matching query: EventQuery, after position: GlobalPosition, limit: Int) async throws -> [RecordedEvent] {
        try query.validate()
        try ReadLimit.check(limit)
        var result: [RecordedEvent] = []
        var last = position
        while result.count < limit {
            let page = try await readAll(after: last, limit: 1000)
            for event in page where query.matches(event) && result.count < limit { result.append(event) }
            guard let end = page.last else { break }
            last = end.position
        }
        return result
    }

    /// The events matching `query` after `position`, read lazily in pages.
    public func events(matching query: EventQuery, after position: GlobalPosition = .start, pageSize: Int = 1000) -> PagedEvents {
        PagedEvents(pageSize: pageSize) { last, limit in
            try await self.readEvents(matching: query, after: last?.position ?? position, limit: limit)
        }
    }

    /// Reads a whole stream (or up to `limit` events) forwards from its first event.
    public func readStream(_ stream: StreamID, limit: Int = .max) async throws -> [RecordedEvent] {
        try await readStream(stream, from: .first, direction: .forwards, limit: limit)
    }

    /// Reads a stream backwards from its last event.
    public func readStreamBackwards(_ stream: StreamID, limit: Int = .max) async throws -> [RecordedEvent] {
        try await readStream(stream, from: .max, direction: .backwards, limit: limit)
    }

    /// The global log after `position`, read lazily in pages of `pageSize`: a catch-up read that
    /// ends at the head as it was when the last page was read.
    public func allEvents(after position: GlobalPosition = .start, pageSize: Int = 1000) -> PagedEvents {
        PagedEvents(pageSize: pageSize) { last, limit in
            try await self.readAll(after: last?.position ?? position, limit: limit)
        }
    }

    /// The events of a category after `position`, read lazily in pages.
    public func events(inCategory category: String, after position: GlobalPosition = .start, pageSize: Int = 1000) -> PagedEvents {
        PagedEvents(pageSize: pageSize) { last, limit in
            try await self.readCategory(category, after: last?.position ?? position, limit: limit)
        }
    }

    /// A stream's events from `start`, read lazily in pages.
    public func events(in stream: StreamID, from start: StreamVersion = .first, pageSize: Int = 1000) -> PagedEvents {
        PagedEvents(pageSize: pageSize) { last, limit in
            try await self.readStream(stream, from: last.map { $0.streamVersion.next } ?? start, direction: .forwards, limit: limit)
        }
    }
}

/// Events read lazily, one page at a time, in constant memory.
public struct PagedEvents: AsyncSequence, Sendable {
    /// Each element is one recorded event.
    public typealias Element = RecordedEvent
    /// Fetches the page after the last event seen (`nil` before the first page).
    public typealias FetchPage = @Sendable (_ last: RecordedEvent?, _ limit: Int) async throws -> [RecordedEvent]

    let pageSize: Int
    let fetch: FetchPage

    /// Creates a paged sequence from a page-fetching closure. A `pageSize` below 1 makes the
    /// first `next()` throw ``EventStoreError/Code/invalidArgument``.
    public init(pageSize: Int, fetch: @escaping FetchPage) {
        self.pageSize = pageSize
        self.fetch = fetch
    }

    /// An iterator that fetches the first page on its first `next()`.
    public func makeAsyncIterator() -> Iterator { Iterator(pageSize: pageSize, fetch: fetch) }

    /// Iterates the pages.
    public struct Iterator: AsyncIteratorProtocol {
        let pageSize: Int
        let fetch: FetchPage
        var page: [RecordedEvent] = []
        var index = 0
        var last: RecordedEvent?
        var exhausted = false

        /// The next event, fetching the next page when the current one is used up; `nil` after the last page.
        public mutating func next() async throws -> RecordedEvent? {
            if index == page.count {
                if exhausted { return nil }
                guard pageSize > 0 else {
                    throw EventStoreError(.invalidArgument, "A page size of \(pageSize) reads nothing: use 1 or more (1,000 is a good default).")
                }
                page = try await fetch(last, pageSize)
                index = 0
                if page.count < pageSize { exhausted = true }
                if page.isEmpty { return nil }
            }
            let event = page[index]
            index += 1
            last = event
            return event
        }
    }
}
