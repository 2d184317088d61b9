#!/usr/bin/env bash
# Runs Meshwork's tests against one build directory and prints a summary.
#   tests/run.sh BUILD_DIR [unit|integration|all]
# Unit tests: every $BUILD/tests/test_* binary (cmocka), found by name.
# Fuzz regression cases (with the unit tests): every $BUILD/tests/fuzz/fz_*
# (a fuzz target linked with tests/fuzz/driver.c) over its cases in
# tests/data/fuzz/<name>/ and the seeds tests/fuzz/seeds.py derives.
# Integration tests: pytest over tests/integration with MESH_BUILD=$BUILD.
# The last line is "total: N passed, N failed, N skipped"; exit 1 on any
# failure.
#
# A subset (make tsan) is chosen through the environment:
#   MESH_UNIT_TESTS  unit test names to run ("test_reg_store_journal ..."),
#                    default every $BUILD/tests/test_*; a name that was not
#                    built fails
#   MESH_PYTEST      pytest files or node ids, default tests/integration
#   MESH_PYTEST_K    a pytest -k expression, default none
# A ThreadSanitizer build (its binaries link libtsan) runs everything with
# ASLR off (TSan refuses some kernels' randomized mappings) and with
# TSAN_OPTIONS naming tests/tsan.supp.
set -u
build=${1:?usage: tests/run.sh BUILD_DIR [unit|integration|all]}
what=${2:-all}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export MESH_BUILD="$top/$build"
# Sanitizers: stop at the first error, report leaks, keep going in tests
# that expect a child to die (they check exit codes themselves).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# ThreadSanitizer: stop at the first report (exit 66), both stacks of a
# deadlock; the suppressions cover only races entirely inside librdkafka,
# libevent or glibc (see the file).
# ignore_noninstrumented_modules: librdkafka and libevent are not built with
# TSan, so it cannot see their own synchronisation (librdkafka drops buffer
# references with atomics); what they do through TSan's interceptors is not
# checked, every access of our code still is (tests/tsan.supp says more).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1 suppressions=$top/tests/tsan.supp}
# Runs "$@", with ASLR off when this is a ThreadSanitizer build.
run() {
    if [ -n "$tsan" ]; then
        setarch "$(uname -m)" -R "$@"
    else
        "$@"
    fi
}
tsan=
for b in "$MESH_BUILD"/bin/*; do
    [ -x "$b" ] || continue
    ldd "$b" 2>/dev/null | grep -q libtsan && tsan=1
    break
done
logdir="$top/$build/test-logs"
mkdir -p "$logdir"

passed=0 failed=0 skipped=0
failures=()

run_unit() {
    local bin name out bins=()
    if [ -n "${MESH_UNIT_TESTS:-}" ]; then
        for name in $MESH_UNIT_TESTS; do
            bins+=("$MESH_BUILD/tests/$name")
        done
    else
        bins=("$MESH_BUILD"/tests/test_*)
    fi
    for bin in "${bins[@]}"; do
        name=$(basename "$bin")
        if [ ! -x "$bin" ]; then
            # An explicitly named test that is missing is a failure, not
            # nothing to do; the glob's literal pattern means none was built.
            if [ -n "${MESH_UNIT_TESTS:-}" ]; then
                echo "FAIL unit/$name (not built: $bin)"
                failures+=("unit/$name")
                failed=$((failed + 1))
            fi
            continue
        fi
        out="$logdir/$name.log"
        if run "$bin" >"$out" 2>&1; then
            echo "PASS unit/$name"
        else
            echo "FAIL unit/$name (log: $out)"
            tail -n 30 "$out" | sed 's/^/    /'
            failures+=("unit/$name")
        fi
        # cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N ..."
        local p f
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
        passed=$((passed + ${p:-0}))
        if [ -n "$f" ]; then
            failed=$((failed + f))
        elif ! grep -q '^\[  PASSED  \]' "$out"; then
            failed=$((failed + 1)) # crashed before cmocka's summary
        fi
    done
}

# Replays each fuzz target's regression cases and seed corpus (no clang
# needed: the targets are linked with a main that reads files).  Skipped
# when MESH_UNIT_TESTS names a subset (make tsan).
run_fuzz_replay() {
    local bin name out seeds="$top/$build/fuzz-seeds" dirs
    [ -n "${MESH_UNIT_TESTS:-}" ] && return
    for bin in "$MESH_BUILD"/tests/fuzz/fz_*; do
        [ -x "$bin" ] || continue
        name=$(basename "$bin" | sed 's/^fz_//')
        out="$logdir/fuzz_$name.log"
        dirs=()
        if python3 tests/fuzz/seeds.py "$seeds" "$name" >"$out" 2>&1; then
            dirs+=("$seeds/$name")
        fi
        [ -d "tests/data/fuzz/$name" ] && dirs+=("tests/data/fuzz/$name")
        # A target without seeds fails here (seeds.py said why, in the log).
        if [ -d "$seeds/$name" ] && run "$bin" "${dirs[@]}" >>"$out" 2>&1; then
            echo "PASS fuzz/$name ($(tail -n1 "$out" | sed 's/^fuzz driver: //'))"
            passed=$((passed + 1))
        else
            echo "FAIL fuzz/$name (log: $out)"
            tail -n 30 "$out" | sed 's/^/    /'
            failures+=("fuzz/$name")
            failed=$((failed + 1))
        fi
    done
}

# run_pytest NAME XML SELECTION...: one pytest run, its counts added.
run_pytest() {
    local name="$1" xml="$2" py="$top/build/venv/bin/python"
    shift 2
    [ -x "$py" ] || py=/usr/bin/python3
    rm -f "$xml"
    run "$py" -m pytest "$@" -v -rfEs --junitxml="$xml" -p no:cacheprovider
    local rc=$?
    if [ -f "$xml" ]; then
        read -r p f s < <("$py" - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(x.get("tests", 0)) for x in suites)
f = sum(int(x.get("failures", 0)) + int(x.get("errors", 0)) for x in suites)
s = sum(int(x.get("skipped", 0)) for x in suites)
print(t - f - s, f, s)
PY
        )
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    fi
    # rc 5 = no tests collected: not a failure of the suite by itself.
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then
        failures+=("$name (pytest exit $rc)")
        [ -f "$xml" ] || failed=$((failed + 1))
    fi
}

run_integration() {
    local sel=(tests/integration)
    [ -n "${MESH_PYTEST:-}" ] && read -r -a sel <<<"$MESH_PYTEST"
    [ -n "${MESH_PYTEST_K:-}" ] && sel+=(-k "$MESH_PYTEST_K")
    run_pytest integration "$logdir/pytest.xml" "${sel[@]}"
    # The whole suite also runs the registry's API tests again with
    # principals on, as an admin (tests/integration/registry.py): auth must
    # change nothing for a principal allowed to do everything.
    if [ -z "${MESH_PYTEST:-}" ] && [ -z "${MESH_PYTEST_K:-}" ]; then
        MESH_REGISTRY_AUTH=admin run_pytest "integration, auth on" \
            "$logdir/pytest-auth.xml" tests/integration/test_registry_api.py
    fi
}

case "$what" in
unit) run_unit; run_fuzz_replay ;;
integration) run_integration ;;
all) run_unit; run_fuzz_replay; run_integration ;;
*) echo "unknown test set '$what' (expected unit, integration or all)" >&2; exit 2 ;;
esac

echo
if [ ${#failures[@]} -gt 0 ]; then
    echo "failed: ${failures[*]}"
fi
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
