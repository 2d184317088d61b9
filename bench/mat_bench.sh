#!/bin/sh
# bench/mat_bench.sh BUILD_DIR: the materializer's sinks against their raw
# limits (part of "make bench").  Uses BUILD_DIR/bench/mat_sqlite_bench and
# BUILD_DIR/bench/mat_pg_bench (the release build under `make bench`) and
# PostgreSQL 15's server binaries (MESH_PG_BIN, default
# /usr/lib/postgresql/15/bin); installs nothing.
#
#  1. A throwaway PostgreSQL: initdb into a fresh temporary directory (as
#     the postgres user when run as root: PostgreSQL refuses root), started
#     with no TCP listener at all, its unix socket inside that directory
#     (never the system's socket, never a port), fsync on, settings as
#     initdb leaves them.  It is always stopped (SIGINT: fast shutdown,
#     SIGKILL after 30 s) and the directory removed on exit, also on
#     failure or Ctrl-C.
#  2. mat_sqlite_bench on a database file in that directory: the SQLite
#     sink vs a raw prepared upsert of the same rows.
#  3. mat_e2e_bench.py (when BUILD_DIR/bin has mesh-broker, mesh-registry
#     and mesh-materializer and the test venv exists): mesh-materializer
#     end to end, pre-produced change events from a private mesh-broker
#     into SQLite, beside the sink-only figure of step 2.
#  4. mat_pg_bench against the server: the PostgreSQL sink's inserts vs a
#     raw COPY of the same rows into an empty table, its updates vs the
#     fastest of PostgreSQL's bulk update paths (COPY into a temporary
#     table, then INSERT ... ON CONFLICT, MERGE or UPDATE ... FROM).
#  5. A summary: each sink figure beside its raw limit, the ratio and the
#     goal (SQLite >= 0.7; PostgreSQL inserts >= 0.8, updates >= 1.0).
# MAT_BENCH_ROWS sets the rows per phase of every step (defaults:
# 1,000,000 for SQLite, 300,000 end to end, 500,000 for PostgreSQL, about
# two seconds or more per timed window), e.g. 20000 for a smoke run (not
# for figures).
# Exit status: 0 when every step ran and every check passed (goals missed
# are reported, not failures), 1 otherwise.
set -u

BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
VENV_PY="$TOP/build/venv/bin/python"
PG_BIN=${MESH_PG_BIN:-/usr/lib/postgresql/15/bin}
ROWS=${MAT_BENCH_ROWS:-}
WAIT_S=30
TMP=
PG_PID=

say() { echo "mat_bench: $*" >&2; }

stop_pg() {
    [ -n "$PG_PID" ] || return 0
    if kill -0 "$PG_PID" 2>/dev/null; then
        kill -INT "$PG_PID" 2>/dev/null
        i=0
        while kill -0 "$PG_PID" 2>/dev/null && [ "$i" -lt $((WAIT_S * 10)) ]
        do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$PG_PID" 2>/dev/null
    fi
    wait "$PG_PID" 2>/dev/null
    PG_PID=
}

