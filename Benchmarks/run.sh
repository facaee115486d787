#!/usr/bin/env bash
# Runs the event-store workload (WORKLOAD.md v1) for Chronicle (Swift, release build) and for the raw
# SQLite C reference, each scenario RUNS times (default 3) on a fresh database file, and prints the
# medians with min/max and the Chronicle / C ratio.
#
#   Benchmarks/run.sh                         # everything (NORMAL, then the scaled-down FULL runs)
#   SCENARIOS="S1 S2" SYNCS=NORMAL RUNS=1 Benchmarks/run.sh
#   BENCH_DIR=/var/tmp Benchmarks/run.sh      # where the database files live (local disk)
#   CHRONICLE_POSTGRES_URL=postgres://… Benchmarks/run.sh   # adds S5r-pg (S5r on PostgreSQL) after S5r
#                                             # (eval "$(bash .ci/postgres.sh)" starts a local server)
#   CONDITIONS="quiet contended" BUSY=2 Benchmarks/run.sh   # each scenario quiet, then with BUSY busy-loop
#                                             # processes (default: one per core) running through it
#   PEER_PYTHON=.build/peer/bin/python Benchmarks/run.sh   # adds the Python peer eventsourcing 9.5.6
#                                             # (Benchmarks/peer/eventsourcing_peer.py) on the scenarios
#                                             # it runs; that python needs eventsourcing==9.5.6
#   BASELINE_BIN=/path/to/old/ChronicleBenchmarks Benchmarks/run.sh   # a release build of another
#                                             # commit (before a change) runs in the same loop, reported
#                                             # as chronicle-baseline, with Chronicle's ratio to it
#   SWIFT_BIN=/path/to/ChronicleBenchmarks Benchmarks/run.sh   # measure this binary; skip the build
#   BACKEND=postgres OUT=bench-out-pg PEER_PYTHON=… Benchmarks/run.sh   # every scenario on the
#                                             # PostgreSQL server of CHRONICLE_POSTGRES_URL (each in a
#                                             # fresh schema), beside the peer; no C program (SQLite only)
#   EVENTS_S1=5000 EVENTS_S3=100000 Benchmarks/run.sh   # a scenario's event count, instead of the
#                                             # workload's (say so next to the figures)
#   C_VARIANTS="store minimal time" Benchmarks/run.sh   # the C programs run beside Chronicle: the
#                                             # store-shaped reference (store), the minimal schema
#                                             # (minimal: one table, one unique index), the store's
#                                             # schema with time-ordered event ids (time)
#
# Results: bench-out/results.jsonl (one JSON line per run, with the 1-minute load average added as
# "load1"), bench-out/summary.md (the table). Both are gitignored.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/bench-out}
RUNS=${RUNS:-3}
SYNCS=${SYNCS:-"NORMAL FULL"}
SCENARIOS=${SCENARIOS:-"S1 S1c S2 S3 S4a S4b S5 S5r S5r-pg S6 LAT RSS RELAY1 RELAY16"}
BENCH_DIR=${BENCH_DIR:-/tmp}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
CONDITIONS=${CONDITIONS:-quiet}
BUSY=${BUSY:-$(nproc)}
C_VARIANTS=${C_VARIANTS:-"store minimal"}
PEER_PYTHON=${PEER_PYTHON:-}
BASELINE_BIN=${BASELINE_BIN:-}
BACKEND=${BACKEND:-sqlite}
case "$BACKEND" in
    sqlite) ;;
    postgres) [ -n "${CHRONICLE_POSTGRES_URL:-}" ] || { echo "BACKEND=postgres needs CHRONICLE_POSTGRES_URL (eval \"\$(bash .ci/postgres.sh)\")" >&2; exit 2; } ;;
    *) echo "unknown BACKEND $BACKEND (sqlite, postgres)" >&2; exit 2 ;;
esac

