#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, combined broker+controller) on
# loopback, built from Maven Central jars: Java 17 and Maven, no Docker, no
# tarball.  Used by `make kafka` and by tests/integration/realkafka.py.
#
#   kafka.sh fetch                      resolve the pinned jars once (cached)
#   kafka.sh run [DIR [PORT [CPORT]]]   foreground broker, Ctrl-C stops it
#   kafka.sh start DIR PORT CPORT       background broker, returns when ready
#   kafka.sh stop DIR                   SIGTERM, SIGKILL after 30 s
#
# The Kafka version is pinned in tests/kafka/pom.xml.  Jars go to build/kafka/lib,
# Maven's cache to build/m2, so `make clean` is the only reset.
#
# Environment: MESH_KAFKA_HEAP (default "-Xms256m -Xmx512m"), MESH_KAFKA_JVM_OPTS
# (extra JVM flags), MESH_KAFKA_START_TIMEOUT (s, default 60),
# MESH_KAFKA_STOP_TIMEOUT (s, default 30).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
home=$root/build/kafka
m2=$root/build/m2
lib=$home/lib
stamp=$home/.fetched

die() { echo "kafka.sh: $*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

need_java() {
    command -v java >/dev/null ||
        die "java not found: install openjdk-17-jre-headless (make deps)"
}

# The stamp holds the pom's checksum: editing the pinned version refetches.
fetch() {
    local want
    want=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
    command -v mvn >/dev/null || die "mvn not found: install maven (make deps)"
    need_java
    mkdir -p "$home"
    # Parallel test sessions may fetch at the same time; one resolves.
    exec 9>"$home/.lock"
    flock 9
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        exec 9>&-
        return 0
    fi
    local t0=$SECONDS
    echo "kafka.sh: resolving Kafka jars from Maven Central into $lib" >&2
    rm -rf "$lib.tmp"
    if ! mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$m2" \
            -f "$here/pom.xml" dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$lib.tmp" \
            >"$home/fetch.log" 2>&1; then
        tail -n 40 "$home/fetch.log" >&2
        die "mvn failed (full log: $home/fetch.log)"
    fi
    rm -rf "$lib"
    mv "$lib.tmp" "$lib"
    echo "$want" >"$stamp"
    echo "kafka.sh: $(ls "$lib" | wc -l) jars, $(du -sh "$lib" | cut -f1)," \
         "in $((SECONDS - t0)) s" >&2
    exec 9>&-
}

kafka_version() {
    local j
    j=$(ls "$lib"/kafka_2.13-*.jar 2>/dev/null | head -n 1)
    j=${j##*/kafka_2.13-}
    echo "${j%.jar}"
}

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ] && [ "$1" -lt 65536 ]; }

# Writes DIR/server.properties from the template.
configure() {
    local dir=$1 port=$2 cport=$3
    is_port "$port" || die "bad port '$port'"
    is_port "$cport" || die "bad controller port '$cport'"
    [ "$port" != "$cport" ] || die "port and controller port are both $port"
    mkdir -p "$dir/logs"
    sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" \
        -e "s|@DATA_DIR@|$dir|g" "$here/server.properties.in" \
        >"$dir/server.properties"
}

log_opts() {
    echo "-Dlog4j2.configurationFile=$here/log4j2.properties" \
         "-Dkafka.logs.dir=$1/logs"
}

# A KRaft log directory must be formatted once with a cluster id; a directory
# kept from an earlier run is reused as it is.
format() {
    local dir=$1 cid
    [ -f "$dir/data/meta.properties" ] && return 0
    # 16 random bytes, base64url without padding: what Kafka's Uuid expects.
    # An id starting with '-' reads as an option to the tool's argument
    # parser (Kafka's own generator never makes one), so draw again.
    cid=-
    while [ "${cid:0:1}" = - ]; do
        cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
    done
    # Short-lived JVM: skip the optimizing compiler, it only costs start-up.
    # shellcheck disable=SC2046
    if ! java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
            $(log_opts "$dir") -cp "$lib/*" kafka.tools.StorageTool format \
            --cluster-id="$cid" -c "$dir/server.properties" >"$dir/logs/format.out" 2>&1
    then
        cat "$dir/logs/format.out" >&2
        die "formatting $dir/data failed"
    fi
}

# Foreground broker; exec so that the JVM gets the caller's signals (Ctrl-C,
# SIGTERM) directly and its pid is this script's pid.
run() {
    local dir=${1:-$home/run} port=${2:-19092} cport
    cport=${3:-$((port + 1))}
    fetch
    need_java
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    configure "$dir" "$port" "$cport"
    format "$dir"
    echo "kafka.sh: Apache Kafka $(kafka_version) on 127.0.0.1:$port" \
         "(controller 127.0.0.1:$cport), data and logs in $dir" >&2
    # shellcheck disable=SC2046,SC2086
    exec java ${MESH_KAFKA_HEAP:--Xms256m -Xmx512m} -XX:+UseG1GC \
        -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true $(log_opts "$dir") \
        ${MESH_KAFKA_JVM_OPTS:-} -cp "$lib/*" kafka.Kafka "$dir/server.properties"
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# The broker logs this line once it serves requests.
started() { grep -q 'Kafka Server started' "$1/logs/server.log" 2>/dev/null; }

start() {
    [ $# -eq 3 ] || usage
    local dir=$1 port=$2 cport=$3 pid deadline
    fetch
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/kafka.pid" ] && alive "$(cat "$dir/kafka.pid")" &&
        die "a broker already runs from $dir (pid $(cat "$dir/kafka.pid"))"
    rm -f "$dir/logs/server.log"
    setsid "$0" run "$dir" "$port" "$cport" >"$dir/kafka.out" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/kafka.pid"
    deadline=$((SECONDS + ${MESH_KAFKA_START_TIMEOUT:-60}))
    until started "$dir"; do
        if ! alive "$pid"; then
            tail -n 20 "$dir/kafka.out" >&2
            die "broker exited during start-up (full log: $dir/logs/server.log)"
        fi
        if [ $SECONDS -ge $deadline ]; then
            stop "$dir"
            die "broker not ready after ${MESH_KAFKA_START_TIMEOUT:-60} s (logs in $dir)"
        fi
        sleep 0.2
    done
    echo "127.0.0.1:$port"
}

stop() {
    [ $# -eq 1 ] || usage
    local dir=$1 pid deadline
    [ -f "$dir/kafka.pid" ] || return 0
    pid=$(cat "$dir/kafka.pid")
    if alive "$pid"; then
        kill -TERM "$pid"
        deadline=$((SECONDS + ${MESH_KAFKA_STOP_TIMEOUT:-30}))
        while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
        if alive "$pid"; then
            echo "kafka.sh: broker $pid ignored SIGTERM, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$dir/kafka.pid"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    fetch) fetch ;;
    run) run "$@" ;;
    start) start "$@" ;;
    stop) stop "$@" ;;
    *) usage ;;
esac
