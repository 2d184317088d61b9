#!/bin/sh
# bench/pg_cdc_bench.sh BUILD_DIR: PostgreSQL change data capture, the pg
# source of mesh-producer against pg_recvlogical (the limit) and Debezium's
# PostgreSQL connector (part of "make bench", see bench/README.md).
#
#  1. A throwaway PostgreSQL 15 (bench/pg_server.sh: wal_level=logical,
#     127.0.0.1 on a free port, socket in a private directory, removed on
#     exit), three tables, one publication, and one pgoutput slot per
#     reader, all created before the workload.
#  2. The workload, once: PG_CDC_CHANGES changes (default 200,000) in
#     transactions of 1,000 (400 inserts into cdc_orders, 300 into
#     cdc_events, 100 updates of cdc_counters, 150 updates of the new
#     orders, 50 deletes of the previous batch's orders).
#  3. Each reader in turn (never two at once: 2 cores), from its own slot,
#     reads every change of the workload:
#     a. pg_recvlogical, pgoutput protocol 1, to a file, up to the WAL end
#        of the workload (--endpos); the file is parsed to check the count;
#     b. Debezium 3.6.1.Final's embedded engine (bench/debezium/, built into
#        BUILD_DIR/debezium by bench/debezium/build.sh; snapshot.mode=no_data,
#        tombstones off so that events = changes, JSON with schemas to
#        /dev/null), stopped when it has them all;
#     c. mesh-producer source=pg: run_mesh_pg, when BUILD_DIR/bin/
#        mesh-producer --help lists pg under `source`; else "not built".
#  4. A table: changes, window, changes/s, ratio to pg_recvlogical, peak RSS.
#
# Windows: pg_recvlogical's is its whole run (start to exit at --endpos;
# it starts and connects in under 10 ms).  Debezium's
# runs from the first change event it received to the last one: JVM
# start-up, connection and slot set-up are outside it.  Peak RSS is the
# process's maximum resident set (GNU time's %M, for Debezium also its
# own VmHWM); the note gives each one's CPU seconds, user + system, over
# its whole run (start-up included).  DEBEZIUM_JAVA_OPTS goes to the JVM (default none: the
# JVM's own heap sizing, a quarter of the machine's memory at most), e.g.
# "-Xmx512m" to see Debezium with a capped heap; DEBEZIUM_ARGS goes to
# the capture program, e.g. "--set value.converter.schemas.enable=false";
# PG_CDC_NO_DEBEZIUM=1 leaves Debezium out (profiling runs, see
# bench/pg_mesh_run.py's PG_MESH_PERF).  Needs java 17 and mvn for Debezium (the row says why it was
# skipped otherwise) and python3.  Exit status 1 when a reader failed or
# missed changes.
set -u

BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
TOP=$(cd "$(dirname "$0")/.." && pwd)
CHANGES=${PG_CDC_CHANGES:-200000}
BATCH=1000
TIME=/usr/bin/time

say() { echo "pg_cdc_bench: $*" >&2; }

if [ ! -x "$TIME" ]; then
    say "$TIME missing (apt-get install time)"
    exit 1
fi

. "$TOP/bench/pg_server.sh"
pg_start || exit 1
T="$PG_TMP/bench"
mkdir -p "$T"
failed=0

# -- schema, slots, workload --------------------------------------------
pg_sql "CREATE TABLE cdc_orders (id bigint PRIMARY KEY, customer int NOT NULL,
    amount numeric(12, 2), status text, note varchar(64),
    created timestamptz NOT NULL);
CREATE TABLE cdc_events (id bigint PRIMARY KEY, kind text, payload jsonb,
    at timestamptz);
CREATE TABLE cdc_counters (id int PRIMARY KEY, n bigint NOT NULL,
    updated timestamp);
INSERT INTO cdc_counters SELECT g, 0, NULL FROM generate_series(1, 1000) g;
CREATE PUBLICATION cdc_pub FOR TABLE cdc_orders, cdc_events, cdc_counters;" \
    >/dev/null || exit 1
for slot in cdc_recvlogical cdc_debezium cdc_mesh; do
    pg_sql "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" \
        >/dev/null || exit 1
done

