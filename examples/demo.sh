#!/usr/bin/env bash
# make demo: the e-commerce mesh of examples/ecommerce/ on the embedded
# defaults (mesh-broker, everything on 127.0.0.1, nothing durable but the
# registry's journal and the SQLite output ports under the state dir).
#
#   examples/demo.sh [BUILD_DIR]
#
#   1. start mesh-broker, mesh-registry and (when PostgreSQL's server
#      binaries are installed) a throwaway PostgreSQL with wal_level=logical;
#   2. apply the five data products with `meshctl product apply`;
#   3. start the producers (pg source for orders, or a generated JSON-lines
#      feed through the file source; file source for merchants; http source
#      for users, marketing and best-sellers) and one materializer per
#      SQLite output port, each reporting to the catalog (catalog.* keys);
#   4. stream orders, with a compatible schema change half-way (ALTER TABLE
#      ... ADD COLUMN, a new schema version through CDC) and the
#      best-sellers product recomputed every few seconds by SQL over the
#      orders and merchants output ports, published to its own topic;
#   5. show the catalog, events per second, freshness per output port, a
#      refused breaking change, a governance refusal (the mesh's policy:
#      no personal data in a public product) and the top merchants by
#      revenue;
#   6. keep streaming until Ctrl-C, `make demo-stop` (SIGTERM to the pid in
#      $state/demo.pid) or DEMO_SECONDS seconds of streaming; then stop
#      every process with SIGTERM (PostgreSQL: SIGINT, its fast shutdown)
#      and check each exit code.
#
# Environment: DEMO_STATE (state dir, default BUILD_DIR/demo), DEMO_SECONDS
# (stream that long, then stop: non-interactive), DEMO_RATE (orders per
# second, default 200), DEMO_NO_PG=1 (use the file source for orders even
# when PostgreSQL is installed), MESH_DEMO_BOOTSTRAP, MESH_DEMO_CONTROL,
# MESH_DEMO_REGISTRY, MESH_DEMO_INGEST, MESH_DEMO_PG_PORT (listen addresses).
# Every daemon's log is in $state/logs/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
bin="$build/bin"
state=${DEMO_STATE:-$build/demo}
bootstrap=${MESH_DEMO_BOOTSTRAP:-127.0.0.1:9092}
control=${MESH_DEMO_CONTROL:-127.0.0.1:9099}
registry=${MESH_DEMO_REGISTRY:-127.0.0.1:8081}
ingest=${MESH_DEMO_INGEST:-127.0.0.1:8082}
pg_port=${MESH_DEMO_PG_PORT:-55432}
pg_bin=${MESH_PG_BIN:-/usr/lib/postgresql/15/bin}
seconds=${DEMO_SECONDS:-}
rate=${DEMO_RATE:-200}
mesh="$top/examples/ecommerce"
products=("$mesh/users/users.yaml" "$mesh/merchants/merchants.yaml"
    "$mesh/orders/orders.yaml" "$mesh/marketing/marketing.yaml"
    "$mesh/best-sellers/best-sellers.yaml")

die() {
    echo "demo: $*" >&2
    exit 1
}
for tool in curl jq sqlite3; do
    command -v "$tool" >/dev/null || {
        echo "demo: '$tool' is missing: run 'make deps'" >&2
        exit 1
    }
done
use_pg=1
if [ -n "${DEMO_NO_PG:-}" ] || [ ! -x "$pg_bin/postgres" ] ||
    ! command -v psql >/dev/null; then
    use_pg=0
fi

if [ -f "$state/demo.pid" ] && kill -0 "$(cat "$state/demo.pid")" 2>/dev/null; then
    echo "demo: already running (pid $(cat "$state/demo.pid")); 'make demo-stop' stops it" >&2
    exit 1
fi
# the state dir is removed at each start: only ever one the demo made
if [ -d "$state" ] && [ ! -d "$state/logs" ] && [ -n "$(ls -A "$state")" ]; then
    die "$state is not empty and not a demo state dir: choose another DEMO_STATE"
