import Chronicle
import Foundation
import PostgresNIO
import Synchronization

/// Thrown inside a read model's transaction when its generation may not move: a rebuild froze
/// it (`frozen`) or replaced it.
struct GenerationRefused: Error {
    let frozen: Bool
}

/// The generations of one PostgreSQL read model, which of them serves queries, and how a rebuild
/// swaps them: the engine's ``RebuildableProjectionStorage`` for a ``PostgresReadModel``.
///
/// Layout (in the store's schema): `read_model_generations` hands out generation numbers, each a
/// schema `<store schema>_rm<N>` holding that copy's tables; `read_models` names the serving
/// generation and whether a rebuild froze it. Generation N's checkpoints and dead letters are
/// the rows of consumer `NAME.rmN` in `checkpoints` and `dead_letters`.
///
/// Every transaction that moves a generation's checkpoint share-locks the `read_models` row and
/// proceeds only for the serving, unfrozen generation (or a newer one, a rebuild's target).
/// Freezing and swapping update that row, so they wait for commits in flight and commits after
/// them see the change. Readers share-lock it too: a swap waits for them, and the old
/// generation's schema is dropped only after the swap committed.
final class PostgresReadModelStorage: RebuildableProjectionStorage, Sendable {
    let name: String
    let store: PostgresEventStore
    let projector: any PostgresProjector
    let partitions: Int
    private let serving = Mutex<Int64?>(nil)
    /// Advances on every swap and thaw, so commits held by a freeze wake.
    let changes = PositionSignal()

    init(name: String, store: PostgresEventStore, projector: any PostgresProjector, partitions: Int) {
        self.name = name
        self.store = store
        self.projector = projector
        self.partitions = partitions
    }

    private var sql: PostgresSQL { store.sql }

    func tables(_ generation: Int64) -> PostgresReadModelTables {
        PostgresReadModelTables(storeSchema: store.schema, generation: generation)
    }

    func consumer(_ generation: Int64) -> String { "\(name).rm\(generation)" }

    /// The storage of one generation (its checkpoints, dead letters and tables).
    func generation(_ id: Int64) -> PostgresProjectionStorage {
        let projector = self.projector, tables = self.tables(id), name = self.name, sql = self.sql, store = self.store
        return PostgresProjectionStorage(
            consumer: consumer(id), store: store,
            admit: { connection in
                var row: (serving: Int64, frozen: Bool)?
                for try await found in try await store.query(sql.shareReadModel, [name], on: connection).decode((Int64, Bool).self) where row == nil {
                    row = found
                }
                guard let row else { throw GenerationRefused(frozen: false) }
                let serving = row.serving
                if serving == id {
                    if row.frozen { throw GenerationRefused(frozen: true) }
                } else if id < serving {
                    throw GenerationRefused(frozen: false)
                }
            },
            apply: { events, connection in
                try await projector.apply(events, on: connection, tables: tables)
            }
        )
    }

    private func generationID(of target: any ProjectionStorage) throws -> Int64 {
        let prefix = "\(name).rm"
        guard let storage = target as? PostgresProjectionStorage, storage.consumer.hasPrefix(prefix),
            let id = Int64(storage.consumer.dropFirst(prefix.count))
        else {
            throw ProjectionError(.invalidConfiguration, "A rebuild target of another storage was given to read model \(name).", projection: name)
        }
        return id
    }

    private func failure(_ error: any Error, _ what: String) -> ProjectionError {
        if let error = error as? ProjectionError { return error }
        return ProjectionError(.storageFailure, "PostgreSQL failed while \(what) of read model \(name); \(PostgresFailure.map(error, while: what).message)", projection: name, underlying: error)
    }

    // MARK: Generations

    /// Creates the read model's first generation if it has none, and runs the projector's
    /// migrations the serving generation has not run. Returns the serving generation.
    @discardableResult
    func prepare() async throws -> Int64 {
        do {
            let id = try await store.inTransaction { connection in
                try await self.store.execute(self.sql.readModelLock, [self.store.schema.rawValue, self.name], on: connection)
                if let serving = try await self.readModelRow(self.sql.selectReadModel, on: connection)?.serving {
                    let migrated = try await self.store.scalar(self.sql.selectMigrated, [serving], on: connection) ?? 0
                    try await self.migrate(serving, after: Int(migrated), on: connection)
                    return .commit(serving)
                }
                let id = try await self.createGeneration(on: connection)
                try await self.store.execute(self.sql.insertReadModel, [self.name, id], on: connection)
                return .commit(id)
            }
            serving.withLock { $0 = id }
            return id
        } catch {
            throw failure(error, "preparing the tables")
        }
    }

    /// The serving generation as this process last saw it (preparing the read model first).
    func servingGeneration() async throws -> Int64 {
        if let id = serving.withLock({ $0 }) { return id }
        return try await prepare()
    }