cleanup() {
    stop_pg
    [ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for bin in "$BUILD/bench/mat_sqlite_bench" "$BUILD/bench/mat_pg_bench" \
    "$PG_BIN/initdb" "$PG_BIN/postgres" "$PG_BIN/pg_isready"; do
    if [ ! -x "$bin" ]; then
        say "$bin missing: run 'make bench' (or 'make deps' for PostgreSQL)"
        exit 1
    fi
done

# AS_PG: a command prefix running the server binaries as the postgres user
# when we are root.  setpriv execs (no fork, unlike su/runuser), so in
# `(exec $AS_PG postgres ...) &` the PID in $! ends up being the postmaster
# itself, which the cleanup signals.
AS_PG=
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        say "running as root needs the 'postgres' user (make deps)"
        exit 1
    fi
    AS_PG="setpriv --reuid=postgres --regid=postgres --clear-groups --"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-matbench.XXXXXX") || exit 1
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$TMP"
SOCK="$TMP"
DATA="$TMP/pgdata"
LOG="$TMP/postgres.log"

# Server binaries run from inside the directory they own (the caller's
# cwd may be closed to the postgres user).
if ! (cd "$TMP" && exec $AS_PG "$PG_BIN/initdb" -D "$DATA" -U postgres \
        --auth=trust --encoding=UTF8 --locale=C --no-instructions) \
        >"$TMP/initdb.log" 2>&1; then
    say "initdb failed:"
    cat "$TMP/initdb.log" >&2
    exit 1
fi
(cd "$TMP" && exec $AS_PG "$PG_BIN/postgres" -D "$DATA" \
    -c listen_addresses= -c "unix_socket_directories=$SOCK" -c fsync=on \
    -c synchronous_commit=on -c logging_collector=off \
    -c log_min_messages=warning) >>"$LOG" 2>&1 </dev/null &
PG_PID=$!

i=0
until "$PG_BIN/pg_isready" -q -h "$SOCK" -d postgres -U postgres; do
    i=$((i + 1))
    if [ "$i" -gt $((WAIT_S * 10)) ] || ! kill -0 "$PG_PID" 2>/dev/null
    then
        say "postgres did not start within ${WAIT_S}s:"
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.1
done
CONNINFO="host=$SOCK dbname=postgres user=postgres"

failed=0
RESULTS="$TMP/results"
: >"$RESULTS"

# run_bench NAME CMD ARGS...: runs CMD, its output shown as it comes and
# kept in RESULTS (POSIX sh has no pipefail: the status goes via a file).
run_bench() {
    name=$1
    shift
    { "$@"; echo $? >"$TMP/status"; } | tee -a "$RESULTS"
    if [ "$(cat "$TMP/status")" != 0 ]; then
        say "$name FAILED"
        failed=1
    fi
}

echo "== SQLite sink vs raw prepared upsert"
run_bench mat_sqlite_bench "$BUILD/bench/mat_sqlite_bench" \
    "$TMP/sqlite-bench.db" ${ROWS:+"$ROWS"}
rm -f "$TMP"/sqlite-bench.db*

echo
echo "== mesh-materializer end to end into SQLite (Kafka to committed rows)"
if [ -x "$VENV_PY" ] && [ -x "$BUILD/bin/mesh-broker" ] &&
    [ -x "$BUILD/bin/mesh-registry" ] && [ -x "$BUILD/bin/mesh-materializer" ]
then
    SINK_RATE=$(awk '$1 == "result" && $2 == "sqlite" && $3 == "insert" {
        print $4 }' "$RESULTS")
    run_bench mat_e2e_bench "$VENV_PY" "$TOP/bench/mat_e2e_bench.py" \
        "$BUILD" "${ROWS:-300000}" "${SINK_RATE:-0}"
else
    echo "skipped: needs $BUILD/bin/mesh-{broker,registry,materializer}" \
        "and $VENV_PY (make deps)"
fi

echo
echo "== PostgreSQL sink vs raw COPY / the best raw update (PostgreSQL 15, unix socket)"
run_bench mat_pg_bench "$BUILD/bench/mat_pg_bench" "$CONNINFO" \
    ${ROWS:+"$ROWS"}
if ! kill -0 "$PG_PID" 2>/dev/null; then
    say "postgres died during the run:"
    tail -n 20 "$LOG" >&2
    failed=1
fi

# Each benchmark prints "result SINK PHASE SINK_ROWS_S RAW_ROWS_S RAW_NAME
# GOAL" lines; GOAL is the minimum ratio aimed at, "-" for a limit shown for
# information only.
echo
echo "== materializer sinks: rows/s beside the raw limit (one run)"
awk '
    $1 == "result" {
        r = $5 > 0 ? $4 / $5 : 0
        met = r >= $7 + 0 ? "met" : "MISSED"
        verdict = $7 == "-" ? "(no goal)" : sprintf("goal >= %s %s", $7, met)
        printf "%-10s %-6s %9.0f rows/s  %-11s %9.0f rows/s  ratio %.2f  %s\n",
               $2, $3, $4, $6, $5, r, verdict
    }' "$RESULTS"
# the summary rows (bench/run.sh prints the table at the end)
awk '$1 == "result" {
        printf "materializer %s %s|%.0f rows/s|%s %.0f rows/s|%.2f|%s\n",
               $2, $3, $4, $6, $5, ($5 > 0 ? $4 / $5 : 0),
               ($7 == "-" ? "-" : ">= " $7)
    }' "$RESULTS" >>"${BENCH_SUMMARY:-/dev/null}"
exit "$failed"
