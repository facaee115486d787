/// Every SQL text of the projections' bookkeeping tables, which each read-model and
/// process-manager file holds beside the projector's own tables: the numbered migrations and the
/// statements on them.
///
/// - `chronicle_projection_meta(key, value)`: the file's projection `name`, its `partitions` and
///   the position it `start`ed after.
/// - `chronicle_checkpoint(partition, position)`: each partition's checkpoint, moved in the
///   transaction that writes the page it covers.
/// - `chronicle_dead_letter(position, …)`: the parked events, with their error and attempts.
/// - `chronicle_projection_format(version)`: how many migrations the file has applied
///   (``SQLiteMigrations``).
enum SQLiteProjectionSQL {
    /// The bookkeeping migrations, recorded in `chronicle_projection_format`.
    static let ladder = SQLiteMigrations(
        steps: [
            // 1: meta, checkpoints and dead letters.
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
        ],
        record: .table("chronicle_projection_format")
    )

    // MARK: Meta

    static let metaTable = "chronicle_projection_meta"
    static let selectName = "SELECT value FROM chronicle_projection_meta WHERE key = 'name'"
    static let selectPartitions = "SELECT value FROM chronicle_projection_meta WHERE key = 'partitions'"
    static let selectStart = "SELECT value FROM chronicle_projection_meta WHERE key = 'start'"
    static let insertIdentity = "INSERT INTO chronicle_projection_meta (key, value) VALUES ('name', ?), ('partitions', ?)"
    static let insertStart = "INSERT OR IGNORE INTO chronicle_projection_meta (key, value) VALUES ('start', ?)"

    // MARK: Checkpoints

    static let countCheckpoints = "SELECT count(*) FROM chronicle_checkpoint"
    static let insertCheckpoint = "INSERT OR IGNORE INTO chronicle_checkpoint (partition, position) VALUES (?, ?)"
    static let selectCheckpoints = "SELECT partition, position FROM chronicle_checkpoint"
    static let selectCheckpoint = "SELECT position FROM chronicle_checkpoint WHERE partition = ?"
    /// Compare-and-set: moves a partition's checkpoint only from the position the page read from.
    static let moveCheckpoint = "UPDATE chronicle_checkpoint SET position = ? WHERE partition = ? AND position = ?"
    static let setCheckpoint = "UPDATE chronicle_checkpoint SET position = ? WHERE partition = ?"

    // MARK: Dead letters

    static let park = """
        INSERT INTO chronicle_dead_letter (position, event_id, stream_id, event_type, partition, error, attempts, parked_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (position) DO UPDATE SET error = excluded.error, attempts = attempts + excluded.attempts, parked_at = excluded.parked_at
        """
    static let countParked = "SELECT count(*) FROM chronicle_dead_letter"
    static let listParked = "SELECT * FROM chronicle_dead_letter WHERE position > ? ORDER BY position LIMIT ?"
    static let findParked = "SELECT * FROM chronicle_dead_letter WHERE position = ?"
    static let removeParked = "DELETE FROM chronicle_dead_letter WHERE position = ?"
    static let recordParkedFailure = "UPDATE chronicle_dead_letter SET error = ?, attempts = attempts + 1, parked_at = ? WHERE position = ?"

    // MARK: Process-manager files written before the one engine

    static let legacyCheckpointTable = "chronicle_process_checkpoint"
    static let selectLegacyCheckpoint = "SELECT position FROM chronicle_process_checkpoint WHERE name = ?"
    static let moveLegacyParked = """
        INSERT OR IGNORE INTO chronicle_dead_letter (position, event_id, stream_id, event_type, partition, error, attempts, parked_at)
        SELECT position, event_id, stream_id, event_type, 0, error, max(1, attempts), parked_at FROM chronicle_process_parked
        """
    static let dropLegacyTables = "DROP TABLE chronicle_process_checkpoint; DROP TABLE chronicle_process_parked"

    // MARK: Read-model files

    /// The connection setting of every read-model and process-manager file (their durability is
    /// the log's: a lost page is replayed from the checkpoint).
    static let synchronousNormal = "PRAGMA synchronous = NORMAL"
    /// Deleted rows are overwritten with zeros, so a read model that forgets a subject (see
    /// `SubjectForgotten`) keeps no copy of their rows in free pages.
    static let secureDelete = "PRAGMA secure_delete = ON"
    /// Copies the WAL into the file and truncates it (so the WAL keeps no older page either).
    static let checkpointTruncate = "PRAGMA wal_checkpoint(TRUNCATE)"
}
