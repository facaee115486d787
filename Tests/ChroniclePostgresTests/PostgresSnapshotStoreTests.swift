import Chronicle
import ChroniclePostgres
import ChronicleTesting
import Foundation
import Testing

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresSnapshotStoreTests {
    @Test(arguments: SnapshotStoreConformance.cases)
    func postgresSnapshotStoresConform(_ conformanceCase: SnapshotStoreConformance.Case) async throws {
        try await PostgresTestDatabase.withStore { store, database in
            try await conformanceCase.run(.init(
                store: PostgresSnapshotStore(sharingSchemaOf: store),
                reopen: { PostgresSnapshotStore(sharingSchemaOf: database.makeStore()) }
            ))
        }
    }

    @Test func theCountIsTheNumberOfStreamsWithASnapshot() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let snapshots = PostgresSnapshotStore(sharingSchemaOf: store)
            for stream in ["tally-1", "tally-2", "tally-1"] {
                try await snapshots.save(Snapshot(streamID: try StreamID(stream), version: 1, position: 1, fingerprint: "f", state: Data()))
            }
            #expect(try await snapshots.count() == 2)
        }
    }
}