fi
rm -rf "$state" && mkdir -p "$state/logs" "$state/ports" "$state/feeds"
state=$(cd "$state" && pwd)
logs="$state/logs"
echo $$ >"$state/demo.pid"

# ------------------------------------------------------------ processes
names=() pids=() sigs=()
# start NAME SIGNAL PROGRAM ARGS...: in a session of its own, so a Ctrl-C
# reaches only this script, which then stops everything in order.
start() {
    local name=$1 sig=$2
    shift 2
    setsid "$@" </dev/null >>"$logs/$name.log" 2>&1 &
    names+=("$name") pids+=($!) sigs+=("$sig")
}
stop_all() { # newest first; each must exit 0
    local rc=0 i code
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -"${sigs[i]}" "${pids[i]}" 2>/dev/null || true
        code=0
        wait "${pids[i]}" || code=$?
        if [ "$code" -ne 0 ]; then
            echo "  ${names[i]} exited $code (log: $logs/${names[i]}.log)"
            rc=1
        fi
    done
    names=() pids=() sigs=()
    return $rc
}
finish() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "${gen_active:-}" ] && printf '\n'
    [ "${#pids[@]}" -gt 0 ] && { stop_all || rc=1; }
    rm -f "$state/demo.pid"
    exit $rc
}
trap finish EXIT
stopping=
on_signal() { stopping=1; }
trap on_signal INT TERM
alive() { # every process still running, else name the one that is not
    local i
    for i in "${!pids[@]}"; do
        kill -0 "${pids[i]}" 2>/dev/null ||
            die "${names[i]} stopped unexpectedly; its log, $logs/${names[i]}.log, ends with:
$(tail -n 5 "$logs/${names[i]}.log")"
    done
}
wait_file() { # FILE NAME: the file written by the newest process
    local _
    for _ in $(seq 300); do
        [ -s "$1" ] && return 0
        kill -0 "${pids[-1]}" 2>/dev/null ||
            die "$2 did not start; see $logs/$2.log:
$(tail -n 5 "$logs/$2.log")"
        sleep 0.1
    done
    die "timed out waiting for $1 ($2)"
}
ops_of() { jq -r .ops "$state/ready/$1"; }

# ------------------------------------------------------------ 1. platform
step() { echo "== $*"; }
step "starting mesh-broker ($bootstrap) and mesh-registry ($registry)"
start mesh-broker TERM "$bin/mesh-broker" --set bootstrap.listener="$bootstrap" \
    --set control.listener="$control" --set state.dir="$state/broker"
wait_file "$state/broker/bootstrap" mesh-broker
start mesh-registry TERM "$bin/mesh-registry" --set listeners="http://$registry" \
    --set data.dir="$state/registry"
wait_file "$state/registry/url" mesh-registry
url=$(cat "$state/registry/url")
ctl=("$bin/meshctl" --bootstrap "$bootstrap" --registry "$url")

pg_conninfo=
if [ "$use_pg" = 1 ]; then
    step "starting a throwaway PostgreSQL (127.0.0.1:$pg_port, wal_level=logical)"
    if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; then
        die "a server already answers on 127.0.0.1:$pg_port: set MESH_DEMO_PG_PORT"
    fi
    as_pg=()
    pgdir="$state/postgres"
    mkdir -p "$pgdir"
    if [ "$(id -u)" = 0 ]; then # PostgreSQL refuses to run as root
        chown postgres: "$pgdir"
        as_pg=(setpriv --reuid=postgres --regid=postgres --clear-groups)
    fi
    "${as_pg[@]}" "$pg_bin/initdb" -D "$pgdir/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C --no-instructions >"$logs/initdb.log" 2>&1 ||
        die "initdb failed: see $logs/initdb.log"
    touch "$logs/postgres.log"
    [ "$(id -u)" = 0 ] && chown postgres: "$logs/postgres.log"
    start postgres INT "${as_pg[@]}" "$pg_bin/postgres" -D "$pgdir/data" \
        -c listen_addresses=127.0.0.1 -c port="$pg_port" \
        -c unix_socket_directories="$pgdir" -c wal_level=logical \
        -c max_replication_slots=4 -c max_wal_senders=4 \
        -c logging_collector=off -c log_min_messages=warning
    for _ in $(seq 300); do
        "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
        alive
        sleep 0.1
    done
    pg_conninfo="host=127.0.0.1 port=$pg_port dbname=shop user=postgres"
    "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres shop
    psql_shop() { psql -X -q -v ON_ERROR_STOP=1 -d "$pg_conninfo" "$@"; }
    psql_shop <<'SQL'
