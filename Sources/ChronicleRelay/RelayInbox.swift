public import Chronicle
public import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore
import Synchronization

/// The receiving end of an ``EventRelay``: an HTTP route any Hummingbird app mounts, which checks
/// each delivery's signature and hands the event to an ``Inbox`` (which applies it exactly once).
///
/// A delivery is refused, with a JSON error (`{"error":{"code":…,"message":…}}`, the read API's
/// shape) and nothing applied, when its body is larger than
/// the limit (413), its signature is missing or wrong (401 `badSignature`), it was signed
/// outside the tolerance (401 `staleRequest`), the same signed request came before (401
/// `replayedRequest`), or the body is not an event (400 `malformedEvent`). A verified event is
/// applied (200 `{"status":"applied"}`) or, if its id was received before, acknowledged without
/// being applied again (200 `{"status":"duplicate"}`); if the handler throws the answer is 500
/// and the relay retries.
///
/// ```swift
/// let router = Router()
/// RelayInbox(inbox: try SQLiteInbox(database: db) { event, db in … },
///            configuration: .init(secrets: [RelaySecret("…")])).add(to: router, at: "/inbox")
/// ```
public struct RelayInbox: Sendable {
    /// What the inbox accepts.
    public struct Configuration: Sendable {
        /// The secrets signatures are checked with (more than one while rotating).
        public var secrets: [RelaySecret]
        /// How far a signature's timestamp may be from the receiver's clock.
        public var tolerance: Duration
        /// The largest request body accepted, in bytes.
        public var maxBodySize: Int
        /// How many recent delivery ids are remembered to refuse replays (older ones also fall
        /// outside the tolerance).
        public var replayMemory: Int
        /// The receiver's clock.
        public var now: @Sendable () -> Date

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - secrets: the secrets signatures are checked with.
        ///   - tolerance: how far a signature's timestamp may be from `now` (5 minutes).
        ///   - maxBodySize: the largest body accepted (1 MiB).
        ///   - replayMemory: recent delivery ids remembered (100,000).
        ///   - now: the receiver's clock.
        public init(
            secrets: [RelaySecret], tolerance: Duration = .seconds(300), maxBodySize: Int = 1 << 20, replayMemory: Int = 100_000,
            now: @escaping @Sendable () -> Date = { Date() }
        ) {
            self.secrets = secrets
            self.tolerance = tolerance
            self.maxBodySize = maxBodySize
            self.replayMemory = replayMemory
            self.now = now
        }
    }

    /// What the inbox answered a delivery.
    public struct Answer: Sendable, Hashable {
        /// The HTTP status.
        public var status: HTTPResponse.Status
        /// The JSON body.
        public var body: String
        /// What the inbox did with a verified event (`nil` when the request was refused or failed).
        public var outcome: InboxOutcome?
    }

    /// Where verified events go.
    public let inbox: any Inbox
    /// What it accepts.
    public let configuration: Configuration
    let logger: Logger
    private let seen: ReplayGuard

    /// Creates the route's handler.
    ///
    /// - Parameters:
    ///   - inbox: where verified events go.
    ///   - configuration: secrets, tolerance and limits.
    ///   - logger: where refused requests and failed handlers are logged.
    public init(inbox: any Inbox, configuration: Configuration, logger: Logger = Logger(label: "chronicle.inbox")) {
        self.inbox = inbox
        self.configuration = configuration
        self.logger = logger
        self.seen = ReplayGuard(capacity: max(1, configuration.replayMemory))
    }

    /// Mounts `POST path` on `router`.
    ///
    /// - Parameters:
    ///   - router: the app's router.
    ///   - path: the route's path.
    public func add<Context: RequestContext>(to router: Router<Context>, at path: RouterPath = "inbox") {
        router.post(path) { request, _ in
            try await self.respond(to: request)
        }
    }

