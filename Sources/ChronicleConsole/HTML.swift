/// HTML built by appending: text is escaped unless it is another `HTML` value, so a stream id,
/// an event type, a payload or an error message can only ever render as text.
///
/// The one escaper of the console: every interpolation goes through ``HTML/escape(_:)``
/// (`&`, `<`, `>`, `"` and `'`), in text and in attribute values alike (attributes are always
/// double-quoted).
struct HTML: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    private(set) var text: String

    init(raw: String) { text = raw }
    init() { text = "" }
    init(stringLiteral value: StaticString) { text = "\(value)" }
    init(stringInterpolation: Interpolation) { text = stringInterpolation.text }

    var description: String { text }

    /// Interpolation of HTML literals: `"<td>\(name)</td>"` escapes `name`; `\(html)` splices
    /// an `HTML` value as it is.
    struct Interpolation: StringInterpolationProtocol {
        var text = ""
        init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity + 16 * interpolationCount) }
        mutating func appendLiteral(_ literal: StaticString) { text += "\(literal)" }
        mutating func appendInterpolation(_ html: HTML) { text += html.text }
        mutating func appendInterpolation(_ value: String) { text += HTML.escape(value) }
        mutating func appendInterpolation(_ value: some BinaryInteger) { text += String(value) }
        mutating func appendInterpolation(_ value: Substring) { text += HTML.escape(String(value)) }
    }

    mutating func append(_ other: HTML) { text += other.text }
    static func += (lhs: inout HTML, rhs: HTML) { lhs.text += rhs.text }

    /// Joins pieces of HTML.
    static func join(_ pieces: some Sequence<HTML>, separator: HTML = HTML()) -> HTML {
        var result = HTML()
        for (index, piece) in pieces.enumerated() {
            if index > 0 { result += separator }
            result += piece
        }
        return result
    }

    /// Escapes text for HTML text and double-quoted attribute values.
    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// Percent-encoding for a path segment or a query value placed in a URL (then escaped as HTML
/// by the interpolation like any other text).
enum URLText {
    private static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)

    static func encode(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            if unreserved.contains(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// `path?name=value&…`, leaving out `nil` values.
    static func query(_ path: String, _ items: [(String, String?)]) -> String {
        let pairs = items.compactMap { name, value in value.map { "\(name)=\(encode($0))" } }
        return pairs.isEmpty ? path : path + "?" + pairs.joined(separator: "&")
    }
}
