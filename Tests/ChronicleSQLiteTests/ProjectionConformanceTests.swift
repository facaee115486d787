import Chronicle
import ChronicleSQLite
import ChronicleTesting
import Foundation
import GRDB
import Synchronization
import Testing

/// Positions a conformance projector refuses (the case sets them).
final class PoisonedPositions: Sendable {
    private let positions = Mutex<Set<GlobalPosition>>([])
    func set(_ new: Set<GlobalPosition>) { positions.withLock { $0 = new } }
    func contains(_ position: GlobalPosition) -> Bool { positions.withLock { $0.contains(position) } }
}

/// Records every position it applies in table `applied`, in order (duplicates show).
struct RecordingProjector: SQLiteProjector {
    let name: String
    let poisoned: PoisonedPositions

    func registerMigrations(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v1") { db in try db.execute(sql: "CREATE TABLE applied (position INTEGER NOT NULL)") }
    }

    func apply(_ event: RecordedEvent, in db: Database) throws {
        if poisoned.contains(event.position) { throw PoisonError(position: event.position) }
        try db.execute(sql: "INSERT INTO applied (position) VALUES (?)", arguments: [event.position.value])
    }
}

/// Records reactions in memory (its effects are not transactional, like a real saga's).
final class RecordingProcessManager: ProcessManager {
    let name: String
    let poisoned: PoisonedPositions
    let reacted = Mutex<[GlobalPosition]>([])

    init(name: String, poisoned: PoisonedPositions) {
        self.name = name
        self.poisoned = poisoned
    }

    func react(to event: RecordedEvent, context: ProcessContext) async throws {
        if poisoned.contains(event.position) { throw PoisonError(position: event.position) }
        reacted.withLock { $0.append(event.position) }
    }
}

@Suite struct ProjectionConformanceTests {
    @Test(arguments: ProjectionConformance.cases)
    func sqliteReadModelsConform(_ conformanceCase: ProjectionConformance.Case) async throws {
        let directory = try ProjectionDirectory()
        try await conformanceCase.run { (name: String, partitions: Int) async throws -> ProjectionConformance.Fixture in
            let poisoned = PoisonedPositions()
            let model = try SQLiteReadModel(
                RecordingProjector(name: name, poisoned: poisoned), directory: directory.path,
                source: .polling(InMemoryEventStore(), interval: .seconds(60)),
                options: .init(partitioning: try .byStream(partitions)), logger: Fixtures.logger
            )
            return ProjectionConformance.Fixture(
                storage: model.engine.storage,
                applied: { try await model.read { db in try Int64.fetchAll(db, sql: "SELECT position FROM applied ORDER BY rowid").map { GlobalPosition($0) } } },
                poison: { poisoned.set($0) }
            )
        }
    }

    @Test(arguments: ProjectionConformance.cases)
    func processManagersConform(_ conformanceCase: ProjectionConformance.Case) async throws {
        let directory = try ProjectionDirectory()
        try await conformanceCase.run { (name: String, partitions: Int) async throws -> ProjectionConformance.Fixture in
            let poisoned = PoisonedPositions()
            let manager = RecordingProcessManager(name: name, poisoned: poisoned)
            let runner = try SQLiteProcessManager(
                manager, path: directory.subdirectory("\(name).sqlite"), source: .polling(InMemoryEventStore(), interval: .seconds(60)),
                logger: Fixtures.logger
            )
            return ProjectionConformance.Fixture(
                storage: runner.engine.storage, applied: { manager.reacted.withLock { $0 } }, poison: { poisoned.set($0) }
            )
        }
    }
}
