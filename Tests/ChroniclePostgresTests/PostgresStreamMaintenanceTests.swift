import Chronicle
import ChroniclePostgres
import ChronicleTesting
import Foundation
import Testing

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason))
struct PostgresStreamMaintenanceTests {
    @Test(arguments: StreamMaintenanceConformance.cases)
    func postgresStoresMaintainStreams(_ conformanceCase: StreamMaintenanceConformance.Case) async throws {
        try await PostgresTestDatabase.withStore { _, database in
            let clock = StreamMaintenanceConformance.Clock()
            try await conformanceCase.run(.init(store: database.makeStore(now: clock.now), clock: clock))
        }
    }
}
