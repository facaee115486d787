import Chronicle

/// Every SQL statement of the PostgreSQL backend, in one place.
///
/// Values are always bound (`$1`, `$2`…). The only text spliced into statements is the schema
/// name, validated by ``PostgresSchemaName`` as a plain lower-case identifier and double-quoted.
///
/// Migrations are numbered and append-only: never edit a shipped one, add the next number.
/// Constraints are named so errors and later migrations can refer to them.
struct PostgresSQL: Sendable {
    /// The schema, double-quoted, ready to qualify table names.
    let schema: String
    /// The LISTEN/NOTIFY channel announcing new heads.
    let channel: String

    init(schema: PostgresSchemaName) {
        self.schema = "\"\(schema.rawValue)\""
        self.channel = "\(schema.rawValue)_head"
    }

    // MARK: Migrations

    /// The newest schema version these statements expect: the last migration's number.
    static let latestMigration = PostgresSQL(schema: .chronicle).migrations.last?.version ?? 0

    /// Serialises concurrent migrators of the same schema (transaction-scoped advisory lock).
    var migrationLock: String {
        "SELECT pg_advisory_xact_lock(hashtextextended('chronicle.migrate.' || $1, 0))"
    }

    var createSchema: String { "CREATE SCHEMA IF NOT EXISTS \(schema)" }