BATCHES=$(( (CHANGES + BATCH - 1) / BATCH ))
awk -v batches="$BATCHES" -v q="'" 'BEGIN {
    for (b = 0; b < batches; b++) {
        o = b * 400; e = b * 300
        print "BEGIN;"
        printf "INSERT INTO cdc_orders SELECT g, g %% 1000, (g %% 100000) / 100.0, %snew%s, %sorder %s || g, now() FROM generate_series(%d, %d) g;\n", q, q, q, q, o + 1, o + 400
        printf "INSERT INTO cdc_events SELECT g, %skind%s || (g %% 7), jsonb_build_object(%sid%s, g, %stag%s, md5(g::text)), now() FROM generate_series(%d, %d) g;\n", q, q, q, q, q, q, e + 1, e + 300
        printf "UPDATE cdc_counters SET n = n + 1, updated = now()::timestamp WHERE id %% 10 = %d;\n", b % 10
        printf "UPDATE cdc_orders SET status = %spaid%s, amount = amount + 1 WHERE id BETWEEN %d AND %d;\n", q, q, o + 1, o + 150
        if (b > 0)
            printf "DELETE FROM cdc_orders WHERE id BETWEEN %d AND %d;\n", o - 49, o
        print "COMMIT;"
    }
}' >"$T/workload.sql"
EXPECTED=$((BATCHES * BATCH - 50))
say "workload: $EXPECTED changes in $BATCHES transactions"
w0=$(date +%s.%N)
pg_sql -f "$T/workload.sql" >/dev/null || exit 1
w1=$(date +%s.%N)
END_LSN=$(pg_sql "SELECT pg_current_wal_insert_lsn()") || exit 1
WAL_MB=$(pg_sql "SELECT round(pg_wal_lsn_diff('$END_LSN',
    (SELECT restart_lsn FROM pg_replication_slots
     WHERE slot_name = 'cdc_recvlogical')) / 1e6, 1)")
say "workload written in $(echo "$w0 $w1" | awk '{ printf "%.1f", $2 - $1 }') s, $WAL_MB MB of WAL"

RESULTS="$T/results"
: >"$RESULTS"
# row NAME CHANGES WINDOW_S RSS_KB NOTE
row() { echo "$1|$2|$3|$4|$5" >>"$RESULTS"; }
# GNU time's output, "-f '%M %U %S'": peak RSS in KB, and the CPU seconds
# (user + system) of the whole run, start-up included.
rss_of() { tail -n 1 "$1" | awk '{ print $1 }'; }
cpu_of() { tail -n 1 "$1" | awk '{ printf "CPU %.1f s", $2 + $3 }'; }

# -- a. pg_recvlogical ----------------------------------------------------
say "pg_recvlogical (pgoutput, proto_version=1) to a file, --endpos $END_LSN"
r0=$(date +%s.%N)
$TIME -f "%M %U %S" -o "$T/recv.time" "$PG_BIN/pg_recvlogical" -h 127.0.0.1 \
    -p "$PG_PORT" -U postgres -d "$PG_DB" --slot cdc_recvlogical --start \
    --no-loop -F 0 -o proto_version=1 -o publication_names=cdc_pub \
    --endpos "$END_LSN" -f "$T/recv.out" 2>"$T/recv.err"
rc=$?
r1=$(date +%s.%N)
if [ "$rc" -ne 0 ]; then
    say "pg_recvlogical failed ($rc):"
    cat "$T/recv.err" >&2
    row pg_recvlogical 0 0 0 FAILED
    failed=1
else
    counts=$(python3 "$TOP/bench/pgoutput_count.py" "$T/recv.out") ||
        failed=1
    got=$(echo "$counts" | sed -n 's/.*total=\([0-9]*\).*/\1/p')
    say "pg_recvlogical: $counts"
    note=
    [ "${got:-0}" -eq "$EXPECTED" ] || { note="MISSED (got ${got:-0})"; failed=1; }
    row pg_recvlogical "${got:-0}" \
        "$(echo "$r0 $r1" | awk '{ printf "%.3f", $2 - $1 }')" \
        "$(rss_of "$T/recv.time")" "${note:+$note; }$(cpu_of "$T/recv.time")"
