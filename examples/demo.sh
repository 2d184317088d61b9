#!/usr/bin/env bash
# make demo: the most complete Meshwork flow that exists today, on the
# embedded defaults.
#   1. start mesh-broker (3 in-memory brokers, bootstrap 127.0.0.1:9092,
#      control endpoint 127.0.0.1:9099);
#   2. create a data product's topic through the admin adapter (meshctl);
#   3. produce a batch of order events and consume them back in a group;
#   4. list the topics with a third-party client (kcat) when it is there;
#   5. start mesh-registry (journal storage, 127.0.0.1:8081), register the
#      topic's value schema, evolve it compatibly, and watch an incompatible
#      change refused with 409;
#   6. stop both daemons with SIGTERM and check they exit 0.
set -euo pipefail
build=${1:-build}
bin="$build/bin"
state="$build/demo"
bootstrap=${MESH_DEMO_BOOTSTRAP:-127.0.0.1:9092}
control=${MESH_DEMO_CONTROL:-127.0.0.1:9099}
topic=demo.orders.v1
count=1000

rm -rf "$state" && mkdir -p "$state"
echo "== starting mesh-broker on $bootstrap (control $control)"
"$bin/mesh-broker" --set bootstrap.listener="$bootstrap" \
    --set control.listener="$control" --set state.dir="$state" \
    2>"$state/mesh-broker.log" &
broker_pid=$!
stop_broker() {
    if kill -0 "$broker_pid" 2>/dev/null; then
        kill -TERM "$broker_pid"
        wait "$broker_pid"
    fi
}
trap 'stop_broker || true' EXIT
for _ in $(seq 100); do
    [ -s "$state/bootstrap" ] && break
    kill -0 "$broker_pid" 2>/dev/null || { cat "$state/mesh-broker.log"; exit 1; }
    sleep 0.1
done
[ -s "$state/bootstrap" ] || { echo "mesh-broker did not start"; exit 1; }

ctl=("$bin/meshctl" --bootstrap "$bootstrap")
kafka=(--set kafka.fetch.wait.max.ms=10)

echo "== creating topic $topic (3 partitions, compacted)"
"${ctl[@]}" topic create "$topic" --partitions 3 --config cleanup.policy=compact
"${ctl[@]}" topic describe "$topic"

echo "== producing $count order events"
for i in $(seq 1 $count); do
    printf 'order-%d\t{"order_id":%d,"amount_cents":%d}\n' $((i % 100)) "$i" $((i * 7))
done | "${ctl[@]}" "${kafka[@]}" console produce "$topic" --key-sep $'\t'

echo "== consuming them back in group demo-materializer"
got=$("${ctl[@]}" "${kafka[@]}" console consume "$topic" --group demo-materializer \
    --from-beginning --max "$count" --idle-exit-ms 10000 | wc -l)
echo "consumed $got of $count events"
[ "$got" -eq "$count" ]

if command -v kcat >/dev/null; then
    echo "== kcat sees the topic through the stable bootstrap"
    kcat -b "$bootstrap" -L -t "$topic" | head -n 8
fi

registry=${MESH_DEMO_REGISTRY:-127.0.0.1:8081}
echo "== starting mesh-registry on $registry"
"$bin/mesh-registry" --set listeners="http://$registry" \
    --set data.dir="$state/registry" 2>"$state/mesh-registry.log" &
registry_pid=$!
trap 'kill -TERM $registry_pid 2>/dev/null; stop_broker || true' EXIT
for _ in $(seq 100); do
    [ -s "$state/registry/url" ] && break
    kill -0 "$registry_pid" 2>/dev/null || { cat "$state/mesh-registry.log"; exit 1; }
    sleep 0.1
done
url=$(cat "$state/registry/url")
subject="$topic-value"
post() { # path json -> prints the HTTP status and the body
    curl -s -o /dev/stdout -w ' (HTTP %{http_code})\n' -X POST \
        -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
        --data "$2" "$url$1"
}
v1='{"type":"record","name":"Order","namespace":"demo.orders","fields":[{"name":"order_id","type":"long"},{"name":"amount_cents","type":"long"}]}'
v2='{"type":"record","name":"Order","namespace":"demo.orders","fields":[{"name":"order_id","type":"long"},{"name":"amount_cents","type":"long"},{"name":"currency","type":"string","default":"EUR"}]}'
bad='{"type":"record","name":"Order","namespace":"demo.orders","fields":[{"name":"order_id","type":"string"}]}'
wrap() { python3 -c 'import json,sys; print(json.dumps({"schema": sys.argv[1]}))' "$1"; }
echo "register v1:          $(post "/subjects/$subject/versions" "$(wrap "$v1")")"
echo "register v2 (+field): $(post "/subjects/$subject/versions" "$(wrap "$v2")")"
echo "incompatible change:  $(post "/subjects/$subject/versions" "$(wrap "$bad")")"
echo "versions:             $(curl -s "$url/subjects/$subject/versions")"

echo "== stopping mesh-registry and mesh-broker"
trap - EXIT
kill -TERM "$registry_pid"
wait "$registry_pid"
stop_broker
echo "demo finished: mesh-registry and mesh-broker stopped cleanly"
