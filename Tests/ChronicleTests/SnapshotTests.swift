import Chronicle
import ChronicleTesting
import Foundation
import Testing

@Suite struct SnapshotTests {
    @Test(arguments: SnapshotStoreConformance.cases)
    func theInMemorySnapshotStoreConforms(_ conformanceCase: SnapshotStoreConformance.Case) async throws {
        let store = InMemorySnapshotStore()
        try await conformanceCase.run(.init(store: store, reopen: { store }))
    }

    let place = FixtureOrder.Command.place(customer: "ada", currency: "EUR")

    private func orders(_ store: some EventStore, _ snapshots: some SnapshotStore, every n: Int64,
                        failures: Collected<SnapshotFailure>? = nil) -> AggregateRepository<FixtureOrder> {
        AggregateRepository<FixtureOrder>(
            store: store, snapshots: snapshots,
            configuration: .init(snapshotPolicy: .every(n), onSnapshotFailure: { failure in failures?.append(failure) })
        )
    }

    @Test func aSnapshotIsSavedOnceEveryNEventsHaveBeenAppended() async throws {
        let snapshots = InMemorySnapshotStore()
        let orders = orders(InMemoryEventStore(), snapshots, every: 3)
        _ = try await orders.execute(place, on: "1")
        _ = try await orders.execute(.addItem(sku: "a", quantity: 1), on: "1")
        #expect(await snapshots.snapshot(of: "order-1") == nil)
        let third = try await orders.execute(.addItem(sku: "b", quantity: 1), on: "1")
        let first = await snapshots.snapshot(of: "order-1")
        #expect(first?.version == 3)
        #expect(first?.position == third.position)
        #expect(first?.fingerprint == FixtureOrder.snapshotFingerprint)
        for sku in ["c", "d"] { _ = try await orders.execute(.addItem(sku: sku, quantity: 1), on: "1") }
        #expect(await snapshots.snapshot(of: "order-1")?.version == 3)
        _ = try await orders.execute(.addItem(sku: "e", quantity: 1), on: "1")
        #expect(await snapshots.snapshot(of: "order-1")?.version == 6)
    }

    @Test func loadingReadsOnlyTheEventsAfterTheLatestSnapshot() async throws {
        let store = InMemoryEventStore()
        let counting = CountingEventStore(store)
        let snapshots = InMemorySnapshotStore()
        let orders = orders(counting, snapshots, every: 5)
        _ = try await orders.execute(place, on: "1")
        for index in 0..<11 { _ = try await orders.execute(.addItem(sku: "s\(index % 3)", quantity: 1), on: "1") }
        #expect(await snapshots.snapshot(of: "order-1")?.version == 10)

        counting.reset()
        let loaded = try await orders.load("1")
        #expect(loaded.snapshotVersion == 10)
        #expect(loaded.version == 12)
        #expect(loaded.eventsRead == 2)
        #expect(counting.eventsRead == 2)
        #expect(loaded.state.items == ["s0": 4, "s1": 4, "s2": 3])
        let replayed = try await AggregateRepository<FixtureOrder>(store: store).load("1")
        #expect(replayed.state.items == loaded.state.items)
        #expect(replayed.eventsRead == 12)
    }

