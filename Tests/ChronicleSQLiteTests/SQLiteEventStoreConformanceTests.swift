import Chronicle
import ChronicleSQLite
import ChronicleTesting
import Testing

@Suite struct SQLiteEventStoreConformanceTests {
    @Test(arguments: EventStoreConformance.cases)
    func sqliteStoreConforms(_ conformanceCase: EventStoreConformance.Case) async throws {
        try await withTemporaryStore { store, _ in
            try await conformanceCase.run(on: store)
        }
    }

    @Test(arguments: EventStoreConformance.cases)
    func sqliteStoreWithFullDurabilityConforms(_ conformanceCase: EventStoreConformance.Case) async throws {
        try await withTemporaryStore(configuration: .quiet(durability: .full)) { store, _ in
            try await conformanceCase.run(on: store)
        }
    }
}
