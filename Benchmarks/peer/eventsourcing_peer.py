#!/usr/bin/env python3
"""The benchmark workload (WORKLOAD.md v1) run by the Python peer `eventsourcing` (9.5.6), on its
SQLite or PostgreSQL application recorder, printing one JSON line per run in the format of
`ChronicleBenchmarks` and `chronicle_ref` (impl "eventsourcing"), so `Benchmarks/summarize.py`
puts it beside them.

    python3 -m venv .build/peer && .build/peer/bin/pip install eventsourcing==9.5.6 "psycopg[binary]" psycopg_pool
    .build/peer/bin/python Benchmarks/peer/eventsourcing_peer.py --scenario S1 --db /tmp/s1.db --events 100000
    .build/peer/bin/python Benchmarks/peer/eventsourcing_peer.py --scenario S1 --db "$CHRONICLE_POSTGRES_URL" --events 20000

How it follows the workload, and where it deviates (reported in the JSON line):
- It uses the recorder layer (`ApplicationRecorder.insert_events`, `select_events`,
  `select_notifications`): the store API, as Chronicle's runner uses `EventStore` and the C
  reference raw SQL. Its application layer (aggregates, mapper, JSON transcoder) is not timed.
- Optimistic concurrency is (b) of the workload: the `(originator_id, originator_version)`
  primary key refuses a version that exists; the writer derives versions from its own state (S1-S5)
  or from a fresh read (S6).
- Global position: SQLite's `rowid` (assigned in commit order under the write lock); on
  PostgreSQL its `notification_id` bigserial with the table locked in EXCLUSIVE mode during
  inserts, as the library does to keep positions gap-free.
- SQLite: the library opens connections in WAL and leaves `synchronous` at SQLite's default
  (FULL); this runner sets the workload's `synchronous` on every connection it opens and reads it
  back.
- S5 reads each page of notifications in a read transaction of its own, then writes the upserts
  and the checkpoint in one write transaction (the C reference reads inside the write
  transaction).
- S6's writers are two OS processes (fork), each with its own datastore.
- S1c (PostgreSQL's group-commit scenario): 16 threads, each appending single events to its own
  1/16 of the streams.
"""
import argparse
import json
import os
import random
import resource
import sys
import threading
import time
import uuid
from urllib.parse import urlparse, unquote

from eventsourcing.persistence import IntegrityError, StoredEvent

TOPIC = "bench:Deposited"
MASK = (1 << 64) - 1


def mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def stream(i):
    """The 128-bit id of stream i (two independent 64-bit mixes: no collisions in practice)."""
    return uuid.UUID(int=(mix64(2 * i) << 64) | mix64(2 * i + 1))


def payload(seq):
    body = {"seq": seq, "amount": seq % 1000 + 1, "currency": "EUR", "pad": ""}
    base = len(json.dumps(body, separators=(",", ":")))
    body["pad"] = "x" * max(0, 200 - base)
    return json.dumps(body, separators=(",", ":")).encode()


def amount(state):
    return json.loads(state)["amount"]


