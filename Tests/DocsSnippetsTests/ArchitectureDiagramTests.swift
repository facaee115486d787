import ChronicleTestSupport
import Foundation
import Testing

/// `Docs/Architecture.md`'s module diagram matches `Package.swift`.
@Suite struct ArchitectureDiagramTests {
    /// What the package declares: each library target's Chronicle modules and third-party packages.
    static func declaredGraph() async throws -> [String: (modules: Set<String>, packages: Set<String>)] {
        // Its own scratch path: `swift test` holds the lock of the package's `.build`.
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let dump = try await ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["swift", "package", "--package-path", DocSnippets.root.path, "--scratch-path", scratch.url.path, "dump-package"]
        )
        #expect(dump.status == 0, "swift package dump-package failed: \(dump.stderr)")
        let data = Data(dump.stdout.utf8)
        let manifest = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let products = try #require(manifest["products"] as? [[String: Any]])
        var libraries: Set<String> = []
        for product in products {
            guard let type = product["type"] as? [String: Any], type["library"] != nil else { continue }
            libraries.formUnion(product["targets"] as? [String] ?? [])
        }
        var graph: [String: (modules: Set<String>, packages: Set<String>)] = [:]
        for target in try #require(manifest["targets"] as? [[String: Any]]) {
            guard let name = target["name"] as? String, libraries.contains(name) else { continue }
            var entry: (modules: Set<String>, packages: Set<String>) = ([], [])
            for dependency in target["dependencies"] as? [[String: Any]] ?? [] {
                if let byName = dependency["byName"] as? [Any], let module = byName.first as? String {
                    entry.modules.insert(module)
                } else if let target = dependency["target"] as? [Any], let module = target.first as? String {
                    entry.modules.insert(module)
                } else if let product = dependency["product"] as? [Any], product.count > 1, let package = product[1] as? String {
                    entry.packages.insert(package)
                }
            }
            graph[name] = entry
        }
        return graph
    }

    /// What the diagram draws: `Id["Id<br/>package, package"]` nodes and `A --> B` edges.
    static func drawnGraph() throws -> [String: (modules: Set<String>, packages: Set<String>)] {
        let text = try String(contentsOf: DocSnippets.root.appendingPathComponent("Docs/Architecture.md"), encoding: .utf8)
        let start = try #require(text.range(of: "```mermaid\n"))
        let end = try #require(text.range(of: "```", range: start.upperBound..<text.endIndex))
        var graph: [String: (modules: Set<String>, packages: Set<String>)] = [:]
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") {
            if let node = line.firstMatch(of: /^\s*(\w+)\["(\w+)<br\/>([^"]*)"\]/) {
                let packages = node.output.3 == "no dependencies" ? [] : node.output.3.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                graph[String(node.output.1), default: ([], [])].packages.formUnion(packages)
            }
            if let edge = line.firstMatch(of: /^\s*(\w+)(?:\[[^\]]*\])?\s*-->\s*(\w+)\s*$/) {
                graph[String(edge.output.1), default: ([], [])].modules.insert(String(edge.output.2))
            }
        }
        return graph
    }

    @Test func theModuleDiagramMatchesThePackageManifest() async throws {
        let declared = try await Self.declaredGraph()
        let drawn = try Self.drawnGraph()
        #expect(declared.keys.sorted() == drawn.keys.sorted(), "modules: Package.swift has \(declared.keys.sorted()), the diagram \(drawn.keys.sorted())")
        for (module, dependencies) in declared {
            #expect(drawn[module]?.modules == dependencies.modules, "\(module) depends on \(dependencies.modules.sorted()) in Package.swift, on \(drawn[module]?.modules.sorted() ?? []) in the diagram")
            #expect(drawn[module]?.packages == dependencies.packages, "\(module) uses \(dependencies.packages.sorted()) in Package.swift, \(drawn[module]?.packages.sorted() ?? []) in the diagram")
        }
    }

    /// Every path in "Where to find what" exists.
    @Test func everyFileTheGuideNamesExists() throws {
        let text = try String(contentsOf: DocSnippets.root.appendingPathComponent("Docs/Architecture.md"), encoding: .utf8)
        let start = try #require(text.range(of: "### Where to find what"))
        let section = text[start.upperBound...]
        let end = section.range(of: "\n## ")?.lowerBound ?? section.endIndex
        for row in section[..<end].split(separator: "\n") where row.hasPrefix("| ") && !row.hasPrefix("| Concept") {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2 else { continue }
            var folder = ""
            for match in cells[1].matches(of: /`([^`*]+)`/) {
                let path = String(match.output.1)
                if path.hasPrefix("Sources/") {
                    folder = path.hasSuffix("/") ? path : (path as NSString).deletingLastPathComponent + "/"
                    #expect(FileManager.default.fileExists(atPath: DocSnippets.root.appendingPathComponent(path).path), "\(path) (\(cells[0])) does not exist")
                } else if path.hasSuffix(".swift"), !folder.isEmpty {
                    #expect(FileManager.default.fileExists(atPath: DocSnippets.root.appendingPathComponent(folder + path).path), "\(folder + path) (\(cells[0])) does not exist")
                }
            }
        }
    }
}
