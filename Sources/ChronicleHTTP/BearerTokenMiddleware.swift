public import Hummingbird

/// Requires `Authorization: Bearer <token>` with an accepted token; answers 401 with a JSON error
/// and `WWW-Authenticate: Bearer` otherwise.
///
/// Tokens are compared in constant time. Configure it through
/// ``ReadAPIConfiguration/bearerTokens``; it guards every route added after it, including the
/// app's own query routes.
public struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: [[UInt8]]
    let realm: String

    /// Creates the middleware accepting any of `tokens` (must not be empty).
    public init(tokens: Set<String>, realm: String = "chronicle") {
        precondition(!tokens.isEmpty, "BearerTokenMiddleware needs at least one token")
        self.tokens = tokens.map { Array($0.utf8) }
        self.realm = realm
    }

    /// Answers 401 unless the request carries one of the configured bearer tokens; passes it on otherwise.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw unauthorized("This API needs an 'Authorization: Bearer <token>' header.", error: nil)
        }
        let scheme = "bearer "
        guard header.count > scheme.count, header.prefix(scheme.count).lowercased() == scheme else {
            throw unauthorized("The Authorization header must use the Bearer scheme.", error: "invalid_request")
        }
        let presented = Array(header.dropFirst(scheme.count).trimmingPrefix(while: { $0 == " " }).utf8)
        // Check every token, without early exit, so timing says nothing about which matched.
        var accepted = false
        for token in tokens where Self.constantTimeEqual(token, presented) {
            accepted = true
        }
        guard accepted else {
            throw unauthorized("The bearer token is not accepted.", error: "invalid_token")
        }
        return try await next(request, context)
    }

    private func unauthorized(_ message: String, error: String?) -> ReadAPIError {
        var challenge = "Bearer realm=\"\(realm)\""
        if let error { challenge += ", error=\"\(error)\"" }
        return ReadAPIError(.unauthorized, message, headers: [.wwwAuthenticate: challenge])
    }

    /// Compares two byte strings in time that depends only on their lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
