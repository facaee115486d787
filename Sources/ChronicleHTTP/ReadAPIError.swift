import Chronicle
import Foundation
public import HTTPTypes
public import Hummingbird

/// An error the read API answers with: an HTTP status and a JSON body
/// `{"error": {"code": "…", "message": "…", …}}`.
///
/// Route handlers (built-in or the app's own) can throw it to answer with a clear, typed error:
///
/// ```swift
/// router.get("/orders/:id") { request, context in
///     guard let summary = try await readModel.summary(id) else {
///         throw ReadAPIError(.notFound, "No order \(id).")
///     }
///     return summary
/// }
/// ```
///
/// Errors that are not `ReadAPIError`s are mapped by ``JSONErrorMiddleware``: ``EventStoreError``
/// codes to their statuses (see ``ReadAPIError/init(_:)-(EventStoreError)``), Hummingbird's
/// `HTTPError` to its status, anything else to 500 without leaking its text.
public struct ReadAPIError: Error, Sendable, CustomStringConvertible {
    /// A machine-readable error code, the `code` field of the JSON body.
    public struct Code: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
        /// The code as sent (camelCase).
        public let rawValue: String
        /// Wraps a code; apps may define their own.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// A code written as a string literal.
        public init(stringLiteral value: String) { self.rawValue = value }
        /// The code as sent.
        public var description: String { rawValue }

