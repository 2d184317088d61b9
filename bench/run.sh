#!/bin/sh
# bench/run.sh BUILD_DIR: runs every benchmark against a fresh mesh-broker
# (BUILD_DIR/bin, the release build under `make bench`; port 0 everywhere,
# private state dir) and always stops it.  Exit status: 0 when every
# benchmark succeeded, 1 otherwise.  Never part of `make test`.
# BENCH_SCALE (default 1) multiplies bk_bench's message counts, e.g. 0.1
# for a quick check; published figures use 1 (see bench/README.md).
set -u

BUILD=${1:-build}
BROKER="$BUILD/bin/mesh-broker"
WAIT_S=10
BROKER_PID=
STATE=

cleanup() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null
        # SIGTERM is a clean shutdown; give it a few seconds, then insist.
        i=0
        while kill -0 "$BROKER_PID" 2>/dev/null && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$BROKER_PID" 2>/dev/null
        wait "$BROKER_PID" 2>/dev/null
    fi
    [ -n "$STATE" ] && rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for bin in "$BROKER" "$BUILD/bench/bk_bench" "$BUILD/bench/pr_raw_bench"; do
    if [ ! -x "$bin" ]; then
        echo "bench: $bin missing: run 'make bench'" >&2
        exit 1
    fi
done

STATE=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-bench.XXXXXX") || exit 1
BENCH_SUMMARY="$STATE/summary"
: >"$BENCH_SUMMARY"
export BENCH_SUMMARY
"$BROKER" --set brokers=3 \
    --set bootstrap.listener=127.0.0.1:0 --set control.listener=127.0.0.1:0 \
    --set log.level=warn \
    --set "state.dir=$STATE/state" >"$STATE/mesh-broker.log" 2>&1 &
BROKER_PID=$!

# The state files are written atomically once every listener is up.
i=0
while [ ! -s "$STATE/state/bootstrap" ] || [ ! -s "$STATE/state/control" ]; do
    i=$((i + 1))
    if [ "$i" -gt $((WAIT_S * 20)) ] || ! kill -0 "$BROKER_PID" 2>/dev/null
    then
        echo "bench: mesh-broker did not start within ${WAIT_S}s:" >&2
        cat "$STATE/mesh-broker.log" >&2
        exit 1
    fi
    sleep 0.05
done
BOOTSTRAP=$(cat "$STATE/state/bootstrap")

failed=0
echo "== broker adapter vs raw librdkafka (mesh-broker at $BOOTSTRAP)"
if ! "$BUILD/bench/bk_bench" "$BOOTSTRAP" ${BENCH_SCALE:+"$BENCH_SCALE"}; then
    echo "bench: bk_bench FAILED" >&2
    failed=1
fi
if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    echo "bench: mesh-broker died during the run:" >&2
    tail -n 20 "$STATE/mesh-broker.log" >&2
    failed=1
fi
echo
echo "== producer: file source vs raw librdkafka vs kcat (mesh-broker at $BOOTSTRAP)"
if ! bench/pr_bench.sh "$BUILD" "$BOOTSTRAP"; then
    echo "bench: pr_bench FAILED" >&2
    failed=1
fi
echo
echo "== serde: compiled plans vs avro-c generic values"
if ! "$BUILD/bench/av_serde_bench"; then
    echo "bench: av_serde_bench FAILED" >&2
    failed=1
fi

echo
echo "== materializer sinks vs raw SQLite / PostgreSQL (private PostgreSQL)"
if ! bench/mat_bench.sh "$BUILD"; then
    echo "bench: mat_bench FAILED" >&2
    failed=1
fi

echo
echo "== mesh-registry vs bare libevent"
if ! bench/registry_bench.sh "$BUILD"; then
    echo "bench: registry_bench FAILED" >&2
    failed=1
fi

echo
echo "== PostgreSQL CDC: mesh-producer source=pg vs pg_recvlogical vs Debezium (private PostgreSQL)"
if ! bench/pg_cdc_bench.sh "$BUILD"; then
    echo "bench: pg_cdc_bench FAILED" >&2
    failed=1
fi

# run_py NAME: bench/NAME.py BUILD with the test venv's Python.
run_py() {
    if [ ! -x build/venv/bin/python ]; then
        echo "skipped: needs build/venv (make deps)"
    elif ! build/venv/bin/python "bench/$1.py" "$BUILD"; then
        echo "bench: $1 FAILED" >&2
        failed=1
    fi
}

echo
echo "== materializer: how the cost grows with partitions and fields"
run_py mat_growth_bench

echo
echo "== freshness: HTTP produce to committed SQLite row at 10k events/s"
run_py freshness_bench

echo
echo "== freshness: PostgreSQL commit to committed PostgreSQL row at 10k events/s"
run_py freshness_pg_bench

# The one table: each benchmark appended its rows "component|figure|limit|
# ratio|goal" to $BENCH_SUMMARY.
echo
echo "== summary (one run; ratio = figure / the limit measured in the same run)"
awk -F'|' '
    BEGIN { printf "%-34s %16s  %-32s %7s  %s\n", "component", "figure",
            "limit (same run)", "ratio", "goal" }
    { printf "%-34s %16s  %-32s %7s  %s\n", $1, $2, $3, $4, $5 }
' "$BENCH_SUMMARY"
exit "$failed"
