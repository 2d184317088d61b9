#!/usr/bin/env bash
# Runs every libFuzzer target of a SAN=fuzz build for a while (make fuzz).
#   tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]
# Each target fz_<name> starts from its corpus under BUILD_DIR/corpus/<name>
# (where new inputs go, kept across runs), the seeds tests/fuzz/seeds.py
# derives from the test data (BUILD_DIR/seeds/<name>) and its regression
# cases (tests/data/fuzz/<name>/).  Per target one line: executions, exec/s,
# corpus size, coverage (edges and features).  A crash, leak, sanitizer
# report, broken property or timeout leaves its input under
# BUILD_DIR/crashes/<name>/ and makes the script exit 1, after the others
# ran.  The full output of each run is BUILD_DIR/logs/<name>.log.
set -u
build=${1:?usage: tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]}
secs=${2:?usage: tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]}
shift 2
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
# Reports stop the run (libFuzzer keeps the input); leaks are reported too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for bin in "$build"/tests/fuzz/fz_*; do
        [ -x "$bin" ] && names+=("$(basename "$bin" | sed 's/^fz_//')")
    done
fi
[ ${#names[@]} -gt 0 ] || { echo "fuzz: no targets in $build/tests/fuzz"; exit 1; }
python3 tests/fuzz/seeds.py "$build/seeds" "${names[@]}" || exit 1
mkdir -p "$build/logs"

failed=()
printf '%-8s %12s %8s %7s %7s %8s  %s\n' target execs exec/s corpus cov ft result
for name in "${names[@]}"; do
    bin="$build/tests/fuzz/fz_$name"
    log="$build/logs/$name.log"
    corpus="$build/corpus/$name" crashes="$build/crashes/$name"
    mkdir -p "$corpus" "$crashes"
    dirs=("$corpus" "$build/seeds/$name")
    [ -d "tests/data/fuzz/$name" ] && dirs+=("tests/data/fuzz/$name")
    opts=(-max_total_time="$secs" -print_final_stats=1 -timeout=20
          -rss_limit_mb=2048 -artifact_prefix="$crashes/")
    # The tokens of each input's language, which random bytes rarely hit.
    case $name in
    schema | serde | jtext | envelope | restbody) dict=avro.dict ;;
    product | policy) dict=yaml.dict ;;
    *) dict= ;;
    esac
    [ -n "$dict" ] && opts+=(-dict="tests/fuzz/$dict")
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin not built"
        failed+=("$name")
        continue
    fi
    "$bin" "${opts[@]}" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    # The last status line: "#N <event> cov: C ft: F corp: U/SIZE ..."
    status=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$status")
    result=ok
    if [ "$rc" -ne 0 ]; then
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        result="FAILED (exit $rc; input ${input:-none written}; log $log)"
        failed+=("$name")
    fi
    printf '%-8s %12s %8s %7s %7s %8s  %s\n' "$name" "${execs:-?}" \
        "${rate:-?}" "${corp:-?}" "${cov:-?}" "${ft:-?}" "$result"
    if [ "$rc" -ne 0 ]; then
        grep -aE 'ERROR: |fuzz property broken|runtime error|SUMMARY' "$log" |
            head -5 | sed 's/^/    /'
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
    exit 1
fi
echo "fuzz: ${#names[@]} target(s), ${secs}s each, no failure"
