/*
 * chronicle_ref.c — the raw SQLite C reference for Chronicle's benchmark workload
 * (/work/shared/bench/WORKLOAD.md, v1). It does what Chronicle's SQLiteEventStore does, with the
 * same schema and indexes, directly against the system libsqlite3 with prepared statements reused,
 * so `chronicle / sqlite-c` measures the framework's overhead and nothing else.
 *
 *   cc -O2 -o chronicle_ref chronicle_ref.c -lsqlite3
 *   ./chronicle_ref --scenario S1|S2|S3|S4a|S4b|S5|S6 --db PATH [--events N] [--sync NORMAL|FULL]
 *                   [--schema store|minimal] [--ids random|time]
 *
 * One JSON line per run on stdout (impl "sqlite-c"; "sqlite-c-min" with --schema minimal,
 * "sqlite-c-time" with --ids time); logs on stderr.
 *
 * Variants (issue 19: what the schema itself costs):
 * - `--schema minimal`: the least any store must write for this workload: one `events` table,
 *   `position INTEGER PRIMARY KEY`, `UNIQUE (stream_id, stream_version)` and no other index, so
 *   no idempotency by event id, no streams or categories table (a stream's version is the max of
 *   its events' versions, read through the unique index). Compare Chronicle with both programs:
 *   against the store-shaped one it measures the framework, against this one the framework and
 *   the schema's guarantees together.
 * - `--ids time`: the store's schema with time-ordered event ids (a UUIDv7-like big-endian
 *   millisecond timestamp and counter, then random bits), so the event-id index grows at its
 *   end instead of at random pages.
 *
 * Optimistic concurrency: (a) explicit check of the stream's current version inside the write
 * transaction (BEGIN IMMEDIATE; SELECT ... FROM streams WHERE stream_id = ?; compare; insert the
 * events; bump streams.version).
 * Global position: `position INTEGER PRIMARY KEY`, written explicitly as head + 1 where head is
 * read under the write lock (as the store does); rows are never deleted, so positions are strictly
 * increasing in commit order and gap-free (a rolled-back append numbered nothing that commits).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Schema: mirrors Sources/ChronicleSQLite (the store's migration v1). Keep in sync.
 * ------------------------------------------------------------------------------------------- */
static const char *SCHEMA[] = {
    "CREATE TABLE categories ("
    " category_key INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL CONSTRAINT categories_name_unique UNIQUE"
    ") STRICT",
    "CREATE TABLE streams ("
    " stream_key INTEGER PRIMARY KEY,"
    " stream_id TEXT NOT NULL CONSTRAINT streams_stream_id_unique UNIQUE,"
    " category_key INTEGER NOT NULL CONSTRAINT streams_category_fk REFERENCES categories (category_key),"
    " version INTEGER NOT NULL CONSTRAINT streams_version_positive CHECK (version > 0),"
    " last_position INTEGER NOT NULL"
    ") STRICT",
    "CREATE INDEX streams_category_stream_id ON streams (category_key, stream_id)",
    "CREATE TABLE events ("
    " position INTEGER PRIMARY KEY,"
    " stream_key INTEGER NOT NULL CONSTRAINT events_stream_fk REFERENCES streams (stream_key),"
    " stream_version INTEGER NOT NULL,"
    " category_key INTEGER NOT NULL CONSTRAINT events_category_fk REFERENCES categories (category_key),"
    " event_id BLOB NOT NULL CONSTRAINT events_event_id_unique UNIQUE,"
    " type TEXT NOT NULL,"
    " schema_version INTEGER NOT NULL,"
    " payload BLOB NOT NULL,"
    " metadata BLOB,"
    " recorded_at INTEGER NOT NULL,"
    " CONSTRAINT events_stream_version_unique UNIQUE (stream_key, stream_version)"
    ") STRICT",
    "CREATE INDEX events_category_key ON events (category_key)",
    NULL,
};

static const char *SCHEMA_MINIMAL[] = {
    "CREATE TABLE events ("
    " position INTEGER PRIMARY KEY,"
    " stream_id TEXT NOT NULL,"
    " stream_version INTEGER NOT NULL,"
    " event_id BLOB NOT NULL,"
    " type TEXT NOT NULL,"
    " schema_version INTEGER NOT NULL,"
    " payload BLOB NOT NULL,"
    " metadata BLOB,"
    " recorded_at INTEGER NOT NULL,"
    " CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)"
    ") STRICT",
    NULL,
};

/* Write path (writer connection, inside BEGIN IMMEDIATE). */
static const char *SQL_SELECT_HEAD = "SELECT coalesce(max(position), 0) FROM events";
static const char *SQL_SELECT_STREAM = "SELECT stream_key, version, category_key FROM streams WHERE stream_id = ?1";
static const char *SQL_SELECT_CATEGORY = "SELECT category_key FROM categories WHERE name = ?1";
static const char *SQL_INSERT_CATEGORY = "INSERT INTO categories (name) VALUES (?1)";
static const char *SQL_INSERT_STREAM =
    "INSERT INTO streams (stream_id, category_key, version, last_position) VALUES (?1, ?2, ?3, ?4)";
static const char *SQL_UPDATE_STREAM = "UPDATE streams SET version = ?1, last_position = ?2 WHERE stream_key = ?3";
static const char *SQL_INSERT_EVENT =
    "INSERT INTO events (position, stream_key, stream_version, category_key, event_id, type,"
    " schema_version, payload, metadata, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, NULL, ?8)";
