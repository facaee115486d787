import Chronicle
import ChronicleInstrumentation
import ChronicleRelay
import ChronicleSQLite
import CoreMetrics
import Foundation
import MetricsTestKit
import Testing
import Tracing

/// Statements in the guides that name something in the code: each is looked up, so a guide that
/// names a metric nobody emits, or says a metric is missing that is emitted, fails here. (Routes
/// are checked in ChronicleHTTPTests, `chronicle` commands and options in ChronicleCLITests.)
@Suite struct DocClaimsTests {
    /// README.md, Docs/*.md and the DocC catalogs, by path.
    static func guides() throws -> [(path: String, text: String)] {
        try DocSnippets.documents().map { path in
            (path, try String(contentsOf: DocSnippets.root.appendingPathComponent(path), encoding: .utf8))
        }
    }

    /// Every metric label Chronicle emits: the store's and repository's (made when wrapped) and
    /// the reporter's (made on a report).
    static func emittedMetricLabels() async throws -> Set<String> {
        let directory = try SnippetDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"))
        let metrics = TestMetrics()
        _ = instrumentedOrders(store: store, metrics: metrics, tracer: NoOpTracer())
        let reporter = MetricsReporter(
            metrics: metrics,
            projections: { [ProjectionStatus(name: "orders", state: .running, position: 1, head: 2, parkedCount: 1)] },
            groupCommit: { (transactions: 1, appendCalls: 1) }
        )
        await reporter.report()
        try await store.close()
        // The outbound relay's metrics, made when it is created.
        let relay = try EventRelay(
            name: "claims", configuration: .init(endpoint: URL(string: "http://127.0.0.1:9/inbox")!, secret: RelaySecret("s")), metrics: metrics
        )
        try await relay.shutdown()
        return Set(metrics.counters.map(\.label) + metrics.recorders.map(\.label) + metrics.timers.map(\.label) + metrics.meters.map(\.label))
    }

    @Test func everyMetricTheGuidesNameIsEmittedAndEveryEmittedMetricIsDocumented() async throws {
        let emitted = try await Self.emittedMetricLabels()
        #expect(emitted.contains("chronicle_projection_lag"))
        // `chronicle_…` names that are not metrics are the stores' tables (in the SQL) and the CI
        // database (in .ci/postgres.sh).
        let ciScript = try String(contentsOf: DocSnippets.root.appendingPathComponent(".ci/postgres.sh"), encoding: .utf8)
        let storageSources = try ["ChronicleSQLite", "ChroniclePostgres"].flatMap { module in
            let folder = DocSnippets.root.appendingPathComponent("Sources/\(module)")
            // Every Swift file of the module, in its role folders too.
            return try (FileManager.default.subpaths(atPath: folder.path) ?? []).filter { $0.hasSuffix(".swift") }.map {
                try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8)
            }
        }.joined() + ciScript
        for guide in try Self.guides() {
            for match in guide.text.matches(of: /`(chronicle_[a-z_]+)[`{]/) {
                let name = String(match.output.1)
                #expect(emitted.contains(name) || storageSources.contains(name), "\(guide.path) names \(name), which is neither an emitted metric nor a table or database")
            }
        }
        let observability = try String(contentsOf: DocSnippets.root.appendingPathComponent("Docs/Observability.md"), encoding: .utf8)
        for label in emitted.sorted() {
            #expect(observability.contains("`\(label)`"), "Docs/Observability.md does not list the metric \(label)")
        }
        // The stale statement this replaced: every metric is emitted now.
        for guide in try Self.guides() {
            #expect(!guide.text.contains("not emitted as metrics"), "\(guide.path) says metrics are not emitted")
        }
    }

    /// The `Synchronization` module's minimum on each Apple platform: the package's floor.
    static let synchronizationMinimums = ["macOS": "15", "iOS": "18", "tvOS": "18", "watchOS": "11", "visionOS": "2"]

    @Test func packageDeclaresEveryPlatformAndTheReadmeSaysWhichAreTested() throws {
        let manifest = try String(contentsOf: DocSnippets.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let readme = try String(contentsOf: DocSnippets.root.appendingPathComponent("README.md"), encoding: .utf8)
        for (platform, minimum) in Self.synchronizationMinimums.sorted(by: { $0.key < $1.key }) {
            #expect(manifest.contains(".\(platform)(.v\(minimum))"), "Package.swift does not declare \(platform) \(minimum)")
            let row = readme.split(separator: "\n").first { $0.hasPrefix("| \(platform)") }
            #expect(row?.contains("| \(minimum) |") == true, "README's platform table has no row for \(platform) \(minimum)")
        }
        #expect(readme.contains("| Linux"), "README says Linux is tested")
    }
}
