import Chronicle
import HTTPTypes
public import Hummingbird
import Logging

/// Turns every error thrown below it into a JSON error answer
/// `{"error": {"code": "…", "message": "…"}}` with the right status.
///
/// - ``ReadAPIError``: as it says.
/// - ``EventStoreError``: mapped by ``ReadAPIError/init(_:)-(EventStoreError)``.
/// - Hummingbird's `HTTPError` and other `HTTPResponseError`s (unknown route → 404, body too
///   large → 413, undecodable request body → 400): their status, with a code named after it.
/// - Anything else: 500 `internalError`, message generic; the error is logged, never sent.
///
/// Add it first (outermost) so it also covers authentication, limits and unknown routes.
public struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Creates the middleware.
    public init() {}

    /// Passes the request on and turns any error it throws into a JSON error response.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let apiError = Self.apiError(for: error, request: request, logger: context.logger)
            return try apiError.response(from: request, context: context)
        }
    }

    /// The API error answered for `error`.
    static func apiError(for error: any Error, request: Request, logger: Logger) -> ReadAPIError {
        switch error {
        case let error as ReadAPIError:
            return error
        case let error as EventStoreError:
            let mapped = ReadAPIError(error)
            if mapped.status.kind == .serverError || error.code == .diskFull || error.code == .readOnly {
                logger.error("Event store failure", metadata: ["error": "\(error)", "uri": "\(request.uri)"])
            }
            return mapped
        case let error as HTTPError:
            let code = Self.code(for: error.status)
            let message = error.body ?? Self.defaultMessage(for: error.status, request: request)
            return ReadAPIError(status: error.status, code: code, message, headers: error.headers)
        case let error as any HTTPResponseError:
            return ReadAPIError(status: error.status, code: Self.code(for: error.status), Self.defaultMessage(for: error.status, request: request))
        default:
            logger.error("Unexpected error answering request", metadata: ["error": "\(error)", "uri": "\(request.uri)"])
            return ReadAPIError(.internalError, "The server failed to answer; the server log has the details.")
        }
    }

    static func code(for status: HTTPResponse.Status) -> ReadAPIError.Code {
        switch status {
        case .badRequest: .invalidParameter
        case .unauthorized: .unauthorized
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .contentTooLarge: .bodyTooLarge
        case .requestTimeout: .requestTimeout
        case .serviceUnavailable: .unavailable
        default:
            status.kind == .serverError ? .internalError : ReadAPIError.Code(Self.camelCase(status.reasonPhrase))
        }
    }

    static func defaultMessage(for status: HTTPResponse.Status, request: Request) -> String {
        switch status {
        case .notFound: "Nothing is served at \(request.method) \(request.uri.path)."
        case .contentTooLarge: "The request body is larger than this server accepts."
        default: status.reasonPhrase
        }
    }

    static func camelCase(_ phrase: String) -> String {
        let words = phrase.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
        guard let first = words.first else { return "error" }
        return first.lowercased() + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined()
    }
}