/* Read path. */
#define EVENT_COLUMNS "e.position, s.stream_id, e.stream_version, e.event_id, e.type, e.schema_version," \
                      " e.payload, e.metadata, e.recorded_at"
enum { COL_POSITION, COL_STREAM_ID, COL_VERSION, COL_EVENT_ID, COL_TYPE, COL_SCHEMA, COL_PAYLOAD };
static const char *SQL_READ_STREAM =
    "SELECT " EVENT_COLUMNS " FROM streams s CROSS JOIN events e ON e.stream_key = s.stream_key"
    " WHERE s.stream_id = ?1 AND e.stream_version >= ?2 ORDER BY e.stream_version LIMIT ?3";
static const char *SQL_READ_ALL =
    "SELECT " EVENT_COLUMNS " FROM events e CROSS JOIN streams s ON s.stream_key = e.stream_key"
    " WHERE e.position > ?1 ORDER BY e.position LIMIT ?2";
static const char *SQL_STREAM_VERSION = "SELECT version FROM streams WHERE stream_id = ?1";
/* The minimal schema's statements (same columns, same bindings where they exist). */
static const char *SQL_MIN_STREAM_VERSION = "SELECT max(stream_version) FROM events WHERE stream_id = ?1";
static const char *SQL_MIN_INSERT_EVENT =
    "INSERT INTO events (position, stream_id, stream_version, event_id, type, schema_version, payload,"
    " metadata, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, NULL, ?7)";
#define MIN_EVENT_COLUMNS "position, stream_id, stream_version, event_id, type, schema_version, payload, metadata, recorded_at"
static const char *SQL_MIN_READ_STREAM =
    "SELECT " MIN_EVENT_COLUMNS " FROM events WHERE stream_id = ?1 AND stream_version >= ?2 ORDER BY stream_version LIMIT ?3";
static const char *SQL_MIN_READ_ALL = "SELECT " MIN_EVENT_COLUMNS " FROM events WHERE position > ?1 ORDER BY position LIMIT ?2";

/* The variant this run measures (--schema, --ids). */
static int minimal_schema = 0, time_ids = 0;
static const char *impl_name = "sqlite-c";

static const char *EVENT_TYPE = "Deposited";
#define PAYLOAD_TARGET 200

/* ------------------------------------------------------------------------------------------- */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "chronicle_ref: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of this process and its waited-for children. */
static double cpu_s(void) {
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    double t = 0;
    struct timeval tv[] = {self.ru_utime, self.ru_stime, children.ru_utime, children.ru_stime};
    for (int i = 0; i < 4; i++) t += (double)tv[i].tv_sec + (double)tv[i].tv_usec / 1e6;
    return t;
}

/* The timed region: wall clock (monotonic) and CPU time. */
static double timer_wall, timer_cpu, timed_cpu;
static void timer_start(void) {
    timer_cpu = cpu_s();
    timer_wall = now_s();
}
static double timer_stop(void) {
    double wall = now_s() - timer_wall;
    timed_cpu = cpu_s() - timer_cpu;
    return wall;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: the workload's deterministic PRNG and 64-bit mixer (identical in the Swift runner). */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
typedef struct { uint64_t state; } Rng;
static uint64_t rng_next(Rng *r) {
    r->state += 0x9e3779b97f4a7c15ULL;
    return mix64(r->state);
}

/* stream(i): hi = mix64(i + golden) is a bijection of i, so ids never collide. */
static void stream_id(uint64_t i, char out[33]) {
    uint64_t hi = mix64(i + 0x9e3779b97f4a7c15ULL);
    uint64_t lo = mix64(hi ^ 0xd1b54a32d192ed03ULL);
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, hi, lo);
}

/* A ~200-byte JSON payload: {"seq":…,"amount":…,"currency":"EUR","memo":"xxx…"}. */
static int make_payload(int64_t seq, char *buf, size_t cap) {
    int64_t amount = (seq % 1000) + 1;
    int n = snprintf(buf, cap, "{\"seq\":%" PRId64 ",\"amount\":%" PRId64 ",\"currency\":\"EUR\",\"memo\":\"", seq, amount);
    int pad = PAYLOAD_TARGET - n - 2;
    if (pad < 0) pad = 0;
    memset(buf + n, 'x', (size_t)pad);
    n += pad;
    buf[n++] = '"';
    buf[n++] = '}';
    buf[n] = 0;
    return n;
}

/* Minimal JSON decode: the integer value of "amount". */
static int64_t payload_amount(const char *p, int len) {
    static const char key[] = "\"amount\":";
    const char *end = p + len;
    for (const char *q = p; q + sizeof(key) - 1 < end; q++) {
        if (*q == '"' && memcmp(q, key, sizeof(key) - 1) == 0) {
            q += sizeof(key) - 1;
            int64_t v = 0;
            int neg = 0;
            if (q < end && *q == '-') { neg = 1; q++; }
            while (q < end && *q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
            return neg ? -v : v;
        }
    }
    die("payload without amount");
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Connection
 * ------------------------------------------------------------------------------------------- */
typedef struct {
    sqlite3 *db;
    sqlite3_stmt *begin_immediate, *begin, *commit, *rollback;
    sqlite3_stmt *select_head, *select_stream, *select_category, *insert_category;
    sqlite3_stmt *insert_stream, *update_stream, *insert_event;
    sqlite3_stmt *read_stream, *read_all, *stream_version;
    char journal_mode[16];
    int synchronous;
} Conn;

static const char *sync_name = "NORMAL";

static void check(Conn *c, int rc, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        die("%s: %s (%d)", what, sqlite3_errmsg(c->db), rc);
}

static void exec(Conn *c, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &err) != SQLITE_OK) die("%s: %s", sql, err);
}