    /// Reads which generation serves now.
    func refresh() async throws {
        do {
            let row = try await store.inTransaction { connection in .commit(try await self.readModelRow(self.sql.selectReadModel, on: connection)) }
            if let id = row?.serving { serving.withLock { $0 = id } } else { _ = try await prepare() }
        } catch {
            throw failure(error, "reading the serving generation")
        }
    }

    /// A `read_models` row: the serving generation and whether it is frozen.
    struct Row: Sendable {
        let serving: Int64
        let frozen: Bool
    }

    func readModelRow(_ statement: String, on connection: PostgresConnection) async throws -> Row? {
        var row: Row?
        for try await (serving, frozen) in try await store.query(statement, [name], on: connection).decode((Int64, Bool).self) where row == nil {
            row = Row(serving: serving, frozen: frozen)
        }
        return row
    }

    /// A new generation: its number, its schema, every migration. On the caller's transaction.
    private func createGeneration(on connection: PostgresConnection) async throws -> Int64 {
        guard let id = try await store.scalar(sql.insertGeneration, [name], on: connection) else {
            throw ProjectionError(.storageFailure, "PostgreSQL returned no generation number for read model \(name).", projection: name)
        }
        try await store.execute("CREATE SCHEMA \(tables(id).schema)", [], on: connection)
        try await migrate(id, after: 0, on: connection)
        return id
    }

    private func migrate(_ generation: Int64, after migrated: Int, on connection: PostgresConnection) async throws {
        let tables = self.tables(generation)
        var reached = migrated
        for migration in projector.migrations where migration.version > migrated {
            do {
                try await migration.run(connection, tables)
            } catch {
                throw ProjectionError(
                    .storageFailure, "Migration \(migration.version) of read model \(name) failed: \(PostgresFailure.summary(of: error)). Fix it and start again; nothing of it was kept.",
                    projection: name, underlying: error
                )
            }
            reached = migration.version
        }
        if reached != migrated { try await store.execute(sql.updateMigrated, [generation, Int32(reached)], on: connection) }
    }

    /// Drops a generation's schema, checkpoints, dead letters and number.
    private func drop(_ generation: Int64) async throws {
        try await store.inTransaction { connection in
            try await self.store.execute(self.sql.readModelLock, [self.store.schema.rawValue, self.name], on: connection)
            try await self.store.execute("DROP SCHEMA IF EXISTS \(self.tables(generation).schema) CASCADE", [], on: connection)
            try await self.store.execute(self.sql.deleteCheckpoint, [self.consumer(generation)], on: connection)
            try await self.store.execute(self.sql.deleteDeadLetters, [self.consumer(generation)], on: connection)
            try await self.store.execute(self.sql.deleteGeneration, [generation], on: connection)
            return .commit(())
        }
    }

    /// Called by the process that becomes the runner: follows the serving generation, thaws it
    /// and drops the generations an interrupted rebuild left.
    func tookOver() async throws {
        let id = try await prepare()
        do {
            let stray = try await store.inTransaction { connection in
                try await self.store.execute(self.sql.setFrozen, [self.name, id, false], on: connection)
                var ids: [Int64] = []
                for try await generation in try await self.store.query(self.sql.listGenerations, [self.name], on: connection).decode(Int64.self) where generation != id {
                    ids.append(generation)
                }
                return .commit(ids)
            }
            for generation in stray { try await drop(generation) }
        } catch {
            throw failure(error, "cleaning up the generations")
        }
    }

    /// Runs a write on the serving generation; when a rebuild froze or replaced it, waits for the
    /// thaw or swap (briefly) and reports a checkpoint conflict so the engine reads the
    /// checkpoints of the generation serving now.
    private func writing<T>(_ body: (PostgresProjectionStorage) async throws -> T) async throws -> T {
        let seen = changes.value
        do {
            return try await body(generation(try await servingGeneration()))
        } catch let refused as GenerationRefused {
            if refused.frozen {
                try? await changes.wait(until: seen.next, timeout: .seconds(1), projection: name)
            }
            try await refresh()
            throw ProjectionCheckpointConflict(stored: nil)
        }
    }

    // MARK: ProjectionStorage (the serving generation)

    func checkpoints(partitions: Int) async throws -> [GlobalPosition]? {
        try await generation(try await servingGeneration()).checkpoints(partitions: partitions)
    }

    func initialize(partitions: Int, at position: GlobalPosition) async throws {
        try await generation(try await servingGeneration()).initialize(partitions: partitions, at: position)
    }

    func startPosition() async throws -> GlobalPosition {
        try await generation(try await servingGeneration()).startPosition()
    }

    func commit(_ events: [RecordedEvent], partition: Int, from: GlobalPosition, to: GlobalPosition) async throws {
        try await writing { try await $0.commit(events, partition: partition, from: from, to: to) }
    }