    @Test func aSnapshotWithAnotherFingerprintIsIgnoredAndReplaced() async throws {
        let store = InMemoryEventStore()
        let snapshots = InMemorySnapshotStore()
        let orders = orders(store, snapshots, every: 2)
        _ = try await orders.execute(place, on: "1")
        _ = try await orders.execute(.addItem(sku: "a", quantity: 1), on: "1")
        // As saved by an older build whose state had another shape:
        await snapshots.deleteSnapshot(of: "order-1")
        await snapshots.save(Snapshot(streamID: "order-1", version: 2, position: 2, fingerprint: "FixtureOrder@v0", state: Data(#"{"legacy":true}"#.utf8)))

        let loaded = try await orders.load("1")
        #expect(loaded.snapshotVersion == .initial)
        #expect(loaded.eventsRead == 2)
        _ = try await orders.execute(.addItem(sku: "b", quantity: 1), on: "1")
        let replaced = await snapshots.snapshot(of: "order-1")
        #expect(replaced?.fingerprint == FixtureOrder.snapshotFingerprint)
        #expect(replaced?.version == 3)
    }

    @Test func aSnapshotThatFailsToDecodeIsTreatedAsAbsentAndReplaced() async throws {
        let store = InMemoryEventStore()
        let snapshots = InMemorySnapshotStore()
        let failures = Collected<SnapshotFailure>()
        let orders = orders(store, snapshots, every: 2, failures: failures)
        _ = try await orders.execute(place, on: "1")
        _ = try await orders.execute(.addItem(sku: "a", quantity: 1), on: "1")
        await snapshots.save(Snapshot(streamID: "order-1", version: 2, position: 2, fingerprint: FixtureOrder.snapshotFingerprint, state: Data("garbage".utf8)))

        let loaded = try await orders.load("1")
        #expect(loaded.snapshotVersion == .initial)
        #expect(loaded.state.items == ["a": 1])
        #expect(failures.all.map(\.operation) == [.decode])
        _ = try await orders.execute(.addItem(sku: "b", quantity: 1), on: "1")
        let replaced = await snapshots.snapshot(of: "order-1")
        #expect(replaced?.version == 3)
        #expect(try JSONDecoder().decode(FixtureOrder.self, from: replaced?.state ?? Data()).items == ["a": 1, "b": 1])
    }

    @Test func aFailingSnapshotStoreNeverFailsACommand() async throws {
        let failures = Collected<SnapshotFailure>()
        let orders = orders(InMemoryEventStore(), BrokenSnapshotStore(), every: 1, failures: failures)
        let placed = try await orders.execute(place, on: "1")
        let added = try await orders.execute(.addItem(sku: "a", quantity: 1), on: "1")
        #expect(placed.version == 1)
        #expect(added.version == 2)
        #expect(try await orders.load("1").state.items == ["a": 1])
        #expect(failures.all.map(\.operation) == [.read, .write, .read, .write, .read])
        #expect(failures.all.allSatisfy { $0.error is BrokenSnapshotStore.Broken })
        #expect(failures.all[1].description.contains("snapshot write failed for order-1 at version 1"))
    }

    @Test func aSnapshotAheadOfTheStreamIsDroppedAndTheStreamFoldedFromTheStart() async throws {
        let store = InMemoryEventStore()
        let snapshots = InMemorySnapshotStore()
        let orders = orders(store, snapshots, every: 100)
        _ = try await orders.execute(place, on: "1")
        // A snapshot from somewhere else (a restored backup of another store):
        let foreign = try JSONEncoder().encode(FixtureOrder(isPlaced: true, isShipped: false, items: ["x": 1]))
        await snapshots.save(Snapshot(streamID: "order-1", version: 50, position: 80, fingerprint: FixtureOrder.snapshotFingerprint, state: foreign))

        let result = try await orders.execute(.addItem(sku: "a", quantity: 1), on: "1")
        #expect(result.attempts == 2)
        #expect(result.version == 2)
        #expect(result.state.items == ["a": 1])
        #expect(await snapshots.snapshot(of: "order-1") == nil)
        #expect(try await orders.load("1").state.items == ["a": 1])
    }

    @Test func anOlderSnapshotNeverReplacesANewerOne() async {
        let snapshots = InMemorySnapshotStore()
        let newer = Snapshot(streamID: "order-1", version: 9, position: 9, fingerprint: "F@v1", state: Data())
        await snapshots.save(newer)
        await snapshots.save(Snapshot(streamID: "order-1", version: 4, position: 4, fingerprint: "F@v1", state: Data()))
        #expect(await snapshots.snapshot(of: "order-1") == newer)
        let otherSchema = Snapshot(streamID: "order-1", version: 4, position: 4, fingerprint: "F@v2", state: Data())
        await snapshots.save(otherSchema)
        #expect(await snapshots.snapshot(of: "order-1") == otherSchema)
    }

    @Test func theFingerprintNamesTheTypeAndSchemaVersion() {
        #expect(FixtureOrder.snapshotFingerprint.hasSuffix("FixtureOrder@v1"))
    }
}
