import Chronicle
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

@testable import ChronicleSQLite

@Suite struct SQLiteEventStoreBadInputTests {
    @Test func anAppendWhileAnotherConnectionHoldsTheLockFailsAsBusyAndWritesNothing() async throws {
        var configuration = SQLiteEventStore.Configuration.quiet()
        configuration.busyTimeout = .milliseconds(100)
        try await withTemporaryStore(configuration: configuration) { store, _ in
            try await store.append(event(), to: "order-1", expectedVersion: .noStream)
            var lockerConfiguration = GRDB.Configuration()
            lockerConfiguration.allowsUnsafeTransactions = true
            let locker = try DatabaseQueue(path: store.path, configuration: lockerConfiguration)
            try locker.inDatabase { db in try db.execute(sql: "BEGIN EXCLUSIVE") }
            do {
                try await store.append(event(), to: "order-1", expectedVersion: .exactly(1))
                Issue.record("append succeeded while the database was locked")
            } catch let error as EventStoreError {
                #expect(error.code == .databaseBusy, "\(error)")
            }
            // Reads do not wait for the writer lock (WAL).
            #expect(try await store.headPosition() == 1)
            try locker.inDatabase { db in try db.execute(sql: "ROLLBACK") }
            try locker.close()
            #expect(try await store.readStream("order-1").count == 1)
            let result = try await store.append(event(), to: "order-1", expectedVersion: .exactly(1))
            #expect(result.position == 2)
        }
    }

    @Test func aWrongExpectedVersionIsTypedWithTheActualVersion() async throws {
        try await withTemporaryStore { store, _ in
            try await store.append([event(), event()], to: "order-7", expectedVersion: .noStream)
            do {
                try await store.append(event(), to: "order-7", expectedVersion: .exactly(1))
                Issue.record("stale append succeeded")
            } catch let error as EventStoreError {
                #expect(error.code == .wrongExpectedVersion)
                #expect(error.streamID == "order-7")
                #expect(error.expectedVersion == .exactly(1))
                #expect(error.actualVersion == 2)
            }
            #expect(try await store.headPosition() == 2)
        }
    }

    @Test(arguments: ["", "order 1", "$all", "tab\there", String(repeating: "x", count: 256)])
    func anInvalidStreamIDIsRefusedBeforeReachingTheStore(raw: String) {
        #expect(throws: EventStoreError.self) { try StreamID(raw) }
    }

