import Hummingbird

/// Refuses request bodies larger than a limit with 413 `bodyTooLarge`, before a handler reads
/// them: at once from `Content-Length`, or while collecting a chunked body.
///
/// The read API's own routes take no body; the limit protects the app's command routes mounted
/// on the same router. Configure it through ``ReadAPIConfiguration/maximumBodySize``.
public struct RequestBodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The largest accepted body, in bytes.
    public let maximumSize: Int

    /// Creates the middleware.
    public init(maximumSize: Int) {
        precondition(maximumSize >= 0, "maximumSize cannot be negative")
        self.maximumSize = maximumSize
    }

    /// Answers 413 when the request body is larger than the configured limit; passes it on otherwise.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var request = request
        let hasLength = request.headers[.contentLength] != nil
        let isChunked = request.headers[.transferEncoding] != nil
        if let length = request.headers[.contentLength] {
            guard let bytes = Int(length), bytes >= 0 else {
                throw ReadAPIError(.invalidParameter, "Content-Length \(length.debugDescription) is not a byte count.")
            }
            if bytes > maximumSize { throw tooLarge() }
        }
        if hasLength || isChunked {
            do {
                _ = try await request.collectBody(upTo: maximumSize)
            } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
                throw tooLarge()
            }
        }
        return try await next(request, context)
    }

    private func tooLarge() -> ReadAPIError {
        ReadAPIError(
            .bodyTooLarge, "The request body is larger than \(maximumSize) bytes.",
            details: ["limit": .integer(Int64(maximumSize))]
        )
    }
}