        /// A query parameter, path parameter or header is malformed or out of range (400).
        public static let invalidParameter: Code = "invalidParameter"
        /// A page size above the configured maximum was asked for (400).
        public static let pageSizeTooLarge: Code = "pageSizeTooLarge"
        /// No bearer token, or not an accepted one (401).
        public static let unauthorized: Code = "unauthorized"
        /// The route or resource does not exist (404).
        public static let notFound: Code = "notFound"
        /// The route exists but not for this method (the API is read-only) (405).
        public static let methodNotAllowed: Code = "methodNotAllowed"
        /// The request body is larger than the configured limit (413).
        public static let bodyTooLarge: Code = "bodyTooLarge"
        /// The request body could not be read: malformed framing (chunked encoding) or the client
        /// closed the connection before sending all of it (400).
        public static let invalidRequestBody: Code = "invalidRequestBody"
        /// The request body did not arrive within ``ReadAPIConfiguration/bodyReadTimeout`` (408).
        public static let requestTimeout: Code = "requestTimeout"
        /// ``ReadAPIConfiguration/maximumConcurrentFeeds`` live feeds are open; retry after
        /// `Retry-After` seconds (503).
        public static let tooManyFeeds: Code = "tooManyFeeds"
        /// The event store's disk (or quota) is full: nothing was written (503).
        public static let storageFull: Code = "storageFull"
        /// The event store's file or file system is read-only: nothing was written (503).
        public static let storageReadOnly: Code = "storageReadOnly"
        /// A read-your-writes wait ran out before the read model reached the asked position (503).
        public static let notCaughtUp: Code = "notCaughtUp"
        /// The server is shutting down or a dependency is unavailable (503).
        public static let unavailable: Code = "unavailable"
        /// An unexpected server failure; details are logged, not sent (500).
        public static let internalError: Code = "internalError"
    }

    /// The HTTP status answered.
    public var status: HTTPResponse.Status
    /// The machine-readable code.
    public var code: Code
    /// What went wrong and what to do, for people.
    public var message: String
    /// Extra JSON fields of the `error` object (such as `position`), scalar values only.
    public var details: [String: DetailValue]
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`).
    public var headers: HTTPFields

    /// A scalar detail value of an error body.
    public enum DetailValue: Sendable, Hashable, Encodable {
        /// A string.
        case string(String)
        /// An integer (positions, versions, limits).
        case integer(Int64)

        /// Encodes the value as a JSON string or number.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let value): try container.encode(value)
            case .integer(let value): try container.encode(value)
            }
        }
    }

    /// Creates an error with an explicit status.
    public init(
        status: HTTPResponse.Status, code: Code, _ message: String,
        details: [String: DetailValue] = [:], headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    /// Creates an error whose status follows from its code (unknown codes answer 400).
    public init(_ code: Code, _ message: String, details: [String: DetailValue] = [:], headers: HTTPFields = [:]) {
        self.init(status: Self.status(for: code), code: code, message, details: details, headers: headers)
    }

    /// The status of a well-known code.
    static func status(for code: Code) -> HTTPResponse.Status {
        switch code {
        case .unauthorized: .unauthorized
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .bodyTooLarge: .contentTooLarge
        case .requestTimeout: .requestTimeout
        case .notCaughtUp, .unavailable, .tooManyFeeds, .storageFull, .storageReadOnly: .serviceUnavailable
        case .internalError: .internalServerError
        default: .badRequest
        }
    }

    /// The HTTP status, the code and the message.
    public var description: String { "\(status.code) \(code): \(message)" }

    /// A malformed query parameter.
    static func unknownParameters(_ names: [String], accepted: [String]) -> ReadAPIError {
        ReadAPIError(
            .invalidParameter,
            "Unknown query parameter\(names.count == 1 ? "" : "s") \(names.map { "'\($0)'" }.joined(separator: ", ")); this route accepts \(accepted.isEmpty ? "none" : accepted.joined(separator: ", ")).",
            details: ["parameter": .string(names.joined(separator: ","))]
        )
    }

    static func invalidParameter(_ name: String, _ value: some StringProtocol, expected: String) -> ReadAPIError {
        ReadAPIError(
            .invalidParameter,
            "Parameter '\(name)' is \(String(value).debugDescription); expected \(expected).",
            details: ["parameter": .string(name)]
        )
    }
}

extension ReadAPIError {
    /// Maps an ``EventStoreError`` to the HTTP answer for it. This is the only place where store
    /// error codes meet HTTP statuses.
    ///
    /// | code | status |
    /// | --- | --- |
    /// | `invalidStreamID`, `invalidArgument`, `invalidEvent`, `emptyAppend` | 400 |
    /// | `wrongExpectedVersion`, `duplicateEventID` | 409 |
    /// | `databaseBusy`, `timeout`, `closed` | 503 (with `Retry-After: 1`) |
    /// | `diskFull` | 503 `storageFull`: the disk is full, nothing was written |
    /// | `readOnly` | 503 `storageReadOnly`: the store cannot be written, nothing was written |
    /// | `notADatabase`, `corruptRecord`, `unsupportedSchema`, `storageFailure`, `unknownEventType`, `undecodablePayload`, `unencodableEvent`, others | 500 |
    ///
    /// 500 answers carry a generic message: the store's message may name files and SQL, and is
    /// logged instead.
    public init(_ error: EventStoreError) {
        var details: [String: DetailValue] = ["storeCode": .string(error.code.description)]
        if let stream = error.streamID { details["stream"] = .string(stream.rawValue) }
        if let actual = error.actualVersion { details["actualVersion"] = .integer(actual.value) }
        if let position = error.position { details["position"] = .integer(position.value) }
        switch error.code {
        case .invalidStreamID, .invalidArgument, .invalidEvent, .emptyAppend:
            self.init(status: .badRequest, code: .invalidParameter, error.message, details: details)
        case .wrongExpectedVersion, .duplicateEventID:
            self.init(status: .conflict, code: Code(error.code.description), error.message, details: details)
        case .databaseBusy, .timeout, .closed:
            self.init(
                status: .serviceUnavailable, code: .unavailable, error.message, details: details,
                headers: [.retryAfter: "1"]
            )
        case .diskFull:
            // The store's own message names files: it goes to the log, not to the client.
            self.init(
                status: .serviceUnavailable, code: .storageFull,
                "The event store's disk is full, so nothing was written; the request can be retried once an operator has freed space.",
                details: ["storeCode": .string(error.code.description)]
            )
        case .readOnly:
            self.init(
                status: .serviceUnavailable, code: .storageReadOnly,
                "The event store is read-only (its file, directory or file system cannot be written), so nothing was written; reads still work.",
                details: ["storeCode": .string(error.code.description)]
            )
        default:
            self.init(
                status: .internalServerError, code: .internalError,
                "The event store failed (\(error.code)); the server log has the details.",
                details: ["storeCode": .string(error.code.description)]
            )
        }
    }
}

extension ReadAPIError: HTTPResponseError {
    /// The JSON error response: the status, the extra headers, and `{"error": {"code", "message", …details}}`.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: jsonBody())))
        response.headers[.contentType] = "application/json; charset=utf-8"
        return response
    }

    /// The JSON body: `{"error": {"code": …, "message": …, …details}}`.
    func jsonBody() -> [UInt8] {
        struct Body: Encodable {
            let error: Fields
        }
        struct Fields: Encodable {
            let code: String
            let message: String
            let details: [String: DetailValue]

            struct Key: CodingKey {
                var stringValue: String
                var intValue: Int? { nil }
                init(stringValue: String) { self.stringValue = stringValue }
                init?(intValue: Int) { nil }
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(code, forKey: Key(stringValue: "code"))
                try container.encode(message, forKey: Key(stringValue: "message"))
                for (key, value) in details.sorted(by: { $0.key < $1.key }) where key != "code" && key != "message" {
                    try container.encode(value, forKey: Key(stringValue: key))
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings and integers cannot fail.
        return Array((try? encoder.encode(Body(error: Fields(code: code.rawValue, message: message, details: details)))) ?? Data())
    }
}
