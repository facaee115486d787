import Foundation
public import Hummingbird

/// Percent-decodes every path parameter once, before any handler reads it: the one decoding
/// rule of the read API's built-in routes and of the app's routes mounted on the same router,
/// so `/customers/%70robecust` reaches the handler of `/customers/:id` with `probecust`, as
/// `/streams/order-%31` reaches the stream `order-1`.
///
/// A parameter that is not valid percent-encoded UTF-8 answers 400 `invalidParameter`.
/// ``ReadAPI/addMiddleware(to:)`` adds it (``ReadAPI/makeRouter(context:options:)`` calls that);
/// handlers read `context.parameters` as usual and never decode again.
public struct PathParameterDecodingMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Creates the middleware.
    public init() {}

    /// Replaces each path parameter with its decoded value, then passes the request on.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard context.parameters.contains(where: { $0.value.contains("%") }) else { return try await next(request, context) }
        var decoded = Parameters()
        for (name, value) in context.parameters {
            guard value.contains("%") else {
                decoded.append(key: name, value: value)
                continue
            }
            guard let plain = String(value).removingPercentEncoding else {
                throw ReadAPIError.invalidParameter(String(name), value, expected: "valid percent-encoding")
            }
            decoded.append(key: name, value: Substring(plain))
        }
        var context = context
        context.coreContext.parameters = decoded
        return try await next(request, context)
    }
}