static int64_t query_int(Conn *c, const char *sql) {
    sqlite3_stmt *s;
    check(c, sqlite3_prepare_v2(c->db, sql, -1, &s, NULL), sql);
    int rc = sqlite3_step(s);
    check(c, rc, sql);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return v;
}

static sqlite3_stmt *prep(Conn *c, const char *sql) {
    sqlite3_stmt *s;
    check(c, sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL), sql);
    return s;
}

static void conn_open(Conn *c, const char *path) {
    memset(c, 0, sizeof *c);
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        die("open %s: %s", path, sqlite3_errmsg(c->db));
    sqlite3_busy_timeout(c->db, 5000);
    /* journal_mode=WAL is persistent in the file; read it back. */
    sqlite3_stmt *s;
    check(c, sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &s, NULL), "journal_mode");
    if (sqlite3_step(s) == SQLITE_ROW) snprintf(c->journal_mode, sizeof c->journal_mode, "%s", sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", sync_name);
    exec(c, sql);
    c->synchronous = (int)query_int(c, "PRAGMA synchronous");
    if (strcmp(c->journal_mode, "wal") != 0) die("journal_mode is %s, not wal", c->journal_mode);
    int want = strcmp(sync_name, "FULL") == 0 ? 2 : 1;
    if (c->synchronous != want) die("synchronous read back %d, wanted %d", c->synchronous, want);
    c->begin_immediate = prep(c, "BEGIN IMMEDIATE");
    c->begin = prep(c, "BEGIN");
    c->commit = prep(c, "COMMIT");
    c->rollback = prep(c, "ROLLBACK");
}

static void conn_prepare_store(Conn *c) {
    c->select_head = prep(c, SQL_SELECT_HEAD);
    if (minimal_schema) {
        c->select_stream = prep(c, SQL_MIN_STREAM_VERSION);
        c->insert_event = prep(c, SQL_MIN_INSERT_EVENT);
        c->read_stream = prep(c, SQL_MIN_READ_STREAM);
        c->read_all = prep(c, SQL_MIN_READ_ALL);
        c->stream_version = prep(c, SQL_MIN_STREAM_VERSION);
        return;
    }
    c->select_stream = prep(c, SQL_SELECT_STREAM);
    c->select_category = prep(c, SQL_SELECT_CATEGORY);
    c->insert_category = prep(c, SQL_INSERT_CATEGORY);
    c->insert_stream = prep(c, SQL_INSERT_STREAM);
    c->update_stream = prep(c, SQL_UPDATE_STREAM);
    c->insert_event = prep(c, SQL_INSERT_EVENT);
    c->read_stream = prep(c, SQL_READ_STREAM);
    c->read_all = prep(c, SQL_READ_ALL);
    c->stream_version = prep(c, SQL_STREAM_VERSION);
}

static void conn_close(Conn *c) {
    sqlite3_stmt *all[] = {c->begin_immediate, c->begin, c->commit, c->rollback, c->select_head,
                           c->select_stream, c->select_category, c->insert_category, c->insert_stream,
                           c->update_stream, c->insert_event, c->read_stream, c->read_all, c->stream_version};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sqlite3_finalize(all[i]);
    if (sqlite3_close(c->db) != SQLITE_OK) die("close: %s", sqlite3_errmsg(c->db));
    c->db = NULL;
}

static int run_stmt(sqlite3_stmt *s) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc;
}

