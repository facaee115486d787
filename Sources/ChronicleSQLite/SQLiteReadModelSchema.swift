import Chronicle
import Foundation
import GRDB

/// The bookkeeping tables every read-model file holds beside the projector's own tables, and
/// the SQL that touches them (all of it is here).
enum SQLiteReadModelSchema {
    /// The format of the bookkeeping tables; a file with a newer one is refused.
    static let formatVersion = 1

    /// Numbered, append-only: each statement runs once per file, in order.
    static let migrations: [String] = [
        """
        CREATE TABLE chronicle_projection_meta (
            key TEXT NOT NULL CONSTRAINT chronicle_projection_meta_pk PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE chronicle_checkpoint (
            partition INTEGER NOT NULL CONSTRAINT chronicle_checkpoint_pk PRIMARY KEY,
            position INTEGER NOT NULL CONSTRAINT chronicle_checkpoint_position_not_negative CHECK (position >= 0)
        );
        CREATE TABLE chronicle_dead_letter (
            position INTEGER NOT NULL CONSTRAINT chronicle_dead_letter_pk PRIMARY KEY,
            event_id TEXT NOT NULL,
            stream_id TEXT NOT NULL,
            event_type TEXT NOT NULL,
            partition INTEGER NOT NULL,
            error TEXT NOT NULL,
            attempts INTEGER NOT NULL CONSTRAINT chronicle_dead_letter_attempts_positive CHECK (attempts > 0),
            parked_at REAL NOT NULL
        );
        """,
    ]

    /// Creates or upgrades the bookkeeping tables, then checks that the file belongs to
    /// `projection` with `partitions` partitions (recording both in a new file).
    /// Whether the file is already prepared for `projection` (checked read-only, so opening a
    /// read model never waits for a runner's write transaction); throws when it is another
    /// projection's or newer than this build.
    static func isPrepared(_ db: Database, projection: String, partitions: Int) throws -> Bool {
        guard try db.tableExists("chronicle_projection_format"), try db.tableExists("chronicle_projection_meta") else { return false }
        let applied = try Int.fetchOne(db, sql: "SELECT max(version) FROM chronicle_projection_format") ?? 0
        guard applied >= migrations.count else { return false }
        try checkIdentity(db, projection: projection, partitions: partitions, applied: applied)
        return try String.fetchOne(db, sql: "SELECT value FROM chronicle_projection_meta WHERE key = 'name'") != nil
    }

    private static func checkIdentity(_ db: Database, projection: String, partitions: Int, applied: Int) throws {
        if applied > migrations.count {
            throw ProjectionError(.incompatibleReadModel, "The read-model file of \(projection) has bookkeeping format \(applied), newer than this Chronicle understands (\(migrations.count)). Upgrade Chronicle or rebuild into a new directory.", projection: projection)
        }
        guard try db.tableExists("chronicle_projection_meta") else { return }
        let storedName = try String.fetchOne(db, sql: "SELECT value FROM chronicle_projection_meta WHERE key = 'name'")
        let storedPartitions = try String.fetchOne(db, sql: "SELECT value FROM chronicle_projection_meta WHERE key = 'partitions'").flatMap { Int($0) }
        if let storedName, storedName != projection {
            throw ProjectionError(.incompatibleReadModel, "The read-model file holds projection \(storedName), not \(projection). Use another directory or name.", projection: projection)
        }
        if let storedPartitions, storedPartitions != partitions {
            throw ProjectionError(.incompatibleReadModel, "The read model of \(projection) was built with \(storedPartitions) partition(s), not \(partitions). Keep \(storedPartitions), or delete the projection's files (SQLiteReadModel.deleteFiles) to rebuild it with \(partitions).", projection: projection)
        }
    }

    static func prepare(_ db: Database, projection: String, partitions: Int) throws {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS chronicle_projection_format (version INTEGER NOT NULL)")
        let applied = try Int.fetchOne(db, sql: "SELECT max(version) FROM chronicle_projection_format") ?? 0
        try checkIdentity(db, projection: projection, partitions: partitions, applied: applied)
        for (index, sql) in migrations.enumerated() where index + 1 > applied {
            try db.execute(sql: sql)
            try db.execute(sql: "INSERT INTO chronicle_projection_format (version) VALUES (?)", arguments: [index + 1])
        }
        let storedName = try String.fetchOne(db, sql: "SELECT value FROM chronicle_projection_meta WHERE key = 'name'")
        if storedName == nil {
            // The checkpoints are created by the engine's first run (``initialize(_:partitions:at:)``),
            // at the projection's start.
            try db.execute(sql: "INSERT INTO chronicle_projection_meta (key, value) VALUES ('name', ?), ('partitions', ?)", arguments: [projection, String(partitions)])
        }
    }

    /// Each partition's checkpoint, or `nil` when the projection never started in this file.
    static func storedCheckpoints(_ db: Database, partitions: Int) throws -> [GlobalPosition]? {
        let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM chronicle_checkpoint") ?? 0
        return rows == 0 ? nil : try checkpoints(db, partitions: partitions)
    }

    /// Creates the checkpoints of a projection starting after `position`, and records that start.
    static func initialize(_ db: Database, partitions: Int, at position: GlobalPosition) throws {
        for partition in 0..<partitions {
            try db.execute(sql: "INSERT OR IGNORE INTO chronicle_checkpoint (partition, position) VALUES (?, ?)", arguments: [partition, position.value])
        }
        try db.execute(sql: "INSERT OR IGNORE INTO chronicle_projection_meta (key, value) VALUES ('start', ?)", arguments: [String(position.value)])
    }

    /// The position the projection started after (0 for files made before starts were recorded).
    static func startPosition(_ db: Database) throws -> GlobalPosition {
        let raw = try String.fetchOne(db, sql: "SELECT value FROM chronicle_projection_meta WHERE key = 'start'")
        return GlobalPosition(max(0, raw.flatMap { Int64($0) } ?? 0))
    }

    /// Each partition's checkpoint, by partition index.
    static func checkpoints(_ db: Database, partitions: Int) throws -> [GlobalPosition] {
        var positions = Array(repeating: GlobalPosition.start, count: partitions)
        for row in try Row.fetchAll(db, sql: "SELECT partition, position FROM chronicle_checkpoint") {
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
            sql: "UPDATE chronicle_checkpoint SET position = ? WHERE partition = ? AND position = ?",
            arguments: [position.value, partition, expected.value]
        )
        if db.changesCount == 0 {
            let stored = try Int64.fetchOne(db, sql: "SELECT position FROM chronicle_checkpoint WHERE partition = ?", arguments: [partition]) ?? 0
            throw ProjectionCheckpointConflict(stored: GlobalPosition(max(0, stored)))
        }
    }
}
