#!/usr/bin/env bash
# make demo: the most complete Meshwork flow that exists today, on the
# embedded defaults (everything on 127.0.0.1, nothing durable but the
# registry's journal under build/demo/).
#   1. start mesh-broker (3 in-memory brokers, bootstrap :9092, control :9099)
#      and mesh-registry (journal storage, :8081);
#   2. create the orders domain's data product topic with meshctl (the admin
#      adapter falls back to mesh-broker's control endpoint);
#   3. register the topic's value schema, evolve it compatibly, and watch an
#      incompatible change refused with 409;
#   4. start mesh-producer with the http source (:8082) and post 1,000 order
#      events in the REST Proxy v2 format: each answer comes after Kafka
#      acknowledged its records;
#   5. consume them back in a consumer group with meshctl and count them;
#   6. list the topic with a third-party client (kcat);
#   7. stop every daemon with SIGTERM and check each exits 0.
set -euo pipefail
build=${1:-build}
bin="$build/bin"
state="$build/demo"
bootstrap=${MESH_DEMO_BOOTSTRAP:-127.0.0.1:9092}
control=${MESH_DEMO_CONTROL:-127.0.0.1:9099}
registry=${MESH_DEMO_REGISTRY:-127.0.0.1:8081}
ingest=${MESH_DEMO_INGEST:-127.0.0.1:8082}
topic=demo.orders.v1
count=1000

rm -rf "$state" && mkdir -p "$state"
pids=()
stop_all() { # newest first; each must exit 0
    local rc=0
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        if kill -0 "${pids[i]}" 2>/dev/null; then
            kill -TERM "${pids[i]}"
            wait "${pids[i]}" || rc=1
        fi
    done
    pids=()
    return $rc
}
trap 'stop_all || true' EXIT
wait_file() { # file pid log
    for _ in $(seq 150); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || { cat "$3"; exit 1; }
        sleep 0.1
    done
    echo "timed out waiting for $1"; cat "$3"; exit 1
}

echo "== starting mesh-broker on $bootstrap and mesh-registry on $registry"
"$bin/mesh-broker" --set bootstrap.listener="$bootstrap" \
    --set control.listener="$control" --set state.dir="$state" \
    2>"$state/mesh-broker.log" &
pids+=($!)
wait_file "$state/bootstrap" "${pids[-1]}" "$state/mesh-broker.log"
"$bin/mesh-registry" --set listeners="http://$registry" \
    --set data.dir="$state/registry" 2>"$state/mesh-registry.log" &
pids+=($!)
wait_file "$state/registry/url" "${pids[-1]}" "$state/mesh-registry.log"
url=$(cat "$state/registry/url")

ctl=("$bin/meshctl" --bootstrap "$bootstrap")
echo "== creating topic $topic (3 partitions)"
"${ctl[@]}" topic create "$topic" --partitions 3
"${ctl[@]}" topic describe "$topic"

echo "== registering the value schema of $topic"
post() { # url content-type body -> body and HTTP status
    curl -s -X POST -H "Content-Type: $2" --data "$3" \
        -w ' (HTTP %{http_code})\n' "$1"
}
sr=application/vnd.schemaregistry.v1+json
wrap() { python3 -c 'import json,sys; print(json.dumps({"schema": sys.argv[1]}))' "$1"; }
v1='{"type":"record","name":"Order","namespace":"demo.orders","fields":[{"name":"order_id","type":"long"},{"name":"amount_cents","type":"long"}]}'
v2='{"type":"record","name":"Order","namespace":"demo.orders","fields":[{"name":"order_id","type":"long"},{"name":"amount_cents","type":"long"},{"name":"currency","type":"string","default":"EUR"}]}'
bad='{"type":"record","name":"Order","namespace":"demo.orders","fields":[{"name":"order_id","type":"string"}]}'
subject="$topic-value"
echo "v1:                   $(post "$url/subjects/$subject/versions" $sr "$(wrap "$v1")")"
echo "v2 (field + default): $(post "$url/subjects/$subject/versions" $sr "$(wrap "$v2")")"
echo "incompatible change:  $(post "$url/subjects/$subject/versions" $sr "$(wrap "$bad")" | cut -c1-150)..."
echo "versions:             $(curl -s "$url/subjects/$subject/versions")"

echo "== starting mesh-producer (http source on $ingest)"
"$bin/mesh-producer" --set source=http --set http.listener="$ingest" \
    --set registry.url="$url" --set kafka.bootstrap.servers="$bootstrap" \
    --set ready.file="$state/producer.ready" 2>"$state/mesh-producer.log" &
pids+=($!)
wait_file "$state/producer.ready" "${pids[-1]}" "$state/mesh-producer.log"

echo "== posting $count order events (REST Proxy v2, Avro JSON)"
acked=0
for batch in $(seq 0 9); do
    body=$(python3 -c '
import json, sys
b = int(sys.argv[1])
print(json.dumps({"records": [
    {"key": "order-%d" % (i % 100),
     "value": {"order_id": i, "amount_cents": 7 * i, "currency": "EUR"}}
    for i in range(b * 100, b * 100 + 100)]}))' "$batch")
    answer=$(curl -s -X POST -H 'Content-Type: application/vnd.kafka.avro.v2+json' \
        --data "$body" "http://$ingest/topics/$topic")
    n=$(python3 -c 'import json,sys; a=json.load(sys.stdin); print(sum(1 for o in a["offsets"] if o["error_code"] is None))' <<<"$answer")
    acked=$((acked + n))
done
echo "Kafka acknowledged $acked of $count events"
[ "$acked" -eq "$count" ]
echo "a bad event is refused with the field's path:"
post "http://$ingest/topics/$topic" application/vnd.kafka.avro.v2+json \
    '{"records":[{"value":{"order_id":"x","amount_cents":1}}]}'

echo "== consuming them back in group demo-materializer"
got=$("${ctl[@]}" --set kafka.fetch.wait.max.ms=10 console consume "$topic" \
    --group demo-materializer --from-beginning --max "$count" \
    --idle-exit-ms 10000 --format '%p %o' | wc -l)
echo "consumed $got of $count events"
[ "$got" -eq "$count" ]

if command -v kcat >/dev/null; then
    echo "== kcat sees the topic through the stable bootstrap"
    kcat -b "$bootstrap" -L -t "$topic" | head -n 8
fi

echo "== stopping mesh-producer, mesh-registry and mesh-broker"
trap - EXIT
stop_all
echo "demo finished: every daemon stopped cleanly"