static void fresh_db(const char *path) {
    char p[4096];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static void create_schema(const char *path) {
    fresh_db(path);
    Conn c;
    conn_open(&c, path);
    exec(&c, "BEGIN IMMEDIATE");
    const char **schema = minimal_schema ? SCHEMA_MINIMAL : SCHEMA;
    for (int i = 0; schema[i]; i++) exec(&c, schema[i]);
    exec(&c, "COMMIT");
    conn_close(&c);
}

/* ---------------------------------------------------------------------------------------------
 * Appends
 * ------------------------------------------------------------------------------------------- */
typedef struct {
    const char *stream; /* 32 hex chars */
    int64_t expected;   /* expected current version */
    int count;          /* events to append */
    int64_t first_seq;  /* seq of the first event */
} Append;

static Rng id_rng = {0x5eed};
static uint64_t time_id_counter = 0;

/* A 16-byte event id: random, or (--ids time) a big-endian millisecond timestamp shifted left
 * 16 bits plus a counter (strictly increasing in this process), then 8 random bytes. */
static void next_event_id(uint8_t id[16]) {
    uint64_t hi = rng_next(&id_rng), lo = rng_next(&id_rng);
    if (time_ids) {
        uint64_t t = (uint64_t)wall_ms() << 16;
        time_id_counter = t > time_id_counter ? t : time_id_counter + 1;
        hi = time_id_counter;
        for (int i = 0; i < 8; i++) id[i] = (uint8_t)(hi >> (56 - 8 * i));
    } else {
        memcpy(id, &hi, 8);
    }
    memcpy(id + 8, &lo, 8);
}
static int64_t payload_bytes = 0, payload_count = 0;

enum { APPEND_OK = 0, APPEND_CONFLICT = 1, APPEND_BUSY = 2 };

/* The category of a stream id: the part before the first '-', or the whole id. */
static int category_len(const char *stream) {
    const char *dash = memchr(stream, '-', 32);
    return dash ? (int)(dash - stream) : 32;
}

static int64_t category_key(Conn *c, const char *stream) {
    int len = category_len(stream);
    sqlite3_bind_text(c->select_category, 1, stream, len, SQLITE_STATIC);
    int rc = sqlite3_step(c->select_category);
    check(c, rc, "select category");
    if (rc == SQLITE_ROW) {
        int64_t key = sqlite3_column_int64(c->select_category, 0);
        sqlite3_reset(c->select_category);
        return key;
    }
    sqlite3_reset(c->select_category);
    sqlite3_bind_text(c->insert_category, 1, stream, len, SQLITE_STATIC);
    if (run_stmt(c->insert_category) != SQLITE_DONE) die("insert category: %s", sqlite3_errmsg(c->db));
    return sqlite3_last_insert_rowid(c->db);
}

/* Version check and inserts for one stream, inside an open write transaction; `head` is the
 * position of the last event and advances. */
/* The minimal schema: the stream's version is its events' max, read through the unique index. */
static int append_in_tx_minimal(Conn *c, const Append *a, int64_t now, int64_t *head) {
    sqlite3_stmt *q = c->select_stream;
    sqlite3_bind_text(q, 1, a->stream, 32, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    check(c, rc, "select stream version");
    int64_t current = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (current != a->expected) return APPEND_CONFLICT;
    char payload[PAYLOAD_TARGET + 64];
    for (int k = 0; k < a->count; k++) {
        uint8_t id[16];
        next_event_id(id);
        int len = make_payload(a->first_seq + k, payload, sizeof payload);
        payload_bytes += len;
        payload_count++;
        sqlite3_stmt *s = c->insert_event;
        sqlite3_bind_int64(s, 1, ++*head);
        sqlite3_bind_text(s, 2, a->stream, 32, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, a->expected + k + 1);
        sqlite3_bind_blob(s, 4, id, 16, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, EVENT_TYPE, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 6, payload, len, SQLITE_STATIC);
        sqlite3_bind_int64(s, 7, now);
        rc = run_stmt(s);
        if (rc != SQLITE_DONE) die("insert event: %s (%d)", sqlite3_errmsg(c->db), rc);
    }
    return APPEND_OK;
}

static int append_in_tx(Conn *c, const Append *a, int64_t now, int64_t *head) {
    if (minimal_schema) return append_in_tx_minimal(c, a, now, head);
    int64_t current = 0, skey = 0, ckey = 0;
    sqlite3_stmt *q = c->select_stream;
    sqlite3_bind_text(q, 1, a->stream, 32, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    check(c, rc, "select stream");
    int exists = rc == SQLITE_ROW;
    if (exists) {
        skey = sqlite3_column_int64(q, 0);
        current = sqlite3_column_int64(q, 1);
        ckey = sqlite3_column_int64(q, 2);
    }
    sqlite3_reset(q);
    if (current != a->expected) return APPEND_CONFLICT;

    /* As the store: a new stream's row is inserted first (the events need its key), an existing
     * stream's row is updated after its events. */
    int64_t last = *head + a->count;
    if (!exists) {
        ckey = category_key(c, a->stream);
        sqlite3_stmt *u = c->insert_stream;
        sqlite3_bind_text(u, 1, a->stream, 32, SQLITE_STATIC);
        sqlite3_bind_int64(u, 2, ckey);
        sqlite3_bind_int64(u, 3, a->expected + a->count);
        sqlite3_bind_int64(u, 4, last);
        if (run_stmt(u) != SQLITE_DONE) die("insert stream: %s", sqlite3_errmsg(c->db));
        skey = sqlite3_last_insert_rowid(c->db);
    }

    char payload[PAYLOAD_TARGET + 64];
    for (int k = 0; k < a->count; k++) {
        uint8_t id[16];
        next_event_id(id);
        int len = make_payload(a->first_seq + k, payload, sizeof payload);
        payload_bytes += len;
        payload_count++;
        sqlite3_stmt *s = c->insert_event;
        sqlite3_bind_int64(s, 1, ++*head);
        sqlite3_bind_int64(s, 2, skey);
        sqlite3_bind_int64(s, 3, a->expected + k + 1);
        sqlite3_bind_int64(s, 4, ckey);
        sqlite3_bind_blob(s, 5, id, 16, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, EVENT_TYPE, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 7, payload, len, SQLITE_STATIC);
        sqlite3_bind_int64(s, 8, now);
        rc = run_stmt(s);
        if (rc != SQLITE_DONE) die("insert event: %s (%d)", sqlite3_errmsg(c->db), rc);
    }
    if (exists) {
        sqlite3_bind_int64(c->update_stream, 1, a->expected + a->count);
        sqlite3_bind_int64(c->update_stream, 2, last);
        sqlite3_bind_int64(c->update_stream, 3, skey);
        if (run_stmt(c->update_stream) != SQLITE_DONE) die("update stream: %s", sqlite3_errmsg(c->db));
    }
    return APPEND_OK;
}

/* One transaction appending to n streams atomically; on a conflict nothing is written. */
static int append_tx(Conn *c, const Append *as, int n) {
    int rc = run_stmt(c->begin_immediate);
    if (rc == SQLITE_BUSY) return APPEND_BUSY;
    check(c, rc, "BEGIN IMMEDIATE");
    int64_t now = wall_ms();
    /* Head under the write lock: the next event gets head + 1. */
    rc = sqlite3_step(c->select_head);
    check(c, rc, "select head");
    int64_t head = sqlite3_column_int64(c->select_head, 0);
    sqlite3_reset(c->select_head);
    for (int i = 0; i < n; i++) {
        if (append_in_tx(c, &as[i], now, &head) != APPEND_OK) {
            check(c, run_stmt(c->rollback), "ROLLBACK");
            return APPEND_CONFLICT;
        }
    }
    rc = run_stmt(c->commit);
    if (rc == SQLITE_BUSY) {
        check(c, run_stmt(c->rollback), "ROLLBACK");
        return APPEND_BUSY;
    }
    check(c, rc, "COMMIT");
    return APPEND_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Generators and verification
 * ------------------------------------------------------------------------------------------- */
static char (*streams)[33];

static void make_streams(int64_t n) {
    streams = malloc((size_t)n * sizeof *streams);
    for (int64_t i = 0; i < n; i++) stream_id((uint64_t)i, streams[i]);
}

/* RR(N, M, k) with `per_tx` events per transaction (k = 1 then). Returns appends performed. */
static int64_t write_rr(Conn *c, int64_t N, int64_t M, int k, int per_tx) {
    int64_t seq = 0, ops = 0;
    int per = per_tx > 0 ? per_tx : 1;
    Append *batch = malloc((size_t)per * sizeof *batch);
    int nb = 0;
    for (int64_t r = 0; r < M / k; r++) {
        for (int64_t i = 0; i < N; i++) {
            batch[nb++] = (Append){streams[i], r * k, k, seq};
            seq += k;
            if (nb == per) {
                if (append_tx(c, batch, nb) != APPEND_OK) die("RR append failed");
                ops++;
                nb = 0;
            }
        }
    }
    if (nb > 0) {
        if (append_tx(c, batch, nb) != APPEND_OK) die("RR append failed");
        ops++;
    }
    free(batch);
    return ops;
}

/* IMP(T, B). Returns transactions. */
static int64_t write_imp(Conn *c, int64_t T, int B) {
    int64_t S = T / 100, groups = S / B, seq = 0;
    Append *batch = malloc((size_t)B * sizeof *batch);
    for (int64_t t = 0; t < T / B; t++) {
        int64_t g = t % groups, version = t / groups + 1;
        for (int b = 0; b < B; b++) batch[b] = (Append){streams[g * B + b], version - 1, 1, seq++};
        if (append_tx(c, batch, B) != APPEND_OK) die("IMP append failed");
    }
    free(batch);
    return T / B;
}

/* count = expected, positions 1..count gap-free, every stream has versions 1..n_per_stream. */
static int verify_log(Conn *c, int64_t expected_events, int64_t n_streams, int64_t per_stream) {
    int ok = 1;
    int64_t count = query_int(c, "SELECT count(*) FROM events");
    int64_t span = query_int(c, "SELECT max(position) - min(position) + 1 FROM events");
    int64_t minpos = query_int(c, "SELECT min(position) FROM events");
    if (count != expected_events || span != count || minpos != 1) ok = 0;
    char sql[512];
    const char *stream_column = minimal_schema ? "stream_id" : "stream_key";
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM (SELECT %s, count(*) AS n, min(stream_version) AS lo,"
             " max(stream_version) AS hi FROM events GROUP BY %s)"
             " WHERE n = %" PRId64 " AND lo = 1 AND hi = n",
             stream_column, stream_column, per_stream);
    if (query_int(c, sql) != n_streams) ok = 0;
    if (!minimal_schema) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM streams WHERE version = %" PRId64, per_stream);
        if (query_int(c, sql) != n_streams) ok = 0;
    }
    if (!ok) fprintf(stderr, "verification failed: count %" PRId64 " span %" PRId64 "\n", count, span);
    return ok;
}

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------------------------- */
static char extra[2048];

static void add_extra(const char *fmt, ...) {
    size_t n = strlen(extra);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(extra + n, sizeof extra - n, fmt, ap);
    va_end(ap);
}

static void report(const char *scenario, const Conn *c, int64_t events, double seconds, int64_t ops,
                   const char *op, int verified, const char *db) {
    printf("{\"impl\":\"%s\",\"scenario\":\"%s\",\"sync\":\"%s\",\"events\":%" PRId64
           ",\"seconds\":%.4f,\"events_per_s\":%.1f,\"ops\":%" PRId64 ",\"op\":\"%s\",\"ms_per_op\":%.5f"
           ",\"verified\":%s,\"journal_mode\":\"%s\",\"synchronous\":%d,\"sqlite\":\"%s\",\"db\":\"%s\"",
           impl_name, scenario, sync_name, events, seconds, events / seconds, ops, op, seconds * 1000.0 / (double)ops,
           verified ? "true" : "false", c->journal_mode, c->synchronous, sqlite3_libversion(), db);
    printf(",\"cpu_s\":%.4f", timed_cpu);
    if (payload_count > 0) printf(",\"payload_bytes_avg\":%.1f", (double)payload_bytes / (double)payload_count);
    printf(",\"event_type\":\"%s\"%s}\n", EVENT_TYPE, extra);
    fflush(stdout);
}

/* ---------------------------------------------------------------------------------------------
 * Scenarios
 * ------------------------------------------------------------------------------------------- */
static void scenario_append(const char *name, const char *db, int64_t events, int k) {
    const int64_t N = 1000, M = events / N;
    make_streams(N);
    create_schema(db);
    Conn c;
    conn_open(&c, db);
    conn_prepare_store(&c);
    timer_start();
    int64_t ops = write_rr(&c, N, M, k, 0);
    double secs = timer_stop();
    int ok = verify_log(&c, N * M, N, M);
    report(name, &c, N * M, secs, ops, "append", ok, db);
    conn_close(&c);
}

static void scenario_import(const char *db, int64_t T) {
    const int B = 1000;
    make_streams(T / 100);
    create_schema(db);
    Conn c;
    conn_open(&c, db);
    conn_prepare_store(&c);
    timer_start();
    int64_t ops = write_imp(&c, T, B);
    double secs = timer_stop();
    char wal[4096];
    snprintf(wal, sizeof wal, "%s-wal", db);
    int64_t left = file_size(db) + file_size(wal);
    int ok = verify_log(&c, T, T / 100, 100);
    exec(&c, "PRAGMA wal_checkpoint(TRUNCATE)");
    int64_t after = file_size(db);
    add_extra(",\"bytes_db_plus_wal\":%" PRId64 ",\"bytes_after_checkpoint\":%" PRId64
              ",\"bytes_per_event\":%.1f",
              left, after, (double)after / (double)T);
    report("S3", &c, T, secs, ops, "transaction", ok, db);
    conn_close(&c);
}

static void scenario_rehydrate(const char *name, const char *db, int64_t N, int64_t M) {
    make_streams(N);
    create_schema(db);
    Conn c;
    conn_open(&c, db);
    conn_prepare_store(&c);
    write_rr(&c, N, M, 1, 1000);
    conn_close(&c);

    /* Fixed shuffled order, seed 42. */
    int64_t *order = malloc((size_t)N * sizeof *order);
    for (int64_t i = 0; i < N; i++) order[i] = i;
    Rng rng = {42};
    for (int64_t i = N - 1; i > 0; i--) {
        int64_t j = (int64_t)(rng_next(&rng) % (uint64_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }

    conn_open(&c, db); /* SQLite page cache cold, OS page cache warm */
    conn_prepare_store(&c);
    int ok = 1;
    int64_t events = 0, total = 0;
    timer_start();
    for (int64_t n = 0; n < N; n++) {
        const char *sid = streams[order[n]];
        int64_t version = 0, count = 0, sum = 0;
        check(&c, run_stmt(c.begin), "BEGIN");
        sqlite3_stmt *s = c.read_stream;
        sqlite3_bind_text(s, 1, sid, 32, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, 1);
        sqlite3_bind_int64(s, 3, INT64_MAX);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            int64_t v = sqlite3_column_int64(s, COL_VERSION);
            const char *p = sqlite3_column_blob(s, COL_PAYLOAD);
            int len = sqlite3_column_bytes(s, COL_PAYLOAD);
            if (v != version + 1) ok = 0;
            version = v;
            count++;
            sum += payload_amount(p, len);
        }
        check(&c, rc, "read stream");
        sqlite3_reset(s);
        check(&c, run_stmt(c.commit), "COMMIT");
        if (count != M || version != M) ok = 0;
        events += count;
        total += sum;
    }
    double secs = timer_stop();
    /* Expected sum of amounts over seq 0..N*M-1. */
    int64_t expected = 0;
    for (int64_t s = 0; s < N * M; s++) expected += s % 1000 + 1;
    if (events != N * M || total != expected) ok = 0;
    add_extra(",\"aggregates\":%" PRId64 ",\"aggregates_per_s\":%.1f", N, (double)N / secs);
    report(name, &c, events, secs, N, "aggregate", ok, db);
    conn_close(&c);
    free(order);
}

static void scenario_projection(const char *db, int64_t T) {
    make_streams(T / 100);
    create_schema(db);
    Conn c;
    conn_open(&c, db);
    conn_prepare_store(&c);
    write_imp(&c, T, 1000);
    exec(&c, "CREATE TABLE stream_summary (stream_id TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL,"
             " total INTEGER NOT NULL, last_version INTEGER NOT NULL)");
    exec(&c, "CREATE TABLE checkpoints (projection_name TEXT PRIMARY KEY NOT NULL, position INTEGER NOT NULL)");
    sqlite3_stmt *get_cp = prep(&c, "SELECT position FROM checkpoints WHERE projection_name = 'summary'");
    sqlite3_stmt *upsert = prep(&c,
        "INSERT INTO stream_summary (stream_id, n, total, last_version) VALUES (?1, 1, ?2, ?3)"
        " ON CONFLICT (stream_id) DO UPDATE SET n = n + 1, total = total + excluded.total,"
        " last_version = excluded.last_version");
    sqlite3_stmt *put_cp = prep(&c,
        "INSERT INTO checkpoints (projection_name, position) VALUES ('summary', ?1)"
        " ON CONFLICT (projection_name) DO UPDATE SET position = excluded.position");

    timer_start();
    int64_t checkpoint = 0, pages = 0, events = 0;
    int rc = sqlite3_step(get_cp);
    if (rc == SQLITE_ROW) checkpoint = sqlite3_column_int64(get_cp, 0);
    sqlite3_reset(get_cp);
    for (;;) {
        check(&c, run_stmt(c.begin_immediate), "BEGIN IMMEDIATE");
        sqlite3_stmt *s = c.read_all;
        sqlite3_bind_int64(s, 1, checkpoint);
        sqlite3_bind_int64(s, 2, 1000);
        int n = 0;
        int64_t last = checkpoint;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            last = sqlite3_column_int64(s, COL_POSITION);
            int64_t amount = payload_amount(sqlite3_column_blob(s, COL_PAYLOAD), sqlite3_column_bytes(s, COL_PAYLOAD));
            sqlite3_bind_text(upsert, 1, (const char *)sqlite3_column_text(s, COL_STREAM_ID),
                              sqlite3_column_bytes(s, COL_STREAM_ID), SQLITE_STATIC);
            sqlite3_bind_int64(upsert, 2, amount);
            sqlite3_bind_int64(upsert, 3, sqlite3_column_int64(s, COL_VERSION));
            if (run_stmt(upsert) != SQLITE_DONE) die("upsert: %s", sqlite3_errmsg(c.db));
            n++;
        }
        check(&c, rc, "read all");
        sqlite3_reset(s);
        if (n == 0) {
            check(&c, run_stmt(c.commit), "COMMIT");
            break;
        }
        sqlite3_bind_int64(put_cp, 1, last);
        if (run_stmt(put_cp) != SQLITE_DONE) die("checkpoint: %s", sqlite3_errmsg(c.db));
        check(&c, run_stmt(c.commit), "COMMIT");
        checkpoint = last;
        events += n;
        pages++;
    }
    double secs = timer_stop();
    int ok = query_int(&c, "SELECT sum(n) FROM stream_summary") == T &&
             query_int(&c, "SELECT position FROM checkpoints WHERE projection_name = 'summary'") ==
                 query_int(&c, "SELECT max(position) FROM events") &&
             events == T;
    sqlite3_finalize(get_cp);
    sqlite3_finalize(upsert);
    sqlite3_finalize(put_cp);
    report("S5", &c, events, secs, pages, "page", ok, db);
    conn_close(&c);
}

typedef struct {
    int64_t successes, conflicts, attempts, lock_errors;
} WriterStats;

static void s6_writer(const char *db, int id, int64_t N, int K, int ready_fd, int go_fd, int out_fd) {
    Conn c;
    conn_open(&c, db);
    conn_prepare_store(&c);
    id_rng.state = 0x5eed + 1000003ULL * (uint64_t)(id + 1);
    Rng rng = {1000 + (uint64_t)id};
    WriterStats st = {0};
    char b = 'r';
    if (write(ready_fd, &b, 1) != 1) die("barrier");
    if (read(go_fd, &b, 1) != 1) die("barrier");
    while (st.successes < N) {
        int i = (int)(rng_next(&rng) % (uint64_t)K);
        for (;;) {
            /* Fresh read of the stream's version (autocommit read transaction). */
            int64_t v = 0;
            sqlite3_bind_text(c.stream_version, 1, streams[i], 32, SQLITE_STATIC);
            int rc = sqlite3_step(c.stream_version);
            if (rc == SQLITE_BUSY) { st.lock_errors++; sqlite3_reset(c.stream_version); continue; }
            check(&c, rc, "read version");
            if (rc == SQLITE_ROW) v = sqlite3_column_int64(c.stream_version, 0);
            sqlite3_reset(c.stream_version);
            st.attempts++;
            Append a = {streams[i], v, 1, (int64_t)id * 1000000000LL + st.successes};
            int r = append_tx(&c, &a, 1);
            if (r == APPEND_OK) break;
            if (r == APPEND_CONFLICT) st.conflicts++;
            else st.lock_errors++;
        }
        st.successes++;
    }
    conn_close(&c);
    if (write(out_fd, &st, sizeof st) != sizeof st) die("writer result");
    _exit(0);
}

static void scenario_concurrent(const char *db, int64_t events) {
    const int K = 10, W = 2;
    const int64_t N = events / W;
    make_streams(K);
    create_schema(db);
    Conn c;
    conn_open(&c, db);
    conn_prepare_store(&c);
    for (int i = 0; i < K; i++) {
        Append a = {streams[i], 0, 1, i};
        if (append_tx(&c, &a, 1) != APPEND_OK) die("setup");
    }
    conn_close(&c); /* never carry a connection across fork() */

    int ready[2], go[2], out[2];
    if (pipe(ready) || pipe(go) || pipe(out)) die("pipe: %s", strerror(errno));
    pid_t pids[2];
    for (int w = 0; w < W; w++) {
        pid_t pid = fork();
        if (pid < 0) die("fork: %s", strerror(errno));
        if (pid == 0) {
            close(go[1]);
            s6_writer(db, w, N, K, ready[1], go[0], out[1]);
        }
        pids[w] = pid;
    }
    char b;
    for (int w = 0; w < W; w++)
        if (read(ready[0], &b, 1) != 1) die("barrier");
    timer_start();
    char go_bytes[2] = {'g', 'g'};
    if (write(go[1], go_bytes, W) != W) die("barrier");
    WriterStats total = {0};
    for (int w = 0; w < W; w++) {
        WriterStats st;
        if (read(out[0], &st, sizeof st) != sizeof st) die("writer result");
        total.successes += st.successes;
        total.conflicts += st.conflicts;
        total.attempts += st.attempts;
        total.lock_errors += st.lock_errors;
    }
    for (int w = 0; w < W; w++) {
        int status;
        waitpid(pids[w], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("writer %d failed", w);
    }
    double secs = timer_stop();

    conn_open(&c, db);
    int64_t count = query_int(&c, "SELECT count(*) FROM events");
    int ok = count == K + W * N;
    ok = ok && query_int(&c, "SELECT max(position) - min(position) + 1 FROM events") == count;
    ok = ok && query_int(&c, "SELECT count(DISTINCT position) FROM events") == count;
    ok = ok && query_int(&c, minimal_schema
                             ? "SELECT count(*) FROM (SELECT stream_id, count(*) AS n, count(DISTINCT stream_version) AS d,"
                               " min(stream_version) AS lo, max(stream_version) AS hi FROM events GROUP BY stream_id)"
                               " WHERE n = d AND lo = 1 AND hi = n"
                             : "SELECT count(*) FROM (SELECT stream_key, count(*) AS n, count(DISTINCT stream_version) AS d,"
                               " min(stream_version) AS lo, max(stream_version) AS hi FROM events GROUP BY stream_key)"
                               " WHERE n = d AND lo = 1 AND hi = n") == K;
    ok = ok && query_int(&c, minimal_schema
                             ? "SELECT sum(hi - 1) FROM (SELECT max(stream_version) AS hi FROM events GROUP BY stream_id)"
                             : "SELECT sum(hi - 1) FROM (SELECT max(stream_version) AS hi FROM events GROUP BY stream_key)") == W * N;
    ok = ok && total.successes == W * N;
    add_extra(",\"writers\":%d,\"writer_kind\":\"processes (fork)\",\"conflicts\":%" PRId64 ",\"attempts\":%" PRId64
              ",\"lock_errors\":%" PRId64,
              W, total.conflicts, total.attempts, total.lock_errors);
    report("S6", &c, W * N, secs, W * N, "append", ok, db);
    conn_close(&c);
}

/* ------------------------------------------------------------------------------------------- */
int main(int argc, char **argv) {
    const char *scenario = NULL, *db = NULL;
    int64_t events = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) die("missing value for %s", argv[i]);
        if (!strcmp(argv[i], "--scenario")) scenario = argv[++i];
        else if (!strcmp(argv[i], "--db")) db = argv[++i];
        else if (!strcmp(argv[i], "--events")) events = strtoll(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--sync")) sync_name = argv[++i];
        else if (!strcmp(argv[i], "--schema")) {
            const char *v = argv[++i];
            if (!strcmp(v, "minimal")) minimal_schema = 1;
            else if (strcmp(v, "store")) die("--schema must be store or minimal");
        } else if (!strcmp(argv[i], "--ids")) {
            const char *v = argv[++i];
            if (!strcmp(v, "time")) time_ids = 1;
            else if (strcmp(v, "random")) die("--ids must be random or time");
        } else die("unknown option %s", argv[i]);
    }
    if (!scenario || !db)
        die("usage: %s --scenario S1|S2|S3|S4a|S4b|S5|S6 --db PATH [--events N] [--sync NORMAL|FULL]"
            " [--schema store|minimal] [--ids random|time]", argv[0]);
    if (minimal_schema && time_ids) die("--ids time applies to the store's schema (the minimal one has no event-id index)");
    impl_name = minimal_schema ? "sqlite-c-min" : time_ids ? "sqlite-c-time" : "sqlite-c";
    if (strcmp(sync_name, "NORMAL") && strcmp(sync_name, "FULL")) die("--sync must be NORMAL or FULL");
    if (sqlite3_threadsafe() == 0) die("libsqlite3 built without thread safety");

    if (!strcmp(scenario, "S1")) scenario_append("S1", db, events ? events : 100000, 1);
    else if (!strcmp(scenario, "S2")) scenario_append("S2", db, events ? events : 100000, 10);
    else if (!strcmp(scenario, "S3")) scenario_import(db, events ? events : 1000000);
    else if (!strcmp(scenario, "S4a")) scenario_rehydrate("S4a", db, 1000, (events ? events : 100000) / 1000);
    else if (!strcmp(scenario, "S4b")) scenario_rehydrate("S4b", db, 10, (events ? events : 100000) / 10);
    else if (!strcmp(scenario, "S5")) scenario_projection(db, events ? events : 1000000);
    else if (!strcmp(scenario, "S6")) scenario_concurrent(db, events ? events : 10000);
    else die("unknown scenario %s", scenario);
    free(streams);
    return 0;
}
