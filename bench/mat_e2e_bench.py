"""mat_e2e_bench: mesh-materializer end to end into SQLite (an
optional row), beside the SQLite sink alone.

    python mat_e2e_bench.py BUILD_DIR [EVENTS] [SINK_ROWS_S]

Uses BUILD_DIR/bin's mesh-broker, mesh-registry and mesh-materializer (the
release build under `make bench`) through the integration tests' helpers
(tests/integration: daemons on 127.0.0.1 port 0, private directories), so
it needs the test venv (confluent-kafka, from `make deps`).

  1. Before the window: EVENTS (default 300000) Debezium change events,
     the inserts of keys 0..EVENTS-1 in order, like the sink-only
     benchmark's (tests/integration/cdcgen.py: key {"id"}, value envelope
     whose row has 5 columns), serialized by Confluent's
     AvroSerializer against the registry, produced to a 32-partition topic
     and acknowledged.  32 partitions keep every partition under the
     librdkafka mock's ~5 MiB retention.
  2. The window: mesh-materializer (sink=sqlite, defaults otherwise:
     batch.max.records 5000, WAL, synchronous=FULL) is started on the
     topic; its consumption is followed from outside, by reading the sum
     of `_mesh_offsets.next_offset` every 20 ms (a WAL reader: the daemon's
     loop is not disturbed, unlike polling /metrics).  The window opens at
     the first committed batch (start-up, group join and the first fetch
     stay outside) and closes when every record is committed.
  3. Checks: the table holds EVENTS rows and the offsets the end offsets;
     SIGTERM, exit 0.

Prints records/s, then "result e2e-sqlite insert RATE SINK_ROWS_S
sqlite-sink -" for bench/mat_bench.sh, SINK_ROWS_S being the sink-only
insert figure of the same run (mat_sqlite_bench: 7 columns rather than
5, otherwise the same path).  Exit 0 when every step and check succeeded.
"""

import pathlib
import shutil
import sqlite3
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import cdcgen  # noqa: E402
from materializer import MeshMaterializer  # noqa: E402
from meshbroker import MeshBroker  # noqa: E402
from registry import MeshRegistry  # noqa: E402

PARTITIONS = 32
TOPIC = "bench.items.v1"
POLL_S = 0.02
DEADLINE_S = 600.0


def committed(db):
    """Sum of the stored next offsets, 0 before the sink created them."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
        try:
            row = con.execute("SELECT coalesce(sum(next_offset), 0) FROM "
                              "_mesh_offsets").fetchone()
            return row[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def follow(mat, db, total):
    """(records in the window, seconds) from the first committed batch to
    the last record."""
    deadline = time.monotonic() + DEADLINE_S
    first = t_first = None
    while time.monotonic() < deadline:
        if mat.proc.poll() is not None:
            raise RuntimeError("mesh-materializer exited with %d:\n%s"
                               % (mat.proc.returncode, mat.log()[-3000:]))
        done = committed(db)
        now = time.monotonic()
        if done and first is None:
            first, t_first = done, now
        if done >= total:
            return total - first, now - t_first
        time.sleep(POLL_S)
    raise TimeoutError(f"only {committed(db)} of {total} records committed "
                       f"after {DEADLINE_S:.0f}s")


def produce_inserts(gen, events):
    """Inserts of keys 0..events-1 in order, as the sink-only benchmark
    writes them (cdcgen.produce draws keys at random: random inserts into
    SQLite's B-tree cost more than the loop's share we want to see)."""
    for key in range(events):
        row = gen._row(key, 1)
        gen._send(key, gen._envelope("c", None, row), 1)
        gen.rows[key] = row
        gen.ops["c"] += 1
        gen.events += 1


def run(bins, tmp, events):
    broker = registry = mat = None
    try:
        broker = MeshBroker(bins, tmp / "broker")
        registry = MeshRegistry(bins, tmp / "registry")
        t0 = time.monotonic()
        gen = cdcgen.CdcGen(broker.bootstrap, registry.url, TOPIC,
                            partitions=PARTITIONS, keys=events)
        produce_inserts(gen, events)
        res = gen.result(timeout=300.0)
        gen = None  # its producer goes before the broker does
        total = sum(res.end_offsets.values())
        print(f"mat_e2e: {res.events} change events ({res.ops['c']} "
              f"inserts) in {total} records on {PARTITIONS} partitions, "
              f"produced in {time.monotonic() - t0:.1f}s (outside the "
              f"window)", flush=True)
        db = tmp / "e2e.db"
        mat = MeshMaterializer(bins, tmp / "materializer", sets={
            "sink": "sqlite", "sqlite.path": str(db), "topics": TOPIC,
            "group.id": "bench-e2e", "registry.url": registry.url,
            "kafka.bootstrap.servers": broker.bootstrap,
            "table.name": "items", "log.level": "warn"})
        n, secs = follow(mat, db, total)
        con = sqlite3.connect(str(db))
        rows = con.execute("SELECT count(*) FROM items").fetchone()[0]
        con.close()
        code, mat = mat.stop(), None
        if rows != len(res.expected) or code != 0:
            raise RuntimeError(f"the table holds {rows} rows, expected "
                               f"{len(res.expected)}; exit code {code}")
        return n / secs, n, secs
    finally:
        for d in (mat, registry, broker):
            if d is not None and d.proc is not None and \
                    d.proc.poll() is None:
                d.stop()


def main(argv):
    if len(argv) < 2:
        print("usage: mat_e2e_bench.py BUILD_DIR [EVENTS] [SINK_ROWS_S]",
              file=sys.stderr)
        return 2
    bins = pathlib.Path(argv[1]).resolve() / "bin"
    events = int(argv[2]) if len(argv) > 2 else 300000
    sink = float(argv[3]) if len(argv) > 3 else 0.0
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="meshwork-mate2e-"))
    try:
        rate, n, secs = run(bins, tmp, events)
    except Exception as e:  # a failed step, reported as such
        print(f"mat_e2e_bench: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"mat_e2e sqlite: {rate:.0f} records/s ({n} records in "
          f"{secs:.2f}s, Kafka to committed SQLite rows)")
    print(f"result e2e-sqlite insert {rate:.0f} {sink:.0f} sqlite-sink -")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
