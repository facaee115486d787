import Chronicle
import ChroniclePostgres
import Foundation
import PostgresNIO
import Testing

// Needs a server: skipped (and reported as skipped) when CHRONICLE_POSTGRES_URL is unset.
@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresEventStoreTests {
    @Test func appendAssignsContiguousVersionsAndPositions() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let first = try await store.append([testEvent(), testEvent()], to: "order-1", expectedVersion: .noStream)
            #expect(first.firstVersion == 1 && first.version == 2)
            #expect(first.firstPosition == 1 && first.position == 2)
            let second = try await store.append(testEvent(), to: "order-2", expectedVersion: .noStream)
            #expect(second.position == 3 && second.version == 1)
            #expect(try await store.headPosition() == 3)
            #expect(try await store.streamVersion(of: "order-1") == 2)
            #expect(try await store.streamVersion(of: "order-404") == .initial)
            let all = try await store.readAll(after: .start, limit: 10)
            #expect(all.map(\.position.value) == [1, 2, 3])
            #expect(all.map(\.streamID) == ["order-1", "order-1", "order-2"])
        }
    }

    @Test func appendRejectsStaleExpectedVersionAndWritesNothing() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            try await store.append(testEvent(), to: "order-1", expectedVersion: .noStream)
            await #expect {
                try await store.append(testEvent(), to: "order-1", expectedVersion: .exactly(0))
            } throws: { error in
                let error = error as? EventStoreError
                return error?.code == .wrongExpectedVersion && error?.actualVersion == 1 && error?.streamID == "order-1"
            }
            await #expect(throws: EventStoreError.self) { try await store.append(testEvent(), to: "order-2", expectedVersion: .streamExists) }
            await #expect(throws: EventStoreError.self) { try await store.append(testEvent(), to: "order-1", expectedVersion: .noStream) }
            #expect(try await store.headPosition() == 1)
            // The failed append to a new stream left no stream row behind.
            #expect(try await store.streams(category: nil, after: nil, limit: 10).map(\.id) == ["order-1"])
        }
    }

    @Test func multiStreamAppendIsAllOrNothing() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            try await store.append(testEvent(), to: "b-1", expectedVersion: .noStream)
            await #expect(throws: EventStoreError.self) {
                try await store.append([
                    StreamAppend([testEvent()], to: "a-1", expectedVersion: .noStream),
                    StreamAppend([testEvent()], to: "b-1", expectedVersion: .noStream),
                ])
            }
            #expect(try await store.readAll(after: .start, limit: 10).count == 1)
            #expect(try await store.streamVersion(of: "a-1") == .initial)
            let results = try await store.append([
                StreamAppend([testEvent(), testEvent()], to: "a-1", expectedVersion: .noStream),
                StreamAppend([testEvent()], to: "b-1", expectedVersion: .exactly(1)),
                StreamAppend([testEvent()], to: "a-1", expectedVersion: .exactly(2)),
            ])
            #expect(results.map(\.version) == [2, 2, 3])
            #expect(results.map(\.firstPosition) == [2, 4, 5])
            #expect(try await store.headPosition() == 5)
        }
    }

    @Test func reappendingTheSameEventsIsIdempotent() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let events = [testEvent("A", "1"), testEvent("B", "2")]
            let original = try await store.append(events, to: "order-1", expectedVersion: .noStream)
            let replay = try await store.append(events, to: "order-1", expectedVersion: .noStream)
            #expect(replay.wasAlreadyStored)
            #expect(replay.position == original.position && replay.version == original.version)
            #expect(try await store.headPosition() == 2)
            // Same id, other content: refused.
            var changed = events[0]
            changed.payload = Data("other".utf8)
            await #expect {
                try await store.append(changed, to: "order-1", expectedVersion: .any)
            } throws: { ($0 as? EventStoreError)?.code == .duplicateEventID }
            // Same id in another stream: refused.
            await #expect {
                try await store.append(events[1], to: "order-2", expectedVersion: .any)
            } throws: { ($0 as? EventStoreError)?.code == .duplicateEventID }
            // The same id twice in one call: refused before touching the database.
            let twice = testEvent()
            await #expect {
                try await store.append([StreamAppend([twice], to: "x-1", expectedVersion: .any), StreamAppend([twice], to: "x-2", expectedVersion: .any)])
            } throws: { ($0 as? EventStoreError)?.code == .duplicateEventID }
            #expect(try await store.headPosition() == 2)
        }
    }

    @Test func concurrentIdenticalAppendsWriteOnce() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            let events = [testEvent(), testEvent()]
            let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await store.append(events, to: "order-1", expectedVersion: .noStream) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { !$0.wasAlreadyStored }.count == 1)
            #expect(Set(results.map(\.position)) == [2])
            #expect(try await store.headPosition() == 2)
        }
    }

    @Test func eventsRoundTripWithMetadataAndRecordedTime() async throws {
        let stamp = Date(timeIntervalSince1970: 1_800_000_000.123456)
        try await PostgresTestDatabase.withStore { _, database in
            let store = database.makeStore(now: { stamp })
            let metadata = EventMetadata(correlationID: "corr", causationID: "cause", custom: ["tenant": "acme", "emoji": "🧾"])
            let event = EventData(type: "OrderPlaced", schemaVersion: 3, payload: Data([0, 1, 2, 255]), metadata: metadata)
            try await store.append(event, to: "order-1", expectedVersion: .noStream)
            let read = try #require(try await store.readStream("order-1").first)
            #expect(read.id == event.id && read.type == "OrderPlaced" && read.schemaVersion == 3)
            #expect(read.payload == Data([0, 1, 2, 255]))
            #expect(read.metadata == metadata)
            #expect(abs(read.recordedAt.timeIntervalSince(stamp)) < 0.000_001)
            #expect(event.hasSameContent(as: read))
        }
    }

    @Test func streamsReadForwardsAndBackwardsFromAVersion() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            try await store.append((1...5).map { testEvent("E", "\($0)") }, to: "order-1", expectedVersion: .noStream)
            #expect(try await store.readStream("order-1", from: 3, direction: .forwards, limit: 10).map(\.streamVersion) == [3, 4, 5])
            #expect(try await store.readStream("order-1", from: 3, direction: .backwards, limit: 2).map(\.streamVersion) == [3, 2])
            #expect(try await store.readStreamBackwards("order-1", limit: 2).map(\.streamVersion) == [5, 4])
            #expect(try await store.readStream("order-404").isEmpty)
            var paged: [StreamVersion] = []
            for try await event in store.events(in: "order-1", pageSize: 2) { paged.append(event.streamVersion) }
            #expect(paged == [1, 2, 3, 4, 5])
            await #expect {
                try await store.readStream("order-1", from: 1, direction: .forwards, limit: -1)
            } throws: { ($0 as? EventStoreError)?.code == .invalidArgument }
        }
    }

    @Test func categoriesAndStreamListingPage() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            for id in ["order-2", "order-1", "user-1", "order-3", "orders"] {
                try await store.append(testEvent(), to: StreamID(id), expectedVersion: .noStream)
            }
            try await store.append(testEvent(), to: "order-1", expectedVersion: .exactly(1))
            #expect(try await store.readCategory("order", after: .start, limit: 10).map(\.streamID) == ["order-2", "order-1", "order-3", "order-1"])
            #expect(try await store.readCategory("order", after: 2, limit: 2).map(\.position) == [4, 6])
            let page1 = try await store.streams(category: "order", after: nil, limit: 2)
            #expect(page1.map(\.id) == ["order-1", "order-2"])
            #expect(page1[0].version == 2 && page1[0].lastPosition == 6)
            let page2 = try await store.streams(category: "order", after: page1.last?.id, limit: 2)
            #expect(page2.map(\.id) == ["order-3"])
            #expect(try await store.streams(category: nil, after: nil, limit: 10).map(\.id) == ["order-1", "order-2", "order-3", "orders", "user-1"])
            var all: [GlobalPosition] = []
            for try await event in store.allEvents(pageSize: 4) { all.append(event.position) }
            #expect(all == [1, 2, 3, 4, 5, 6])
        }
    }

    @Test func malformedAppendsAreRefusedWithTypedErrors() async throws {
        try await PostgresTestDatabase.withStore { store, _ in
            await #expect { try await store.append([], to: "order-1", expectedVersion: .any) } throws: { ($0 as? EventStoreError)?.code == .emptyAppend }
            await #expect {
                try await store.append(EventData(type: "", payload: Data()), to: "order-1", expectedVersion: .any)
            } throws: { ($0 as? EventStoreError)?.code == .invalidEvent }
            let head = try await store.headPosition()
            #expect(head == .start)
        }
    }

    @Test func migrateIsIdempotentUnderConcurrency() async throws {
        try await PostgresTestDatabase.withStore { _, database in
            let schema = try PostgresSchemaName("\(database.schema.rawValue)_m")
            let store = PostgresEventStore(client: database.client, schema: schema)
            let drop = PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \"\(schema.rawValue)\" CASCADE")
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 { group.addTask { try await store.migrate() } }
                    try await group.waitForAll()
                }
                try await store.migrate()
                try await store.append(testEvent(), to: "a-1", expectedVersion: .noStream)
                #expect(try await store.headPosition() == 1)
            } catch {
                _ = try? await database.client.query(drop)
                throw error
            }
            try await database.client.query(drop)
        }
    }

    @Test func aStoreFromANewerChronicleIsRefused() async throws {
        try await PostgresTestDatabase.withStore { store, database in
            try await database.client.query(PostgresQuery(unsafeSQL: "INSERT INTO \"\(database.schema.rawValue)\".schema_migrations (version) VALUES (999)"))
            await #expect { try await store.migrate() } throws: { ($0 as? EventStoreError)?.code == .unsupportedSchema }
        }
    }

    @Test func anUnmigratedSchemaGivesAClearError() async throws {
        try await PostgresTestDatabase.withStore { _, database in
            let store = PostgresEventStore(client: database.client, schema: try PostgresSchemaName("\(database.schema.rawValue)_none"))
            await #expect { try await store.readAll(after: .start, limit: 1) } throws: { ($0 as? EventStoreError)?.code == .notADatabase }
            await #expect { try await store.append(testEvent(), to: "a-1", expectedVersion: .any) } throws: { ($0 as? EventStoreError)?.code == .notADatabase }
        }
    }
}