CREATE TABLE public.orders (
    order_id     bigserial PRIMARY KEY,
    user_id      bigint NOT NULL,
    merchant_id  bigint NOT NULL,
    quantity     integer NOT NULL,
    amount_cents bigint NOT NULL,
    status       text NOT NULL DEFAULT 'placed',
    created_at   timestamptz NOT NULL DEFAULT now());
SQL
fi

# ------------------------------------------------------------ 2. products
step "applying the data products (meshctl product apply)"
"${ctl[@]}" product apply "${products[@]}" >"$logs/product-apply.log" 2>&1 ||
    die "product apply failed: $(cat "$logs/product-apply.log")"
grep -E '^(product |Apply complete|No changes)' "$logs/product-apply.log" |
    sed "s|$top/||; s/^/  /"

# ------------------------------------------------------------ 3. producers, materializers
mkdir -p "$state/ready"
kafka_sets=(--set kafka.bootstrap.servers="$bootstrap" --set registry.url="$url"
    --set ops.listener=127.0.0.1:0)
step "starting the producers"
start producer-http TERM "$bin/mesh-producer" "${kafka_sets[@]}" --set source=http \
    --set http.listener="$ingest" --set ready.file="$state/ready/producer-http"
wait_file "$state/ready/producer-http" producer-http
echo "  http source (users, marketing, best-sellers) on $ingest"
gen_merchants() { # 20 merchants, as the onboarding system exports them
    local names=("Alder & Co" "Brightside Books" "Cobalt Coffee" "Dune Outdoor"
        "Ember Kitchen" "Fjord Knitwear" "Granite Tools" "Harbor Tea"
        "Iris Florist" "Juniper Toys" "Kestrel Bikes" "Lumen Lamps"
        "Maple Games" "Nimbus Audio" "Orchid Beauty" "Pine Pantry"
        "Quill Stationery" "Riverstone Shoes" "Saffron Spices" "Tidal Swim")
    local cats=(home books food outdoor food fashion tools food home toys
        sports home toys electronics beauty food office fashion food sports)
    local cities=(Lyon Berlin Porto Oslo Madrid Bergen Turin Kyiv Ghent Lisbon
        Krakow Vienna Leeds Zurich Seville Basel Utrecht Graz Naples Malmo)
    local i
    for i in "${!names[@]}"; do
        printf '{"merchant_id":%d,"name":"%s","category":"%s","city":"%s","contact_email":"sales@merchant%d.example"}\n' \
            $((i + 1)) "${names[i]}" "${cats[i]}" "${cities[i]}" $((i + 1))
    done
}
gen_merchants >"$state/feeds/merchants.jsonl"
start producer-merchants TERM "$bin/mesh-producer" "${kafka_sets[@]}" --set source=file \
    --set topic=merchants.stores.v1 --set file.paths="$state/feeds/merchants.jsonl" \
    --set file.key.field=merchant_id --set key.subject=merchants.stores.v1-key \
    --set checkpoint.dir="$state/checkpoints/merchants" \
    --set ready.file="$state/ready/producer-merchants"
