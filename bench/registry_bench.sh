#!/bin/sh
# bench/registry_bench.sh BUILD_DIR: mesh-registry against its raw limit
# (part of "make bench").  Uses BUILD_DIR/bin/mesh-registry (the release
# build under `make bench`) and BUILD_DIR/bench/bare_http; installs nothing
# (wrk and curl come from `make deps`).  Everything on 127.0.0.1, port 0.
#
#  1. GET /schemas/ids/1 requests/s: wrk -t1 -c64 -d10s (keep-alive) against
#     mesh-registry (journal storage, fresh data.dir) pinned to core 0, wrk
#     pinned to core 1; then the same against bare_http (one-thread evhttp
#     answering a fixed body of the same size) pinned to core 0.  Rounds
#     take turns (REGISTRY_BENCH_ROUNDS, default 2; the first round runs the
#     registry first, the next the bare server first) and each side keeps
#     its best, so a burst of other work on the shared cores costs a round,
#     not a side.  Ratio = registry / bare, goal >= 0.8.
#     REGISTRY_BENCH_SECONDS (default 10) is the wrk duration (smoke runs).
#  2. Registrations/s: 10,000 distinct schemas (the benchmark record plus a
#     first field f<i>) into subjects s<i % 100>, global compatibility NONE,
#     sent by wrk from a generated Lua script over 64 keep-alive connections
#     (a C client, so the figure is the registry's: a Python client spends
#     more CPU per request than the registry does).  Every answer must be
#     200 {"id":...}.
#  3. VmRSS of mesh-registry holding those schemas (goal < 50 MB, 10^6 B).
#  4. How cost grows: GET /schemas/ids/<random id> requests/s (wrk -c64,
#     REGISTRY_BENCH_GROWTH_SECONDS, default 3) and VmRSS with 1,000,
#     10,000 and REGISTRY_BENCH_GROWTH_MAX (default 100,000) schemas, the
#     later ones registered like those of step 2 (goal: RSS linear and
#     under 300 MB at 100,000; lookups/s flat).
#  5. SIGTERM; the registry must exit 0.
# Exit status: 0 when every step ran and every request succeeded (goals
# missed are reported, not failures), 1 otherwise.
set -u

BUILD=${1:-build}
REG_BIN="$BUILD/bin/mesh-registry"
BARE_BIN="$BUILD/bench/bare_http"
ROUNDS=${REGISTRY_BENCH_ROUNDS:-2}
GET_SECONDS=${REGISTRY_BENCH_SECONDS:-10}
REG_COUNT=10000
GROWTH_MAX=${REGISTRY_BENCH_GROWTH_MAX:-100000}
GROWTH_SECONDS=${REGISTRY_BENCH_GROWTH_SECONDS:-3}
SUBJECTS=100
REG_TIMEOUT_S=120
CT="application/vnd.schemaregistry.v1+json"
WAIT_S=30
REG_PID=
BARE_PID=
WRK_PID=
STOP_CODE=
TMP=

# The benchmark schema: a 10-field record like the serde benchmark's,
# typical of what serializers fetch by id.
FIELDS='{"name":"customer","type":"string"},{"name":"amount","type":"double"},{"name":"qty","type":"int"},{"name":"paid","type":"boolean"},{"name":"note","type":["null","string"]},{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"]}},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"attrs","type":{"type":"map","values":"long"}},{"name":"digest","type":"bytes"}'
HEAD='{"type":"record","name":"Order","namespace":"bench","fields":['
SCHEMA="$HEAD"'{"name":"id","type":"long"},'"$FIELDS]}"
# Registration i: the same record whose first field is f<i> (%d).
REG_SCHEMA="$HEAD"'{"name":"f%d","type":"long"},'"$FIELDS]}"

say() { echo "registry_bench: $*" >&2; }

# PID (a child of this shell): SIGTERM, up to 5 s, then SIGKILL; its exit
# status in STOP_CODE.  Not in $(...): a subshell cannot wait for it.
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    i=0
    while kill -0 "$1" 2>/dev/null && [ "$i" -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    STOP_CODE=$?
}

