import Chronicle
import ChroniclePostgres
import ChronicleTesting
import Foundation
import PostgresNIO
import Synchronization
import Testing

@Suite(.enabled(if: PostgresTestEnvironment.isConfigured, PostgresTestEnvironment.skipReason)) struct PostgresProjectionConformanceTests {
    struct Poison: Error, CustomStringConvertible {
        let position: GlobalPosition
        var description: String { "poison at \(position)" }
    }

    @Test(arguments: ProjectionConformance.cases)
    func postgresProjectionStorageConforms(_ conformanceCase: ProjectionConformance.Case) async throws {
        try await PostgresTestDatabase.withStore { store, database in
            let table = "\"\(database.schema.rawValue)\".applied"
            try await database.client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (seq bigserial PRIMARY KEY, consumer text NOT NULL, position bigint NOT NULL)"))
            try await conformanceCase.run { (name: String, _: Int) async throws -> ProjectionConformance.Fixture in
                let poisoned = Mutex<Set<GlobalPosition>>([])
                let storage = PostgresProjectionStorage(consumer: name, store: store) { events, connection in
                    for event in events {
                        if poisoned.withLock({ $0.contains(event.position) }) { throw Poison(position: event.position) }
                        try await connection.statement(
                            PostgresQuery(unsafeSQL: "INSERT INTO \(table) (consumer, position) VALUES ($1, $2)", binds: try Self.binds(name, event.position.value)),
                            logger: connection.logger
                        )
                    }
                }
                return ProjectionConformance.Fixture(
                    storage: storage,
                    applied: {
                        var positions: [GlobalPosition] = []
                        let rows = try await database.client.query(
                            PostgresQuery(unsafeSQL: "SELECT position FROM \(table) WHERE consumer = $1 ORDER BY seq", binds: try Self.binds(name))
                        )
                        for try await position in rows.decode(Int64.self) { positions.append(GlobalPosition(position)) }
                        return positions
                    },
                    poison: { positions in poisoned.withLock { $0 = positions } }
                )
            }
        }
    }

    static func binds(_ name: String, _ position: Int64? = nil) throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(name)
        if let position { binds.append(position) }
        return binds
    }
}
