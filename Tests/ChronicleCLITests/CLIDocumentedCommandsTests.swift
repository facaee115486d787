import ChronicleTestSupport
import Foundation
import Testing

/// Every `chronicle SUBCOMMAND … --option` the guides name is a command of the built tool, and
/// every option they show appears in that command's help.
@Suite struct CLIDocumentedCommandsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `(where, subcommand words, options)` of every documented command line.
    static func documentedCommands() throws -> [(source: String, command: [String], options: [String])] {
        let manager = FileManager.default
        var files = ["README.md"] + (try manager.contentsOfDirectory(atPath: root.appendingPathComponent("Docs").path)).filter { $0.hasSuffix(".md") }.map { "Docs/\($0)" }
        for module in try manager.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path) {
            let catalog = "Sources/\(module)/\(module).docc"
            files += ((try? manager.contentsOfDirectory(atPath: root.appendingPathComponent(catalog).path)) ?? []).filter { $0.hasSuffix(".md") }.map { "\(catalog)/\($0)" }
        }
        var commands: [(String, [String], [String])] = []
        for file in files.sorted() {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            // A command runs to the end of its code span, table cell or line.
            for match in text.matches(of: /(?:^|[`\s(])chronicle ([^`|\n#<>;&]+)/.anchorsMatchLineEndings()) {
                let words = match.output.1.split(separator: " ").map(String.init)
                // Subcommand words; `[status]` is a default subcommand, whose options follow.
                let command = words.prefix { $0.wholeMatch(of: /\[?[a-z]+\]?/) != nil }.map { $0.trimmingCharacters(in: ["[", "]"]) }
                guard !command.isEmpty else { continue }  // "chronicle events/s" in a benchmark table
                let options = words.compactMap { word -> String? in
                    word.firstMatch(of: /--[a-z][a-z-]*/).map { String($0.output) }
                }
                commands.append((file, command, options))
            }
        }
        return commands
    }

    @Test func everyDocumentedCommandAndOptionExists() async throws {
        let documented = try Self.documentedCommands()
        #expect(documented.count >= 20, "the command lines were found")
        let cli = try CLIRunner()
        defer { cli.cleanUp() }
        var help: [[String]: String] = [:]
        for entry in documented {
            if help[entry.command] == nil {
                let result = try await cli.run(entry.command + ["--help"], store: false)
                #expect(result.status == 0, "\(entry.source): chronicle \(entry.command.joined(separator: " ")) is not a command: \(result.stderr)")
                help[entry.command] = result.stdout
            }
            for option in entry.options {
                #expect(help[entry.command]?.contains(option) == true, "\(entry.source): chronicle \(entry.command.joined(separator: " ")) has no option \(option)")
            }
        }
    }
}
