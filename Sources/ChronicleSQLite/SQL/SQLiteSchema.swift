import Foundation

/// Every SQL text of the SQLite event store, in one place: the numbered, append-only migrations
/// and the statements the store prepares (and caches) at run time.
///
/// ## Schema (version 1)
///
/// - `categories(category_key, name)`: one row per stream category, so events carry a small
///   integer instead of the category text.
/// - `streams(stream_key, stream_id, category_key, version, last_position)`: one row per stream
///   with its current version and the position of its last event. Appends check the expected
///   version against `version` and bump it.
/// - `events(position, stream_key, stream_version, category_key, event_id, type, schema_version,
///   payload, metadata, recorded_at)`: the global log.
///   - `position` is the `INTEGER PRIMARY KEY` (the rowid). The writer assigns it as head + 1
///     while it holds the write lock (`BEGIN IMMEDIATE`), so positions are strictly increasing in
///     commit order and gap-free: rolled-back appends leave no hole because nothing after them was
///     numbered. Rows are never deleted and the store never runs `VACUUM` (which could renumber
///     rowids of a table without an explicit key); keep it that way.
///   - `event_id` is the UUID's 16 raw bytes (idempotency key, unique).
///   - `metadata` is compact JSON of ``EventMetadata``, `NULL` when empty.
///   - `recorded_at` is milliseconds since 1970-01-01 UTC.
///   - `events_category_key` (category_key, then the implicit rowid = position) makes category
///     reads an index range scan in position order.
///
/// Tables are `STRICT`, so every column holds the declared type whatever SQL wrote it. Foreign keys
/// are declared (and checkable with `PRAGMA foreign_key_check`) but not enforced at run time:
/// the writer is the only code that inserts, and enforcement would cost a lookup per event.
///
/// The file is marked as a Chronicle store with `PRAGMA application_id` (``applicationID``) and
/// records its schema version in `PRAGMA user_version`.
enum SQLiteSchema {
    /// `PRAGMA application_id` of a Chronicle event store: ASCII "CHRN".
    static let applicationID: Int32 = 0x4348_524E

    /// The numbered migrations, oldest first. Append new ones; never edit a released one.
    /// Migration `n` (1-based) brings the schema to `user_version = n`.
    static let migrations: [String] = [
        // 1: the event log.
        """
        CREATE TABLE categories (
            category_key INTEGER PRIMARY KEY,
            name TEXT NOT NULL CONSTRAINT categories_name_unique UNIQUE
        ) STRICT;

        CREATE TABLE streams (
            stream_key INTEGER PRIMARY KEY,
            stream_id TEXT NOT NULL CONSTRAINT streams_stream_id_unique UNIQUE,
            category_key INTEGER NOT NULL CONSTRAINT streams_category_fk REFERENCES categories (category_key),
            version INTEGER NOT NULL CONSTRAINT streams_version_positive CHECK (version > 0),
            last_position INTEGER NOT NULL
        ) STRICT;

        CREATE INDEX streams_category_stream_id ON streams (category_key, stream_id);

        CREATE TABLE events (
            position INTEGER PRIMARY KEY,
            stream_key INTEGER NOT NULL CONSTRAINT events_stream_fk REFERENCES streams (stream_key),
            stream_version INTEGER NOT NULL,
            category_key INTEGER NOT NULL CONSTRAINT events_category_fk REFERENCES categories (category_key),
            event_id BLOB NOT NULL CONSTRAINT events_event_id_unique UNIQUE,
            type TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            payload BLOB NOT NULL,
            metadata BLOB,
            recorded_at INTEGER NOT NULL,
            CONSTRAINT events_stream_version_unique UNIQUE (stream_key, stream_version)
        ) STRICT;

        CREATE INDEX events_category_key ON events (category_key);
        """,
        // 2: event tags (dynamic consistency boundaries). `events.tags` holds an event's tags
        // joined by newlines (tags have no whitespace), `NULL` when it has none, to read them back
        // with the event; `event_tags` is the index that queries and append conditions use: one
        // row per (tag, position), so "events tagged t after p" is a range of its primary key.
        """
        ALTER TABLE events ADD COLUMN tags TEXT;

        CREATE TABLE event_tags (
            tag TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (tag, position)
        ) STRICT, WITHOUT ROWID;
        """,
        // 3: the store's identity and its pairings, and stream lifecycles. `store_id` (random,
        // made here) names the store; `key_store_id`, written when a key store is paired with it
        // (`SQLiteKeyStore`), lets a missing or foreign key store be refused instead of silently
        // replaced. `streams.truncated_before` is the first version stream reads return (moved by
        // truncation, deletion and retention); `streams.deleted` marks a soft-deleted stream.
        // Events before the truncation point are erased by a scavenge into tombstones (type
        // `$erased`, empty payload, no metadata or tags) that keep their positions.
        """
        CREATE TABLE store_properties (
            name TEXT NOT NULL CONSTRAINT store_properties_pk PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT, WITHOUT ROWID;

        INSERT INTO store_properties (name, value) VALUES ('store_id', lower(hex(randomblob(16))));

        ALTER TABLE streams ADD COLUMN truncated_before INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE streams ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
        """,
        // 4: stored retention policies (one per category, applied by a scavenge without policies
        // of its own) and archived ranges: positions first…last went to `file` (its content's
        // SHA-256 in hex), their events replaced by `$archived` tombstones naming the file.
        """
        CREATE TABLE retention_policies (
            category TEXT NOT NULL CONSTRAINT retention_policies_pk PRIMARY KEY,
            max_count INTEGER,
            max_age_seconds REAL
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE archived_ranges (
            first_position INTEGER NOT NULL CONSTRAINT archived_ranges_pk PRIMARY KEY,
            last_position INTEGER NOT NULL,
            file TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            events INTEGER NOT NULL,
            archived_at INTEGER NOT NULL
        ) STRICT;
        """,
    ]

