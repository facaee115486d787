import Chronicle
import HTTPTypes
import Hummingbird
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
/// The feed first catches up from its start position, then sleeps until the store's
/// ``AppendNotifier`` announces a commit: no polling. A comment line is sent every
/// ``ReadAPIConfiguration/feedHeartbeat`` so idle connections stay open and gone clients are
/// noticed. The feed ends when the server shuts down gracefully.
struct LiveFeed: Sendable {
    let reader: any EventReader
    let notifier: AppendNotifier?
    let category: String?
    let pageSize: Int
    let heartbeat: Duration
    let retryMilliseconds: Int

    private enum Signal { case wake, heartbeat }

    /// Streams events after `start` into `writer` until shutdown or a write fails.
    func stream(after start: GlobalPosition, into writer: inout any ResponseBodyWriter) async throws {
        let (signals, continuation) = AsyncStream.makeStream(of: Signal.self, bufferingPolicy: .bufferingNewest(1))
        var position = start
        try await writer.write(ByteBuffer(string: "retry: \(retryMilliseconds)\n: connected\n\n"))
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let notifier {
                    group.addTask {
                        // The first update is the current head: it triggers the catch-up.
                        for await _ in notifier.updates() { continuation.yield(.wake) }
                    }
                } else {
                    continuation.yield(.wake)
                }
                let heartbeat = self.heartbeat
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: heartbeat)
                        continuation.yield(.heartbeat)
                    }
                }
                var wroteSinceHeartbeat = false
                for await signal in signals {
                    if try await catchUp(from: &position, into: &writer) { wroteSinceHeartbeat = true }
                    if case .heartbeat = signal {
                        if !wroteSinceHeartbeat { try await writer.write(ByteBuffer(string: ": keep-alive\n\n")) }
                        wroteSinceHeartbeat = false
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    /// Writes every event after `position` that is stored now; returns whether it wrote any.
    private func catchUp(from position: inout GlobalPosition, into writer: inout any ResponseBodyWriter) async throws -> Bool {
        var wrote = false
        // Positions are gap-free for readers: everything up to this head is readable now.
        let head = try await reader.headPosition()
        while position < head {
            let page: [RecordedEvent]
            if let category {
                page = try await reader.readCategory(category, after: position, limit: pageSize)
            } else {
                page = try await reader.readAll(after: position, limit: pageSize)
            }
            if !page.isEmpty {
                var buffer = ByteBuffer()
                for event in page { Self.appendMessage(for: event, to: &buffer) }
                try await writer.write(buffer)
                wrote = true
                position = page[page.count - 1].position
            }
            if page.count < pageSize {
                // Nothing more up to `head` (for a category: no more of its events).
                position = max(position, head)
                break
            }
        }
        return wrote
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
    func feed(_ request: Request) async throws -> Response {
        let parameters = RequestParameters(request)
        let category = try parameters.category("category")
        let start: GlobalPosition
        if let lastID = request.headers[.lastEventID] {
            start = GlobalPosition(try RequestParameters.nonNegative(lastID.trimmingCharacters(in: .whitespaces), name: "Last-Event-ID"))
        } else if let after = try parameters.position("after") {
            start = after
        } else {
            start = try await reader.headPosition()
        }
        let feed = LiveFeed(
            reader: reader, notifier: notifier, category: category, pageSize: configuration.feedPageSize,
            heartbeat: configuration.feedHeartbeat, retryMilliseconds: configuration.feedRetryMilliseconds
        )
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/event-stream; charset=utf-8",
                .cacheControl: "no-cache",
                HTTPField.Name("X-Accel-Buffering")!: "no",
            ],
            body: ResponseBody { writer in
                try await feed.stream(after: start, into: &writer)
                try await writer.finish(nil)
            }
        )
    }
}