wait_file "$state/ready/producer-merchants" producer-merchants
echo "  file source (merchants) tailing $state/feeds/merchants.jsonl"
if [ "$use_pg" = 1 ]; then
    start producer-orders TERM "$bin/mesh-producer" "${kafka_sets[@]}" --set source=pg \
        --set pg.conninfo="$pg_conninfo" --set pg.tables=public.orders \
        --set topic.prefix=orders --set topic.map.public.orders=orders.orders.v1 \
        --set pg.state.dir="$state/pg-source" \
        --set ready.file="$state/ready/producer-orders"
    wait_file "$state/ready/producer-orders" producer-orders
    echo "  pg source (orders) capturing public.orders (logical replication)"
else
    : >"$state/feeds/orders.jsonl"
    start producer-orders TERM "$bin/mesh-producer" "${kafka_sets[@]}" --set source=file \
        --set topic=orders.orders.v1 --set file.paths="$state/feeds/orders.jsonl" \
        --set file.format=envelope --set key.subject=orders.orders.v1-key \
        --set checkpoint.dir="$state/checkpoints/orders" \
        --set ready.file="$state/ready/producer-orders"
    wait_file "$state/ready/producer-orders" producer-orders
    echo "  file source (orders, generated Debezium-style change events; no PostgreSQL installed)"
fi

step "starting one materializer per SQLite output port (reporting to the catalog)"
# topic product port table
ports=("users.profiles.v1 users/profiles profiles-table profiles"
    "merchants.stores.v1 merchants/stores stores-table stores"
    "orders.orders.v1 orders/orders orders-table orders"
    "marketing.campaigns.v1 marketing/campaigns campaigns-table campaigns"
    "best-sellers.ranking.v1 best-sellers/ranking ranking-table best_sellers")
for p in "${ports[@]}"; do
    read -r topic product port table <<<"$p"
    name="mat-${product%%/*}"
    start "$name" TERM "$bin/mesh-materializer" "${kafka_sets[@]}" --set sink=sqlite \
        --set topics="$topic" --set group.id="$name" --set table.name="$table" \
        --set sqlite.path="$state/ports/$table.db" \
        --set catalog.product="$product" --set catalog.port="$port" \
        --set catalog.report.interval.ms=2000 --set batch.max.ms=200 \
        --set kafka.fetch.wait.max.ms=10 --set ready.file="$state/ready/$name"
    wait_file "$state/ready/$name" "$name"
    printf '  %-22s -> %s\n' "$topic" "ports/$table.db ($product $port)"
done

# ------------------------------------------------------------ 4. the stream
post() { # TOPIC BODY: REST Proxy v2, Avro JSON; fails unless all acknowledged
    local answer
    answer=$(curl -sf -X POST -H 'Content-Type: application/vnd.kafka.avro.v2+json' \
        --data-binary "$2" "http://$ingest/topics/$1") || return 1
    jq -e 'all(.offsets[]; .error_code == null)' >/dev/null <<<"$answer"
}
key_id() { curl -sf "$url/subjects/$1-key/versions/latest" | jq -r .id; }
step "posting 500 users and 12 campaigns (http source)"
users_kid=$(key_id users.profiles.v1)
first=(Ada Ben Chloe Dan Eva Felix Gia Hugo Ines Jon Kaia Leo Mia Noah Olga Pau)
last=(Smith Garcia Novak Rossi Berg Silva Costa Meyer Dubois Lind)
countries=(FR DE PT NO ES IT UA BE NL PL)
now_ms=$(($(date +%s) * 1000))
for batch in 0 1 2 3 4; do
    body=$(for i in $(seq $((batch * 100 + 1)) $((batch * 100 + 100))); do
        f=${first[i % 16]} l=${last[i % 10]}
        printf '{"key":%d,"value":{"user_id":%d,"full_name":"%s %s","email":"%s.%s%d@mail.example","country":"%s","signed_up_at":%d}}\n' \
            "$i" "$i" "$f" "$l" "${f,,}" "${l,,}" "$i" "${countries[i % 10]}" \
            $((now_ms - i * 3600000))
    done | jq -sc --argjson k "$users_kid" '{key_schema_id: $k, records: .}')
    post users.profiles.v1 "$body" || die "posting users failed (see $logs/producer-http.log)"
