import Chronicle
import ChroniclePostgres
import ChronicleTesting
import Testing

// The backend-agnostic suite every store passes, each case in its own fresh schema.
// Skipped (reported as skipped) when CHRONICLE_POSTGRES_URL is unset.
@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresEventStoreConformanceTests {
    @Test(arguments: EventStoreConformance.cases)
    func postgresStoreConforms(_ conformanceCase: EventStoreConformance.Case) async throws {
        try await PostgresTestDatabase.withStore(maximumConnections: 4) { store, _ in
            try await conformanceCase.run(on: store)
        }
    }
}
