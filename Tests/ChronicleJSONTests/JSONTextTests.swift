@testable import ChronicleJSON
import Foundation
import Testing

// The one escaper and the one validator the rest of Chronicle writes and checks JSON with.

@Suite struct JSONTextTests {
    static let strings = [
        "", "plain", "order/42", "a \"quoted\" \\ word", "tab\tnew\nline\rcr", "\u{08}\u{0C}\u{00}\u{1F}\u{7F}",
        "héllo wörld", "emoji 🦆 and \u{2028} and \u{2029}", "</script>", String(repeating: "eight by", count: 9) + "/\"",
        "long plain run then a control \u{01}", "日本語のテキスト/スラッシュ",
    ]

    private func escaped(_ string: String, escapingSlashes: Bool) -> String {
        var bytes: [UInt8] = []
        bytes.appendJSONString(string, escapingSlashes: escapingSlashes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private func foundation(_ string: String, options: JSONEncoder.OutputFormatting) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = options
        return String(decoding: try encoder.encode(string), as: UTF8.self)
    }

    @Test(arguments: strings) func stringsAreEscapedAsFoundationEscapesThem(_ string: String) throws {
        #expect(escaped(string, escapingSlashes: true) == (try foundation(string, options: [])))
        #expect(escaped(string, escapingSlashes: false) == (try foundation(string, options: [.withoutEscapingSlashes])))
    }

    @Test func integersAreWrittenAsTheirDescription() {
        func written<T: FixedWidthInteger>(_ value: T) -> String {
            var bytes: [UInt8] = []
            bytes.appendJSONInteger(value)
            return String(decoding: bytes, as: UTF8.self)
        }
        for value in [0, 7, -7, 10, -10, 1234567890, Int64.max, Int64.min] as [Int64] { #expect(written(value) == value.description) }
        #expect(written(UInt64.max) == UInt64.max.description)
        #expect(written(Int128.min) == Int128.min.description)
        #expect(written(UInt8(255)) == "255")
    }

    static let valid = [
        "{}", "[]", "0", "-0.5e+3", "\"text\"", "true", "false", "null", " \n{\"a\":[1,2,{\"b\":null}]}\t\r\n",
        "{\"emoji\":\"🦆\",\"escaped\":\"\\ud83e\\udd86\\n\\/\"}", "[\"\u{7F}\"]",
    ]
    static let invalid = [
        "", "   ", "\u{FEFF}{}", "{\"a\":1,}", "[1,]", "[1] [2]", "{'a':1}", "01", "1.", "+1", "NaN", "tru",
        "\"unterminated", "\"tab\there\"", "\"\\ud83e\"", "\"\\x41\"", "{\"a\" 1}", String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
    ]

    @Test(arguments: valid) func validTextsAreAcceptedAsFoundationAcceptsThem(_ text: String) throws {
        let data = Data(text.utf8)
        #expect(JSONText.isValid(data))
        #expect(throws: Never.self) { try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) }
    }

    @Test(arguments: invalid) func invalidTextsAreRefused(_ text: String) {
        #expect(!JSONText.isValid(Data(text.utf8)))
    }

    @Test func bytesThatAreNotUTF8JSONAreRefused() {
        #expect(!JSONText.isValid(Data([0x22, 0xC3, 0x28, 0x22])))  // "\xC3(": invalid UTF-8
        #expect(!JSONText.isValid(Data([0x22, 0x61, 0x00, 0x22])))  // a raw NUL in a string
        #expect(!JSONText.isValid(Data("{}".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })))  // UTF-16LE
    }
}
