import Chronicle
import Foundation
public import HTTPTypes
package import Hummingbird
import ServiceLifecycle

extension HTTPField.Name {
    /// `Last-Event-ID`: the id of the last server-sent event a reconnecting client saw.
    public static let lastEventID = HTTPField.Name("Last-Event-ID")!
}

/// The live feed: new events as server-sent events (`text/event-stream`).
///
/// Each event is one SSE message whose `id` is the event's global position and whose `data` is
/// the event's JSON (as in the other routes). A client that reconnects with `Last-Event-ID`
/// (browsers' `EventSource` do it by themselves) resumes right after that event, missing nothing.
///
/// The feed reads the log through ``LogSubscription``, the same catch-up-then-follow loop as
/// projections: it catches up from its start position, then sleeps until the store's
/// ``AppendNotifier`` announces a commit (without a notifier it polls every heartbeat). A comment
/// line is sent every ``ReadAPIConfiguration/feedHeartbeat`` so idle connections stay open and
/// gone clients are noticed. The feed ends when the server shuts down gracefully.
///
/// Memory is bounded per feed, whatever the client does: the subscription reads one page ahead at
/// most (``ReadAPIConfiguration/feedPageSize`` events), a page is written in pieces of at most
/// ``ReadAPIConfiguration/writeChunkSize`` bytes (or one event), and a client that leaves a write
/// pending for ``ReadAPIConfiguration/writeTimeout`` is dropped.
struct LiveFeed: Sendable {
    let reader: any EventReader
    let notifier: AppendNotifier?
    let filter: ProjectionFilter
    let pageSize: Int
    let heartbeat: Duration
    let retryMilliseconds: Int
    let chunkSize: Int

    private enum Signal: Sendable {
        case page(LogPage)
        case heartbeat
        case failed(any Error)
    }

    /// Streams events after `start` into `writer` until shutdown or a write fails.
    func stream(after start: GlobalPosition, into writer: TimedBodyWriter) async throws {
        let source: ProjectionSource =
            if let notifier { ProjectionSource(reader: reader) { notifier.updates() } } else { .polling(reader, interval: heartbeat) }
        let subscription = try LogSubscription(source: source, after: start, filter: filter, pageSize: pageSize)
        let (signals, continuation) = AsyncStream.makeStream(of: Signal.self)
        // The reader hands over one page at a time and waits until it is written.
        let (taken, takenContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        try await writer.write(ByteBuffer(string: "retry: \(retryMilliseconds)\n: connected\n\n"))
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var acknowledgements = taken.makeAsyncIterator()
                    do {
                        for try await page in subscription where !page.events.isEmpty {
                            continuation.yield(.page(page))
                            guard await acknowledgements.next() != nil else { return }
                        }
                    } catch {
                        continuation.yield(.failed(error))
                    }
                    continuation.finish()
                }
                let heartbeat = self.heartbeat
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: heartbeat)
                        continuation.yield(.heartbeat)
                    }
                }
                defer {
                    takenContinuation.finish()
                    group.cancelAll()
                }
                var wroteSinceHeartbeat = false
                for await signal in signals {
                    switch signal {
                    case .page(let page):
                        // Written in pieces of about `chunkSize` bytes, never one buffer per page.
                        var buffer = ByteBuffer()
                        for event in page.events {
                            Self.appendMessage(for: event, to: &buffer)
                            if buffer.readableBytes >= chunkSize {
                                try await writer.write(buffer)
                                buffer = ByteBuffer()
                            }
                        }
                        if buffer.readableBytes > 0 { try await writer.write(buffer) }
                        takenContinuation.yield()
                        wroteSinceHeartbeat = true
                    case .heartbeat:
                        if !wroteSinceHeartbeat { try await writer.write(ByteBuffer(string: ": keep-alive\n\n")) }
                        wroteSinceHeartbeat = false
                    case .failed(let error):
                        throw error
                    }
                }
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    /// Appends `id: <position>` and the event's JSON as `data:` lines (a payload's own line
    /// breaks become separate `data:` lines, which clients join back with `\n`).
    static func appendMessage(for event: RecordedEvent, to buffer: inout ByteBuffer) {
        var json = JSONOutput()
        json.event(event)
        buffer.writeString("id: \(event.position.value)\n")
        var lineStart = 0
        let bytes = json.bytes
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0A || byte == 0x0D {
                buffer.writeString("data: ")
                buffer.writeBytes(bytes[lineStart..<index])
                buffer.writeString("\n")
                if byte == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
                lineStart = index + 1
            }
            index += 1
        }
        buffer.writeString("data: ")
        buffer.writeBytes(bytes[lineStart..<bytes.count])
        buffer.writeString("\n\n")
    }
}

extension ReadAPI {
    /// `GET /feed` for another route of the same package (the console's live tail, which signs
    /// in its own way): the same parameters, limits and count of open feeds.
    package func consoleFeed(_ request: Request) async throws -> Response {
        try await feed(request)
    }

    func feed(_ request: Request) async throws -> Response {
        let parameters = try RequestParameters(request, accepting: ["category", "type", "after"])
        let category = try parameters.category("category")
        let filter = ProjectionFilter(categories: category.map { [$0] }, eventTypes: try parameters.eventTypes("type"))
        let start: GlobalPosition
        if let lastID = request.headers[.lastEventID] {
            start = GlobalPosition(try RequestParameters.nonNegative(lastID.trimmingCharacters(in: .whitespaces), name: "Last-Event-ID"))
        } else if let after = try parameters.position("after") {
            start = after
        } else {
            start = try await reader.headPosition()
        }
        guard let slot = monitor.openFeed(maximum: configuration.maximumConcurrentFeeds) else {
            let retrySeconds = max(1, (configuration.feedRetryMilliseconds + 999) / 1000)
            throw ReadAPIError(
                status: .serviceUnavailable, code: .tooManyFeeds,
                "\(configuration.maximumConcurrentFeeds) live feeds are open, the most this server serves at once; retry later.",
                details: ["limit": .integer(Int64(configuration.maximumConcurrentFeeds))],
                headers: [.retryAfter: "\(retrySeconds)"]
            )
        }
        let feed = LiveFeed(
            reader: reader, notifier: notifier, filter: filter, pageSize: configuration.feedPageSize,
            heartbeat: configuration.feedHeartbeat, retryMilliseconds: configuration.feedRetryMilliseconds,
            chunkSize: configuration.writeChunkSize
        )
        let (monitor, timeout, logger) = (self.monitor, configuration.writeTimeout, self.logger)
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream; charset=utf-8",
                .cacheControl: "no-cache",
                HTTPField.Name("X-Accel-Buffering")!: "no",
            ],
            body: ResponseBody { writer in
                defer { slot.release() }
                try await withWriteTimeout(timeout, monitor: monitor, logger: logger, writer: &writer) { timed in
                    try await feed.stream(after: start, into: timed)
                }
                try await writer.finish(nil)
            }
        )
    }
}