cleanup() {
    [ -n "$WRK_PID" ] && stop_pid "$WRK_PID"
    [ -n "$BARE_PID" ] && stop_pid "$BARE_PID"
    [ -n "$REG_PID" ] && stop_pid "$REG_PID"
    [ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in wrk curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        say "$tool not found: run 'make deps' (it installs $tool)"
        exit 1
    fi
done
for bin in "$REG_BIN" "$BARE_BIN"; do
    if [ ! -x "$bin" ]; then
        say "$bin missing: run 'make bench'"
        exit 1
    fi
done
# One core for the server, another for wrk; on a 1-core machine nothing is
# pinned and the ratio still compares like with like.
if [ "$(nproc)" -ge 2 ]; then
    PIN_SRV="taskset -c 0"
    PIN_CLI="taskset -c 1"
else
    say "fewer than 2 cores: nothing pinned"
    PIN_SRV=
    PIN_CLI=
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-regbench.XXXXXX") || exit 1

# NAME PID LOG CMD...: waits until CMD succeeds; exits 1 showing LOG when
# the process PID dies first or WAIT_S seconds pass.
wait_started() {
    ws_name=$1 ws_pid=$2 ws_log=$3
    shift 3
    ws_i=0
    while ! "$@" 2>/dev/null; do
        ws_i=$((ws_i + 1))
        if [ "$ws_i" -gt $((WAIT_S * 20)) ] ||
            ! kill -0 "$ws_pid" 2>/dev/null; then
            say "$ws_name did not start within ${WAIT_S}s:"
            cat "$ws_log" >&2
            exit 1
        fi
        sleep 0.05
    done
}

# ---------------------------------------------------------------- start
$PIN_SRV "$REG_BIN" --set listeners=http://127.0.0.1:0 \
    --set storage=journal --set "data.dir=$TMP/data" --set log.level=warn \
    >"$TMP/mesh-registry.log" 2>&1 &
REG_PID=$!
wait_started "mesh-registry" "$REG_PID" "$TMP/mesh-registry.log" \
    test -s "$TMP/data/url"
URL=$(cat "$TMP/data/url")

# JSON string content of a schema text (its quotes escaped).
escape() { printf '%s' "$1" | sed 's/"/\\"/g'; }

# METHOD PATH BODY: the answer body on stdout; fails unless status is 200.
call() {
    code=$(curl -s -o "$TMP/answer" -w '%{http_code}' -X "$1" \
        -H "Content-Type: $CT" ${3:+--data-binary "$3"} "$URL$2") || code=000
    cat "$TMP/answer" 2>/dev/null
    [ "$code" = 200 ] || { say "$1 $2 answered $code"; return 1; }
}

ans=$(call POST /subjects/bench/versions "{\"schema\":\"$(escape "$SCHEMA")\"}") ||
    exit 1
[ "$ans" = '{"id":1}' ] || { say "first registration answered $ans"; exit 1; }
BODY_BYTES=$(call GET /schemas/ids/1 | wc -c) || exit 1

# ---------------------------------------------------------------- GET
$PIN_SRV "$BARE_BIN" 0 "$BODY_BYTES" >"$TMP/bare.out" 2>&1 &
BARE_PID=$!
wait_started "bare_http" "$BARE_PID" "$TMP/bare.out" \
    grep -q '^port ' "$TMP/bare.out"
BARE_URL="http://127.0.0.1:$(sed -n 's/^port //p' "$TMP/bare.out")"

# URL: wrk's requests/s on stdout; fails on any error or non-2xx answer.
wrk_get() {
    $PIN_CLI wrk -t1 -c64 -d${GET_SECONDS}s "$1/schemas/ids/1" \
        >"$TMP/wrk.out" 2>&1 || { cat "$TMP/wrk.out" >&2; return 1; }
    if grep -q -E 'Non-2xx|Socket errors' "$TMP/wrk.out"; then
        say "errors against $1:"
        cat "$TMP/wrk.out" >&2
        return 1
    fi
    awk '/^Requests\/sec:/ { print $2 }' "$TMP/wrk.out"
}

best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }

reg_best=0
bare_best=0
r=1
while [ "$r" -le "$ROUNDS" ]; do
    if [ $((r % 2)) -eq 1 ]; then order="reg bare"; else order="bare reg"; fi
    for side in $order; do
        if [ "$side" = reg ]; then
            rate=$(wrk_get "$URL") || exit 1
            reg_best=$(best "$reg_best" "$rate")
        else
            rate=$(wrk_get "$BARE_URL") || exit 1
            bare_best=$(best "$bare_best" "$rate")
        fi
        say "round $r $side: $rate req/s"
    done
    r=$((r + 1))
done
stop_pid "$BARE_PID"
[ "$STOP_CODE" = 0 ] || say "bare_http exited $STOP_CODE after SIGTERM"
BARE_PID=
awk -v r="$reg_best" -v b="$bare_best" -v n="$BODY_BYTES" 'BEGIN {
    printf "registry GET /schemas/ids/{id}: %d req/s   bare libevent: %d req/s" \
           "   ratio %.2f (goal >= 0.8)   [%d-byte body, best of rounds]\n",
           r, b, (b > 0 ? r / b : 0), n }'
