public import Chronicle
import Foundation

/// The behaviour every ``SnapshotStore`` must show, as named cases any test framework can run (the
/// snapshot counterpart of ``EventStoreConformance``).
///
/// Each case gets a ``Fixture``: a fresh, empty store and a way to open a second instance on the
/// same storage (another connection, another process's view), which must see what the first one
/// saved.
///
/// ```swift
/// @Test(arguments: SnapshotStoreConformance.cases)
/// func sqliteSnapshotsConform(_ conformanceCase: SnapshotStoreConformance.Case) async throws {
///     let path = freshPath()
///     try await conformanceCase.run(.init(store: try SQLiteSnapshotStore(path: path), reopen: { try SQLiteSnapshotStore(path: path) }))
/// }
/// ```
public enum SnapshotStoreConformance {
    /// A fresh, empty snapshot store and a second view of the same storage.
    public struct Fixture: Sendable {
        /// The store under test, empty.
        public var store: any SnapshotStore
        /// Opens another instance on the same storage.
        public var reopen: @Sendable () async throws -> any SnapshotStore

        /// Creates a fixture.
        public init(store: any SnapshotStore, reopen: @escaping @Sendable () async throws -> any SnapshotStore) {
            self.store = store
            self.reopen = reopen
        }
    }

    /// One named behaviour; run it on a fresh ``Fixture``.
    public typealias Case = ConformanceCase<Fixture>

    static func snapshot(_ version: Int64, stream: StreamID = "tally-1", fingerprint: String = "Tally@v1", state: String = "{}") -> Snapshot {
        Snapshot(streamID: stream, version: StreamVersion(version), position: GlobalPosition(version + 10), fingerprint: fingerprint, state: Data(state.utf8))
    }

    /// Every case, in a stable order.
    public static let cases: [Case] = [
        Case("aSavedSnapshotIsReadBackWholeByAnotherInstance") { check, fixture in
            let saved = snapshot(3, state: #"{"total":6}"#)
            try await fixture.store.save(saved)
            let other = try await fixture.reopen()
            try check.equal(try await other.snapshot(of: "tally-1"), saved, "the snapshot read by another instance")
            try check.equal(try await other.snapshot(of: "tally-2"), nil, "a stream without a snapshot")
        },
        Case("anOlderSnapshotNeverReplacesANewerOneButTheSameVersionOrAnotherFingerprintDoes") { check, fixture in
            let store = fixture.store
            try await store.save(snapshot(9))
            try await store.save(snapshot(4))
            try check.equal(try await store.snapshot(of: "tally-1")?.version, 9, "version after saving an older snapshot")
            try await store.save(snapshot(9, state: #"{"again":1}"#))
            try check.equal(try await store.snapshot(of: "tally-1")?.state, Data(#"{"again":1}"#.utf8), "state after saving the same version again")
            try await store.save(snapshot(2, fingerprint: "Tally@v2"))
            try check.equal(try await store.snapshot(of: "tally-1"), snapshot(2, fingerprint: "Tally@v2"), "snapshot after a fingerprint change")
        },
        Case("concurrentSavesFromTwoInstancesKeepTheHighestVersion") { check, fixture in
            let stores = [fixture.store, try await fixture.reopen()]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for version in (1...60).shuffled() {
                    let store = stores[version % 2]
                    group.addTask { try await store.save(snapshot(Int64(version))) }
                }
                try await group.waitForAll()
            }
            try check.equal(try await fixture.store.snapshot(of: "tally-1")?.version, 60, "version after 60 concurrent saves")
        },
        Case("deletingRemovesOnlyThatStreamsSnapshotAndDeletingNoneIsNoError") { check, fixture in
            let store = fixture.store
            try await store.save(snapshot(1))
            try await store.save(snapshot(1, stream: "tally-2"))
            try await store.deleteSnapshot(of: "tally-1")
            try await store.deleteSnapshot(of: "tally-404")
            try check.equal(try await store.snapshot(of: "tally-1"), nil, "the deleted snapshot")
            try check.equal(try await store.snapshot(of: "tally-2"), snapshot(1, stream: "tally-2"), "the other stream's snapshot")
            try await store.save(snapshot(1))
            try check.equal(try await store.snapshot(of: "tally-1"), snapshot(1), "a snapshot saved again after deleting")
        },
        Case("statesOfAnySizeAndStreamNamesOfAnyScriptRoundTripExactly") { check, fixture in
            let large = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            let saved = [
                Snapshot(streamID: "tally-empty", version: 1, position: 1, fingerprint: "", state: Data()),
                Snapshot(streamID: "tally-large", version: 2, position: 2, fingerprint: "Tally@v1", state: large),
                Snapshot(streamID: "tally-日本語-é", version: 3, position: 3, fingerprint: "Ünïcode@v1", state: Data(#"{"name":"Zoë"}"#.utf8)),
            ]
            for snapshot in saved { try await fixture.store.save(snapshot) }
            let other = try await fixture.reopen()
            for snapshot in saved {
                try check.equal(try await other.snapshot(of: snapshot.streamID), snapshot, "the snapshot of \(snapshot.streamID)")
            }
        },
        Case("streamsAreKeptApartEvenWhenTheirNamesShareAPrefix") { check, fixture in
            try await fixture.store.save(snapshot(5, stream: "tally-1"))
            try await fixture.store.save(snapshot(7, stream: "tally-10"))
            try check.equal(try await fixture.store.snapshot(of: "tally-1")?.version, 5, "tally-1")
            try check.equal(try await fixture.store.snapshot(of: "tally-10")?.version, 7, "tally-10")
            try check.equal(try await fixture.store.snapshot(of: "tally"), nil, "the prefix alone")
        },
    ]
}
