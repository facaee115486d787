import Chronicle
import ChronicleTesting
import Testing

@Suite struct InMemoryStreamMaintenanceTests {
    @Test(arguments: StreamMaintenanceConformance.cases)
    func inMemoryStoresMaintainStreams(_ conformanceCase: StreamMaintenanceConformance.Case) async throws {
        let clock = StreamMaintenanceConformance.Clock()
        try await conformanceCase.run(.init(store: InMemoryEventStore(now: clock.now), clock: clock))
    }
}