awk -v r="$reg_best" -v b="$bare_best" 'BEGIN {
    printf "registry GET by id|%d req/s|bare libevent %d req/s|%.2f|>= 0.8\n",
           r, b, (b > 0 ? r / b : 0) }' >>"${BENCH_SUMMARY:-/dev/null}"

# ---------------------------------------------------------------- register
call PUT /config '{"compatibility":"NONE"}' >/dev/null || exit 1
rss_before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$REG_PID/status")

# register_range FIRST COUNT: registrations FIRST .. FIRST+COUNT-1 (schema
# f<i> into subject s<i % SUBJECTS>), all answered 200 {"id":...}; sets
# REG_US to the microseconds from the first sent to the last answered.
#
# wrk calls request() once per request: bodies are made on the fly from i.
# After the COUNT-th registration is sent, fillers (GET /, answered {})
# keep the connections busy until the last registration is answered.
# Then the script writes ok/bad/elapsed to reg.result and stops its thread;
# wrk itself would idle until -d ran out, so the shell stops it once the
# file is there.  The clock is CLOCK_MONOTONIC through LuaJIT's ffi: wrk's
# own duration is always the -d value.
register_range() {
    rm -f "$TMP/reg.result"
    cat >"$TMP/register.lua" <<EOF
local ffi = require("ffi")
ffi.cdef[[
struct timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clk, struct timespec *ts);
]]
local ts = ffi.new("struct timespec")
local function now_us()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end
local template = '{"schema":"' .. string.gsub('$REG_SCHEMA', '"', '\\\\"') .. '"}'
local headers = { ["Content-Type"] = "$CT" }
local first, n, subjects = $1, $2, $SUBJECTS
local sent, ok, bad, sample, t0, finished = 0, 0, 0, "", nil, false

-- wrk calls request() once before the run to check the script (that
-- request is never sent), so n + 1 bodies are made for n registrations.
function request()
    if sent > n then
        return wrk.format("GET", "/")
    end
    if sent == 1 then
        t0 = now_us()
    end
    local i = first + sent - 1
    sent = sent + 1
    return wrk.format("POST", "/subjects/s" .. (i % subjects) .. "/versions",
                      headers, string.format(template, i))
end

function response(status, hdrs, body)
    if finished or (status == 200 and body == "{}") then
        return
    end
    if status == 200 and string.find(body, '"id"', 1, true) then
        ok = ok + 1
    else
        bad = bad + 1
        if sample == "" then sample = status .. " " .. body end
    end
    if ok + bad >= n then
        finished = true
        local f = io.open("$TMP/reg.tmp", "w")
        f:write(string.format("ok=%d bad=%d us=%d sample=%s\n", ok, bad,
                              now_us() - t0, sample))
        f:close()
        os.rename("$TMP/reg.tmp", "$TMP/reg.result")
        wrk.thread:stop()
    end
end
EOF

    $PIN_CLI wrk -t1 -c64 -d${REG_TIMEOUT_S}s --timeout 30s \
        -s "$TMP/register.lua" "$URL" >"$TMP/wrk-reg.out" 2>&1 &
    WRK_PID=$!
    while [ ! -s "$TMP/reg.result" ] && kill -0 "$WRK_PID" 2>/dev/null; do
        sleep 0.05
    done
    stop_pid "$WRK_PID"
    WRK_PID=
    res=$(cat "$TMP/reg.result" 2>/dev/null)
    ok=$(echo "$res" | sed -n 's/^ok=\([0-9]*\).*/\1/p')
    bad=$(echo "$res" | sed -n 's/.* bad=\([0-9]*\).*/\1/p')
    if [ "${ok:-0}" -ne "$2" ] || [ "${bad:-1}" -ne 0 ]; then
        say "registrations: ok=${ok:-?} bad=${bad:-?} of $2" \
            "within ${REG_TIMEOUT_S}s: ${res:-no result}"
        cat "$TMP/wrk-reg.out" >&2
        exit 1
    fi
    REG_US=$(echo "$res" | sed -n 's/.* us=\([0-9]*\).*/\1/p')
    # The last id proves every registration got its own schema (id 1 is
    # the GET benchmark's schema).
    call GET "/schemas/ids/$(($1 + $2))" >/dev/null || exit 1
}

