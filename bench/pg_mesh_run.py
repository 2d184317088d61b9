"""pg_mesh_run: the mesh-producer row of bench/pg_cdc_bench.sh.

    python pg_mesh_run.py BUILD_DIR PG_PORT PG_DB EXPECTED SCRATCH_DIR

Starts a private mesh-broker and mesh-registry from BUILD_DIR/bin (the
integration tests' helpers: 127.0.0.1, port 0, private directories),
creates the three topics with 16 partitions each (so that no partition
passes the broker's ~5 MiB retention during the run), then runs
mesh-producer source=pg on slot cdc_mesh / publication cdc_pub
(snapshot.mode=never, tombstones.on.delete=false so that events =
changes, emit.transactions off, defaults otherwise) until it has sent
EXPECTED change events and the slot's confirmed LSN has passed them.

The window runs from the first change the daemon sent to the last one,
read from its /metrics every 20 ms (mesh_producer_pg_changes_total): start-
up, connection and schema registration are outside it, as they are for
Debezium.  Peak RSS is the daemon's VmHWM read just before SIGTERM.

Prints one line: "mesh: events=N window_s=S vm_hwm_kb=K cpu_s=C".
With PG_MESH_PERF=FILE in the environment, `perf record -g` samples the
daemon during the run into FILE (for `perf report -i FILE`);
PG_MESH_PERF_OPTS replaces -g (e.g. "--call-graph dwarf").
"""

import os
import pathlib
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from meshbroker import MeshBroker  # noqa: E402
from producer import MeshProducer  # noqa: E402
from registry import MeshRegistry  # noqa: E402

TABLES = ("cdc_orders", "cdc_events", "cdc_counters")
POLL_S = 0.02
DEADLINE_S = 300.0


def changes(p):
    return sum(v for (name, _labels), v in p.metrics().items()
               if name == "mesh_producer_pg_changes_total")


def proc_stat(pid, key):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
    utime, stime = fields.split()[11:13]
    return (int(utime) + int(stime)) / 100.0


def main():
    build, port, db, expected, scratch = sys.argv[1:6]
    bins = pathlib.Path(build) / "bin"
    scratch = pathlib.Path(scratch)
    expected = int(expected)
    broker = MeshBroker(bins / "mesh-broker", scratch / "broker")
    registry = MeshRegistry(bins / "mesh-registry", scratch / "registry")
    producer = None
    try:
        for t in TABLES:
            broker.create_topic(f"bench.public.{t}", 16)
        sets = {"source": "pg",
                "pg.conninfo": f"host=127.0.0.1 port={port} dbname={db} "
                               "user=postgres",
                "pg.tables": ",".join(f"public.{t}" for t in TABLES),
                "pg.slot": "cdc_mesh", "pg.publication": "cdc_pub",
                "pg.state.dir": str(scratch / "state"),
                "snapshot.mode": "never", "tombstones.on.delete": "false",
                "topic.prefix": "bench", "registry.url": registry.url,
                "kafka.bootstrap.servers": broker.bootstrap,
                "log.level": "warn"}
        producer = MeshProducer(bins / "mesh-producer", scratch / "producer",
                                sets=sets)
        perf = None
        if os.environ.get("PG_MESH_PERF"):
            perf = subprocess.Popen(
                ["perf", "record", "-q",
                 *os.environ.get("PG_MESH_PERF_OPTS", "-g").split(), "-F",
                 "4000", "-o",
                 os.environ["PG_MESH_PERF"], "-p", str(producer.proc.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + DEADLINE_S
        first = last = None
        n = 0
        while time.monotonic() < deadline:
            n = changes(producer)
            now = time.monotonic()
            if n > 0 and first is None:
                first = now
            if n >= expected:
                last = now
                break
            time.sleep(POLL_S)
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        hwm = proc_stat(producer.proc.pid, "VmHWM")
        cpu = cpu_seconds(producer.proc.pid)
        window = (last - first) if first and last else 0
        print(f"mesh: events={int(n)} window_s={window:.3f} vm_hwm_kb={hwm} "
              f"cpu_s={cpu:.1f}")
        code = producer.stop()
        producer = None
        return 0 if n >= expected and code == 0 else 1
    finally:
        if producer is not None:
            producer.kill()
        registry.stop()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
