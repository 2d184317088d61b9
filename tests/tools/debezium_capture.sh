#!/bin/sh
# tests/tools/debezium_capture.sh [BUILD_DIR]: regenerates
# tests/data/pg/debezium/{stream,snapshot,changes}.jsonl, Debezium's own
# change events for public.alltypes (tests/data/pg/alltypes.sql), which
# the pg source's tests compare against without running a JVM.
#
# Needs java 17 and mvn (the capture program, bench/debezium/, is built
# into BUILD_DIR/debezium by bench/debezium/build.sh, default build/) and
# PostgreSQL 15's server binaries (MESH_PG_BIN).  One throwaway server
# (bench/pg_server.sh, wal_level=logical, 127.0.0.1, a free port), then:
#
#  1. stream.jsonl: the schema part of alltypes.sql, a publication for
#     public.alltypes and the slot dbz_stream (pgoutput) are created
#     first, then the three rows are inserted, then Debezium starts with
#     snapshot.mode=no_data and streams them from the slot: three "c".
#  2. snapshot.jsonl: a second connector, slot dbz_snap created by
#     Debezium itself, snapshot.mode=initial: the same rows as three "r".
#  3. changes.jsonl: the stream connector again (its offsets kept), while
#     row 1 gets a large text (stored out of line, TOAST), is updated
#     again without touching it, row 2 is deleted, and the same on
#     public.toasty, a table with the default replica identity: "u", "d"
#     and the tombstone after each delete.
#
# Every Debezium setting not named here is its default (see
# tests/data/pg/debezium/README.md).  The output differs between runs only
# in ts_ms/ts_us/ts_ns, txId, lsn and the source's sequence field.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$TOP/build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
# DEBEZIUM_CAPTURE_OUT: write elsewhere (make bench's live differential)
OUT=${DEBEZIUM_CAPTURE_OUT:-$TOP/tests/data/pg/debezium}
mkdir -p "$OUT" || exit 1
SQL="$TOP/tests/data/pg/alltypes.sql"

say() { echo "debezium_capture: $*" >&2; }

JAR=$("$TOP/bench/debezium/build.sh" "$BUILD") || exit 1
CP="$JAR:$BUILD/debezium/lib/*"

. "$TOP/bench/pg_server.sh"
pg_start || exit 1
STATE="$PG_TMP/dbz"
mkdir -p "$STATE/stream" "$STATE/snap"

# alltypes.sql: everything before the first INSERT is the schema.
awk '/^INSERT INTO/ { exit } { print }' "$SQL" >"$PG_TMP/schema.sql"
awk '/^INSERT INTO/ { on = 1 } on { print }' "$SQL" >"$PG_TMP/rows.sql"

dbz() {
    # dbz SLOT STATE_DIR SNAPSHOT_MODE OUT_FILE MAX_EVENTS
    java -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$CP" \
        meshwork.bench.DebeziumCapture --host 127.0.0.1 --port "$PG_PORT" \
        --db "$PG_DB" --user postgres --tables public.alltypes,public.toasty \
        --slot "$1" --publication dbz_pub --state-dir "$2" \
        --snapshot-mode "$3" --out "$4" --max-events "$5" --idle-ms 5000 \
        --start-timeout-ms 60000
}

pg_sql -f "$PG_TMP/schema.sql" >/dev/null || exit 1
pg_sql "CREATE TABLE public.toasty (id int PRIMARY KEY, n int, big text)" \
    >/dev/null || exit 1
pg_sql "CREATE PUBLICATION dbz_pub FOR TABLE public.alltypes, public.toasty" \
    >/dev/null || exit 1
pg_sql "SELECT pg_create_logical_replication_slot('dbz_stream', 'pgoutput')" \
    >/dev/null || exit 1
pg_sql -f "$PG_TMP/rows.sql" >/dev/null || exit 1

say "stream: 3 inserts, snapshot.mode=no_data"
dbz dbz_stream "$STATE/stream" no_data "$PG_TMP/stream.jsonl" 3 || exit 1

say "snapshot: snapshot.mode=initial"
dbz dbz_snap "$STATE/snap" initial "$PG_TMP/snapshot.jsonl" 3 || exit 1

say "changes: updates (TOAST) and deletes, snapshot.mode=no_data"
# A value pglz cannot shrink below the TOAST threshold: 16 KiB of md5 hex.
BIG="(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 512) i)"
pg_sql "BEGIN;
UPDATE public.alltypes SET c_text = $BIG WHERE id = 1;
COMMIT;
UPDATE public.alltypes SET c_int2 = 11 WHERE id = 1;
DELETE FROM public.alltypes WHERE id = 2;
INSERT INTO public.toasty VALUES (1, 1, $BIG);
UPDATE public.toasty SET n = 2 WHERE id = 1;
DELETE FROM public.toasty WHERE id = 1;" >/dev/null || exit 1
# 2 + 1 (+ tombstone) on alltypes, 1 + 1 + 1 (+ tombstone) on toasty
dbz dbz_stream "$STATE/stream" no_data "$PG_TMP/changes.jsonl" 8 || exit 1

for f in stream snapshot changes; do
    n=$(wc -l <"$PG_TMP/$f.jsonl")
    say "$f.jsonl: $n events"
    cp "$PG_TMP/$f.jsonl" "$OUT/$f.jsonl" || exit 1
done
pg_stop
trap - EXIT
python3 "$TOP/tests/tools/debezium_mapping.py" "$OUT" || exit 1
say "wrote $OUT/{stream,snapshot,changes}.jsonl and MAPPING.md"