done
camp_kid=$(key_id marketing.campaigns.v1)
body=$(for i in $(seq 1 12); do
    printf '{"key":%d,"value":{"campaign_id":%d,"name":"%s","merchant_id":%d,"channel":"%s","target_country":"%s","budget_cents":%d}}\n' \
        "$i" "$i" "spring-push-$i" $(((i * 7) % 20 + 1)) \
        "$([ $((i % 3)) = 0 ] && echo email || echo social)" "${countries[i % 10]}" \
        $((i * 150000))
done | jq -sc --argjson k "$camp_kid" '{key_schema_id: $k, records: .}')
post marketing.campaigns.v1 "$body" || die "posting campaigns failed"

# Orders: a few merchants sell much more than the others (the square of a
# uniform number skews the choice towards the low ids), amounts 5..250 EUR.
coupons=0
gen_orders_pg() { # N
    local coupon="NULL"
    [ "$coupons" = 1 ] && coupon="CASE WHEN random() < 0.3 THEN 'SPRING10' END"
    psql_shop <<SQL
INSERT INTO orders (user_id, merchant_id, quantity, amount_cents$([ "$coupons" = 1 ] && echo ", coupon_code"))
SELECT 1 + floor(random() * 500)::bigint,
       1 + (floor(power(random(), 2) * 20)::bigint * 7) % 20,
       q, q * (500 + floor(random() * 12000)::bigint)$([ "$coupons" = 1 ] && echo ", $coupon")
FROM (SELECT 1 + floor(random() * 3)::int AS q FROM generate_series(1, $1)) g;
UPDATE orders SET status = 'shipped'
WHERE order_id IN (SELECT order_id FROM orders WHERE status = 'placed'
                   ORDER BY order_id LIMIT $(($1 / 4)));
SQL
}
next_order=1
gen_orders_file() { # N: Debezium-style change events, as the pg source writes them
    local ts
    ts=$(($(date +%s%N) / 1000000))
    jq -nc --argjson n "$1" --argjson first "$next_order" --argjson ts "$ts" \
        --argjson coupons "$coupons" '
        range($first; $first + $n) as $id |
        ((($id * 7919) % 1000) / 1000) as $r |
        (1 + ($id * 31) % 3) as $q |
        {key: {order_id: $id},
         value: {before: null,
                 after: {"orders.public.orders.Value": ({
                     order_id: $id, user_id: (1 + ($id * 13) % 500),
                     merchant_id: (1 + ((($r * $r * 20) | floor) * 7) % 20),
                     quantity: $q,
                     amount_cents: ($q * (500 + ($id * 977) % 12000)),
                     status: "placed",
                     created_at: (($ts / 1000) | floor | todate)}
                   + if $coupons == 1 then {coupon_code: (if $id % 3 == 0
                       then {string: "SPRING10"} else null end)} else {} end)},
                 source: {version: "meshwork", connector: "postgresql",
                          name: "orders", ts_ms: $ts, snapshot: {string: "false"},
                          db: "shop", sequence: null, ts_us: null, ts_ns: null,
                          schema: "public", table: "orders", txId: null,
                          lsn: null, xmin: null, origin: null, origin_lsn: null},
                 transaction: null, op: "c", ts_ms: {long: $ts},
                 ts_us: null, ts_ns: null}}' >>"$state/feeds/orders.jsonl"
    next_order=$((next_order + $1))
}
gen_orders() { if [ "$use_pg" = 1 ]; then gen_orders_pg "$1"; else gen_orders_file "$1"; fi; }

