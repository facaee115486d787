import ChronicleConsole
import ChronicleHTTP
import ChronicleHTTPTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Every `GET /…?a=&b=` the guides and the read API's own documentation name is a route of the
/// read API or of the console, and every query parameter they show is one the route accepts.
@Suite struct DocumentedRoutesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `(where, path template, parameters)` of every documented GET route.
    static func documentedRoutes() throws -> [(source: String, path: String, parameters: [String])] {
        let manager = FileManager.default
        var files = ["README.md"] + (try manager.contentsOfDirectory(atPath: root.appendingPathComponent("Docs").path)).filter { $0.hasSuffix(".md") }.map { "Docs/\($0)" }
        for module in try manager.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path) {
            let catalog = "Sources/\(module)/\(module).docc"
            files += ((try? manager.contentsOfDirectory(atPath: root.appendingPathComponent(catalog).path)) ?? []).filter { $0.hasSuffix(".md") }.map { "\(catalog)/\($0)" }
        }
        files += try manager.contentsOfDirectory(atPath: root.appendingPathComponent("Sources/ChronicleHTTP").path).filter { $0.hasSuffix(".swift") }.map { "Sources/ChronicleHTTP/\($0)" }
        var routes: [(String, String, [String])] = []
        for file in files.sorted() {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: /GET (\/[^\s`|)\\]*)/) {
                let route = String(match.output.1)
                let parts = route.split(separator: "?", maxSplits: 1)
                let parameters = parts.count > 1 ? parts[1].split(separator: "&").map { String($0.split(separator: "=").first ?? "") } : []
                routes.append((file, String(parts[0]), parameters.filter { !$0.isEmpty }))
            }
        }
        return routes
    }

    /// `{name}` (as the docs and Hummingbird's route descriptions write it) or `:name`.
    static func isParameter(_ segment: Substring) -> Bool {
        segment.hasPrefix(":") || (segment.hasPrefix("{") && segment.hasSuffix("}"))
    }

    @Test func everyDocumentedRouteAndParameterExists() async throws {
        let documented = try Self.documentedRoutes()
        #expect(documented.count >= 10, "the route tables were found")
        let store = try await sampleStore()
        let api = try ReadAPI(reader: store)
        let router = Router(context: BasicRequestContext.self, options: .autoGenerateHeadEndpoints)
        try ChronicleConsole(api: api).addRoutes(to: router)
        api.addMiddleware(to: router)
        api.addRoutes(to: router)
        let registered = router.routes.filter { $0.method == .get }.map { $0.path.description.split(separator: "/") }
        for route in documented {
            let segments = route.path.split(separator: "/")
            let exists = registered.contains { candidate in
                candidate.count == segments.count && zip(candidate, segments).allSatisfy { routeSegment, docSegment in
                    routeSegment == docSegment || (Self.isParameter(routeSegment) && Self.isParameter(docSegment))
                }
            }
            #expect(exists, "\(route.source): GET \(route.path) is not a route of the read API or the console")
        }
        try await withReadAPI(store: store, routes: { api, router in (try? ChronicleConsole(api: api))?.addRoutes(to: router) }) { client in
            for route in documented where !route.parameters.isEmpty {
                let path = route.path.replacing("{id}", with: "order-1").replacing("{category}", with: "order").replacing("{name}", with: "none")
                for parameter in route.parameters {
                    // A value no parameter accepts, so that even the live feed answers at once (400).
                    let response = try await client.get("\(path)?\(parameter)=,-")
                    let message = ((try? response.json["error"] as? [String: Any])?["message"] as? String) ?? ""
                    #expect(!message.contains("Unknown query parameter"), "\(route.source): GET \(route.path) does not accept '\(parameter)': \(message)")
                    #expect(!response.text.contains("Unknown parameter"), "\(route.source): GET \(route.path) does not accept '\(parameter)'")
                }
            }
        }
    }
}
