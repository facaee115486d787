import Chronicle
import ChronicleTesting
import Foundation
import Testing

@Suite struct AggregateRepositoryTests {
    let placeAda = FixtureOrder.Command.place(customer: "ada", currency: "EUR")

    @Test func loadingAMissingStreamGivesTheInitialStateAtVersionZero() async throws {
        let loaded = try await AggregateRepository<FixtureOrder>(store: InMemoryEventStore()).load("nope")
        #expect(loaded.version == .initial)
        #expect(loaded.position == .start)
        #expect(loaded.state.isPlaced == false)
        #expect(loaded.streamID == "order-nope")
    }

    @Test(arguments: [
        AggregateRepository<FixtureOrder>.Configuration(maxAttempts: 0),
        AggregateRepository<FixtureOrder>.Configuration(pageSize: 0),
        AggregateRepository<FixtureOrder>.Configuration(pageSize: -5),
        AggregateRepository<FixtureOrder>.Configuration(snapshotPolicy: .every(0)),
    ])
    func aConfigurationOutOfRangeIsATypedErrorAndWritesNothing(_ configuration: AggregateRepository<FixtureOrder>.Configuration) async throws {
        let store = InMemoryEventStore()
        let orders = AggregateRepository<FixtureOrder>(store: store, configuration: configuration)
        let onCommand = await #expect(throws: EventStoreError.self) { try await orders.execute(placeAda, on: "1") }
        #expect(onCommand?.code == .invalidArgument)
        #expect(onCommand?.description.contains("use") == true)
        let onLoad = await #expect(throws: EventStoreError.self) { try await orders.load("1") }
        #expect(onLoad?.code == .invalidArgument)
        #expect(await store.headPosition() == .start)
    }