schema_change() {
    if [ "$use_pg" = 1 ]; then
        psql_shop -c "ALTER TABLE orders ADD COLUMN coupon_code text"
    else
        # what the pg source would register for the new column; the file
        # source pins the latest version at start, so it restarts on it
        jq '(.fields[] | select(.name == "before") | .type[1].fields) +=
              [{"name": "coupon_code", "type": ["null", "string"], "default": null}]' \
            "$mesh/orders/order-value.avsc" >"$state/order-value-v2.avsc"
        "${ctl[@]}" schema register orders.orders.v1-value "$state/order-value-v2.avsc" \
            >>"$logs/schema-change.log" 2>&1 || die "registering v2 failed"
        local i
        for i in "${!names[@]}"; do
            if [ "${names[i]}" = producer-orders ]; then
                produced_base=$((produced_base + $(metric_sum "$(ops_of producer-orders)" \
                    mesh_producer_events_out_total)))
                kill -TERM "${pids[i]}"
                wait "${pids[i]}" || die "producer-orders exited $? on SIGTERM"
                rm -f "$state/ready/producer-orders"
                setsid "$bin/mesh-producer" "${kafka_sets[@]}" --set source=file \
                    --set topic=orders.orders.v1 --set file.paths="$state/feeds/orders.jsonl" \
                    --set file.format=envelope --set key.subject=orders.orders.v1-key \
                    --set checkpoint.dir="$state/checkpoints/orders" \
                    --set ready.file="$state/ready/producer-orders" \
                    </dev/null >>"$logs/producer-orders.log" 2>&1 &
                pids[i]=$!
                local _
                for _ in $(seq 300); do
                    [ -s "$state/ready/producer-orders" ] && break
                    sleep 0.1
                done
                alive
            fi
        done
    fi
    coupons=1
}

# best-sellers/ranking@1: SQL over the orders and merchants output ports,
# published to best-sellers.ranking.v1 through the http source, which the
# product's own materializer turns into ports/best_sellers.db.
ranking_kid=$(key_id best-sellers.ranking.v1)
refresh_best_sellers() {
    local body
    body=$(sqlite3 -readonly "$state/ports/orders.db" <<SQL 2>>"$logs/best-sellers.log"
ATTACH 'file:$state/ports/stores.db?mode=ro' AS m;
WITH sales AS (
    SELECT merchant_id, count(*) AS orders, sum(amount_cents) AS revenue
    FROM orders GROUP BY merchant_id),
ranked AS (
    SELECT s.merchant_id, st.name, st.category, s.orders, s.revenue,
           rank() OVER (ORDER BY s.revenue DESC) AS rnk
    FROM sales s JOIN m.stores st ON st.merchant_id = s.merchant_id)
SELECT json_object('key_schema_id', $ranking_kid, 'records', json_group_array(
    json_object('key', merchant_id, 'value', json_object(
        'merchant_id', merchant_id, 'merchant_name', name, 'category', category,
        'orders', orders, 'revenue_cents', revenue, 'rank', rnk,
        'computed_at', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)))))
FROM ranked;
SQL
    ) || return 0 # a port not created yet: next time
    [ -n "$body" ] && [ "$(jq '.records | length' <<<"$body")" -gt 0 ] || return 0
    post best-sellers.ranking.v1 "$body" ||
        echo "best-sellers: publishing failed" >>"$logs/best-sellers.log"
}

metric_sum() { # OPS_URL METRIC: the sum of its series
    { curl -sf "$1/metrics" || true; } | awk -v m="$2" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%d\n", s}'
}
produced_base=0 # counts of producers restarted
produced() {
    local s=$produced_base n v
    for n in producer-http producer-merchants producer-orders; do
        v=$(metric_sum "$(ops_of "$n")" mesh_producer_events_out_total)
        s=$((s + ${v:-0}))
    done
    echo $s
}
applied() {
    local s=0 t v
    for t in users merchants orders marketing best-sellers; do
        v=$(metric_sum "$(ops_of "mat-$t")" mesh_materializer_records_applied_total)
        s=$((s + ${v:-0}))
    done
    echo $s
}