# Event counts: the workload's own (S3 and S5 at 1,000,000; SCALED_EVENTS=200000 scales them down
# where one run would exceed ~2 minutes); FULL sync scaled down (one fsync per commit).
# EVENTS_<scenario>=N overrides a scenario's count (state it next to the figures).
events_for() { # scenario sync
    local override="EVENTS_$1"
    if [ -n "${!override:-}" ]; then echo "${!override}"; return; fi
    case "$1/$2" in
        S1/NORMAL | S1c/NORMAL | S2/NORMAL | S4a/* | S4b/*) echo 100000 ;;
        S3/* | S5/* | S5r/* | S5r-pg/*) echo "${SCALED_EVENTS:-1000000}" ;;
        S6/NORMAL) echo 10000 ;;
        LAT/*) echo 5000 ;;
        RELAY1/* | RELAY16/*) echo 20000 ;;
        RSS/*) echo 1000000 ;;
        S1/FULL | S1c/FULL | S2/FULL) echo 10000 ;;
        S6/FULL) echo 2000 ;;
    esac
}
# Scenarios that only the Swift runner implements, and those run once (costly setup).
swift_only() { case "$1" in S1c | S5r | S5r-pg | LAT | RSS | RELAY1 | RELAY16) return 0 ;; *) return 1 ;; esac; }
runs_for() { case "$1" in RSS) echo 1 ;; *) echo "$RUNS" ;; esac; }
# FULL sync is measured for the write scenarios only (reads do not commit).
full_applies() { case "$1" in S1 | S1c | S2 | S6 | LAT) return 0 ;; *) return 1 ;; esac; }

mkdir -p "$OUT"
if [ -z "${SWIFT_BIN:-}" ]; then
    echo "== building (release) ==" >&2
    # The benchmark is a package of its own (Benchmarks/Package.swift, depending on the root by path).
    swift build -c release --package-path "$ROOT/Benchmarks" >&2
    SWIFT_BIN="$ROOT/Benchmarks/.build/release/ChronicleBenchmarks"
fi
C_BIN="$OUT/chronicle_ref"
cc -O2 -Wall -Wextra -o "$C_BIN" "$ROOT/Benchmarks/reference/chronicle_ref.c" -lsqlite3
PEER_BIN="$OUT/eventsourcing_peer"
if [ -n "$PEER_PYTHON" ]; then
    "$PEER_PYTHON" -c 'import eventsourcing' || { echo "PEER_PYTHON=$PEER_PYTHON has no eventsourcing module" >&2; exit 2; }
    printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$PEER_PYTHON" "$ROOT/Benchmarks/peer/eventsourcing_peer.py" >"$PEER_BIN"
    chmod +x "$PEER_BIN"
fi
# The scenarios the peer runs (the workload's, and S1c).
peer_runs() { [ -n "$PEER_PYTHON" ] && case "$1" in S1 | S1c | S2 | S3 | S4a | S4b | S5 | S6) return 0 ;; *) return 1 ;; esac; }

WORK=$(mktemp -d "$BENCH_DIR/chronicle-bench.XXXXXX")
busy_pids=()
stop_busy() {
    for pid in "${busy_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${busy_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    busy_pids=()
}
start_busy() { # n: busy-loop processes competing for the CPU with the benchmark
    for ((i = 0; i < $1; i++)); do
        bash -c 'while :; do :; done' &
        busy_pids+=("$!")
    done
}
trap 'stop_busy; rm -rf "$WORK"' EXIT
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
    echo "sqlite: $(sqlite3 --version 2>/dev/null | cut -d' ' -f1) (system libsqlite3)"
    echo "swift: $(swift --version 2>&1 | head -1)"
    echo "cc: $(cc --version | head -1)"
    echo "chronicle: $SWIFT_BIN${BASELINE_BIN:+; baseline: $BASELINE_BIN}"
    echo "db dir: $WORK ($(df -T "$WORK" | awk 'NR==2 {print $2}'))"
    echo "backend: $BACKEND"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

run_one() { # impl binary scenario sync events [extra arguments]
    local impl=$1 bin=$2 scenario=$3 sync=$4 events=$5
    shift 5
    local db="$WORK/$impl-$scenario-$sync.db"
    if [ "$scenario" = S5r-pg ] || [ "$BACKEND" = postgres ]; then db=$CHRONICLE_POSTGRES_URL; fi
    rm -f "$db" "$db-wal" "$db-shm"
    local load line
    load=$(cut -d' ' -f1 /proc/loadavg)
    if line=$(timeout "$RUN_TIMEOUT" "$bin" --scenario "$scenario" --db "$db" --events "$events" --sync "$sync" "$@" 2>>"$OUT/stderr.log" | tail -n 1) && [ -n "$line" ]; then
        # The baseline is the same runner at another commit: it reports itself as chronicle.
        if [ "$impl" = chronicle-baseline ]; then line=${line/\"impl\":\"chronicle\"/\"impl\":\"chronicle-baseline\"}; fi
        echo "{\"load1\":$load,\"condition\":\"$condition\",${line#\{}" | tee -a "$RESULTS"
    else
        echo "{\"load1\":$load,\"condition\":\"$condition\",\"impl\":\"$impl\",\"scenario\":\"$scenario\",\"sync\":\"$sync\",\"events\":$events,\"failed\":true}" | tee -a "$RESULTS"
    fi
    rm -f "$db" "$db-wal" "$db-shm"
}

c_arguments() { # variant: the C program's arguments
    case "$1" in
        store) echo "" ;;
        minimal) echo "--schema minimal" ;;
        time) echo "--ids time" ;;
        *) echo "unknown C variant $1 (store, minimal, time)" >&2; exit 2 ;;
    esac
}

c_impl() { # variant: the name the C program reports
    case "$1" in store) echo sqlite-c ;; minimal) echo sqlite-c-min ;; time) echo sqlite-c-time ;; esac
}

for condition in $CONDITIONS; do
    case "$condition" in
        quiet) ;;
        contended) start_busy "$BUSY"; echo "== contended: $BUSY busy-loop processes ==" >&2 ;;
        *) echo "unknown condition $condition (quiet, contended)" >&2; exit 2 ;;
    esac
    for sync in $SYNCS; do
        for scenario in $SCENARIOS; do
            if [ "$sync" = FULL ] && ! full_applies "$scenario"; then continue; fi
            if [ "$scenario" = S5r-pg ] && [ -z "${CHRONICLE_POSTGRES_URL:-}" ]; then
                echo "== S5r-pg skipped: set CHRONICLE_POSTGRES_URL ==" >&2
                continue
            fi
            events=$(events_for "$scenario" "$sync")
            echo "== $scenario $sync $condition ($events events) ==" >&2
            for _ in $(seq "$(runs_for "$scenario")"); do
                # Alternating in one loop, so a change of load hits every implementation alike.
                if ! swift_only "$scenario" && [ "$BACKEND" = sqlite ]; then
                    for variant in $C_VARIANTS; do
                        # shellcheck disable=SC2046 # the variant's arguments are words
                        run_one "$(c_impl "$variant")" "$C_BIN" "$scenario" "$sync" "$events" $(c_arguments "$variant")
                    done
                fi
                if peer_runs "$scenario"; then run_one eventsourcing "$PEER_BIN" "$scenario" "$sync" "$events"; fi
                if [ -n "$BASELINE_BIN" ]; then run_one chronicle-baseline "$BASELINE_BIN" "$scenario" "$sync" "$events"; fi
                run_one chronicle "$SWIFT_BIN" "$scenario" "$sync" "$events"
            done
        done
    done
    stop_busy
done

python3 "$ROOT/Benchmarks/summarize.py" "$RESULTS" | tee "$OUT/summary.md"