# growth_point N: GET /schemas/ids/<random id> requests/s and VmRSS with N
# schemas registered (ids 1..N+1): one row of the growth table.
growth_point() {
    cat >"$TMP/lookup.lua" <<EOF
math.randomseed(42)
function request()
    return wrk.format("GET", "/schemas/ids/" .. math.random(1, $(($1 + 1))))
end
EOF
    $PIN_CLI wrk -t1 -c64 -d${GROWTH_SECONDS}s -s "$TMP/lookup.lua" "$URL" \
        >"$TMP/wrk-look.out" 2>&1 || { cat "$TMP/wrk-look.out" >&2; exit 1; }
    if grep -q -E 'Non-2xx|Socket errors' "$TMP/wrk-look.out"; then
        say "errors in the lookups:"
        cat "$TMP/wrk-look.out" >&2
        exit 1
    fi
    look=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/wrk-look.out")
    kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$REG_PID/status")
    echo "$1 $look $kb" >>"$TMP/growth"
}

: >"$TMP/growth"
register_range 1 1000
us1=$REG_US
growth_point 1000
register_range 1001 $((REG_COUNT - 1000))
us=$((us1 + REG_US))
awk -v n="$REG_COUNT" -v subj="$SUBJECTS" -v us="$us" 'BEGIN {
    printf "registrations: %d distinct schemas into %d subjects in %.2f s:" \
           " %d registrations/s   (64 connections)\n",
           n, subj, us / 1e6, n / (us / 1e6) }'

# ---------------------------------------------------------------- memory
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$REG_PID/status")
awk -v kb="$rss" -v kb0="$rss_before" 'BEGIN {
    printf "RSS with 10,000 schemas: %.1f MB (goal < 50 MB)   [%.1f MB before" \
           " registering; MB = 10^6 bytes]\n", kb * 1024 / 1e6, kb0 * 1024 / 1e6 }'

# ---------------------------------------------------------------- growth
growth_point "$REG_COUNT"
register_range $((REG_COUNT + 1)) $((GROWTH_MAX - REG_COUNT))
growth_point "$GROWTH_MAX"
echo "how cost grows with the schemas held (GET /schemas/ids/<random>," \
    "wrk -c64 ${GROWTH_SECONDS}s; MB = 10^6 B):"
awk 'BEGIN { printf "  %8s %12s %9s %13s\n", "schemas", "lookups/s",
             "RSS MB", "B per schema" }
     NR == 1 { kb0 = $3; n0 = $1 }
     { printf "  %8d %12.0f %9.1f %13s\n", $1, $2, $3 * 1024 / 1e6,
              (NR > 1 ? sprintf("%.0f", ($3 - kb0) * 1024 / ($1 - n0)) : "-") }
' "$TMP/growth"
awk -v max="$GROWTH_MAX" '{ look[NR] = $2; kb = $3 }
     END { printf "registry RSS, %dk schemas|%.1f MB|lookups/s %.0f at 1k, " \
           "%.0f at %dk|%.2f|< 300 MB; lookups flat\n", max / 1000,
           kb * 1024 / 1e6, look[1], look[NR], max / 1000,
           (look[1] > 0 ? look[NR] / look[1] : 0) }' "$TMP/growth" \
    >>"${BENCH_SUMMARY:-/dev/null}"

# ---------------------------------------------------------------- stop
stop_pid "$REG_PID"
REG_PID=
if [ "$STOP_CODE" != 0 ]; then
    say "mesh-registry exited $STOP_CODE after SIGTERM:"
    tail -n 20 "$TMP/mesh-registry.log" >&2
    exit 1
fi
echo "mesh-registry stopped with SIGTERM: exit 0"
exit 0
