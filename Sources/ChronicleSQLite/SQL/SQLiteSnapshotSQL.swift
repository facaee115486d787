/// Every SQL text of the snapshot store: its numbered migrations (recorded in
/// `chronicle_snapshot_format`, see ``SQLiteMigrations``) and its statements.
///
/// - `chronicle_snapshots(stream_id, version, position, fingerprint, state)`: the latest snapshot
///   of each stream.
enum SQLiteSnapshotSQL {
    /// Append new steps; never edit a released one. Step 1 is idempotent, so a file whose table
    /// was made by an earlier build (which recorded it in GRDB's `grdb_migrations`) takes it as
    /// applied.
    static let ladder = SQLiteMigrations(
        steps: [
            """
            CREATE TABLE IF NOT EXISTS chronicle_snapshots (
                stream_id TEXT NOT NULL CONSTRAINT chronicle_snapshots_pk PRIMARY KEY,
                version INTEGER NOT NULL CONSTRAINT chronicle_snapshots_version_not_negative CHECK (version >= 0),
                position INTEGER NOT NULL CONSTRAINT chronicle_snapshots_position_not_negative CHECK (position >= 0),
                fingerprint TEXT NOT NULL,
                state BLOB NOT NULL
            ) STRICT;
            """,
        ],
        record: .table("chronicle_snapshot_format")
    )

    static let select = "SELECT version, position, fingerprint, state FROM chronicle_snapshots WHERE stream_id = ?"
    /// Insert, or replace unless the stored snapshot has the same fingerprint and a higher version.
    static let upsert = """
        INSERT INTO chronicle_snapshots (stream_id, version, position, fingerprint, state) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (stream_id) DO UPDATE SET
            version = excluded.version, position = excluded.position, fingerprint = excluded.fingerprint, state = excluded.state
        WHERE chronicle_snapshots.fingerprint <> excluded.fingerprint OR chronicle_snapshots.version <= excluded.version
        """
    static let delete = "DELETE FROM chronicle_snapshots WHERE stream_id = ?"
    static let count = "SELECT count(*) FROM chronicle_snapshots"
}