    /// The migrations with where they are recorded (`PRAGMA user_version`).
    static let ladder = SQLiteMigrations(steps: migrations, record: .userVersion)

    /// The schema version this build writes and understands.
    static var currentVersion: Int { ladder.latest }
}

/// The statements the store runs, as static text with bound parameters.
enum SQLiteStatements {
    // MARK: Opening

    static let readApplicationID = "PRAGMA application_id"
    static let readUserVersion = "PRAGMA user_version"
    static let countSchemaObjects = "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    static let writeApplicationID = "PRAGMA application_id = \(SQLiteSchema.applicationID)"
    static let readJournalMode = "PRAGMA journal_mode"
    static let readSynchronous = "PRAGMA synchronous"
    static let readBusyTimeout = "PRAGMA busy_timeout"
    static let setSynchronousNormal = "PRAGMA synchronous = NORMAL"
    static let setSynchronousFull = "PRAGMA synchronous = FULL"
    static let readDataVersion = "PRAGMA data_version"
    static let checkpointTruncate = "PRAGMA wal_checkpoint(TRUNCATE)"
    static let secureDelete = "PRAGMA secure_delete = ON"
    /// The log's invariants after a WAL is replayed (see `SQLiteStoreOpening.checkReplayedLog`).
    static let maxStreamLastPosition = "SELECT coalesce(max(last_position), 0) FROM streams"
    static let probeEvent = "SELECT event_id, stream_key, stream_version FROM events WHERE position = ?"
    static let probeEventID = "SELECT event_id FROM events WHERE position = ?"
    static let probePositionByID = "SELECT position FROM events WHERE event_id = ?"
    static let probePositionByStreamVersion = "SELECT position FROM events WHERE stream_key = ? AND stream_version = ?"
    static let probeStreamVersion = "SELECT version FROM streams WHERE stream_key = ?"
    static let lastEventEndsItsStream = """
        SELECT s.version = e.stream_version AND s.last_position = e.position
        FROM events e CROSS JOIN streams s ON s.stream_key = e.stream_key
        WHERE e.position = (SELECT max(position) FROM events)
        """

    // MARK: Appending (writer connection, inside BEGIN IMMEDIATE)