    var createMigrationsTable: String {
        """
        CREATE TABLE IF NOT EXISTS \(schema).schema_migrations (
            version integer CONSTRAINT schema_migrations_pk PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    }

    var appliedMigrations: String { "SELECT coalesce(max(version), 0)::bigint FROM \(schema).schema_migrations" }
    var recordMigration: String { "INSERT INTO \(schema).schema_migrations (version) VALUES ($1)" }

    /// Numbered migrations, each a list of statements run in one transaction.
    var migrations: [(version: Int, statements: [String])] {
        [
            (1, [
                // The global log. `position` is assigned by the append transaction while it holds
                // the row lock on `log_head` (see `advanceHead`), never by a sequence.
                """
                CREATE TABLE \(schema).events (
                    position bigint NOT NULL,
                    event_id uuid NOT NULL,
                    stream_id text COLLATE "C" NOT NULL,
                    stream_version bigint NOT NULL,
                    category text COLLATE "C" NOT NULL,
                    type text NOT NULL,
                    schema_version bigint NOT NULL,
                    payload bytea NOT NULL,
                    metadata jsonb NOT NULL DEFAULT '{}',
                    recorded_at timestamptz NOT NULL,
                    CONSTRAINT events_pk PRIMARY KEY (position),
                    CONSTRAINT events_event_id_uq UNIQUE (event_id),
                    CONSTRAINT events_stream_version_uq UNIQUE (stream_id, stream_version),
                    CONSTRAINT events_position_positive CHECK (position > 0),
                    CONSTRAINT events_stream_version_positive CHECK (stream_version > 0),
                    CONSTRAINT events_schema_version_positive CHECK (schema_version > 0),
                    CONSTRAINT events_type_not_empty CHECK (type <> '')
                )
                """,
                "CREATE INDEX events_category_position_ix ON \(schema).events (category, position)",
            ]),
            (2, [
                // One row per stream: its version (locked by appends) and last position.
                """
                CREATE TABLE \(schema).streams (
                    stream_id text COLLATE "C" NOT NULL,
                    category text COLLATE "C" NOT NULL,
                    version bigint NOT NULL,
                    last_position bigint NOT NULL,
                    CONSTRAINT streams_pk PRIMARY KEY (stream_id),
                    CONSTRAINT streams_version_not_negative CHECK (version >= 0)
                )
                """,
                "CREATE INDEX streams_category_ix ON \(schema).streams (category, stream_id)",
            ]),
            (3, [
                // The single-row position counter. Its row lock serialises position assignment.
                """
                CREATE TABLE \(schema).log_head (
                    singleton boolean NOT NULL DEFAULT true,
                    position bigint NOT NULL,
                    CONSTRAINT log_head_pk PRIMARY KEY (singleton),
                    CONSTRAINT log_head_single_row CHECK (singleton),
                    CONSTRAINT log_head_position_not_negative CHECK (position >= 0)
                )
                """,
                "INSERT INTO \(schema).log_head (singleton, position) SELECT true, coalesce(max(position), 0) FROM \(schema).events",
            ]),
            (4, [
                // The latest aggregate snapshot of each stream (PostgresSnapshotStore).
                """
                CREATE TABLE \(schema).snapshots (
                    stream_id text COLLATE "C" NOT NULL,
                    version bigint NOT NULL,
                    position bigint NOT NULL,
                    fingerprint text NOT NULL,
                    state bytea NOT NULL,
                    saved_at timestamptz NOT NULL DEFAULT now(),
                    CONSTRAINT snapshots_pk PRIMARY KEY (stream_id),
                    CONSTRAINT snapshots_version_not_negative CHECK (version >= 0),
                    CONSTRAINT snapshots_position_not_negative CHECK (position >= 0)
                )
                """,
            ]),
            (5, [
                // Consumers' checkpoints (PostgresCheckpointStore), moved in the consumer's own
                // transaction and fenced by the position they expect.
                """
                CREATE TABLE \(schema).checkpoints (
                    consumer text COLLATE "C" NOT NULL,
                    position bigint NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    CONSTRAINT checkpoints_pk PRIMARY KEY (consumer),
                    CONSTRAINT checkpoints_position_not_negative CHECK (position >= 0),
                    CONSTRAINT checkpoints_consumer_not_empty CHECK (consumer <> '')
                )
                """,
            ]),
            (6, [
                // Events a consumer gave up on (PostgresDeadLetterStore), parked in the same
                // transaction that moves its checkpoint past them.
                """
                CREATE TABLE \(schema).dead_letters (
                    consumer text COLLATE "C" NOT NULL,
                    position bigint NOT NULL,
                    event_id uuid NOT NULL,
                    stream_id text COLLATE "C" NOT NULL,
                    event_type text NOT NULL,
                    error text NOT NULL,
                    attempts integer NOT NULL,
                    parked_at timestamptz NOT NULL,
                    CONSTRAINT dead_letters_pk PRIMARY KEY (consumer, position),
                    CONSTRAINT dead_letters_attempts_positive CHECK (attempts > 0)
                )
                """,
            ]),
            (7, [
                // Read models (PostgresReadModel): each generation's tables live in their own
                // schema `<schema>_rm<generation>`; `read_models.serving` names the one serving
                // queries, swapped in one UPDATE by a rebuild. `frozen` holds the serving
                // generation's checkpoints while a rebuild catches up with them.
                """
                CREATE TABLE \(schema).read_model_generations (
                    generation bigint GENERATED ALWAYS AS IDENTITY,
                    name text COLLATE "C" NOT NULL,
                    migrated integer NOT NULL DEFAULT 0,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    CONSTRAINT read_model_generations_pk PRIMARY KEY (generation)
                )
                """,
                "CREATE INDEX read_model_generations_name_ix ON \(schema).read_model_generations (name)",
                """
                CREATE TABLE \(schema).read_models (
                    name text COLLATE "C" NOT NULL,
                    serving bigint NOT NULL,
                    frozen boolean NOT NULL DEFAULT false,
                    CONSTRAINT read_models_pk PRIMARY KEY (name)
                )
                """,
            ]),
            (8, [
                // Event tags (dynamic consistency boundaries): `events.tags` returns them with the
                // event; `event_tags` is the index queries and append conditions use, one row per
                // (tag, position), so "events tagged t after p" is a range of its primary key.
                "ALTER TABLE \(schema).events ADD COLUMN tags text[] NOT NULL DEFAULT '{}'",
                """
                CREATE TABLE \(schema).event_tags (
                    tag text COLLATE "C" NOT NULL,
                    position bigint NOT NULL,
                    CONSTRAINT event_tags_pk PRIMARY KEY (tag, position)
                )
                """,
            ]),
            (9, [
                // Data subjects' keys (PostgresKeyStore), apart from the events they encrypt:
                // dump the log without these two tables and the dump holds no key.
                """
                CREATE TABLE \(schema).subject_keys (
                    subject text COLLATE "C" NOT NULL,
                    version integer NOT NULL,
                    material bytea NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    CONSTRAINT subject_keys_pk PRIMARY KEY (subject, version),
                    CONSTRAINT subject_keys_version_positive CHECK (version > 0),
                    CONSTRAINT subject_keys_material_length CHECK (octet_length(material) = 32)
                )
                """,
                // Stream lifecycles: the first version stream reads return (moved by truncation,
                // deletion and retention) and soft deletion. A scavenge erases the events before
                // the truncation point into tombstones (type `$erased`, empty payload, metadata
                // and tags) that keep their positions.
                "ALTER TABLE \(schema).streams ADD COLUMN truncated_before bigint NOT NULL DEFAULT 1, ADD COLUMN deleted boolean NOT NULL DEFAULT false",
                """
                CREATE TABLE \(schema).forgotten_subjects (
                    subject text COLLATE "C" NOT NULL,
                    forgotten_at timestamptz NOT NULL DEFAULT now(),
                    CONSTRAINT forgotten_subjects_pk PRIMARY KEY (subject)
                )
                """,
            ]),
            (10, [
                // The store's identity (`store_id`, random, made here), which archives record;
                // stored retention policies (one per category, applied by a scavenge without
                // policies of its own); archived ranges: positions first…last went to `file`
                // (its content's SHA-256 in hex), their events replaced by `$archived` tombstones.
                """
                CREATE TABLE \(schema).store_properties (
                    name text COLLATE "C" NOT NULL,
                    value text NOT NULL,
                    CONSTRAINT store_properties_pk PRIMARY KEY (name)
                )
                """,
                "INSERT INTO \(schema).store_properties (name, value) VALUES ('store_id', md5(random()::text || clock_timestamp()::text))",
                """
                CREATE TABLE \(schema).retention_policies (
                    category text COLLATE "C" NOT NULL,
                    max_count bigint,
                    max_age_seconds double precision,
                    CONSTRAINT retention_policies_pk PRIMARY KEY (category)
                )
                """,
                """
                CREATE TABLE \(schema).archived_ranges (
                    first_position bigint NOT NULL,
                    last_position bigint NOT NULL,
                    file text NOT NULL,
                    sha256 text NOT NULL,
                    events bigint NOT NULL,
                    archived_at timestamptz NOT NULL,
                    CONSTRAINT archived_ranges_pk PRIMARY KEY (first_position)
                )
                """,
            ]),
            (11, [
                // The ids of events received from other services (PostgresInbox), each inserted
                // in the transaction that applies the event, so a redelivery is not applied twice.
                """
                CREATE TABLE \(schema).inbox (
                    event_id uuid NOT NULL,
                    source text COLLATE "C" NOT NULL,
                    stream_id text COLLATE "C" NOT NULL,
                    stream_version bigint NOT NULL,
                    position bigint NOT NULL,
                    type text COLLATE "C" NOT NULL,
                    received_at timestamptz NOT NULL,
                    CONSTRAINT inbox_pk PRIMARY KEY (event_id)
                )
                """,
            ]),
            (12, [
                // The one-round-trip append (see `appendAssumed`). A later migration that changes
                // `writeEvents` or `lockStreams` creates it again (`CREATE OR REPLACE`).
                createAppendAssumed(.eachCall),
            ]),
            (13, [
                // Its twin for small calls, planned once per session (see `AppendAssumedPlan`).
                createAppendAssumed(.once),
            ]),
            (14, [
                // Every append updates its streams' rows (the lock, then the new version): room on
                // each page keeps those updates HOT (no new index entries, no bottom-up index
                // deletion when a leaf fills). Pages written from now on keep half their space.
                "ALTER TABLE \(schema).streams SET (fillfactor = 50)",
                // Both functions again, now with `jit = off` (see `AppendAssumedPlan.settings`).
                createAppendAssumed(.eachCall),
                createAppendAssumed(.once),
            ]),
        ]
    }

    // MARK: Stream lifecycle and scavenging

    var streamIsDeleted: String { "SELECT count(*)::bigint FROM \(schema).streams WHERE stream_id = $1 AND deleted" }
    /// A stream's state, its row locked (appends to the stream wait; so do they for us).
    var lockStreamState: String { "SELECT version, truncated_before, deleted FROM \(schema).streams WHERE stream_id = $1 AND version > 0 FOR UPDATE" }
    var streamState: String { "SELECT version, truncated_before, deleted FROM \(schema).streams WHERE stream_id = $1 AND version > 0" }
    var setTruncation: String { "UPDATE \(schema).streams SET truncated_before = $2, deleted = $3 WHERE stream_id = $1" }
    var scavengeCandidates: String {
        "SELECT stream_id, category FROM \(schema).streams WHERE version > 0 AND (truncated_before > 1 OR category = ANY($1::text[])) ORDER BY stream_id"
    }
    /// 0 when no event of the stream was recorded since.
    var firstVersionRecordedSince: String { "SELECT coalesce(min(stream_version), 0)::bigint FROM \(schema).events WHERE stream_id = $1 AND recorded_at >= $2" }
    var erasableEvents: String {
        """
        SELECT count(*)::bigint, coalesce(sum(octet_length(payload) + octet_length(metadata::text)), 0)::bigint FROM \(schema).events
        WHERE stream_id = $1 AND stream_version < $2 AND type <> '$erased'
        """
    }
    var deleteErasableTags: String {
        """
        DELETE FROM \(schema).event_tags t USING \(schema).events e
        WHERE e.stream_id = $1 AND e.stream_version < $2 AND e.type <> '$erased' AND t.tag = ANY(e.tags) AND t.position = e.position
        """
    }
    var eraseEvents: String {
        """
        UPDATE \(schema).events SET type = '$erased', schema_version = 1, payload = '\\x'::bytea, metadata = '{}', tags = '{}'
        WHERE stream_id = $1 AND stream_version < $2 AND type <> '$erased'
        """
    }

    // MARK: Retention policies, identity and archived ranges

    var listPolicies: String { "SELECT category, max_count, max_age_seconds FROM \(schema).retention_policies ORDER BY category" }
    var upsertPolicy: String {
        """
        INSERT INTO \(schema).retention_policies (category, max_count, max_age_seconds) VALUES ($1, nullif($2::bigint, 0), nullif($3::double precision, 0))
        ON CONFLICT ON CONSTRAINT retention_policies_pk DO UPDATE SET max_count = excluded.max_count, max_age_seconds = excluded.max_age_seconds
        """
    }
    var deletePolicy: String { "DELETE FROM \(schema).retention_policies WHERE category = $1 RETURNING category" }
    var storeID: String { "SELECT value FROM \(schema).store_properties WHERE name = 'store_id'" }
    /// Serialises archivers (a scavenge or append never touches this table).
    var lockArchivedRanges: String { "LOCK TABLE \(schema).archived_ranges IN SHARE ROW EXCLUSIVE MODE" }
    var listArchivedRanges: String {
        "SELECT first_position, last_position, file, sha256, events, archived_at FROM \(schema).archived_ranges ORDER BY first_position"
    }
    var insertArchivedRange: String {
        "INSERT INTO \(schema).archived_ranges (first_position, last_position, file, sha256, events, archived_at) VALUES ($1, $2, $3, $4, $5, $6)"
    }
    var headForArchiving: String { "SELECT position FROM \(schema).log_head" }
    var deleteArchivableTags: String {
        """
        DELETE FROM \(schema).event_tags t USING \(schema).events e
        WHERE e.position BETWEEN $1 AND $2 AND e.type NOT IN ('$erased', '$archived') AND t.tag = ANY(e.tags) AND t.position = e.position
        """
    }
    /// Returns the number of events archived (checked against the archive's count before commit).
    var archiveEvents: String {
        """
        WITH archived AS (
            UPDATE \(schema).events SET type = '$archived', schema_version = 1, payload = '\\x'::bytea, metadata = $3::jsonb, tags = '{}'
            WHERE position BETWEEN $1 AND $2 AND type NOT IN ('$erased', '$archived')
            RETURNING 1
        )
        SELECT count(*)::bigint FROM archived
        """
    }
    /// The rows at the positions `$1` (an array), locked, for a restore to check.
    var probeArchivedEvents: String {
        "SELECT position, event_id, stream_id, stream_version, type FROM \(schema).events WHERE position = ANY($1::bigint[]) ORDER BY position FOR UPDATE"
    }
    /// Puts events back into their archived tombstones, one array per column (tags joined by newlines).
    var restoreEvents: String {
        """
        UPDATE \(schema).events e
        SET type = t.type, schema_version = t.schema_version, payload = t.payload, metadata = t.metadata::jsonb, tags = string_to_array(t.tags, E'\\n')
        FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bytea[], $5::text[], $6::text[]) AS t(position, type, schema_version, payload, metadata, tags)
        WHERE e.position = t.position AND e.type = '$archived'
        """
    }
    var insertRestoredTags: String {
        """
        INSERT INTO \(schema).event_tags (tag, position)
        SELECT tag, t.position FROM unnest($1::bigint[], $2::text[]) AS t(position, tags), unnest(string_to_array(t.tags, E'\\n')) AS tag
        WHERE t.tags <> ''
        ON CONFLICT ON CONSTRAINT event_tags_pk DO NOTHING
        """
    }
    var dropRestoredRanges: String {
        """
        DELETE FROM \(schema).archived_ranges r WHERE NOT EXISTS (
            SELECT 1 FROM \(schema).events e WHERE e.position BETWEEN r.first_position AND r.last_position AND e.type = '$archived'
        )
        """
    }

    // MARK: Subject keys (PostgresKeyStore)

    var latestKey: String { "SELECT version, material FROM \(schema).subject_keys WHERE subject = $1 ORDER BY version DESC LIMIT 1" }
    var keyVersion: String { "SELECT material FROM \(schema).subject_keys WHERE subject = $1 AND version = $2" }
    var countKeys: String { "SELECT count(*)::bigint FROM \(schema).subject_keys WHERE subject = $1" }
    var isForgotten: String { "SELECT count(*)::bigint FROM \(schema).forgotten_subjects WHERE subject = $1" }
    /// Inserts version `$2` unless the subject is forgotten or has a key (a racing creator).
    var insertFirstKey: String {
        """
        INSERT INTO \(schema).subject_keys (subject, version, material)
        SELECT $1, 1, $2 WHERE NOT EXISTS (SELECT 1 FROM \(schema).forgotten_subjects WHERE subject = $1)
        ON CONFLICT ON CONSTRAINT subject_keys_pk DO NOTHING
        """
    }
    var insertKey: String { "INSERT INTO \(schema).subject_keys (subject, version, material) VALUES ($1, $2, $3)" }
    var deleteKeys: String { "DELETE FROM \(schema).subject_keys WHERE subject = $1" }
    var insertForgotten: String { "INSERT INTO \(schema).forgotten_subjects (subject) VALUES ($1) ON CONFLICT ON CONSTRAINT forgotten_subjects_pk DO NOTHING" }
    /// Serialises key changes of one subject (transaction-scoped advisory lock).
    var lockSubject: String { "SELECT pg_advisory_xact_lock(hashtextextended('chronicle.subject.' || $1, 0))" }

    // MARK: Inbox (PostgresInbox)

    /// Records a received event's id; inserts no row when it is recorded already (a concurrent
    /// receiver of the same id waits for the first one's transaction, then inserts nothing).
    var insertInboxEntry: String {
        """
        INSERT INTO \(schema).inbox (event_id, source, stream_id, stream_version, position, type, received_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT ON CONSTRAINT inbox_pk DO NOTHING RETURNING 1::bigint
        """
    }
    var inboxContains: String { "SELECT count(*)::bigint FROM \(schema).inbox WHERE event_id = $1" }
    var countInbox: String { "SELECT count(*)::bigint FROM \(schema).inbox" }

    // MARK: Appends

    /// Creates missing stream rows (version 0, rolled back if the append fails) and locks every
    /// stream row of the append, in the order given (callers sort ids, so appends touching the same
    /// streams lock them in the same order and cannot deadlock). Returns current versions.
    var lockStreams: String { lockStreams(ids: "$1", categories: "$2") }

    /// ``lockStreams`` with its two arrays as the given parameters.
    private func lockStreams(ids: String, categories: String) -> String {
        """
        INSERT INTO \(schema).streams AS s (stream_id, category, version, last_position)
        SELECT t.stream_id, t.category, 0, 0
        FROM unnest(\(ids)::text[], \(categories)::text[]) WITH ORDINALITY AS t(stream_id, category, ord)
        ORDER BY t.ord
        ON CONFLICT ON CONSTRAINT streams_pk DO UPDATE SET version = s.version
        RETURNING s.stream_id, s.version, s.deleted
        """
    }

    /// The stored events carrying any of the given ids (for the idempotency rule).
    var eventsWithIDs: String {
        "SELECT \(eventColumns) FROM \(schema).events WHERE event_id = ANY($1::uuid[])"
    }

    /// Writes an append in one round trip:
    /// - `head` takes the row lock on the position counter (held until COMMIT, so the next writer
    ///   waits here and positions become visible in the order they were handed out) and reserves
    ///   `$1` positions, `head - $1 + 1 … head`;
    /// - `inserted` writes the events, event `ord` (1-based, `$2…$9` arrays) at `head - $1 + ord`;
    /// - `bumped` sets the streams' versions and last positions (`$11…$13`, ordinals again);
    /// - `tagged` writes the tag index rows: `$17` holds each event's tags joined by newlines
    ///   (tags have no whitespace), also stored as the event's `tags` array;
    /// - `notified` queues `pg_notify($14, head)`, delivered only if the transaction commits.
    /// Returns the new head.
    var writeEvents: String {
        """
        WITH head AS (
            UPDATE \(schema).log_head SET position = position + $1 WHERE singleton RETURNING position
        ), inserted AS (
            INSERT INTO \(schema).events
                (position, event_id, stream_id, stream_version, category, type, schema_version, payload, metadata, recorded_at, tags)
            SELECT head.position - $1 + t.ord, t.event_id, t.stream_id, t.stream_version, t.category, t.type, t.schema_version,
                   t.payload, t.metadata::jsonb, $10, string_to_array(t.tags, E'\\n')
            FROM head, unnest($2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::bytea[], $9::text[], $17::text[])
                WITH ORDINALITY AS t(event_id, stream_id, stream_version, category, type, schema_version, payload, metadata, tags, ord)
            RETURNING 1
        ), tagged AS (
            INSERT INTO \(schema).event_tags (tag, position)
            SELECT tag, head.position - $1 + t.ord
            FROM head, unnest($17::text[]) WITH ORDINALITY AS t(tags, ord), unnest(string_to_array(t.tags, E'\\n')) AS tag
            WHERE t.tags <> ''
            RETURNING 1
        ), bumped AS (
            UPDATE \(schema).streams AS s SET version = u.version, last_position = head.position - $1 + u.last_ordinal, deleted = false
            FROM head, unnest($11::text[], $12::bigint[], $13::bigint[]) AS u(stream_id, version, last_ordinal)
            WHERE s.stream_id = u.stream_id
            RETURNING 1
        ), notified AS (
            SELECT pg_notify($14, position::text) FROM head
        )
        SELECT head.position FROM head, notified
        WHERE (SELECT count(*) FROM inserted) = $15 AND (SELECT count(*) FROM bumped) = $16
        """
    }

    /// How the statements of an `append_assumed` function are planned. Both functions have the
    /// same body; calls of up to ``smallAppendEvents`` events use the one planned once.
    enum AppendAssumedPlan {
        /// For every call's arguments (`force_custom_plan`), as the full transaction's statements
        /// are: `append_assumed`, for larger calls. A per-session generic plan, made once from
        /// the tables as they were then (a cost-based plan scans a small `streams` table and keeps
        /// scanning it as it grows), ran 10-event appends at 0.39× and 1,000-event imports at
        /// 0.26× the speed of custom ones on the benchmark.
        case eachCall
        /// Once per session (`force_generic_plan`) with sequential scans, hash joins and merge joins
        /// switched off, so the one plan probes indexes row by row whatever the tables' size at
        /// planning time: `append_assumed_small`. Planning was two thirds of the server's time
        /// for a one-event append (a loop of 2,000 calls: 0.69 ms per call planned each time,
        /// 0.25 ms planned once); for 1,000-event imports the index-only plan ran at 0.65×.
        case once

        var name: String {
            switch self {
            case .eachCall: "append_assumed"
            case .once: "append_assumed_small"
            }
        }

        /// The function's own settings. Both switch JIT compilation off: a 1,000-event call's
        /// estimated cost passes `jit_above_cost`, and compiling its plan (LLVM, every call, as
        /// the plan is made per call) took longer than running it: S3 ran at 0.68× with it.
        var settings: String {
            switch self {
            case .eachCall: "SET plan_cache_mode = force_custom_plan SET jit = off"
            case .once: "SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off"
            }
        }
    }

    /// The most events a call (or a batch of calls) may carry to use ``AppendAssumedPlan/once``.
    static let smallAppendEvents: Int64 = 100

    /// The function that writes an append of `events` events in one round trip.
    static func appendAssumedPlan(events: Int64) -> AppendAssumedPlan {
        events <= smallAppendEvents ? .once : .eachCall
    }

    /// An append in one round trip, when the store can plan it without reading: every stream
    /// expected at an exact version (or none), each once, no condition. The planner plans against
    /// those versions; `append_assumed` locks the streams (`$11`, categories `$18`, sorted), checks
    /// that each is at the version the plan assumed (`$19`) and not deleted and that no event id
    /// (`$2`) is stored, then writes with ``writeEvents`` (`$1…$17`, the same arguments) and
    /// returns the new head. When anything does not hold it raises ``assumptionsFailedState``
    /// and nothing is written: the store then plans again from what it reads (the full
    /// transaction), so every answer other than a plain write still comes from there.
    ///
    /// The body is ``lockStreams`` and ``writeEvents``' own text (`$n` are the function's
    /// arguments in PL/pgSQL), so the two paths cannot drift apart; a test compares the installed
    /// body with this build's.
    func appendAssumed(_ plan: AppendAssumedPlan) -> String {
        "SELECT \(schema).\(plan.name)($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    }

    /// The SQLSTATE `append_assumed` raises when the plan's assumptions do not hold.
    static let assumptionsFailedState = "CH001"

    /// The body of `append_assumed` (PL/pgSQL).
    var appendAssumedBody: String {
        """
        DECLARE
            mismatched bigint;
            head bigint;
        BEGIN
            WITH locked AS (
        \(lockStreams(ids: "$11", categories: "$18"))
            )
            SELECT count(*) INTO mismatched
            FROM locked JOIN unnest($11::text[], $19::bigint[]) AS a(stream_id, version) ON a.stream_id = locked.stream_id
            WHERE locked.deleted OR locked.version <> a.version;
            IF mismatched > 0 OR EXISTS (SELECT 1 FROM \(schema).events WHERE event_id = ANY($2::uuid[])) THEN
                RAISE EXCEPTION 'the versions or event ids this append assumed do not hold' USING ERRCODE = '\(Self.assumptionsFailedState)';
            END IF;
            FOR head IN
        \(writeEvents)
            LOOP
                RETURN head;
            END LOOP;
            RETURN NULL;
        END
        """
    }

    /// Creates (or replaces) an `append_assumed` function, planned as `plan` says.
    func createAppendAssumed(_ plan: AppendAssumedPlan) -> String {
        """
        CREATE OR REPLACE FUNCTION \(schema).\(plan.name)(
            bigint, uuid[], text[], bigint[], text[], text[], bigint[], bytea[], text[], timestamptz,
            text[], bigint[], bigint[], text, bigint, bigint, text[], text[], bigint[]
        ) RETURNS bigint LANGUAGE plpgsql \(plan.settings) AS $chronicle$
        \(appendAssumedBody)
        $chronicle$
        """
    }

    // MARK: Reads

    static let eventColumnList = "position, event_id, stream_id, stream_version, type, schema_version, payload, metadata::text, recorded_at, tags"
    var eventColumns: String { Self.eventColumnList }

    var readStreamForwards: String {
        """
        SELECT \(eventColumns) FROM \(schema).events
        WHERE stream_id = $1 AND stream_version >= greatest($2, (SELECT truncated_before FROM \(schema).streams WHERE stream_id = $1))
        ORDER BY stream_version LIMIT $3
        """
    }

    var readStreamBackwards: String {
        """
        SELECT \(eventColumns) FROM \(schema).events
        WHERE stream_id = $1 AND stream_version <= $2 AND stream_version >= (SELECT truncated_before FROM \(schema).streams WHERE stream_id = $1)
        ORDER BY stream_version DESC LIMIT $3
        """
    }

    var readAll: String {
        "SELECT \(eventColumns) FROM \(schema).events WHERE position > $1 ORDER BY position LIMIT $2"
    }

    var readCategory: String {
        "SELECT \(eventColumns) FROM \(schema).events WHERE category = $1 AND position > $2 ORDER BY position LIMIT $3"
    }

    var streamVersion: String {
        "SELECT version FROM \(schema).streams WHERE stream_id = $1"
    }

    var listStreams: String {
        """
        SELECT stream_id, version, last_position FROM \(schema).streams
        WHERE version > 0 AND ($1::text IS NULL OR category = $1) AND ($2::text IS NULL OR stream_id > $2)
        ORDER BY stream_id LIMIT $3
        """
    }

    var headPosition: String { "SELECT position FROM \(schema).log_head WHERE singleton" }

    /// Takes the position counter's row lock before a conditional append checks its conditions
    /// (the lock `writeEvents` takes anyway, held until COMMIT): the conditions then see every
    /// event committed before, and no other append commits until this one ends. Returns the head.
    var lockHead: String { "SELECT position FROM \(schema).log_head WHERE singleton FOR UPDATE" }

    // MARK: Event queries

    /// The positions of events matching `query` (valid, not `all`) in `($1, $2]`, in position
    /// order, at most `$3`; the query's tags and types are `$4`… as ``queryValues(_:)`` lists them.
    ///
    /// Each item is one `SELECT` with its own `ORDER BY position LIMIT`: with tags it walks the
    /// `event_tags_pk` range of its first tag after `$1` and probes the other tags (and the types,
    /// on `events` by position) by key; with types only it walks `events_pk` from `$1`. Items are
    /// combined with `UNION`.
    func queryPositions(_ query: EventQuery) -> String {
        var parameter = 3
        func next() -> String {
            parameter += 1
            return "$\(parameter)"
        }
        let selects = query.items.map { item -> String in
            if !item.tags.isEmpty {
                var sql = "SELECT t0.position FROM \(schema).event_tags t0"
                for index in item.tags.indices.dropFirst() {
                    sql += " JOIN \(schema).event_tags t\(index) ON t\(index).tag = \(next()) AND t\(index).position = t0.position"
                }
                if !item.types.isEmpty {
                    sql += " JOIN \(schema).events e ON e.position = t0.position AND e.type = ANY(\(next())::text[])"
                }
                return sql + " WHERE t0.tag = \(next()) AND t0.position > $1 AND t0.position <= $2 ORDER BY t0.position LIMIT $3"
            }
            return "SELECT position FROM \(schema).events WHERE type = ANY(\(next())::text[]) AND position > $1 AND position <= $2 ORDER BY position LIMIT $3"
        }
        if selects.count == 1 { return selects[0] }
        return selects.map { "(\($0))" }.joined(separator: " UNION ") + " ORDER BY position LIMIT $3"
    }

    /// One value of ``queryPositions(_:)``'s `$4`…: a tag (text) or an item's types (text[]).
    enum QueryValue {
        case tag(String)
        case types([String])
    }

    /// The values of ``queryPositions(_:)``'s `$4`…, in order.
    static func queryValues(_ query: EventQuery) -> [QueryValue] {
        query.items.flatMap { item -> [QueryValue] in
            if let first = item.tags.first {
                return item.tags.dropFirst().map(QueryValue.tag) + (item.types.isEmpty ? [] : [.types(item.types)]) + [.tag(first)]
            }
            return [.types(item.types)]
        }
    }

    /// The events matching `query` (see ``queryPositions(_:)``), in position order.
    func readQuery(_ query: EventQuery) -> String {
        "SELECT \(eventColumns) FROM \(schema).events WHERE position IN (\(queryPositions(query))) ORDER BY position"
    }

    // MARK: Snapshots

    var selectSnapshot: String {
        "SELECT version, position, fingerprint, state FROM \(schema).snapshots WHERE stream_id = $1"
    }

    /// Insert, or replace unless the stored snapshot has the same fingerprint and a higher
    /// version (`Snapshot.replaces`), decided in the statement so concurrent savers cannot race.
    var upsertSnapshot: String {
        """
        INSERT INTO \(schema).snapshots AS s (stream_id, version, position, fingerprint, state, saved_at)
        VALUES ($1, $2, $3, $4, $5, now())
        ON CONFLICT ON CONSTRAINT snapshots_pk DO UPDATE SET
            version = excluded.version, position = excluded.position, fingerprint = excluded.fingerprint,
            state = excluded.state, saved_at = excluded.saved_at
        WHERE s.fingerprint <> excluded.fingerprint OR s.version <= excluded.version
        """
    }

    var deleteSnapshot: String { "DELETE FROM \(schema).snapshots WHERE stream_id = $1" }
    var countSnapshots: String { "SELECT count(*) FROM \(schema).snapshots" }

    // MARK: Checkpoints

    var selectCheckpoint: String { "SELECT position FROM \(schema).checkpoints WHERE consumer = $1" }

    /// Creates the checkpoint at 0 if missing, then locks it for the rest of the transaction.
    var lockCheckpoint: String {
        """
        INSERT INTO \(schema).checkpoints AS c (consumer, position) VALUES ($1, 0)
        ON CONFLICT ON CONSTRAINT checkpoints_pk DO UPDATE SET position = c.position
        RETURNING position
        """
    }

    var updateCheckpoint: String {
        "UPDATE \(schema).checkpoints SET position = $2, updated_at = now() WHERE consumer = $1"
    }

    /// Deletes a consumer's checkpoints: its own row, its partitions' (`NAME#P`) and its start (`NAME#start`).
    var deleteCheckpoint: String {
        "DELETE FROM \(schema).checkpoints WHERE consumer = $1 OR left(consumer, length($1) + 1) = $1 || '#'"
    }

    /// Creates a consumer's checkpoint at its start, unless it exists.
    var initializeCheckpoint: String {
        "INSERT INTO \(schema).checkpoints (consumer, position) VALUES ($1, $2) ON CONFLICT ON CONSTRAINT checkpoints_pk DO NOTHING"
    }

    // MARK: Dead letters

    var parkEvent: String {
        """
        INSERT INTO \(schema).dead_letters (consumer, position, event_id, stream_id, event_type, error, attempts, parked_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT ON CONSTRAINT dead_letters_pk DO UPDATE SET
            error = excluded.error, attempts = \(schema).dead_letters.attempts + excluded.attempts, parked_at = excluded.parked_at
        """
    }

    var listParked: String {
        """
        SELECT position, event_id, stream_id, event_type, error, attempts, parked_at FROM \(schema).dead_letters
        WHERE consumer = $1 AND position > $2 ORDER BY position LIMIT $3
        """
    }

    var countParked: String { "SELECT count(*) FROM \(schema).dead_letters WHERE consumer = $1" }

    var recordParkedFailure: String {
        "UPDATE \(schema).dead_letters SET error = $3, attempts = attempts + 1, parked_at = $4 WHERE consumer = $1 AND position = $2"
    }

    /// Deletes a parked event, returning its position if it was there (locks it for a retry).
    var unparkEvent: String { "DELETE FROM \(schema).dead_letters WHERE consumer = $1 AND position = $2 RETURNING position" }

    // MARK: Read models

    /// Serialises the preparation, rebuild targets and clean-up of one read model (transaction-scoped).
    var readModelLock: String {
        "SELECT pg_advisory_xact_lock(hashtextextended('chronicle.readmodel.' || $1 || '.' || $2, 0))"
    }

    var listReadModels: String { "SELECT name, serving FROM \(schema).read_models ORDER BY name" }

    /// A consumer's checkpoint rows (its own and its partitions', not its start).
    var selectConsumerCheckpoints: String {
        "SELECT consumer, position FROM \(schema).checkpoints WHERE consumer = $1 OR (left(consumer, length($1) + 1) = $1 || '#' AND consumer <> $1 || '#start')"
    }

    var selectReadModel: String { "SELECT serving, frozen FROM \(schema).read_models WHERE name = $1" }
    var selectServing: String { "SELECT serving FROM \(schema).read_models WHERE name = $1" }

    /// The serving generation, share-locked until the transaction ends (readers and commits: a
    /// freeze or a swap waits for them, and they wait for it).
    var shareReadModel: String { "SELECT serving, frozen FROM \(schema).read_models WHERE name = $1 FOR SHARE" }
    var lockReadModel: String { "SELECT serving, frozen FROM \(schema).read_models WHERE name = $1 FOR UPDATE" }
    var insertReadModel: String { "INSERT INTO \(schema).read_models (name, serving) VALUES ($1, $2)" }
    var setServing: String { "UPDATE \(schema).read_models SET serving = $2, frozen = false WHERE name = $1" }
    var setFrozen: String { "UPDATE \(schema).read_models SET frozen = $3 WHERE name = $1 AND serving = $2" }

    var insertGeneration: String { "INSERT INTO \(schema).read_model_generations (name) VALUES ($1) RETURNING generation" }
    var selectMigrated: String { "SELECT migrated::bigint FROM \(schema).read_model_generations WHERE generation = $1" }
    var updateMigrated: String { "UPDATE \(schema).read_model_generations SET migrated = $2 WHERE generation = $1" }
    var listGenerations: String { "SELECT generation FROM \(schema).read_model_generations WHERE name = $1 ORDER BY generation" }
    var deleteGeneration: String { "DELETE FROM \(schema).read_model_generations WHERE generation = $1" }
    var deleteDeadLetters: String { "DELETE FROM \(schema).dead_letters WHERE consumer = $1" }

    // MARK: Leases

    /// Tries to take a session-level advisory lock (held until released or the connection closes).
    static let tryLease = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"
    /// Whether any session holds the lease on key $1 (the key as a bigint advisory lock splits
    /// into `classid` = high 32 bits, `objid` = low 32 bits, `objsubid` = 1).
    static let leaseHeldAnywhere = """
        SELECT count(*) FROM pg_locks l, (SELECT hashtextextended($1, 0) AS k) h
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.classid = ((h.k >> 32) & 4294967295)::bigint::oid AND l.objid = (h.k & 4294967295)::bigint::oid
        """
    /// Releases a session-level advisory lock taken by ``tryLease``.
    static let releaseLease = "SELECT pg_advisory_unlock(hashtextextended($1, 0))"
    /// Whether this session holds the lease's advisory lock (the heartbeat).
    static let holdsLease = """
        SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
          AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)
        """
}
