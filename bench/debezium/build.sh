#!/bin/sh
# bench/debezium/build.sh [BUILD_DIR]: builds the Debezium capture program
# into BUILD_DIR/debezium (default: the repository's build/), offline when
# the local Maven repository already has every artifact, else online (Maven
# Central).  Quiet; prints the jar's path on success.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$TOP/build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
POM="$TOP/bench/debezium/pom.xml"
JAR="$BUILD/debezium/debezium-capture.jar"
if [ -f "$JAR" ] && [ -z "$(find "$TOP/bench/debezium" -newer "$JAR" \
        \( -name '*.java' -o -name pom.xml \) 2>/dev/null)" ]; then
    echo "$JAR"
    exit 0
fi
if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
    echo "debezium build: needs java (17) and mvn" >&2
    exit 1
fi
LOG=$(mktemp) || exit 1
if ! mvn -q -B -o -f "$POM" -Dmeshwork.build="$BUILD" package >"$LOG" 2>&1 &&
   ! mvn -q -B -f "$POM" -Dmeshwork.build="$BUILD" package >"$LOG" 2>&1; then
    echo "debezium build: mvn failed:" >&2
    tail -n 30 "$LOG" >&2
    rm -f "$LOG"
    exit 1
fi
rm -f "$LOG"
echo "$JAR"