    static let beginImmediate = "BEGIN IMMEDIATE TRANSACTION"
    static let commit = "COMMIT TRANSACTION"
    static let rollback = "ROLLBACK TRANSACTION"
    static let savepoint = "SAVEPOINT chronicle_append"
    static let releaseSavepoint = "RELEASE SAVEPOINT chronicle_append"
    static let rollbackToSavepoint = "ROLLBACK TRANSACTION TO SAVEPOINT chronicle_append"
    /// Head position under the write lock: the next event gets head + 1.
    static let selectHead = "SELECT coalesce(max(position), 0) FROM events"
    static let selectStreamForAppend = "SELECT stream_key, version, category_key, deleted FROM streams WHERE stream_id = ?"
    static let selectCategoryKey = "SELECT category_key FROM categories WHERE name = ?"
    static let insertCategory = "INSERT INTO categories (name) VALUES (?)"
    static let insertStream = "INSERT INTO streams (stream_id, category_key, version, last_position) VALUES (?, ?, ?, ?)"
    static let updateStream = "UPDATE streams SET version = ?, last_position = ?, deleted = 0 WHERE stream_key = ?"
    static let insertEvent = """
        INSERT INTO events (position, stream_key, stream_version, category_key, event_id, type, schema_version, payload, metadata, recorded_at, tags)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    static let insertTag = "INSERT INTO event_tags (tag, position) VALUES (?, ?)"
    /// A stored event by id, only among events at or before a position (to ignore rows the current
    /// append has just inserted).
    static let selectEventByID = """
        SELECT \(eventColumns) FROM events e CROSS JOIN streams s ON s.stream_key = e.stream_key
        WHERE e.event_id = ? AND e.position <= ?
        """

    // MARK: Reading (reader pool)

    /// The columns every event read selects, in the order ``SQLiteRecordDecoder`` reads them.
    static let eventColumns = "e.position, s.stream_id, e.stream_version, e.event_id, e.type, e.schema_version, e.payload, e.metadata, e.recorded_at, e.tags"
    /// ``readAll`` for a store still at schema version 1 (no tags column), for salvage.
    static let readAllVersion1 = readAll.replacingOccurrences(of: "e.tags", with: "NULL")

    static let readStreamForwards = """
        SELECT \(eventColumns) FROM streams s CROSS JOIN events e ON e.stream_key = s.stream_key
        WHERE s.stream_id = ? AND e.stream_version >= max(?, s.truncated_before) ORDER BY e.stream_version LIMIT ?
        """
    static let readStreamBackwards = """
        SELECT \(eventColumns) FROM streams s CROSS JOIN events e ON e.stream_key = s.stream_key
        WHERE s.stream_id = ? AND e.stream_version <= ? AND e.stream_version >= s.truncated_before ORDER BY e.stream_version DESC LIMIT ?
        """
    static let readAll = """
        SELECT \(eventColumns) FROM events e CROSS JOIN streams s ON s.stream_key = e.stream_key
        WHERE e.position > ? ORDER BY e.position LIMIT ?
        """
    static let readCategory = """
        SELECT \(eventColumns) FROM events e CROSS JOIN streams s ON s.stream_key = e.stream_key
        WHERE e.category_key = (SELECT category_key FROM categories WHERE name = ?) AND e.position > ?
        ORDER BY e.position LIMIT ?
        """
    static let streamVersion = "SELECT version FROM streams WHERE stream_id = ?"
    static let streamIsDeleted = "SELECT deleted FROM streams WHERE stream_id = ?"
    static let listStreams = """
        SELECT stream_id, version, last_position FROM streams WHERE stream_id > ? ORDER BY stream_id LIMIT ?
        """
    static let listStreamsInCategory = """
        SELECT stream_id, version, last_position FROM streams
        WHERE category_key = (SELECT category_key FROM categories WHERE name = ?) AND stream_id > ?
        ORDER BY stream_id LIMIT ?
        """
    static let headPosition = "SELECT coalesce(max(position), 0) FROM events"

    // MARK: Stream lifecycle and scavenging (writer connection, inside BEGIN IMMEDIATE)

    static let selectStreamState = "SELECT stream_key, version, truncated_before, deleted FROM streams WHERE stream_id = ?"
    static let setTruncation = "UPDATE streams SET truncated_before = ?, deleted = ? WHERE stream_key = ?"
    static let scavengeCandidates = """
        SELECT s.stream_id, c.name, s.truncated_before FROM streams s CROSS JOIN categories c ON c.category_key = s.category_key
        WHERE s.truncated_before > 1 OR c.name IN (SELECT value FROM json_each(?)) ORDER BY s.stream_id
        """
    static let firstVersionRecordedSince = "SELECT min(stream_version) FROM events WHERE stream_key = ? AND recorded_at >= ?"
    static let erasableEvents = """
        SELECT position, length(payload) + coalesce(length(metadata), 0), tags FROM events
        WHERE stream_key = ? AND stream_version < ? AND type <> '$erased'
        """
    static let deleteTag = "DELETE FROM event_tags WHERE tag = ? AND position = ?"
    static let eraseEvents = """
        UPDATE events SET type = '$erased', schema_version = 1, payload = x'', metadata = NULL, tags = NULL
        WHERE stream_key = ? AND stream_version < ? AND type <> '$erased'
        """

    // MARK: Retention policies and archived ranges

    static let listPolicies = "SELECT category, max_count, max_age_seconds FROM retention_policies ORDER BY category"
    static let upsertPolicy = """
        INSERT INTO retention_policies (category, max_count, max_age_seconds) VALUES (?, ?, ?)
        ON CONFLICT (category) DO UPDATE SET max_count = excluded.max_count, max_age_seconds = excluded.max_age_seconds
        """
    static let deletePolicy = "DELETE FROM retention_policies WHERE category = ?"
    static let listArchivedRanges = "SELECT first_position, last_position, file, sha256, events, archived_at FROM archived_ranges ORDER BY first_position"
    static let insertArchivedRange = "INSERT INTO archived_ranges (first_position, last_position, file, sha256, events, archived_at) VALUES (?, ?, ?, ?, ?, ?)"
    static let liveEventsInRange = "SELECT position, tags FROM events WHERE position BETWEEN ? AND ? AND type NOT IN ('$erased', '$archived')"
    static let archiveEvents = """
        UPDATE events SET type = '$archived', schema_version = 1, payload = x'', metadata = ?, tags = NULL
        WHERE position BETWEEN ? AND ? AND type NOT IN ('$erased', '$archived')
        """
    static let probeArchivedEvent = """
        SELECT e.event_id, s.stream_id, e.stream_version, e.type FROM events e CROSS JOIN streams s ON s.stream_key = e.stream_key
        WHERE e.position = ?
        """
    static let restoreEvent = "UPDATE events SET type = ?, schema_version = ?, payload = ?, metadata = ?, tags = ? WHERE position = ? AND type = '$archived'"
    static let insertTagIfAbsent = "INSERT OR IGNORE INTO event_tags (tag, position) VALUES (?, ?)"
    /// Forgets the ranges none of whose events is archived any more.
    static let dropRestoredRanges = """
        DELETE FROM archived_ranges WHERE NOT EXISTS (
            SELECT 1 FROM events e WHERE e.position BETWEEN archived_ranges.first_position AND archived_ranges.last_position AND e.type = '$archived'
        )
        """

    // MARK: Store properties (identity, pairings)

    static let readProperty = "SELECT value FROM store_properties WHERE name = ?"
    static let writeProperty = "INSERT INTO store_properties (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"

    // MARK: Salvage (read-only connection of a damaged file)

    /// Lets a read-only connection open a file whose schema page is damaged.
    static let salvageWritableSchema = "PRAGMA writable_schema = ON"
    static let salvageLastRecordedPosition = "SELECT max(last_position) FROM streams"
    /// The first readable position after a damaged range (one descent of the events b-tree).
    static let salvageNextReadablePosition = """
        SELECT e.position FROM events e CROSS JOIN streams s ON s.stream_key = e.stream_key
        WHERE e.position > ? ORDER BY e.position LIMIT 1
        """
}