/// Configuration parsing needs no server.
struct PostgresConfigurationTests {
    @Test func urlsParseIntoSettings() throws {
        let settings = try PostgresConnectionSettings(url: "postgres://chronicle:s%40cret@127.0.0.1:54329/chronicle_test")
        #expect(settings.host == "127.0.0.1" && settings.port == 54329)
        #expect(settings.username == "chronicle" && settings.password == "s@cret")
        #expect(settings.database == "chronicle_test" && settings.tlsMode == .disable)
        #expect(try PostgresConnectionSettings(url: "postgresql://u@db.example.com/app?sslmode=require").tlsMode == .require)
        #expect(try PostgresConnectionSettings(url: "postgres://u@db.example.com/app").port == 5432)
    }

    @Test func badUrlsAreRefusedWithoutEchoingThePassword() {
        for url in ["mysql://u:pw@h/db", "postgres://u:topsecret@h", "postgres://:topsecret@h/db", "postgres://u:topsecret@h/db?sslmode=weird", "not a url"] {
            #expect {
                try PostgresConnectionSettings(url: url)
            } throws: { error in
                let error = error as? EventStoreError
                return error?.code == .invalidArgument && error?.message.contains("topsecret") == false
            }
        }
    }

    @Test func schemaNamesAreValidatedBecauseTheyAreSplicedIntoSQL() throws {
        #expect(try PostgresSchemaName("tenant_42").rawValue == "tenant_42")
        for bad in ["", "Upper", "a-b", "x\"; DROP TABLE events; --", "9lives", "pg_catalog", String(repeating: "a", count: 51)] {
            #expect(throws: EventStoreError.self) { try PostgresSchemaName(bad) }
        }
    }
}
