#!/bin/sh
# bench/run.sh BUILD_DIR: runs every benchmark against a fresh mesh-broker
# (release build, port 0 everywhere, private state dir) and stops it.
# Never part of `make test`.
set -eu

BUILD=${1:-build}
STATE=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-bench.XXXXXX")
BROKER_PID=

cleanup() {
    if [ -n "$BROKER_PID" ]; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$STATE"
}
trap cleanup EXIT INT TERM

"$BUILD/bin/mesh-broker" --set brokers=3 \
    --set bootstrap.listener=127.0.0.1:0 --set control.listener=127.0.0.1:0 \
    --set "state.dir=$STATE/state" >"$STATE/mesh-broker.log" 2>&1 &
BROKER_PID=$!

i=0
while [ ! -s "$STATE/state/bootstrap" ]; do
    i=$((i + 1))
    if [ "$i" -gt 200 ] || ! kill -0 "$BROKER_PID" 2>/dev/null; then
        echo "bench: mesh-broker did not start:" >&2
        cat "$STATE/mesh-broker.log" >&2
        exit 1
    fi
    sleep 0.05
done
BOOTSTRAP=$(cat "$STATE/state/bootstrap")

echo "== broker adapter vs raw librdkafka (mesh-broker at $BOOTSTRAP)"
"$BUILD/bench/bk_bench" "$BOOTSTRAP"
