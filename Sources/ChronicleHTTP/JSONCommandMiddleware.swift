import Foundation
import HTTPTypes
public import Hummingbird

/// Accepts only JSON bodies on the routes it guards (an app's command routes): a request whose
/// `Content-Type` is not `application/json` (or `application/<something>+json`) answers
/// 415 `unsupportedMediaType` before the handler runs, and nothing is written.
///
/// Browsers send `text/plain`, `application/x-www-form-urlencoded` and `multipart/form-data`
/// across origins without asking first; insisting on JSON makes such a cross-site form unable to
/// reach a command (a JSON request from another origin needs a CORS preflight the app never
/// grants). It also gives clients a clear answer instead of a parse error.
///
/// ```swift
/// let commands = router.group().add(middleware: JSONCommandMiddleware())
/// commands.post("/orders") { request, context in … }
/// ```
public struct JSONCommandMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The code of the error answered to other content types (status 415).
    public static var unsupportedMediaType: ReadAPIError.Code { "unsupportedMediaType" }

    /// Creates the middleware.
    public init() {}

    /// Answers 415 unless the request declares a JSON body; passes it on otherwise.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.isJSON(request.headers[.contentType]) else {
            let given = request.headers[.contentType].map { "Content-Type \($0.debugDescription)" } ?? "no Content-Type"
            throw ReadAPIError(
                status: .unsupportedMediaType, code: Self.unsupportedMediaType,
                "This route accepts only JSON bodies (Content-Type: application/json); the request has \(given).",
                headers: [.accept: "application/json"]
            )
        }
        return try await next(request, context)
    }

    /// Whether a `Content-Type` value names JSON: `application/json` or `application/*+json`,
    /// any case, with or without parameters such as `charset`.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let type = mediaType.trimmingCharacters(in: .whitespaces).lowercased()
        return type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json"))
    }
}
