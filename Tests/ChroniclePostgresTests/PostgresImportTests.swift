import Chronicle
import ChroniclePostgres
import ChronicleSQLite
import Foundation
import Testing

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresImportTests {
    @Test func aSQLiteStoreMovesIntoPostgresWithItsIdsVersionsAndPositionsAndReimportingWritesNothing() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chronicle-pg-import-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let sqlite = try SQLiteEventStore(path: directory.appendingPathComponent("events.sqlite").path)
        do {
            for i in 0..<25 {
                let metadata = EventMetadata(correlationID: "c\(i)", custom: ["i": "\(i)"])
                try await sqlite.append(EventData(type: "T\(i % 3)", schemaVersion: 1 + i % 2, payload: Data([UInt8(i), 0, 255]), metadata: metadata), to: StreamID(category: "s", id: "\(i % 4)"), expectedVersion: .any)
            }
            try await PostgresTestDatabase.withStore { store, _ in
                let first = try await store.importEvents(from: sqlite, batchSize: 7)
                #expect(first.written == 25 && first.alreadyPresent == 0 && first.lastSourcePosition == 25)
                let original = try await sqlite.readAll(after: .start, limit: 100)
                let copied = try await store.readAll(after: .start, limit: 100)
                #expect(copied.map(\.id) == original.map(\.id))
                #expect(copied.map(\.position) == original.map(\.position))
                #expect(copied.map(\.streamVersion) == original.map(\.streamVersion))
                #expect(zip(original, copied).allSatisfy { EventData(id: $0.id, type: $0.type, schemaVersion: $0.schemaVersion, payload: $0.payload, metadata: $0.metadata).hasSameContent(as: $1) })
                let again = try await store.importEvents(from: sqlite, batchSize: 10)
                #expect(again.written == 0 && again.alreadyPresent == 25)
                #expect(try await store.headPosition() == 25)
                // A conflicting target stream is refused with a typed error, nothing of the batch written.
                try await sqlite.append(EventData(type: "Late", payload: Data()), to: "s-0", expectedVersion: .any)
                try await store.append(EventData(type: "Other", payload: Data()), to: "s-0", expectedVersion: .any)
                await #expect {
                    try await store.importEvents(from: sqlite, after: 25)
                } throws: { ($0 as? EventStoreError)?.code == .wrongExpectedVersion }
                #expect(try await store.headPosition() == 26)
            }
        } catch {
            try? await sqlite.close()
            throw error
        }
        try await sqlite.close()
    }
}
