import Chronicle
import ChroniclePostgres
import ChronicleTesting
import Foundation
import PostgresNIO
import Testing

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresInboxTests {
    @Test(arguments: InboxConformance.cases)
    func postgresInboxesConform(_ conformanceCase: InboxConformance.Case) async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let effect = "\"\(database.schema.rawValue)\".effect"
            try await database.client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(effect) (event_id uuid NOT NULL)"))
            try await conformanceCase.run(.init(
                makeInbox: { fails in
                    PostgresInbox(sharingSchemaOf: database.makeStore()) { event, connection in
                        var binds = PostgresBindings()
                        binds.append(event.id)
                        try await connection.statement(PostgresQuery(unsafeSQL: "INSERT INTO \(effect) VALUES ($1)", binds: binds), logger: connection.logger)
                        if fails(event) { throw InboxConformance.HandlerFailure() }
                    }
                },
                effects: {
                    var ids: [UUID] = []
                    for try await id in try await database.client.query(PostgresQuery(unsafeSQL: "SELECT event_id FROM \(effect)")).decode(UUID.self) { ids.append(id) }
                    return ids
                }
            ))
        }
    }

    @Test func anInboxCountsAndFindsWhatItApplied() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let inbox = PostgresInbox(sharingSchemaOf: store) { _, _ in }
            let event = RecordedEvent(
                id: UUID(), streamID: "order-1", streamVersion: 1, position: 7, type: "OrderPlaced", schemaVersion: 1,
                payload: Data("{}".utf8), metadata: .none, recordedAt: Date()
            )
            let (countBefore, containedBefore) = (try await inbox.count(), try await inbox.contains(event.id))
            #expect(countBefore == 0)
            #expect(containedBefore == false)
            #expect(try await inbox.receive(event, from: "shop") == .applied)
            #expect(try await inbox.contains(event.id))
            #expect(try await inbox.count() == 1)
        }
    }
}