tty=
[ -t 1 ] && tty=1
t0=$(date +%s)
last_prod=$(produced) last_appl=$(applied) last_t=$t0
orders_made=0
progress() { # one line: what was generated, what flows
    local now p a dt
    now=$(date +%s) p=$(produced) a=$(applied)
    dt=$((now - last_t))
    [ "$dt" -gt 0 ] || return 0
    line=$(printf '  %3ss  orders %6d  produced %6d (%4d/s)  applied %6d (%4d/s)' \
        $((now - t0)) "$orders_made" "$p" $(((p - last_prod) / dt)) "$a" \
        $(((a - last_appl) / dt)))
    last_prod=$p last_appl=$a last_t=$now
    if [ -n "$tty" ]; then printf '\r%s' "$line"; else echo "$line"; fi
}
# stream SECONDS [CHANGE_AT]: generate orders for SECONDS (forever when
# empty), the schema change after CHANGE_AT seconds
stream() {
    local until=$1 change_at=${2:-} started tick=0
    started=$(date +%s)
    gen_active=1
    # a Ctrl-C also interrupts the command running in this loop (psql,
    # curl, sqlite3): no errexit here, each failure is handled or ends
    # the loop through $stopping
    set +e
    while [ -z "$stopping" ]; do
        local el=$(($(date +%s) - started))
        [ -n "$until" ] && [ "$el" -ge "$until" ] && break
        if [ -n "$change_at" ] && [ "$coupons" = 0 ] && [ "$el" -ge "$change_at" ]; then
            [ -n "$tty" ] && printf '\n'
            if [ "$use_pg" = 1 ]; then
                echo "  -- compatible schema change: ALTER TABLE orders ADD COLUMN coupon_code text (nullable, through CDC)"
            else
                echo "  -- compatible schema change: a nullable coupon_code in the orders value schema (meshctl schema register)"
            fi
            schema_change
        fi
        gen_orders "$rate" || [ -n "$stopping" ] || die "generating orders failed"
        orders_made=$((orders_made + rate))
        [ $((tick % 3)) = 2 ] && refresh_best_sellers
        [ $((tick % 2)) = 1 ] && progress
        tick=$((tick + 1))
        alive
        sleep 1 || true
    done
    [ -n "$tty" ] && printf '\n'
    gen_active=
    set -e
}

if [ -n "$seconds" ]; then
    warm=$((seconds / 2))
    [ "$warm" -ge 4 ] || warm=4
else
    warm=16
fi
step "streaming orders ($rate/s$([ "$use_pg" = 1 ] && echo ' into PostgreSQL, captured by CDC' || echo ' as JSON lines'))"
stream "$warm" $((warm / 2))
refresh_best_sellers
# every table port's materializer has reported (each does every 2 s)
for _ in $(seq 50); do
    [ -n "$stopping" ] && break
    n=0
    for d in users/profiles merchants/stores orders/orders marketing/campaigns \
        best-sellers/ranking; do
        v=$(curl -sf "$url/catalog/products/$d" |
            jq '[.output_ports[] | select(.status.freshness_ms != null)] | length' || true)
        n=$((n + ${v:-0}))
    done
    [ "$n" -ge 5 ] && break
    sleep 0.2
done

