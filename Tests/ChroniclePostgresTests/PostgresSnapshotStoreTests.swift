import Chronicle
import ChroniclePostgres
import Foundation
import Testing

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresSnapshotStoreTests {
    private func snapshot(_ version: Int64, fingerprint: String = "Tally@v1", state: String = "{}") -> Snapshot {
        Snapshot(streamID: "tally-1", version: StreamVersion(version), position: GlobalPosition(version + 10), fingerprint: fingerprint, state: Data(state.utf8))
    }

    @Test func aSavedSnapshotIsReadBackByAnotherStoreInstance() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            try await PostgresSnapshotStore(sharingSchemaOf: store).save(snapshot(3, state: #"{"total":6}"#))
            let other = PostgresSnapshotStore(sharingSchemaOf: database.makeStore())
            #expect(try await other.snapshot(of: "tally-1") == snapshot(3, state: #"{"total":6}"#))
            #expect(try await other.snapshot(of: "tally-2") == nil)
            #expect(try await other.count() == 1)
        }
    }

    @Test func anOlderSnapshotNeverReplacesANewerOneButAnotherFingerprintDoes() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let snapshots = PostgresSnapshotStore(sharingSchemaOf: store)
            try await snapshots.save(snapshot(9))
            try await snapshots.save(snapshot(4))
            #expect(try await snapshots.snapshot(of: "tally-1")?.version == 9)
            try await snapshots.save(snapshot(9, state: #"{"again":1}"#))
            #expect(try await snapshots.snapshot(of: "tally-1")?.state == Data(#"{"again":1}"#.utf8))
            try await snapshots.save(snapshot(2, fingerprint: "Tally@v2"))
            #expect(try await snapshots.snapshot(of: "tally-1") == snapshot(2, fingerprint: "Tally@v2"))
        }
    }

    @Test func concurrentSavesOnManyConnectionsKeepTheHighestVersion() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let snapshots = PostgresSnapshotStore(sharingSchemaOf: store)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for version in (1...60).shuffled() {
                    group.addTask { try await snapshots.save(snapshot(Int64(version))) }
                }
                try await group.waitForAll()
            }
            #expect(try await snapshots.snapshot(of: "tally-1")?.version == 60)
        }
    }

    @Test func deletingRemovesOnlyThatStreamsSnapshot() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let snapshots = PostgresSnapshotStore(sharingSchemaOf: store)
            try await snapshots.save(snapshot(1))
            try await snapshots.save(Snapshot(streamID: "tally-2", version: 1, position: 1, fingerprint: "f", state: Data()))
            try await snapshots.deleteSnapshot(of: "tally-1")
            try await snapshots.deleteSnapshot(of: "tally-404")
            #expect(try await snapshots.snapshot(of: "tally-1") == nil)
            #expect(try await snapshots.snapshot(of: "tally-2")?.version == 1)
        }
    }
}