    /// Answers one request (what the route does).
    ///
    /// - Parameter request: the delivery.
    public func respond(to request: Request) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: configuration.maxBodySize)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return Self.response(refusal(RelayError(.bodyTooLarge, "The body is larger than the inbox's limit of \(configuration.maxBodySize) bytes."), status: .contentTooLarge))
        }
        let source = request.headers[HTTPField.Name("Chronicle-Relay")!] ?? "unknown"
        let answer = await receive(body: Array(body.readableBytesView), signature: request.headers[HTTPField.Name(RelaySignature.header)!], source: source)
        return Self.response(answer)
    }

    /// Checks and applies one delivery: what the route does, without HTTP.
    ///
    /// - Parameters:
    ///   - body: the request body.
    ///   - signature: the `Chronicle-Signature` header, if any.
    ///   - source: the sending relay's name.
    public func receive(body: [UInt8], signature: String?, source: String) async -> Answer {
        guard body.count <= configuration.maxBodySize else {
            return refusal(RelayError(.bodyTooLarge, "The body is larger than the inbox's limit of \(configuration.maxBodySize) bytes."), status: .contentTooLarge)
        }
        let now = configuration.now()
        let verified: RelaySignature.Verified
        do {
            verified = try RelaySignature.verify(header: signature, body: body, secrets: configuration.secrets, now: now, tolerance: configuration.tolerance)
        } catch {
            return refusal(error, status: .unauthorized)
        }
        guard seen.insert(verified.deliveryID, at: verified.timestamp, window: Int64(configuration.tolerance.components.seconds)) else {
            return refusal(
                RelayError(.badSignature, "Delivery \(verified.deliveryID) was received before: a replayed request. Nothing was applied."),
                status: .unauthorized, code: "replayedRequest"
            )
        }
        let event: RecordedEvent
        do {
            event = try IncomingEventDecoder.decode(body)
        } catch {
            return refusal(error, status: .badRequest)
        }
        do {
            let outcome = try await inbox.receive(event, from: source)
            return Answer(
                status: .ok,
                body: #"{"status":"\#(outcome.rawValue)","eventId":"\#(event.id.uuidString.lowercased())"}"#,
                outcome: outcome
            )
        } catch {
            logger.error("Inbox handler failed; the sender will retry", metadata: ["eventID": "\(event.id)", "eventType": .string(event.type), "error": "\(error)"])
            return Answer(status: .internalServerError, body: Self.errorJSON(code: "handlerFailed", message: "Applying the event failed: \(error)"), outcome: nil)
        }
    }

    private func refusal(_ error: RelayError, status: HTTPResponse.Status, code: String? = nil) -> Answer {
        logger.warning("Inbox refused a delivery", metadata: ["code": .string(code ?? error.code.description), "error": .string(error.message)])
        return Answer(status: status, body: Self.errorJSON(code: code ?? error.code.description, message: error.message), outcome: nil)
    }

    private static func errorJSON(code: String, message: String) -> String {
        var writer = EventJSONWriter()
        writer.raw(#"{"error":{"#); writer.key("code"); writer.string(code)
        writer.raw(","); writer.key("message"); writer.string(message)
        writer.raw("}}")
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    private static func response(_ answer: Answer) -> Response {
        Response(
            status: answer.status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: answer.body))
        )
    }
}

/// Remembers the delivery ids of recent verified requests (bounded), to refuse replays.
final class ReplayGuard: Sendable {
    private struct State {
        var ids: [String: Int64] = [:]
        var order: [(String, Int64)] = []
        var head = 0
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = capacity }

    /// Records `id` (signed at `timestamp`); `false` if it was recorded already.
    func insert(_ id: String, at timestamp: Int64, window: Int64) -> Bool {
        state.withLock { state in
            // Forget ids signed long enough ago that their timestamps are refused anyway, and the
            // oldest beyond the capacity.
            while state.head < state.order.count,
                state.order[state.head].1 < timestamp - 2 * window || state.order.count - state.head >= capacity
            {
                let (old, stamp) = state.order[state.head]
                if state.ids[old] == stamp { state.ids[old] = nil }
                state.head += 1
            }
            if state.head > 1024, state.head * 2 > state.order.count {
                state.order.removeFirst(state.head)
                state.head = 0
            }
            guard state.ids[id] == nil else { return false }
            state.ids[id] = timestamp
            state.order.append((id, timestamp))
            return true
        }
    }
}

/// Reads an event back from the read API's JSON (what ``EventRelay`` sends).
enum IncomingEventDecoder {
    static func decode(_ body: [UInt8]) throws(RelayError) -> RecordedEvent {
        func malformed(_ why: String) -> RelayError {
            RelayError(.malformedEvent, "The body is not a Chronicle event: \(why).")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { throw malformed("not a JSON object") }
        guard let idText = object["id"] as? String, let id = UUID(uuidString: idText) else { throw malformed("no event id") }
        guard let streamText = object["stream"] as? String, let stream = try? StreamID(streamText) else { throw malformed("no stream") }
        guard let version = (object["version"] as? NSNumber)?.int64Value, version >= 1 else { throw malformed("no stream version") }
        guard let position = (object["position"] as? NSNumber)?.int64Value, position >= 1 else { throw malformed("no position") }
        guard let type = object["type"] as? String, !type.isEmpty else { throw malformed("no event type") }
        let schemaVersion = (object["schemaVersion"] as? NSNumber)?.intValue ?? 1
        let recordedAt = (object["recordedAt"] as? String).flatMap { try? Date($0, strategy: EventJSONWriter.timestampStyle) } ?? Date(timeIntervalSince1970: 0)
        var metadata = EventMetadata()
        if let meta = object["metadata"] as? [String: Any] {
            metadata.correlationID = meta["correlationId"] as? String
            metadata.causationID = meta["causationId"] as? String
            metadata.custom = (meta["custom"] as? [String: String]) ?? [:]
        }
        let tags = (object["tags"] as? [String]) ?? []
        let payload: Data
        switch object["dataEncoding"] as? String {
        case "json":
            guard let data = object["data"], let bytes = try? JSONSerialization.data(withJSONObject: data, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) else {
                throw malformed("no data")
            }
            payload = bytes
        case "text":
            guard let text = object["data"] as? String else { throw malformed("no data") }
            payload = Data(text.utf8)
        case "base64":
            guard let text = object["data"] as? String, let bytes = Data(base64Encoded: text) else { throw malformed("data is not base64") }
            payload = bytes
        default:
            throw malformed("unknown dataEncoding")
        }
        return RecordedEvent(
            id: id, streamID: stream, streamVersion: StreamVersion(version), position: GlobalPosition(position), type: type,
            schemaVersion: schemaVersion, payload: payload, metadata: metadata, recordedAt: recordedAt, tags: tags
        )
    }
}