# ------------------------------------------------------------ 5. what there is to see
report() {
    step "the catalog: products and their owners (meshctl product list)"
    "${ctl[@]}" product list | sed 's/^/  /'
    step "schema versions of orders.orders.v1-value: $(curl -sf "$url/subjects/orders.orders.v1-value/versions" | jq -c .)" \
        "(v2 adds coupon_code)"
    step "freshness per output port (live facts reported by the materializers)"
    printf '  %-34s %8s %8s %5s %10s %s\n' PORT CHANGES OFFSET LAG FRESHNESS SLA
    local d lag
    for d in users/profiles merchants/stores orders/orders marketing/campaigns \
        best-sellers/ranking; do
        curl -sf "$url/catalog/products/$d" | jq -r --arg d "$d" '
            .sla.freshness_ms as $sla | .output_ports[] | select(.type != "topic" and .type != null) |
            [($d + " " + .name), (.status.rows // "-"), (.status.offset // "-"),
             (if .status.freshness_ms == null then "-" else "\(.status.freshness_ms / 1000 | floor)s" end),
             (if .status.freshness_kept == null then "-"
              elif .status.freshness_kept then "kept" else "MISSED" end)] | @tsv' |
            while IFS=$'\t' read -r port rows off fr kept; do
                # the records not applied yet, from the materializer's metrics
                lag=$(metric_sum "$(ops_of "mat-${d%%/*}")" mesh_materializer_lag)
                printf '  %-34s %8s %8s %5s %10s %s\n' "$port" "$rows" "$off" "$lag" "$fr" "$kept"
            done
    done
    step "lineage (meshctl mesh lineage)"
    "${ctl[@]}" mesh lineage --format json | jq -r '.edges[] | "  \(.from) -> \(.to) (\(.port))"'
    step "top merchants by revenue (SQLite output port best-sellers/ranking-table, ports/best_sellers.db)"
    sqlite3 -readonly -column -header "$state/ports/best_sellers.db" \
        "SELECT rank, merchant_name AS merchant, category, orders,
                printf('%.2f EUR', revenue_cents / 100.0) AS revenue
         FROM best_sellers ORDER BY rank LIMIT 5" | sed 's/^/  /'
    local coupon
    coupon=$(sqlite3 -readonly "$state/ports/orders.db" \
        "SELECT count(*) || ' of ' || (SELECT count(*) FROM orders) FROM orders WHERE coupon_code IS NOT NULL" \
        2>/dev/null || echo "?")
    echo "  (orders port: $coupon orders carry the new coupon_code column)"
}
if [ -z "$stopping" ]; then
report

step "a breaking change is refused (meshctl product apply examples/ecommerce/refused/merchants-breaking.yaml)"
if "${ctl[@]}" product apply "$mesh/refused/merchants-breaking.yaml" \
    >"$logs/refused.log" 2>&1; then
    die "the breaking change was accepted: $(cat "$logs/refused.log")"
fi
grep -E 'refused|reason: \{errorType' "$logs/refused.log" |
    sed "s|$top/||; s/: output port/:\n    output port/; s/ (reasons below)\. A breaking/\n    A breaking/; s/, which publishes/,\n    which publishes/" |
    sed "s/, description:/,\n      description:/; s/, additionalInfo:/,\n      additionalInfo:/" |
    sed 's/^/  /'

step "a governance refusal: the mesh's policy (meshctl policy set examples/ecommerce/policies/mesh.yaml)"
"${ctl[@]}" policy set "$mesh/policies/mesh.yaml" >"$logs/policy.log" 2>&1 ||
    die "the mesh policy was not stored: $(cat "$logs/policy.log")"
echo "  then marketing publishes the users' e-mails as a public product:"
if "${ctl[@]}" product apply "$mesh/refused/marketing-audience-public.yaml" \
    >"$logs/refused-policy.log" 2>&1; then
    die "the policy violation was accepted: $(cat "$logs/refused-policy.log")"
fi
grep -E "policy rule|42280" "$logs/refused-policy.log" | head -n 3 |
    sed "s|$top/||" | fold -s -w 76 | sed 's/^/  /'
fi

if [ -n "$stopping" ]; then
    :
elif [ -n "$seconds" ]; then
    rest=$((seconds - warm))
    [ "$rest" -ge 1 ] || rest=1
    step "streaming $rest more seconds (DEMO_SECONDS=$seconds)"
    stream "$rest"
else
    step "streaming until Ctrl-C or 'make demo-stop' (logs: $logs/; output ports: $state/ports/)"
    stream ""
fi

echo "== stopping (SIGTERM to every process, newest first)"
stopping=1
last=$(applied)
if stop_all; then
    echo "demo finished: $orders_made orders generated, $last changes applied to the output ports; every process stopped cleanly"
else
    echo "demo: a process did not stop cleanly (logs: $logs/)" >&2
    exit 1
fi
