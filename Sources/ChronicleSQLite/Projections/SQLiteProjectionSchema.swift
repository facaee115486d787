import Chronicle
import Foundation
import GRDB

/// The bookkeeping tables every read-model file holds beside the projector's own tables, and
/// the rules that read and write them (their SQL is in ``SQLiteProjectionSQL``).
enum SQLiteProjectionSchema {
    /// Creates or upgrades the bookkeeping tables, then checks that the file belongs to
    /// `projection` with `partitions` partitions (recording both in a new file).
    /// Whether the file is already prepared for `projection` (checked read-only, so opening a
    /// read model never waits for a runner's write transaction); throws when it is another
    /// projection's or newer than this build.
    static func isPrepared(_ db: Database, projection: String, partitions: Int) throws -> Bool {
        let applied = try SQLiteProjectionSQL.ladder.applied(db)
        guard applied >= SQLiteProjectionSQL.ladder.latest, try db.tableExists(SQLiteProjectionSQL.metaTable) else { return false }
        try checkIdentity(db, projection: projection, partitions: partitions, applied: applied)
        return try String.fetchOne(db, sql: SQLiteProjectionSQL.selectName) != nil
    }

    private static func checkIdentity(_ db: Database, projection: String, partitions: Int, applied: Int) throws {
        if applied > SQLiteProjectionSQL.ladder.latest {
            throw ProjectionError(.incompatibleReadModel, "The read-model file of \(projection) has bookkeeping format \(applied), newer than this Chronicle understands (\(SQLiteProjectionSQL.ladder.latest)). Upgrade Chronicle or rebuild into a new directory.", projection: projection)
        }
        guard try db.tableExists(SQLiteProjectionSQL.metaTable) else { return }
        let storedName = try String.fetchOne(db, sql: SQLiteProjectionSQL.selectName)
        let storedPartitions = try String.fetchOne(db, sql: SQLiteProjectionSQL.selectPartitions).flatMap { Int($0) }
        if let storedName, storedName != projection {
            throw ProjectionError(.incompatibleReadModel, "The read-model file holds projection \(storedName), not \(projection). Use another directory or name.", projection: projection)
        }
        if let storedPartitions, storedPartitions != partitions {
            throw ProjectionError(.incompatibleReadModel, "The read model of \(projection) was built with \(storedPartitions) partition(s), not \(partitions). Keep \(storedPartitions), or delete the projection's files (SQLiteReadModelDirectory.deleteFiles(of:)) to rebuild it with \(partitions).", projection: projection)
        }
    }

    static func prepare(_ db: Database, projection: String, partitions: Int) throws {
        let applied = try SQLiteProjectionSQL.ladder.applied(db)
        try checkIdentity(db, projection: projection, partitions: partitions, applied: applied)
        try SQLiteProjectionSQL.ladder.apply(db, after: applied)
        let storedName = try String.fetchOne(db, sql: SQLiteProjectionSQL.selectName)
        if storedName == nil {
            // The checkpoints are created by the engine's first run (``initialize(_:partitions:at:)``),
            // at the projection's start.
            try db.execute(sql: SQLiteProjectionSQL.insertIdentity, arguments: [projection, String(partitions)])
        }
    }

    /// Each partition's checkpoint, or `nil` when the projection never started in this file.
    static func storedCheckpoints(_ db: Database, partitions: Int) throws -> [GlobalPosition]? {
        let rows = try Int.fetchOne(db, sql: SQLiteProjectionSQL.countCheckpoints) ?? 0
        return rows == 0 ? nil : try checkpoints(db, partitions: partitions)
    }

    /// Creates the checkpoints of a projection starting after `position`, and records that start.
    static func initialize(_ db: Database, partitions: Int, at position: GlobalPosition) throws {
        for partition in 0..<partitions {
            try db.execute(sql: SQLiteProjectionSQL.insertCheckpoint, arguments: [partition, position.value])
        }
        try db.execute(sql: SQLiteProjectionSQL.insertStart, arguments: [String(position.value)])
    }

    /// The position the projection started after (0 for files made before starts were recorded).
    static func startPosition(_ db: Database) throws -> GlobalPosition {
        let raw = try String.fetchOne(db, sql: SQLiteProjectionSQL.selectStart)
        return GlobalPosition(max(0, raw.flatMap { Int64($0) } ?? 0))
    }

    /// Each partition's checkpoint, by partition index.
    static func checkpoints(_ db: Database, partitions: Int) throws -> [GlobalPosition] {
        var positions = Array(repeating: GlobalPosition.start, count: partitions)
        for row in try Row.fetchAll(db, sql: SQLiteProjectionSQL.selectCheckpoints) {
            let partition: Int = row["partition"]
            let position: Int64 = row["position"]
            if positions.indices.contains(partition) { positions[partition] = GlobalPosition(max(0, position)) }
        }
        return positions
    }

    /// Moves a partition's checkpoint from `expected` to `position`, inside the transaction that
    /// wrote the read model. Throws `ProjectionCheckpointConflict` (rolling the page back) when the stored
    /// checkpoint is not `expected`: another runner, in this process or another, got there first,
    /// and applying the page again would apply its events twice.
    static func saveCheckpoint(_ db: Database, partition: Int, from expected: GlobalPosition, to position: GlobalPosition) throws {
        try db.execute(
            sql: SQLiteProjectionSQL.moveCheckpoint,
            arguments: [position.value, partition, expected.value]
        )
        if db.changesCount == 0 {
            let stored = try Int64.fetchOne(db, sql: SQLiteProjectionSQL.selectCheckpoint, arguments: [partition]) ?? 0
            throw ProjectionCheckpointConflict(stored: GlobalPosition(max(0, stored)))
        }
    }
}
