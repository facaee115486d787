public import Hummingbird
import Logging

/// Bounds request bodies: larger than a limit answers 413 `bodyTooLarge`, slower than a deadline
/// 408 `requestTimeout`, malformed (broken chunked framing, a client gone mid-body) 400
/// `invalidRequestBody`, logged at debug level as the client's fault it is.
///
/// It never reads a body itself: a declared `Content-Length` above the limit is refused at once,
/// and the body handed on is checked as the route reads it. Routes that take no body (all of
/// the read API's) answer without waiting for one, so a client that declares a body and never
/// sends it holds nothing but its idle connection. Configure it through
/// ``ReadAPIConfiguration/maximumBodySize`` and ``ReadAPIConfiguration/bodyReadTimeout``.
public struct RequestBodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The largest accepted body, in bytes.
    public let maximumSize: Int
    /// The longest a route may spend reading the body, from its first read to its end.
    public let readTimeout: Duration

    /// Creates the middleware; throws for a negative size or a timeout that is not positive.
    public init(maximumSize: Int, readTimeout: Duration = .seconds(30)) throws(ReadAPIConfiguration.InvalidValue) {
        guard maximumSize >= 0 else {
            throw ReadAPIConfiguration.InvalidValue(setting: "maximumBodySize", value: "\(maximumSize)", requirement: "at least 0")
        }
        guard readTimeout > .zero, readTimeout <= ReadAPIConfiguration.longestTimeout else {
            throw ReadAPIConfiguration.InvalidValue(setting: "bodyReadTimeout", value: "\(readTimeout)", requirement: "more than zero and at most one day")
        }
        self.maximumSize = maximumSize
        self.readTimeout = readTimeout
    }

    /// Refuses a declared body over the limit with 413; hands the request on with its body
    /// checked as it is read.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        if let length = request.headers[.contentLength] {
            guard let bytes = Int(length), bytes >= 0 else {
                throw ReadAPIError(.invalidParameter, "Content-Length \(length.debugDescription) is not a byte count.")
            }
            if bytes > maximumSize { throw ReadAPIError.bodyTooLarge(limit: maximumSize) }
            if bytes == 0 { return try await next(request, context) }
        } else if request.headers[.transferEncoding] == nil {
            return try await next(request, context)
        }
        request.body = RequestBody(
            asyncSequence: BoundedRequestBody(base: request.body, maximumSize: maximumSize, readTimeout: readTimeout, logger: context.logger)
        )
        return try await next(request, context)
    }

    /// For an already validated configuration.
    init(validatedMaximumSize maximumSize: Int, readTimeout: Duration) {
        self.maximumSize = maximumSize
        self.readTimeout = readTimeout
    }
}

extension ReadAPIError {
    static func bodyTooLarge(limit: Int) -> ReadAPIError {
        ReadAPIError(.bodyTooLarge, "The request body is larger than \(limit) bytes.", details: ["limit": .integer(Int64(limit))])
    }
}

/// A request body read with a size limit and a deadline, whose transport errors become 400s.
struct BoundedRequestBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    let base: RequestBody
    let maximumSize: Int
    let readTimeout: Duration
    let logger: Logger

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: IteratorBox(base.makeAsyncIterator()), body: self)
    }

    /// The network body's iterator, moved into the child task that waits on it.
    final class IteratorBox: @unchecked Sendable {
        // Invariant (why @unchecked): `iterator` is used by one task at a time: the child task
        // of `next()` while it waits, and nobody after a failed read (the body is then over).
        var iterator: RequestBody.AsyncIterator
        init(_ iterator: RequestBody.AsyncIterator) { self.iterator = iterator }
    }

    private struct TimedOut: Error {}

    struct AsyncIterator: AsyncIteratorProtocol {
        let base: IteratorBox
        let body: BoundedRequestBody
        var received = 0
        var deadline: ContinuousClock.Instant?
        var finished = false

        mutating func next() async throws -> ByteBuffer? {
            if finished { return nil }
            let deadline = self.deadline ?? ContinuousClock.now.advanced(by: body.readTimeout)
            self.deadline = deadline
            let box = base
            let chunk: ByteBuffer?
            do {
                chunk = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                    group.addTask { try await box.iterator.next() }
                    group.addTask {
                        try await Task.sleep(until: deadline, clock: .continuous)
                        throw TimedOut()
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? nil
                }
            } catch is TimedOut {
                finished = true
                body.logger.debug("Request body not received in time", metadata: ["timeout": "\(body.readTimeout)", "received": "\(received)"])
                throw ReadAPIError(
                    .requestTimeout, "The request body did not arrive within \(body.readTimeout).",
                    details: ["received": .integer(Int64(received))]
                )
            } catch let error as CancellationError {
                finished = true
                throw error
            } catch {
                finished = true
                // The client's fault (broken framing, a connection closed mid-body), not the server's.
                body.logger.debug("Request body could not be read", metadata: ["error": "\(error)", "received": "\(received)"])
                throw ReadAPIError(
                    .invalidRequestBody,
                    "The request body could not be read: its framing is malformed or the connection ended before all of it was sent."
                )
            }
            guard let chunk else {
                finished = true
                return nil
            }
            received += chunk.readableBytes
            if received > body.maximumSize {
                finished = true
                throw ReadAPIError.bodyTooLarge(limit: body.maximumSize)
            }
            return chunk
        }
    }
}