    @Test func aPagedReadWithAPageSizeBelowOneIsATypedError() async throws {
        let store = InMemoryEventStore()
        try await store.append([EventData(type: "Noted", payload: Data("{}".utf8))], to: "note-1", expectedVersion: .any)
        let error = await #expect(throws: EventStoreError.self) {
            for try await _ in store.events(in: "note-1", pageSize: 0) {}
        }
        #expect(error?.code == .invalidArgument)
    }

    @Test func theFirstCommandExpectsNoStreamAndLaterOnesTheLoadedVersion() async throws {
        let store = InterferingStore(InMemoryEventStore(), interference: 0, competing: { rawItemAdded() })
        let orders = AggregateRepository<FixtureOrder>(store: store)
        _ = try await orders.execute(placeAda, on: "1")
        _ = try await orders.execute(.addItem(sku: "tea", quantity: 1), on: "1")
        _ = try await orders.execute(.addItem(sku: "jam", quantity: 1), on: "1")
        #expect(store.expectedVersions == [.noStream, .exactly(1), .exactly(2)])
    }

    @Test func eventsCarryTheCallersMetadataAndInjectedIDsByteForByte() async throws {
        let store = InMemoryEventStore()
        let orders = AggregateRepository<FixtureOrder>(store: store, configuration: .init(eventIDs: .incrementing()))
        let metadata = EventMetadata(correlationID: "req-7", causationID: "cmd-3", custom: ["tenant": "acme"])
        let result = try await orders.execute(placeAda, on: "1", metadata: metadata)
        _ = try await orders.execute(.addItem(sku: "tea", quantity: 2), on: "1", metadata: metadata)

        let stored = try await store.readStream("order-1")
        #expect(stored.map { EventData(id: $0.id, type: $0.type, schemaVersion: $0.schemaVersion, payload: $0.payload, metadata: $0.metadata) } == [
            EventData(id: UUID(uuidString: "00000000-0000-0000-0000-000000000001")!, type: "OrderPlaced", schemaVersion: 2,
                      payload: Data(#"{"currency":"EUR","customer":"ada"}"#.utf8), metadata: metadata),
            EventData(id: UUID(uuidString: "00000000-0000-0000-0000-000000000002")!, type: "ItemAdded", schemaVersion: 1,
                      payload: Data(#"{"quantity":2,"sku":"tea"}"#.utf8), metadata: metadata),
        ])
        #expect(result.eventIDs == [UUID(uuidString: "00000000-0000-0000-0000-000000000001")!])
        #expect(result.events == [.placed(OrderPlaced(customer: "ada", currency: "EUR"))])
    }

    @Test func theResultCarriesTheNewVersionPositionAndState() async throws {
        let store = InMemoryEventStore()
        try await store.append(rawItemAdded(), to: "other-1", expectedVersion: .noStream)
        let orders = AggregateRepository<FixtureOrder>(store: store)
        _ = try await orders.execute(placeAda, on: "9")
        try await store.append(rawItemAdded(), to: "other-2", expectedVersion: .noStream)
        let result = try await orders.execute(.addItem(sku: "tea", quantity: 4), on: "9")
        #expect(result.version == 2)
        #expect(result.position == 4)
        #expect(result.state.items == ["tea": 4])
        #expect(result.attempts == 1)
        #expect(result.streamID == "order-9")
    }

    @Test func domainErrorsPassThroughUnchangedAndWriteNothing() async throws {
        let store = InMemoryEventStore()
        let orders = AggregateRepository<FixtureOrder>(store: store)
        _ = try await orders.execute(placeAda, on: "1")
        await #expect(throws: FixtureOrder.Failure.invalidQuantity(-2)) {
            try await orders.execute(.addItem(sku: "tea", quantity: -2), on: "1")
        }
        await #expect(throws: FixtureOrder.Failure.alreadyPlaced) {
            try await orders.execute(placeAda, on: "1")
        }
        #expect(await store.headPosition() == 1)
    }

    @Test func aCommandThatDecidesNothingAppendsNothing() async throws {
        let counting = CountingEventStore(InMemoryEventStore())
        let orders = AggregateRepository<FixtureOrder>(store: counting)
        _ = try await orders.execute(placeAda, on: "1")
        _ = try await orders.execute(.addItem(sku: "tea", quantity: 1), on: "1")
        let shipped = try await orders.execute(.ship(carrier: "post"), on: "1")
        let again = try await orders.execute(.ship(carrier: "post"), on: "1")
        #expect(again.events.isEmpty)
        #expect(again.version == shipped.version)
        #expect(again.position == shipped.position)
        #expect(counting.appends == 3)
    }

    @Test func aConflictIsRetriedOnTheCaughtUpState() async throws {
        let base = InMemoryEventStore()
        let store = InterferingStore(base, interference: 1, competing: { rawItemAdded(sku: "rival", quantity: 5) })
        let orders = AggregateRepository<FixtureOrder>(store: store)
        _ = try await AggregateRepository<FixtureOrder>(store: base).execute(placeAda, on: "1")

        let result = try await orders.execute(.addItem(sku: "tea", quantity: 1), on: "1")
        #expect(result.attempts == 2)
        #expect(result.version == 3)
        #expect(result.state.items == ["rival": 5, "tea": 1])
        #expect(store.expectedVersions == [.exactly(1), .exactly(2)])
    }

    @Test func aRetryDecidesAgainAndCanEndInADomainError() async throws {
        let base = InMemoryEventStore()
        let store = InterferingStore(base, interference: 1, competing: {
            EventData(type: "OrderShipped", payload: Data(#"{"carrier":"rival"}"#.utf8))
        })
        let setup = AggregateRepository<FixtureOrder>(store: base)
        _ = try await setup.execute(placeAda, on: "1")
        _ = try await setup.execute(.addItem(sku: "tea", quantity: 1), on: "1")

        await #expect(throws: FixtureOrder.Failure.alreadyShipped) {
            try await AggregateRepository<FixtureOrder>(store: store).execute(.addItem(sku: "jam", quantity: 1), on: "1")
        }
        #expect(try await base.readStream("order-1").count == 3)
    }

    @Test func retriesStopAfterMaxAttemptsWithTheConflict() async throws {
        let base = InMemoryEventStore()
        let store = InterferingStore(base, interference: .max, competing: { rawItemAdded() })
        _ = try await AggregateRepository<FixtureOrder>(store: base).execute(placeAda, on: "1")
        let orders = AggregateRepository<FixtureOrder>(store: store, configuration: .init(maxAttempts: 4))

        let error = await #expect(throws: EventStoreError.self) {
            try await orders.execute(.addItem(sku: "tea", quantity: 1), on: "1")
        }
        #expect(error?.code == .wrongExpectedVersion)
        #expect(error?.streamID == "order-1")
        #expect(store.expectedVersions == [.exactly(1), .exactly(2), .exactly(3), .exactly(4)])
        let items = try await AggregateRepository<FixtureOrder>(store: base).load("1").state.items
        #expect(items == ["competitor": 4])
    }

    @Test func concurrentCommandsOnOneAggregateAllLand() async throws {
        let store = InMemoryEventStore()
        let orders = AggregateRepository<FixtureOrder>(store: store, configuration: .init(maxAttempts: 100))
        _ = try await orders.execute(placeAda, on: "1")
        let tasks = 40
        let attempts = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<tasks {
                group.addTask { try await orders.execute(.addItem(sku: "sku\(index % 4)", quantity: 1), on: "1").attempts }
            }
            return try await group.reduce(0, +)
        }
        let order = try await orders.load("1")
        #expect(order.version == StreamVersion(Int64(tasks + 1)))
        #expect(order.state.items.values.reduce(0, +) == tasks)
        #expect(attempts >= tasks)
    }

    @Test func anInvalidAggregateIDIsATypedError() async throws {
        let error = await #expect(throws: EventStoreError.self) {
            try await AggregateRepository<FixtureOrder>(store: InMemoryEventStore()).execute(placeAda, on: "has space")
        }
        #expect(error?.code == .invalidStreamID)
    }

    @Test func anUnknownStoredEventFailsTheLoadNamingIt() async throws {
        let store = InMemoryEventStore()
        try await store.append(EventData(type: "OrderTeleported", payload: Data("{}".utf8)), to: "order-1", expectedVersion: .noStream)
        let error = await #expect(throws: EventStoreError.self) {
            try await AggregateRepository<FixtureOrder>(store: store).execute(placeAda, on: "1")
        }
        #expect(error?.code == .unknownEventType)
        #expect(error?.eventType == "OrderTeleported")
        #expect(error?.streamID == "order-1")
        #expect(error?.streamVersion == 1)
        #expect(error?.position == 1)
    }

    @Test func loadingReadsTheStreamInPages() async throws {
        let store = InMemoryEventStore()
        try await store.append([EventData(type: "OrderPlaced", schemaVersion: 2, payload: Data(#"{"currency":"EUR","customer":"a"}"#.utf8))]
            + (0..<24).map { _ in rawItemAdded() }, to: "order-1", expectedVersion: .noStream)
        let counting = CountingEventStore(store)
        let loaded = try await AggregateRepository<FixtureOrder>(store: counting, configuration: .init(pageSize: 10)).load("1")
        #expect(loaded.version == 25)
        #expect(loaded.eventsRead == 25)
        #expect(counting.reads == 3)
        #expect(loaded.state.items == ["competitor": 24])
    }

    @Test func incrementingIDsCountUpAcrossTasks() async {
        let ids = EventIDGenerator.incrementing(startingAt: 7)
        #expect(ids() == UUID(uuidString: "00000000-0000-0000-0000-000000000007")!)
        let more = await withTaskGroup(of: UUID.self) { group in
            for _ in 0..<100 { group.addTask { ids() } }
            return await group.reduce(into: Set<UUID>()) { $0.insert($1) }
        }
        #expect(more.count == 100)
        #expect(!more.contains(UUID(uuidString: "00000000-0000-0000-0000-000000000007")!))
    }
}