    @Test func appendsAndReadsAfterCloseFailAsClosed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .quiet())
        try await store.append(event(), to: "order-1", expectedVersion: .noStream)
        try await store.close()
        try await store.close()  // closing twice is harmless
        #expect(!store.isOpen)
        await #expect(throws: EventStoreError.self) { try await store.append(event(), to: "order-1", expectedVersion: .any) }
        do {
            try await store.append(event(), to: "order-1", expectedVersion: .any)
        } catch let error as EventStoreError {
            #expect(error.code == .closed)
        }
        do {
            _ = try await store.readAll(after: .start, limit: 10)
            Issue.record("read after close succeeded")
        } catch let error as EventStoreError {
            #expect(error.code == .closed)
        }
        // The data is intact for the next opener.
        let reopened = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .quiet())
        #expect(try await reopened.headPosition() == 1)
        try await reopened.close()
    }

    @Test func appendsInFlightWhenTheStoreClosesFinishFirst() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .quiet())
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<50 {
                group.addTask {
                    do {
                        try await store.append(event(), to: StreamID(category: "order", id: "\(index)"), expectedVersion: .noStream)
                        return true
                    } catch {
                        return false
                    }
                }
            }
            group.addTask {
                try? await store.close()
                return false
            }
            var succeeded = 0
            for await ok in group where ok { succeeded += 1 }
            return succeeded
        }
        let reopened = try SQLiteEventStore(path: directory.path("events.sqlite"), configuration: .quiet())
        // Every append that reported success is stored, and nothing else.
        #expect(try await reopened.headPosition() == GlobalPosition(Int64(outcomes)))
        try await reopened.close()
    }

    // MARK: Corrupt rows

    private func corrupt(_ store: SQLiteEventStore, _ sql: String) throws {
        let queue = try DatabaseQueue(path: store.path)
        try queue.write { db in try db.execute(sql: sql) }
        try queue.close()
    }

    private func expectCorrupt(at position: GlobalPosition, _ read: () async throws -> [RecordedEvent]) async {
        do {
            let events = try await read()
            Issue.record("read succeeded with \(events.count) events; expected corruptRecord at \(position)")
        } catch let error as EventStoreError {
            #expect(error.code == .corruptRecord, "\(error)")
            #expect(error.position == position, "\(error)")
            #expect(error.message.contains("position \(position)"), "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func anEventIDOfTheWrongLengthIsReportedAsACorruptRecordAtItsPosition() async throws {
        try await withTemporaryStore { store, _ in
            try await store.append([event(), event(), event()], to: "order-1", expectedVersion: .noStream)
            try corrupt(store, "UPDATE events SET event_id = x'0102' WHERE position = 2")
            await expectCorrupt(at: 2) { try await store.readAll(after: .start, limit: 10) }
            await expectCorrupt(at: 2) { try await store.readStream("order-1") }
            #expect(try await store.readAll(after: 2, limit: 10).map(\.position) == [3])
        }
    }

    @Test func aCorruptRowReadInPlaceIsReportedAtItsPositionAfterTheRowsBeforeIt() async throws {
        try await withTemporaryStore { store, _ in
            try await store.append([event(), event(), event()], to: "order-1", expectedVersion: .noStream)
            try corrupt(store, "UPDATE events SET event_id = x'0102' WHERE position = 2")
            var handedOver: [StreamVersion] = []
            await expectCorrupt(at: 2) {
                _ = try await store.readStreamInPlace("order-1", from: .first, limit: 10) { event, _ in handedOver.append(event.streamVersion) }
                return []
            }
            #expect(handedOver == [1], "only the rows before the damaged one reach the closure")
            var after: [(StreamVersion, Data)] = []
            let count = try await store.readStreamInPlace("order-1", from: 3, limit: 10) { event, payload in after.append((event.streamVersion, Data(payload))) }
            #expect(count == 1)
            #expect(after.map(\.0) == [3])
            #expect(after.map(\.1) == [try await store.readAll(after: 2, limit: 1)[0].payload])
        }
    }

    @Test func undecodableMetadataIsReportedAsACorruptRecordAtItsPosition() async throws {
        try await withTemporaryStore { store, _ in
            try await store.append([event(), event(metadata: EventMetadata(correlationID: "c"))], to: "order-1", expectedVersion: .noStream)
            try corrupt(store, "UPDATE events SET metadata = x'7b7b7b' WHERE position = 2")
            await expectCorrupt(at: 2) { try await store.readCategory("order", after: .start, limit: 10) }
        }
    }

    @Test func anInvalidStoredStreamIDIsReportedAsACorruptRecordAtItsPosition() async throws {
        try await withTemporaryStore { store, _ in
            try await store.append(event(), to: "order-1", expectedVersion: .noStream)
            try await store.append(event(), to: "order-2", expectedVersion: .noStream)
            try corrupt(store, "UPDATE streams SET stream_id = 'bad id' WHERE stream_id = 'order-2'")
            await expectCorrupt(at: 2) { try await store.readAll(after: .start, limit: 10) }
            await #expect(throws: EventStoreError.self) { try await store.streams(category: nil, after: nil, limit: 10) }
        }
    }

    @Test func anIdempotencyCheckMeetingACorruptRowFailsWithoutWriting() async throws {
        try await withTemporaryStore { store, _ in
            let stored = event()
            try await store.append(stored, to: "order-1", expectedVersion: .noStream)
            try corrupt(store, "UPDATE events SET metadata = x'00' WHERE position = 1")
            do {
                try await store.append(stored, to: "order-1", expectedVersion: .noStream)
                Issue.record("replay over a corrupt row succeeded")
            } catch let error as EventStoreError {
                #expect(error.code == .corruptRecord)
                #expect(error.position == 1)
            }
            #expect(try await store.headPosition() == 1)
        }
    }
}