fi
rm -f "$T/recv.out"

# -- b. Debezium ----------------------------------------------------------
if [ -n "${PG_CDC_NO_DEBEZIUM:-}" ]; then
    row "Debezium 3.6.1" - - - "skipped (PG_CDC_NO_DEBEZIUM)"
elif ! JAR=$("$TOP/bench/debezium/build.sh" "$BUILD" 2>"$T/dbz-build.err"); then
    say "Debezium not built:"
    cat "$T/dbz-build.err" >&2
    row "Debezium 3.6.1" - - - "not built (needs java 17 and mvn)"
else
    say "Debezium embedded engine (pgoutput, JSON with schemas) to /dev/null"
    # shellcheck disable=SC2086 # DEBEZIUM_*: split into words on purpose
    $TIME -f "%M %U %S" -o "$T/dbz.time" java ${DEBEZIUM_JAVA_OPTS:-} \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -cp "$JAR:$BUILD/debezium/lib/*" meshwork.bench.DebeziumCapture \
        --host 127.0.0.1 --port "$PG_PORT" --db "$PG_DB" --user postgres \
        --tables public.cdc_orders,public.cdc_events,public.cdc_counters \
        --slot cdc_debezium --publication cdc_pub --state-dir "$T/dbz" \
        --snapshot-mode no_data --out /dev/null --max-events "$EXPECTED" \
        --idle-ms 20000 --start-timeout-ms 120000 \
        --set tombstones.on.delete=false ${DEBEZIUM_ARGS:-} 2>"$T/dbz.err"
    rc=$?
    grep -v '^debezium: events=' "$T/dbz.err" | tail -n 20 >&2
    line=$(grep '^debezium: events=' "$T/dbz.err")
    say "${line#debezium: }"
    got=$(echo "$line" | sed -n 's/.*events=\([0-9]*\).*/\1/p')
    win=$(echo "$line" | sed -n 's/.*window_s=\([0-9.]*\).*/\1/p')
    hwm=$(echo "$line" | sed -n 's/.*vm_hwm_kb=\([0-9]*\).*/\1/p')
    note=
    if [ "$rc" -ne 0 ] || [ "${got:-0}" -ne "$EXPECTED" ]; then
        note="MISSED (got ${got:-0}, exit $rc)"
        failed=1
    fi
    [ -n "$hwm" ] && note="${note:+$note; }VmHWM $((hwm / 1024)) MB"
    row "Debezium 3.6.1" "${got:-0}" "${win:-0}" \
        "$(rss_of "$T/dbz.time")" "$note; $(cpu_of "$T/dbz.time")"
fi

