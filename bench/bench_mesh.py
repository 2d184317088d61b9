"""bench_mesh: the private mesh-broker and mesh-registry the Python
benchmarks of bench/ run against, started from BUILD_DIR/bin through the
integration tests' helpers (127.0.0.1, port 0, a private directory) and
always stopped, the directory removed, also when a step fails.

    with bench_mesh.mesh(bins, "meshwork-fresh-") as (tmp, broker, registry):
        ...
"""

import contextlib
import os
import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from meshbroker import MeshBroker  # noqa: E402
from registry import MeshRegistry  # noqa: E402


def stop_all(*daemons):
    """Stops each daemon still running (None and stopped ones are fine)."""
    for d in daemons:
        if d is not None and d.proc is not None and d.proc.poll() is None:
            d.stop()


@contextlib.contextmanager
def mesh(bins, prefix):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    broker = registry = None
    try:
        broker = MeshBroker(bins / "mesh-broker", tmp / "broker")
        registry = MeshRegistry(bins / "mesh-registry", tmp / "registry")
        yield tmp, broker, registry
    finally:
        stop_all(registry, broker)
        shutil.rmtree(tmp, ignore_errors=True)


def pct(ages, p):
    """The p-th percentile of ages (nearest rank)."""
    s = sorted(ages)
    return s[min(len(s) - 1, int(len(s) * p / 100.0))]


# The materializer's batching in the freshness runs: its defaults (a batch
# commits as soon as the consumer runs dry), a 50-ms linger, and batches
# held to batch.max.ms (500) whatever the rate, as before the linger
# existed.  The goal is the defaults'.
BATCHING = [("defaults", {}),
            ("batch.linger.ms=50", {"batch.linger.ms": "50"}),
            ("batch.linger.ms=500", {"batch.linger.ms": "500"})]


def report_freshness(results, rate, row_label, late_unit, summary_name):
    """Prints the freshness benchmarks' table and appends their rows to
    $BENCH_SUMMARY when set.  results: [(label, {"rows": ages,
    "kafka": ages, "rate": events/s, "late": count})], label one of
    BATCHING's, ages in ms; the Kafka-alone ages are the limit (figure /
    limit as the ratio)."""
    import statistics
    print("%-34s %9s %9s %9s %9s   (ms; %d events/s asked)"
          % ("age at", "p50", "p99", "max", "ev/s", rate))
    for label, r in results:
        for what, name in (("rows", "%s, %s" % (row_label, label)),
                           ("kafka", "  Kafka alone (limit)")):
            a = r[what]
            print("%-34s %9.1f %9.1f %9.1f %9.0f" % (
                name, statistics.median(a), pct(a, 99), max(a), r["rate"]))
        if r["late"]:
            print("  (%d %s went more than 50 ms late)" % (r["late"],
                                                           late_unit))
    summary = os.environ.get("BENCH_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            for label, r in results:
                row, lim = pct(r["rows"], 99), pct(r["kafka"], 99)
                f.write("%s, %s|p99 %.0f ms|Kafka alone p99 %.0f ms|%.2f|"
                        "%s\n" % (summary_name, label, row, lim, row / lim,
                                  "p99 < 100 ms" if label == "defaults"
                                  else "-"))
