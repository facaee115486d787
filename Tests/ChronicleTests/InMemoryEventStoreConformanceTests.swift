import Chronicle
import ChronicleTesting
import Testing

@Suite struct InMemoryEventStoreConformanceTests {
    @Test(arguments: EventStoreConformance.cases)
    func inMemoryStoreConforms(_ conformanceCase: EventStoreConformance.Case) async throws {
        try await conformanceCase.run(on: InMemoryEventStore())
    }
}
