/// Every SQL text of the SQLite key store (`SQLiteKeyStore`), a file of its own beside the event
/// store, so that a copy of the event store alone holds no key.
///
/// ## Schema (version 1)
///
/// - `subject_keys(subject, version, material, created_at)`: every key version of every subject
///   not forgotten; `material` is the 32 raw bytes.
/// - `forgotten_subjects(subject, forgotten_at)`: subjects whose keys were destroyed (their
///   fields then read as redacted, and no new key is made for them).
/// - `key_store_properties(name, value)`: `key_store_id` (random, made on creation) and
///   `store_id`, the event store it is paired with.
///
/// Every connection runs with `PRAGMA secure_delete = ON`, so destroyed keys are overwritten
/// with zeros in the file, not only unlinked; the file uses a rollback journal (no WAL holding
/// older pages). The file is marked with `PRAGMA application_id` "CHRK" and records its schema
/// version in `PRAGMA user_version`.
enum SQLiteKeyStoreSQL {
    /// `PRAGMA application_id` of a Chronicle key store: ASCII "CHRK".
    static let applicationID: Int32 = 0x4348_524B

    static let ladder = SQLiteMigrations(steps: [
        // 1: keys, forgotten subjects, pairing.
        """
        CREATE TABLE subject_keys (
            subject TEXT NOT NULL,
            version INTEGER NOT NULL CONSTRAINT subject_keys_version_positive CHECK (version > 0),
            material BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            CONSTRAINT subject_keys_pk PRIMARY KEY (subject, version)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE forgotten_subjects (
            subject TEXT NOT NULL CONSTRAINT forgotten_subjects_pk PRIMARY KEY,
            forgotten_at INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE key_store_properties (
            name TEXT NOT NULL CONSTRAINT key_store_properties_pk PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT, WITHOUT ROWID;

        INSERT INTO key_store_properties (name, value) VALUES ('key_store_id', lower(hex(randomblob(16))));
        """,
    ], record: .userVersion)

    static let secureDelete = "PRAGMA secure_delete = ON"
    static let readApplicationID = "PRAGMA application_id"
    static let writeApplicationID = "PRAGMA application_id = \(applicationID)"
    static let countSchemaObjects = "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    static let readProperty = "SELECT value FROM key_store_properties WHERE name = ?"
    static let writeProperty = "INSERT INTO key_store_properties (name, value) VALUES (?, ?)"

    static let latestKey = "SELECT version, material FROM subject_keys WHERE subject = ? ORDER BY version DESC LIMIT 1"
    static let keyVersion = "SELECT material FROM subject_keys WHERE subject = ? AND version = ?"
    static let countKeys = "SELECT count(*) FROM subject_keys WHERE subject = ?"
    static let isForgotten = "SELECT 1 FROM forgotten_subjects WHERE subject = ?"
    static let insertKey = "INSERT INTO subject_keys (subject, version, material, created_at) VALUES (?, ?, ?, ?)"
    static let deleteKeys = "DELETE FROM subject_keys WHERE subject = ?"
    static let insertForgotten = "INSERT INTO forgotten_subjects (subject, forgotten_at) VALUES (?, ?)"
}
