#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for Chronicle's tests and prints the environment for them.
#
#   eval "$(.ci/postgres.sh)"     # or: source <(.ci/postgres.sh)
#   swift test
#
# Idempotent: a second run reuses the cluster (and starts it again if it stopped). Runs as root
# on a fresh Debian 12 machine (installs Debian's `postgresql` package when no server is found)
# or as an ordinary user who already has PostgreSQL installed. The cluster belongs to a non-root
# user (`postgres`, created if missing, when run as root), listens on 127.0.0.1 only, and is tuned
# for tests: fsync off, so a machine crash may lose it (a process crash does not).
#
# Only the `export` lines go to stdout; progress goes to stderr.
#
# Settings (environment):
#   CHRONICLE_PG_PORT   first port to try (default 54329; the next free one is taken if busy)
#   CHRONICLE_PG_BASE   where the cluster lives (default /var/lib/chronicle-postgres as root,
#                       ~/.cache/chronicle-postgres otherwise)
#   CHRONICLE_PG_USER / CHRONICLE_PG_PASSWORD / CHRONICLE_PG_DATABASE (default chronicle /
#                       chronicle / chronicle_test)
#   CHRONICLE_PG_STOP=1 stop the cluster instead (prints nothing)
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

PORT_START="${CHRONICLE_PG_PORT:-54329}"
ROLE="${CHRONICLE_PG_USER:-chronicle}"
PASSWORD="${CHRONICLE_PG_PASSWORD:-chronicle}"
DATABASE="${CHRONICLE_PG_DATABASE:-chronicle_test}"
[[ "$ROLE" =~ ^[a-z_][a-z0-9_]*$ ]] || die "CHRONICLE_PG_USER must be a plain lower-case identifier"
[[ "$DATABASE" =~ ^[a-z_][a-z0-9_]*$ ]] || die "CHRONICLE_PG_DATABASE must be a plain lower-case identifier"
[[ "$PASSWORD" != *"'"* ]] || die "CHRONICLE_PG_PASSWORD must not contain a quote"

if [[ $EUID -eq 0 ]]; then
    OWNER=postgres
    BASE="${CHRONICLE_PG_BASE:-/var/lib/chronicle-postgres}"
else
    OWNER="$(id -un)"
    BASE="${CHRONICLE_PG_BASE:-${HOME}/.cache/chronicle-postgres}"
fi
DATA="$BASE/data"
SOCKETS="$BASE/run"
LOGFILE="$BASE/server.log"

find_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then echo "$dir"; return; fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return
    fi
}

BIN="$(find_bin)"
if [[ -z "$BIN" ]]; then
    [[ $EUID -eq 0 ]] || die "PostgreSQL is not installed; run this script as root to install it"
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    BIN="$(find_bin)"
    [[ -n "$BIN" ]] || die "postgresql installed but initdb was not found"
fi

# Runs a command as the cluster's owner.
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        if command -v runuser >/dev/null 2>&1; then runuser -u "$OWNER" -- "$@"
        else su -s /bin/sh "$OWNER" -c "$(printf '%q ' "$@")"; fi
    else
        "$@"
    fi
}

if [[ $EUID -eq 0 ]] && ! id -u "$OWNER" >/dev/null 2>&1; then
    log "creating system user $OWNER"
    useradd --system --home-dir "$BASE" --shell /bin/bash "$OWNER"
fi

mkdir -p "$BASE"
mkdir -p "$SOCKETS"
if [[ $EUID -eq 0 ]]; then chown "$OWNER": "$BASE" "$SOCKETS"; fi
chmod 700 "$BASE"

if [[ "${CHRONICLE_PG_STOP:-0}" == 1 ]]; then
    if [[ -f "$DATA/PG_VERSION" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
    fi
    exit 0
fi

if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "initialising a cluster in $DATA (owner $OWNER)"
    rm -rf "$DATA"
    pwfile="$(mktemp)"
    printf '%s\n' "$(head -c 18 /dev/urandom | base64)" >"$pwfile"
    if [[ $EUID -eq 0 ]]; then chown "$OWNER" "$pwfile"; fi
    # Superuser: peer/trust on the private socket only; TCP clients use passwords.
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >&2 \
        || as_owner "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" -E UTF8 --locale=C \
            --auth-local=trust --auth-host=scram-sha-256 >&2
    rm -f "$pwfile"
    as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<CONF

# Chronicle test cluster (written by .ci/postgres.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCKETS'
max_connections = 1000
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
fi

running_port() {
    # Line 4 of postmaster.pid is the port of a running server.
    if as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        sed -n 4p "$DATA/postmaster.pid"
    fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PORT="$(running_port)"
if [[ -z "$PORT" ]]; then
    PORT="$PORT_START"
    while port_busy "$PORT"; do
        PORT=$((PORT + 1))
        (( PORT < PORT_START + 100 )) || die "no free port in $PORT_START..$PORT"
    done
    log "starting PostgreSQL ($BIN) on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -o "-p $PORT" -t 60 -w start >&2 \
        || { tail -n 30 "$LOGFILE" >&2 || true; die "the server did not start"; }
else
    log "reusing the running cluster on port $PORT"
fi

# Wait until it accepts connections (pg_ctl -w already waits; this covers a server still recovering).
for _ in $(seq 1 120); do
    if as_owner "$BIN/pg_isready" -q -h "$SOCKETS" -p "$PORT"; then break; fi
    sleep 0.5
done
as_owner "$BIN/pg_isready" -q -h "$SOCKETS" -p "$PORT" || die "the server is not ready after 60 s"

psql_admin() { as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKETS" -p "$PORT" -U postgres -d postgres "$@"; }

psql_admin >&2 <<SQL
SET client_min_messages = warning;
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
        CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
    ELSE
        ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
    END IF;
END
\$\$;
-- Tests terminate their own listeners' backends (pg_terminate_backend) to prove recovery.
GRANT pg_signal_backend TO $ROLE;
SQL
if [[ "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]]; then
    psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE" >&2
fi

log "ready: postgres://$ROLE:***@127.0.0.1:$PORT/$DATABASE"
echo "export CHRONICLE_POSTGRES_URL=postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
echo "export CHRONICLE_POSTGRES_BIN=$BIN"