    func park(_ event: RecordedEvent, partition: Int, error: String, attempts: Int, at date: Date, from: GlobalPosition) async throws -> Int {
        try await writing { try await $0.park(event, partition: partition, error: error, attempts: attempts, at: date, from: from) }
    }

    func parkedCount() async throws -> Int {
        try await generation(try await servingGeneration()).parkedCount()
    }

    func parkedEvents(after position: GlobalPosition, limit: Int) async throws -> [ParkedEvent] {
        try await generation(try await servingGeneration()).parkedEvents(after: position, limit: limit)
    }

    func parkedEvent(at position: GlobalPosition) async throws -> ParkedEvent? {
        try await generation(try await servingGeneration()).parkedEvent(at: position)
    }

    func applyParked(_ event: RecordedEvent) async throws -> Int {
        do {
            return try await generation(try await servingGeneration()).applyParked(event)
        } catch let refused as GenerationRefused {
            try await refresh()
            throw ProjectionError(
                refused.frozen ? .rebuildInProgress : .parkedEventNotFound,
                refused.frozen
                    ? "Read model \(name) is finishing a rebuild; retry the parked event once it is done."
                    : "A rebuild replaced read model \(name) meanwhile; list the parked events again.",
                projection: name, position: event.position
            )
        }
    }

    func recordParkedFailure(at position: GlobalPosition, error: String, at date: Date) async throws {
        try await generation(try await servingGeneration()).recordParkedFailure(at: position, error: error, at: date)
    }

    func dropParked(at position: GlobalPosition) async throws -> Int? {
        try await generation(try await servingGeneration()).dropParked(at: position)
    }

    // MARK: RebuildableProjectionStorage

    func makeRebuildTarget() async throws -> any ProjectionStorage {
        _ = try await servingGeneration()
        do {
            let id = try await store.inTransaction { connection in
                try await self.store.execute(self.sql.readModelLock, [self.store.schema.rawValue, self.name], on: connection)
                return .commit(try await self.createGeneration(on: connection))
            }
            return generation(id)
        } catch {
            throw failure(error, "creating a generation to rebuild into")
        }
    }

    func freeze(partitions: Int) async throws -> [GlobalPosition] {
        let id = try await servingGeneration()
        do {
            // The UPDATE waits for commits in flight (they share-lock the row); later ones see it.
            try await store.execute(sql.setFrozen, [name, id, true])
        } catch {
            throw failure(error, "freezing the serving generation")
        }
        return try await generation(id).checkpoints(partitions: partitions) ?? Array(repeating: .start, count: partitions)
    }

    func swap(to target: any ProjectionStorage) async throws -> Bool {
        let new = try generationID(of: target)
        let old = try await servingGeneration()
        let partitions = self.partitions
        let newPositions = try await target.checkpoints(partitions: partitions) ?? Array(repeating: .start, count: partitions)
        let oldPositions = try await generation(old).checkpoints(partitions: partitions) ?? Array(repeating: .start, count: partitions)
        let swapped: Bool
        do {
            swapped = try await store.inTransaction { connection in
                // Waits for readers and commits holding the row; none can start on `old` after this.
                guard let row = try await self.readModelRow(self.sql.lockReadModel, on: connection), row.serving == old,
                    zip(newPositions, oldPositions).allSatisfy({ $0 >= $1 })
                else {
                    try await self.store.execute(self.sql.setFrozen, [self.name, old, false], on: connection)
                    return .commit(false)
                }
                try await self.store.execute(self.sql.setServing, [self.name, new], on: connection)
                return .commit(true)
            }
        } catch {
            throw failure(error, "swapping in the rebuilt generation")
        }
        if swapped { serving.withLock { $0 = new } }
        changes.advance(to: changes.value.next)
        if swapped {
            do { try await drop(old) } catch {
                // Left for the next runner to drop (tookOver); the swap itself committed.
            }
        }
        return swapped
    }

    func discard(_ target: any ProjectionStorage) async {
        if let id = try? generationID(of: target), id != serving.withLock({ $0 }) {
            try? await drop(id)
        }
        if let id = serving.withLock({ $0 }) {
            try? await store.execute(sql.setFrozen, [name, id, false])
        }
        changes.advance(to: changes.value.next)
    }

    // MARK: Reading

    /// Runs `body` in a transaction on the serving generation, share-locking the `read_models`
    /// row so no swap (or drop) happens under it.
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection, PostgresReadModelTables) async throws -> T) async throws -> T {
        _ = try await servingGeneration()
        return try await store.inTransaction { connection in
            guard let id = try await self.readModelRow(self.sql.shareReadModel, on: connection)?.serving else {
                throw ProjectionError(.storageFailure, "Read model \(self.name) has no serving generation (was it deleted?); run it again to recreate it.", projection: self.name)
            }
            return .commit(try await body(connection, self.tables(id)))
        }
    }
}
