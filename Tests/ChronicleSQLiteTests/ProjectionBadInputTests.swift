import Chronicle
import ChronicleSQLite
import ChronicleTestSupport
import Foundation
import GRDB
import Testing

/// What a projection does with input it must not trust: a checkpoint past the log (a restored
/// store), a file of another projection, a bad setting.
@Suite struct ProjectionBadInputTests {
    @Test func aCheckpointAheadOfARestoredLogStopsTheProjectionInsteadOfSkippingEvents() async throws {
        try await withProjectionStore { store, directory in
            let readModels = directory.subdirectory("read-models")
            try await Fixtures.append(1...20, to: store)
            let model = try SQLiteReadModel(CounterProjector(), directory: readModels, source: .observing(store), logger: Fixtures.logger)
            try await whileRunning(model) { try await model.waitUntil(position: 20, timeout: .seconds(20)) }

            // The store is "restored" from a backup holding 12 events; the read model stays.
            let restored = try SQLiteEventStore(path: directory.subdirectory("restored.sqlite"))
            try await Fixtures.append(1...12, to: restored)
            let stale = try SQLiteReadModel(CounterProjector(), directory: readModels, source: .observing(restored), logger: Fixtures.logger)
            try await whileRunning(stale) { () async throws in
                try await eventually("the stale model to fail") { await stale.status().state == .failed }
                let status = await stale.status()
                #expect(status.lastError?.contains("checkpointAheadOfLog") == true, "\(status.lastError ?? "")")
                await #expect { try await stale.waitUntil(position: 21, timeout: .seconds(5)) } throws: {
                    ($0 as? ProjectionError)?.code == .checkpointAheadOfLog
                }
            }
            try await restored.close()
            // The documented way out: delete its files, and it replays the restored log.
            try SQLiteReadModelDirectory(readModels).deleteFiles(of: "counters")
            let restored2 = try SQLiteEventStore(path: directory.subdirectory("restored.sqlite"))
            let replayed = try SQLiteReadModel(CounterProjector(), directory: readModels, source: .observing(restored2), logger: Fixtures.logger)
            try await whileRunning(replayed) { try await replayed.waitUntil(position: 12, timeout: .seconds(20)) }
            #expect(try await replayed.counters() == Fixtures.expectedCounters(1...12))
            try await restored2.close()
        }
    }

    @Test func anotherProjectionsFileIsRefusedWithATypedError() async throws {
        try await withProjectionStore { store, directory in
            _ = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            // A file of "counters" put where "others" lives.
            let others = (directory.path as NSString).appendingPathComponent("others")
            try FileManager.default.createDirectory(atPath: others, withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                atPath: (directory.path as NSString).appendingPathComponent("counters.g1.sqlite"),
                toPath: (others as NSString).appendingPathComponent("renamed.g1.sqlite")
            )
            try FileManager.default.createSymbolicLink(atPath: (others as NSString).appendingPathComponent("renamed.sqlite"), withDestinationPath: "renamed.g1.sqlite")
            #expect {
                _ = try SQLiteReadModel(CounterProjector(name: "renamed"), directory: others, source: .observing(store), logger: Fixtures.logger)
            } throws: { ($0 as? ProjectionError)?.code == .incompatibleReadModel }
        }
    }

    @Test func aDamagedDeadLetterRowIsACorruptRecordLikeADamagedEventRow() async throws {
        try await withProjectionStore { store, directory in
            let model = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), logger: Fixtures.logger)
            let queue = try DatabaseQueue(path: (directory.path as NSString).appendingPathComponent("counters.sqlite"))
            try await queue.write { db in
                try db.execute(sql: """
                    INSERT INTO chronicle_dead_letter (position, event_id, stream_id, event_type, partition, error, attempts, parked_at)
                    VALUES (1, 'not-a-uuid', 'order-1', 'Placed', 0, 'boom', 3, 0)
                    """)
            }
            try queue.close()
            await #expect { try await model.parkedEvents(after: .start, limit: 10) } throws: {
                ($0 as? EventStoreError)?.code == .corruptRecord
            }
        }
    }

    @Test(arguments: [0, 100_001])
    func aPageSizeOutOfRangeIsRefused(pageSize: Int) async throws {
        try await withProjectionStore { store, directory in
            #expect {
                _ = try SQLiteReadModel(CounterProjector(), directory: directory.path, source: .observing(store), options: .init(pageSize: pageSize), logger: Fixtures.logger)
            } throws: { ($0 as? ProjectionError)?.code == .invalidConfiguration }
            #expect {
                _ = try SQLiteProcessManager(
                    RecordingProcessManager(name: "p", poisoned: PoisonedPositions()), path: directory.subdirectory("p.sqlite"),
                    source: .observing(store), pageSize: pageSize, logger: Fixtures.logger
                )
            } throws: { ($0 as? ProjectionError)?.code == .invalidConfiguration }
        }
    }
}