class Store:
    """The recorder on one backend, and what the scenarios need of the database itself."""

    def __init__(self, db, sync, fresh):
        self.db, self.sync = db, sync
        self.postgres = db.startswith("postgres://") or db.startswith("postgresql://")
        if self.postgres:
            from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
            url = urlparse(db)
            self.schema = os.environ.get("PEER_SCHEMA", "peer_bench")
            self.datastore = PostgresDatastore(
                dbname=url.path.lstrip("/"), host=url.hostname or "127.0.0.1", port=url.port or 5432,
                user=unquote(url.username or ""), password=unquote(url.password or ""),
                schema=self.schema, pool_size=20, max_overflow=20,
            )
            if fresh:
                with self.datastore.transaction(commit=True) as c:
                    c.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
                    c.execute(f"CREATE SCHEMA {self.schema}")
            self.recorder = PostgresApplicationRecorder(self.datastore)
            self.synchronous = "n/a (PostgreSQL defaults)"
        else:
            from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteConnectionPool, SQLiteDatastore
            if fresh:
                for suffix in ("", "-wal", "-shm"):
                    try:
                        os.remove(db + suffix)
                    except FileNotFoundError:
                        pass
            wanted = {"NORMAL": 1, "FULL": 2}[sync]
            original = SQLiteConnectionPool._create_connection

            def create_connection(pool):
                connection = original(pool)
                connection._sqlite_conn.execute(f"PRAGMA synchronous={sync}")
                got = connection._sqlite_conn.execute("PRAGMA synchronous").fetchone()[0]
                if got != wanted:
                    raise SystemExit(f"synchronous read back {got}, wanted {wanted}")
                return connection

            SQLiteConnectionPool._create_connection = create_connection
            self.datastore = SQLiteDatastore(db, lock_timeout=5, pool_size=20, max_overflow=20)
            self.recorder = SQLiteApplicationRecorder(self.datastore)
            self.synchronous = sync
        if fresh:
            self.recorder.create_table()

    def sql(self, statement):
        """Runs one statement; returns its rows."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(statement)
            try:
                return c.fetchall()
            except Exception:
                return []

    def table(self):
        return f"{self.schema}.stored_events" if self.postgres else "stored_events"

    def position_column(self):
        return "notification_id" if self.postgres else "rowid"

    def scalar(self, statement):
        row = self.sql(statement)[0]
        return list(row.values())[0] if isinstance(row, dict) else row[0]

    def verify(self, events, streams, per_stream):
        t, p = self.table(), self.position_column()
        count = self.scalar(f"SELECT count(*) FROM {t}")
        span = self.scalar(f"SELECT max({p}) - min({p}) + 1 FROM {t}")
        ok_streams = self.scalar(
            f"SELECT count(*) FROM (SELECT originator_id, count(*) AS n, min(originator_version) AS lo,"
            f" max(originator_version) AS hi FROM {t} GROUP BY originator_id) s"
            f" WHERE n = {per_stream} AND lo = 1 AND hi = n"
        )
        return count == events and span == count and ok_streams == streams

    def close(self):
        self.datastore.close()


class Timer:
    def __enter__(self):
        self.wall, self.cpu = time.monotonic(), time.process_time()
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return self

    def __exit__(self, *_):
        self.seconds = time.monotonic() - self.wall
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_s = (time.process_time() - self.cpu) + (children.ru_utime - self.children.ru_utime) + (children.ru_stime - self.children.ru_stime)


def report(args, store, scenario, events, timer, ops, op, verified, **extra):
    line = {
        "impl": "eventsourcing", "scenario": scenario, "sync": args.sync, "events": events,
        "seconds": round(timer.seconds, 4), "events_per_s": round(events / timer.seconds, 1), "ops": ops, "op": op,
        "ms_per_op": round(timer.seconds * 1000 / ops, 5), "verified": verified, "cpu_s": round(timer.cpu_s, 4),
        "backend": "postgres" if store.postgres else "sqlite", "synchronous": store.synchronous,
        "payload_bytes_avg": len(payload(500)), "topic": TOPIC, "layer": "ApplicationRecorder",
        "library": "eventsourcing 9.5.6", "python": sys.version.split()[0],
    }
    line.update(extra)
    print(json.dumps(line), flush=True)


def round_robin(store, n, m, k, per_tx):
    """RR(n, m, k); `per_tx` appends per insert_events call (1: one append per transaction)."""
    ids = [stream(i) for i in range(n)]
    seq, calls, batch = 0, 0, []
    for r in range(m // k):
        for i in range(n):
            batch.extend(StoredEvent(ids[i], r * k + j + 1, TOPIC, payload(seq + j)) for j in range(k))
            seq += k
            if len(batch) >= per_tx * k:
                store.recorder.insert_events(batch)
                calls, batch = calls + 1, []
    if batch:
        store.recorder.insert_events(batch)
        calls += 1
    return calls


def imp(store, t, b):
    s = t // 100
    groups = s // b
    ids = [stream(i) for i in range(s)]
    seq = 0
    for tx in range(t // b):
        g, version = tx % groups, tx // groups + 1
        batch = []
        for j in range(b):
            batch.append(StoredEvent(ids[g * b + j], version, TOPIC, payload(seq)))
            seq += 1
        store.recorder.insert_events(batch)
    return t // b


def s_append(args, name, k):
    n, m = 1000, args.events // 1000
    if m < k:
        raise SystemExit(f"{name} needs --events of at least {1000 * k}")
    store = Store(args.db, args.sync, fresh=True)
    with Timer() as timer:
        calls = round_robin(store, n, m, k, per_tx=1)
    report(args, store, name, n * m, timer, calls, "append", store.verify(n * m, n, m))
    store.close()


def s_import(args):
    store = Store(args.db, args.sync, fresh=True)
    with Timer() as timer:
        calls = imp(store, args.events, 1000)
    report(args, store, "S3", args.events, timer, calls, "transaction", store.verify(args.events, args.events // 100, 100))
    store.close()


def s_rehydrate(args, name, n):
    m = args.events // n
    store = Store(args.db, args.sync, fresh=True)
    round_robin(store, n, m, 1, per_tx=1000)
    store.close()
    store = Store(args.db, args.sync, fresh=False)
    order = list(range(n))
    random.Random(42).shuffle(order)
    ids = [stream(i) for i in range(n)]
    ok, events, total = True, 0, 0
    with Timer() as timer:
        for i in order:
            version = count = acc = 0
            for stored in store.recorder.select_events(ids[i]):
                if stored.originator_version != version + 1:
                    ok = False
                version = stored.originator_version
                count += 1
                acc += amount(stored.state)
            ok = ok and count == m and version == m
            events += count
            total += acc
    expected = sum(s % 1000 + 1 for s in range(n * m))
    report(args, store, name, events, timer, n, "aggregate", ok and events == n * m and total == expected,
           aggregates=n, aggregates_per_s=round(n / timer.seconds, 1))
    store.close()


def s_projection(args):
    t = args.events
    store = Store(args.db, args.sync, fresh=True)
    imp(store, t, 1000)
    prefix = f"{store.schema}." if store.postgres else ""
    summary, checkpoints = prefix + "stream_summary", prefix + "checkpoints"
    store.sql(f"CREATE TABLE {summary} (stream_id TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL, total INTEGER NOT NULL, last_version INTEGER NOT NULL)")
    store.sql(f"CREATE TABLE {checkpoints} (projection_name TEXT PRIMARY KEY NOT NULL, position BIGINT NOT NULL)")
    mark = "%s" if store.postgres else "?"
    upsert = (f"INSERT INTO {summary} (stream_id, n, total, last_version) VALUES ({mark}, 1, {mark}, {mark})"
              f" ON CONFLICT (stream_id) DO UPDATE SET n = {summary}.n + 1, total = {summary}.total + excluded.total,"
              f" last_version = excluded.last_version")
    save = (f"INSERT INTO {checkpoints} (projection_name, position) VALUES ('summary', {mark})"
            f" ON CONFLICT (projection_name) DO UPDATE SET position = excluded.position")
    pages = events = 0
    with Timer() as timer:
        rows = store.sql(f"SELECT position FROM {checkpoints} WHERE projection_name = 'summary'")
        checkpoint = (list(rows[0].values())[0] if isinstance(rows[0], dict) else rows[0][0]) if rows else 0
        while True:
            page = store.recorder.select_notifications(start=checkpoint + 1, limit=1000)
            if not page:
                break
            with store.datastore.transaction(commit=True) as c:
                for notification in page:
                    c.execute(upsert, (str(notification.originator_id), amount(notification.state), notification.originator_version))
                c.execute(save, (page[-1].id,))
            checkpoint = page[-1].id
            events += len(page)
            pages += 1
    ok = (store.scalar(f"SELECT sum(n) FROM {summary}") == t
          and store.scalar(f"SELECT position FROM {checkpoints} WHERE projection_name = 'summary'") == store.recorder.max_notification_id()
          and events == t)
    report(args, store, "S5", events, timer, pages, "page", ok)
    store.close()


def s6_writer(args, writer, n, k, ready, go, out):
    store = Store(args.db, args.sync, fresh=False)
    ids = [stream(i) for i in range(k)]
    rng = random.Random(1000 + writer)
    conflicts = attempts = lock_errors = 0
    os.write(ready, b"r")
    os.read(go, 1)
    for s in range(n):
        i = rng.randrange(k)
        while True:
            last = store.recorder.select_events(ids[i], desc=True, limit=1)
            version = last[0].originator_version if last else 0
            attempts += 1
            try:
                store.recorder.insert_events([StoredEvent(ids[i], version + 1, TOPIC, payload(writer * 1_000_000_000 + s))])
                break
            except IntegrityError:
                conflicts += 1
            except Exception as error:  # a lock timeout, reported apart from conflicts
                if "locked" not in str(error).lower():
                    raise
                lock_errors += 1
    store.close()
    os.write(out, json.dumps([conflicts, attempts, lock_errors]).encode().ljust(128))
    os._exit(0)


def s_concurrent(args):
    k, w = 10, 2
    n = args.events // w
    store = Store(args.db, args.sync, fresh=True)
    store.recorder.insert_events([StoredEvent(stream(i), 1, TOPIC, payload(i)) for i in range(k)])
    store.close()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pids = []
    for writer in range(w):
        pid = os.fork()
        if pid == 0:
            s6_writer(args, writer, n, k, ready_w, go_r, out_w)
        pids.append(pid)
    for _ in range(w):
        os.read(ready_r, 1)
    totals = [0, 0, 0]
    with Timer() as timer:
        os.write(go_w, b"g" * w)
        for _ in range(w):
            result = json.loads(os.read(out_r, 128).decode().strip())
            totals = [a + b for a, b in zip(totals, result)]
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            if status != 0:
                raise SystemExit(f"writer {pid} failed ({status})")
    store = Store(args.db, args.sync, fresh=False)
    t, p = store.table(), store.position_column()
    count = store.scalar(f"SELECT count(*) FROM {t}")
    span = store.scalar(f"SELECT max({p}) - min({p}) + 1 FROM {t}")
    versions = store.scalar(f"SELECT sum(hi - 1) FROM (SELECT max(originator_version) AS hi FROM {t} GROUP BY originator_id) s")
    # Positions with holes (a conflicting insert consumed a sequence value) fail the workload's
    # gap-free rule: reported as unverified, with the counts.
    ok = count == k + w * n and span == count and versions == w * n
    report(args, store, "S6", w * n, timer, w * n, "append", ok, writers=w, writer_kind="processes (fork)",
           conflicts=totals[0], attempts=totals[1], lock_errors=totals[2], rows=count, position_span=span)
    store.close()


def s_append_concurrently(args):
    n, m, tasks = 1000, args.events // 1000, 16
    store = Store(args.db, args.sync, fresh=True)
    ids = [stream(i) for i in range(n)]
    errors = []

    def task(t):
        try:
            mine = [i for i in range(n) if i % tasks == t]
            for r in range(m):
                for i in mine:
                    store.recorder.insert_events([StoredEvent(ids[i], r + 1, TOPIC, payload(r * n + i))])
        except Exception as error:  # reported as an unverified run
            errors.append(error)

    threads = [threading.Thread(target=task, args=(t,)) for t in range(tasks)]
    with Timer() as timer:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    report(args, store, "S1c", n * m, timer, n * m, "append", not errors and store.verify(n * m, n, m),
           tasks=tasks, errors=[str(e) for e in errors[:3]])
    store.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", required=True, choices=["S1", "S1c", "S2", "S3", "S4a", "S4b", "S5", "S6"])
    parser.add_argument("--db", required=True, help="a SQLite file path, or a postgres:// URL")
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--sync", default="NORMAL", choices=["NORMAL", "FULL"])
    args = parser.parse_args()
    defaults = {"S1": 100_000, "S1c": 100_000, "S2": 100_000, "S3": 1_000_000, "S4a": 100_000, "S4b": 100_000, "S5": 1_000_000, "S6": 10_000}
    args.events = args.events or defaults[args.scenario]
    {
        "S1": lambda: s_append(args, "S1", 1), "S2": lambda: s_append(args, "S2", 10), "S1c": lambda: s_append_concurrently(args),
        "S3": lambda: s_import(args), "S4a": lambda: s_rehydrate(args, "S4a", 1000), "S4b": lambda: s_rehydrate(args, "S4b", 10),
        "S5": lambda: s_projection(args), "S6": lambda: s_concurrent(args),
    }[args.scenario]()


if __name__ == "__main__":
    main()
