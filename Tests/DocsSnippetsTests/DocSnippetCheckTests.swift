import Foundation
import Testing

/// The ```swift blocks of the Markdown docs, and where each is compiled.
///
/// Every block of README.md, Docs/*.md and the DocC catalogs (Sources/*/*.docc) must appear
/// verbatim (up to a common indentation) in a Swift file under Tests/, which the test targets
/// compile (this target, the README example tool, the guides' examples in
/// ChronicleSQLiteTests…). A block that is deliberately a fragment (a partial expression, a
/// listing) says so on the line before its fence: `<!-- snippet: fragment -->`.
enum DocSnippets {
    static let fragmentMarker = "<!-- snippet: fragment -->"

    /// The package root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Block: CustomStringConvertible {
        let file: String
        let line: Int
        let lines: [String]
        let marker: String?
        var description: String { "\(file):\(line)" }
    }

    /// The Markdown files whose snippets must compile.
    static func documents() throws -> [String] {
        let manager = FileManager.default
        var files = ["README.md"]
        let docs = try manager.contentsOfDirectory(atPath: root.appendingPathComponent("Docs").path)
        files += docs.filter { $0.hasSuffix(".md") }.sorted().map { "Docs/\($0)" }
        let sources = root.appendingPathComponent("Sources")
        for module in try manager.contentsOfDirectory(atPath: sources.path).sorted() {
            let catalog = "Sources/\(module)/\(module).docc"
            guard let enumerator = manager.enumerator(atPath: root.appendingPathComponent(catalog).path) else { continue }
            for case let name as String in enumerator where name.hasSuffix(".md") {
                files.append("\(catalog)/\(name)")
            }
        }
        return files
    }

    /// The ```swift blocks of one Markdown file.
    static func blocks(in file: String) throws -> [Block] {
        let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        var blocks: [Block] = []
        var index = 0
        while index < lines.count {
            let fence = lines[index].trimmingCharacters(in: .whitespaces)
            guard fence == "```swift" else {
                index += 1
                continue
            }
            let indent = lines[index].prefix { $0 == " " }.count
            var previous = index - 1
            while previous >= 0, lines[previous].trimmingCharacters(in: .whitespaces).isEmpty { previous -= 1 }
            let before = previous >= 0 ? lines[previous].trimmingCharacters(in: .whitespaces) : ""
            let marker = before.hasPrefix("<!-- snippet:") ? before : nil
            var body: [String] = []
            var end = index + 1
            while end < lines.count, lines[end].trimmingCharacters(in: .whitespaces) != "```" {
                body.append(String(lines[end].dropFirst(min(indent, lines[end].prefix { $0 == " " }.count))))
                end += 1
            }
            blocks.append(Block(file: file, line: index + 1, lines: body, marker: marker))
            index = end + 1
        }
        return blocks
    }

    /// Every Swift file under Tests/ and Samples/ (all compiled by the test targets, their tools
    /// and the sample executables).
    static func compiledSources() throws -> [(path: String, lines: [String])] {
        var sources: [(String, [String])] = []
        for directory in ["Tests", "Samples"] {
            let url = root.appendingPathComponent(directory)
            guard let enumerator = FileManager.default.enumerator(atPath: url.path) else { continue }
            for case let name as String in enumerator where name.hasSuffix(".swift") {
                let text = try String(contentsOf: url.appendingPathComponent(name), encoding: .utf8)
                sources.append(("\(directory)/\(name)", text.components(separatedBy: "\n")))
            }
        }
        return sources
    }

    /// Whether `block` occurs in `source` as consecutive lines, all shifted by the same indentation.
    /// Leading `import` lines are looked for anywhere in the file (compiled files gather their
    /// imports at the top), the rest as one run of lines.
    static func occurs(_ block: [String], in source: [String]) -> Bool {
        var body = Array(block.reversed().drop { $0.trimmingCharacters(in: .whitespaces).isEmpty }.reversed())
        let imports = body.prefix { $0.hasPrefix("import ") || $0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard imports.allSatisfy({ line in line.isEmpty || source.contains(line) }) else { return false }
        body.removeFirst(imports.count)
        guard let first = body.first else { return true }
        for start in source.indices where source[start].hasSuffix(first) {
            let shift = source[start].dropLast(first.count)
            guard shift.allSatisfy({ $0 == " " }), start + body.count <= source.count else { continue }
            let matches = body.indices.allSatisfy { offset in
                let expected = body[offset]
                let actual = source[start + offset]
                if expected.isEmpty { return actual.trimmingCharacters(in: .whitespaces).isEmpty }
                return actual == shift + expected
            }
            if matches { return true }
        }
        return false
    }
}

@Suite struct DocSnippetCheckTests {
    @Test func everySwiftSnippetOfTheDocsIsCompiledCode() throws {
        let compiled = try DocSnippets.compiledSources()
        var checked = 0
        for file in try DocSnippets.documents() {
            for block in try DocSnippets.blocks(in: file) {
                if let marker = block.marker {
                    #expect(marker == DocSnippets.fragmentMarker, "\(block): unknown marker \(marker)")
                    continue
                }
                checked += 1
                let found = compiled.contains { DocSnippets.occurs(block.lines, in: $0.lines) }
                #expect(found, "\(block): this ```swift block is in no Swift file under Tests/ or Samples/; copy it into Tests/DocsSnippetsTests verbatim, or mark it \(DocSnippets.fragmentMarker)\n\(block.lines.joined(separator: "\n"))")
            }
        }
        #expect(checked >= 20, "only \(checked) snippets found; is the docs layout what this test expects?")
    }

    @Test func theCheckFindsABlockOnlyWhenEveryLineMatches() {
        let source = ["func f() {", "    let a = 1", "", "    print(a)", "}"]
        #expect(DocSnippets.occurs(["let a = 1", "", "print(a)"], in: source))
        #expect(!DocSnippets.occurs(["let a = 1", "print(a)"], in: source))
        #expect(!DocSnippets.occurs(["let a = 2"], in: source))
        let file = ["import Chronicle", "import Foundation", "", "struct S {}"]
        #expect(DocSnippets.occurs(["import Chronicle", "", "struct S {}"], in: file))
        #expect(!DocSnippets.occurs(["import GRDB", "", "struct S {}"], in: file))
    }
}
