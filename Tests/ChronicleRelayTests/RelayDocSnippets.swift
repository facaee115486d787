// The snippets of Docs/SyncAndAsync.md and Sources/ChronicleRelay/ChronicleRelay.docc, verbatim:
// change both together.
import Chronicle
import ChronicleRelay
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import Hummingbird
import Logging
import Testing

func relaySnippet(secret: String, dir: String, store: SQLiteEventStore, logger: Logger) throws -> (EventRelay, SQLiteProcessManager) {
    let relay = try EventRelay(name: "mailer-relay", configuration: .init(
        endpoint: URL(string: "http://mailer.internal/inbox")!, secret: RelaySecret(secret), categories: ["order"]))
    let runner = try SQLiteProcessManager(relay, path: dir + "/mailer-relay.sqlite", source: .observing(store),
        failurePolicy: EventRelay.failurePolicy, partitioning: try .byStream(16), filter: relay.filter, logger: logger)
    return (relay, runner)
}

func inboxSnippet(secret: String, database: DatabaseQueue, router: Router<BasicRequestContext>) throws {
    let inbox = try SQLiteInbox(database: database) { event, db in /* the receiver's writes */ }
    RelayInbox(inbox: inbox, configuration: .init(secrets: [RelaySecret(secret)])).add(to: router, at: "inbox")
}

@Suite struct RelayDocSnippetTests {
    @Test func theGuidesRelayAndInboxSnippetsRun() async throws {
        let fixture = try RelayFixture()
        defer { fixture.directory.remove() }
        let (relay, runner) = try relaySnippet(secret: "s", dir: fixture.directory.url.path, store: fixture.store, logger: silentLogger)
        #expect(runner.engine.status().partitionCount == 16)
        #expect(relay.filter.categories == ["order"])
        try await relay.shutdown()
        try inboxSnippet(secret: "s", database: try DatabaseQueue(path: fixture.directory.path("inbox.sqlite")), router: Router())
    }
}