# -- c. mesh-producer source=pg ------------------------------------------
# run_mesh_pg: mesh-producer source=pg on slot cdc_mesh, to a private
# mesh-broker and mesh-registry (bench/pg_mesh_run.py, which needs the test
# venv's confluent-kafka for its helpers); its window runs from the first
# change sent to the last, like Debezium's.
run_mesh_pg() {
    say "mesh-producer source=pg (pgoutput, Avro envelopes) to mesh-broker"
    py="$TOP/build/venv/bin/python"
    [ -x "$py" ] || py=python3
    "$py" "$TOP/bench/pg_mesh_run.py" "$BUILD" "$PG_PORT" "$PG_DB" \
        "$EXPECTED" "$T/mesh" >"$T/mesh.out" 2>"$T/mesh.err"
    rc=$?
    tail -n 20 "$T/mesh.err" >&2
    line=$(grep '^mesh: events=' "$T/mesh.out")
    say "${line#mesh: }"
    got=$(echo "$line" | sed -n 's/.*events=\([0-9]*\).*/\1/p')
    win=$(echo "$line" | sed -n 's/.*window_s=\([0-9.]*\).*/\1/p')
    hwm=$(echo "$line" | sed -n 's/.*vm_hwm_kb=\([0-9]*\).*/\1/p')
    cpu=$(echo "$line" | sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p')
    note="CPU ${cpu:-?} s"
    if [ "$rc" -ne 0 ] || [ "${got:-0}" -lt "$EXPECTED" ]; then
        note="MISSED (got ${got:-0}, exit $rc); $note"
        failed=1
    fi
    row "mesh-producer pg" "${got:-0}" "${win:-0}" "${hwm:-0}" "$note"
}

MESH="$BUILD/bin/mesh-producer"
if [ -x "$MESH" ] && "$MESH" --help 2>&1 | grep -i 'source' | grep -qw pg
then
    run_mesh_pg
else
    row "mesh-producer pg" - - - "not built"
fi

if ! kill -0 "$PG_PID" 2>/dev/null; then
    say "postgres died during the run:"
    tail -n 20 "$PG_LOG" >&2
    failed=1
fi

# -- Debezium fidelity, live ----------------------------------------------
# Debezium captures public.alltypes afresh (tests/tools/debezium_capture.sh
# into a scratch directory) and the pg source's type tests run against
# that capture instead of the committed one: a differential against the
# real connector on this machine, too slow for make test.
if [ -z "${PG_CDC_NO_DEBEZIUM:-}" ] && [ -x "$TOP/build/venv/bin/python" ]; then
    say "Debezium fidelity: a live capture, then the type tests against it"
    if DEBEZIUM_CAPTURE_OUT="$T/dbz-live" \
        "$TOP/tests/tools/debezium_capture.sh" "$BUILD" >"$T/cap.log" 2>&1 &&
        (cd "$TOP" && MESH_BUILD="$BUILD" MESH_DEBEZIUM_DATA="$T/dbz-live" \
            build/venv/bin/python -m pytest -q -p no:cacheprovider \
            tests/integration/test_producer_pg.py -k types_match_debezium \
            >"$T/fidelity.log" 2>&1); then
        FIDELITY="every type and envelope field as Debezium's live capture"
    else
        tail -n 30 "$T/cap.log" "$T/fidelity.log" >&2 2>/dev/null
        FIDELITY="DIFFERS from Debezium's live capture (see above)"
        failed=1
    fi
else
    FIDELITY="not run (PG_CDC_NO_DEBEZIUM or no test venv)"
fi

# -- summary --------------------------------------------------------------
echo
echo "== PostgreSQL CDC: $EXPECTED changes (3 tables, transactions of $BATCH), pgoutput, one slot each"
awk -F'|' '
    NR == 1 { limit = ($3 > 0) ? $2 / $3 : 0 }
    {
        rate = ($3 > 0) ? $2 / $3 : 0
        if ($3 == "-" || rate == 0)
            printf "%-18s %9s %9s %12s %7s %9s  %s\n", $1, "-", "-", "-", "-", "-", $5
        else
            printf "%-18s %9d %8.2fs %10.0f/s %7.3f %6.0f MB  %s\n", $1, $2, $3, rate,
                (limit > 0 ? rate / limit : 0), $4 / 1024, $5
    }
    BEGIN { printf "%-18s %9s %9s %12s %7s %9s  %s\n", "reader", "changes", "window", "changes/s", "ratio", "peak RSS", "" }
' "$RESULTS"
echo "fidelity: $FIDELITY"
# the summary rows (bench/run.sh prints the table at the end)
awk -F'|' '
    NR == 1 { limit = ($3 > 0) ? $2 / $3 : 0 }
    $1 == "Debezium 3.6.1" && $3 > 0 { dbz = $2 / $3; dbz_rss = $4 }
    $1 == "mesh-producer pg" && $3 > 0 { mesh = $2 / $3; mesh_rss = $4 }
    END {
        if (mesh > 0 && limit > 0)
            printf "pg source changes/s|%.0f/s|pg_recvlogical %.0f/s|%.2f|>= 0.8\n",
                   mesh, limit, mesh / limit
        if (mesh > 0 && dbz > 0)
            printf "pg source vs Debezium|%.0f/s|Debezium %.0f/s|%.1f|>= 2\n",
                   mesh, dbz, mesh / dbz
        if (mesh_rss > 0 && dbz_rss > 0)
            printf "pg source peak RSS|%.0f MB|Debezium %.0f MB|%.3f|<= 0.1\n",
                   mesh_rss / 1024, dbz_rss / 1024, mesh_rss / dbz_rss
    }' "$RESULTS" >>"${BENCH_SUMMARY:-/dev/null}"
exit "$failed"
