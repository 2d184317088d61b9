"""mat_growth_bench: how mesh-materializer's cost grows with the number of
partitions it reads and the width of the records, end to end into SQLite.

    python mat_growth_bench.py BUILD_DIR [EVENTS]

Uses BUILD_DIR/bin's mesh-broker, mesh-registry and mesh-materializer (the
release build under `make bench`) through the integration tests' helpers
(daemons on 127.0.0.1 port 0, private directories); needs the test venv.

Each case: EVENTS (default 50,000) plain records with distinct keys
({"id": long} keys and values serialized by Confluent's AvroSerializer),
produced and acknowledged before the window, then a fresh
mesh-materializer (sink=sqlite, mode=upsert, kafka.fetch.wait.max.ms=10
as mesh-broker needs, defaults otherwise) timed
from its first committed batch to the last record committed, followed
from outside through `_mesh_offsets` as mat_e2e_bench does.

  partitions  1, 8 and 64 partitions of 10-field records;
  fields      10 and 100 fields (long, string and double in turn) on 64
              partitions: the per-field cost;
  scale-out   one, then two instances in one group on 200,000 records
              of a 32-partition topic, each instance with its own SQLite
              file, timed from the first committed batch to the last
              record committed; the files together must hold every key
              exactly once.

Sizes stay below mesh-broker's ~5 MiB per partition (50,000 records of
10 fields are ~4 MB on one partition; of 100 fields, ~0.6 MB on each of
64).  The windows are short (a few tenths of a second, sampled every
20 ms), so the figures are coarse: they show the shape of the growth.  The materializer's peak RSS
(VmHWM) is shown per case.  Prints one table and appends its rows to
$BENCH_SUMMARY when set.  Exit 1 when a case fails its checks (every key
a row, the offsets at the end offsets, exit 0 on SIGTERM).
"""

import json
import os
import pathlib
import sqlite3
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "bench"))

import bench_mesh  # noqa: E402
import cdcgen  # noqa: E402
from mat_e2e_bench import committed, follow  # noqa: E402
from materializer import MeshMaterializer  # noqa: E402

SCALE_PARTITIONS = 32
SCALE_EVENTS = 200000
CASES = [("partitions", 1, 10), ("partitions", 8, 10),
         ("partitions", 64, 10), ("fields", 64, 100)]


def wide_schema(fields):
    types = ["long", "string", "double"]
    return {"type": "record", "name": "Wide", "namespace": "bench.growth",
            "fields": [{"name": "id", "type": "long"}] +
            [{"name": "f%d" % i, "type": types[i % 3]}
             for i in range(1, fields)]}


def wide_value(key, fields):
    v = {"id": key}
    for i in range(1, fields):
        v["f%d" % i] = (key * i, "s%d-%d" % (key, i), key / (i + 1.0))[i % 3]
    return v


def produce(bootstrap, registry_url, topic, partitions, events, fields):
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import (MessageField,
                                               SerializationContext)
    cdcgen.create_topic(bootstrap, topic, partitions)
    client = SchemaRegistryClient({"url": registry_url})
    kser = AvroSerializer(client, json.dumps(
        {"type": "record", "name": "Key", "namespace": "bench.growth",
         "fields": [{"name": "id", "type": "long"}]}))
    vser = AvroSerializer(client, json.dumps(wide_schema(fields)))
    kctx = SerializationContext(topic, MessageField.KEY)
    vctx = SerializationContext(topic, MessageField.VALUE)
    prod = Producer({"bootstrap.servers": bootstrap,
                     "enable.idempotence": True, "linger.ms": 20,
                     "queue.buffering.max.messages": 200000})
    errors = []

    def done(err, _msg):
        if err is not None:
            errors.append(str(err))
    for key in range(events):
        k, v = kser({"id": key}, kctx), vser(wide_value(key, fields), vctx)
        while True:
            try:
                prod.produce(topic, key=k, value=v, on_delivery=done)
                break
            except BufferError:
                prod.poll(0.05)
        prod.poll(0)
    if prod.flush(120) != 0 or errors:
        raise RuntimeError("producing failed: %s" % (errors[:3] or
                                                     "flush timed out"))


def kafka_alone(bootstrap, topic, partitions, events):
    """records/s of Confluent's Python client (librdkafka) reading the
    same partitions of mesh-broker, from its first record to its last:
    what the broker and librdkafka deliver with no materializer behind
    them, the limit for the figure beside it.  Assigned directly at the
    absolute offset 0 (a logical start would wait out librdkafka's 500 ms
    offset-query timer on some partitions, see docs/OPERATIONS.md), with
    the materializer's fetch and queue settings."""
    from confluent_kafka import Consumer, TopicPartition
    cons = Consumer({"bootstrap.servers": bootstrap,
                     "group.id": "alone-" + topic,
                     "enable.auto.commit": False,
                     "fetch.wait.max.ms": 10,
                     "queued.min.messages": 1000000,
                     "queued.max.messages.kbytes": 262144})
    try:
        cons.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        total, base, t_first = 0, 0, None
        deadline = time.monotonic() + 120
        while total < events:
            if time.monotonic() > deadline:
                raise RuntimeError("kafka alone: %d of %d records"
                                   % (total, events))
            msgs = cons.consume(num_messages=10000, timeout=0.5)
            now = time.monotonic()
            total += sum(1 for m in msgs if m.error() is None)
            if total and t_first is None:
                # The first records received open the window.
                t_first, base = now, total
        return (total - base) / (now - t_first) if now > t_first else 0.0
    finally:
        cons.close()


def cpu_s(pid):
    """User + system CPU seconds the process has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one_case(bins, tmp, broker, registry, name, partitions, fields, events):
    topic = "bench.growth.%s.p%d.f%d" % (name, partitions, fields)
    produce(broker.bootstrap, registry.url, topic, partitions, events, fields)
    alone = kafka_alone(broker.bootstrap, topic, partitions, events)
    db = tmp / ("%s-%d-%d.db" % (name, partitions, fields))
    mat = MeshMaterializer(bins / "mesh-materializer",
                           tmp / ("m-%s-%d-%d" % (name, partitions, fields)),
                           sets={
        "sink": "sqlite", "sqlite.path": str(db), "topics": topic,
        "group.id": "growth-%s-%d-%d" % (name, partitions, fields),
        "registry.url": registry.url, "table.name": "items",
        "kafka.bootstrap.servers": broker.bootstrap, "log.level": "warn",
        # mesh-broker answers an empty fetch only after the wait (README)
        "kafka.fetch.wait.max.ms": "10"})
    try:
        n, secs = follow(mat, db, events)
        if n == 0 or secs <= 0:
            raise RuntimeError("%s: the first batch committed every record:"
                               " too few events for a window" % topic)
        peak = vm_hwm_kb(mat.proc.pid)
        commits = mat.metric("mesh_materializer_sqlite_commit_seconds_count")
        con = sqlite3.connect(str(db))
        rows = con.execute("SELECT count(*) FROM items").fetchone()[0]
        con.close()
        code, mat = mat.stop(), None
        if rows != events or code != 0:
            raise RuntimeError("%s: %d rows of %d, exit code %s"
                               % (topic, rows, events, code))
        return n / secs, peak, int(commits), alone
    finally:
        bench_mesh.stop_all(mat)


def scale_out(bins, tmp, broker, registry, instances, events):
    """records/s of `instances` materializers in one group over a
    32-partition topic, from the first batch committed to the last record
    committed.  Each instance writes its own SQLite file (a SQLite file
    has one writer at a time: two processes on one file would measure its
    lock), followed from outside through the files' `_mesh_offsets` as
    above.  Then every instance must stop with exit 0 and the files
    together must hold every key exactly once."""
    topic = "bench.growth.scale%d" % instances
    produce(broker.bootstrap, registry.url, topic, SCALE_PARTITIONS, events,
            10)
    dbs = [tmp / ("scale%d-%d.db" % (instances, i)) for i in range(instances)]
    mats = []
    try:
        # Started together, the instances join the group's first
        # generation (the broker waits 3 s for members of a new group).
        for i, db in enumerate(dbs):
            mats.append(MeshMaterializer(
                bins / "mesh-materializer", tmp / ("s%d-%d" % (instances, i)),
                wait=False, sets={
                    "sink": "sqlite", "sqlite.path": str(db),
                    "topics": topic, "group.id": "scale-%d" % instances,
                    "registry.url": registry.url, "table.name": "items",
                    "kafka.bootstrap.servers": broker.bootstrap,
                    "kafka.fetch.wait.max.ms": "10", "log.level": "warn"}))
        for m in mats:
            m.wait_ready(60)
        pids = [m.proc.pid for m in mats] + [broker.proc.pid]
        deadline, t_first, first = time.monotonic() + 300, None, 0
        while True:
            done = sum(committed(db) for db in dbs)
            now = time.monotonic()
            if done and t_first is None:
                t_first, first = now, done
                cpu0 = [cpu_s(pid) for pid in pids]
            if done >= events:
                break
            if now > deadline:
                raise RuntimeError("scale-out: %d of %d committed" %
                                   (done, events))
            time.sleep(0.02)
        if done == first:
            raise RuntimeError("scale-out: too few events for a window")
        rate = (events - first) / (now - t_first)
        # Where the 2 cores went in the window: the instances, mesh-broker.
        cpu = [(cpu_s(pid) - c0) / (now - t_first)
               for pid, c0 in zip(pids, cpu0)]
        codes = [m.stop() for m in mats]
        mats = []
        if any(codes):
            raise RuntimeError("scale-out: exit codes %s" % codes)
        keys = []
        for db in dbs:
            con = sqlite3.connect(str(db))
            keys += [k for (k,) in con.execute("SELECT id FROM items")]
            con.close()
        if len(keys) != events or len(set(keys)) != events:
            raise RuntimeError("scale-out: %d rows, %d distinct keys of %d"
                               % (len(keys), len(set(keys)), events))
        return rate, cpu
    finally:
        bench_mesh.stop_all(*mats)


def main(argv):
    if len(argv) < 2:
        print("usage: mat_growth_bench.py BUILD_DIR [EVENTS]",
              file=sys.stderr)
        return 2
    bins = pathlib.Path(argv[1]).resolve() / "bin"
    events = int(argv[2]) if len(argv) > 2 else 50000
    out = []
    try:
        with bench_mesh.mesh(bins, "meshwork-matgrowth-") as (tmp, broker,
                                                             registry):
            for name, partitions, fields in CASES:
                rate, peak, commits, alone = one_case(
                    bins, tmp, broker, registry, name, partitions, fields,
                    events)
                out.append((partitions, fields, rate, peak, commits, alone))
                print("mat_growth: %d partitions, %d fields: %.0f records/s,"
                      " peak RSS %.1f MB, %d commits; Kafka alone %.0f "
                      "records/s" % (partitions, fields, rate,
                                     peak * 1024 / 1e6, commits, alone),
                      flush=True)
            scale = [scale_out(bins, tmp, broker, registry, n, SCALE_EVENTS)
                     for n in (1, 2)]
    except Exception as e:  # a failed step, reported as such
        print("mat_growth_bench: %s" % e, file=sys.stderr)
        return 1
    base = out[0][2]  # 1 partition, 10 fields
    print("how the materializer's cost grows (Kafka to committed SQLite "
          "rows, %d records each; ratio to 1 partition x 10 fields):"
          % events)
    print("  %10s %7s %12s %7s %10s %9s %8s %13s" % (
        "partitions", "fields", "records/s", "ratio", "fields/s", "peak RSS",
        "commits", "Kafka alone"))
    # A wide record costs per field (each value decoded, converted and
    # bound): fields/s compares the widths on equal terms.
    for partitions, fields, rate, peak, commits, alone in out:
        print("  %10d %7d %12.0f %7.2f %10.0f %6.1f MB %8d %13.0f" % (
            partitions, fields, rate, rate / base, rate * fields,
            peak * 1024 / 1e6, commits, alone))
    print("scale-out (sink=sqlite, %d partitions, %d records): one instance "
          "%.0f records/s, two in one group %.0f records/s: %.2fx "
          "(goal >= 1.6)" % (SCALE_PARTITIONS, SCALE_EVENTS, scale[0][0],
                             scale[1][0], scale[1][0] / scale[0][0]))
    for n, (_rate, cpu) in zip((1, 2), scale):
        print("  cores busy in the window with %d instance(s): %s, "
              "mesh-broker %.2f (of 2)" % (
                  n, " + ".join("%.2f" % c for c in cpu[:-1]), cpu[-1]))
    summary = os.environ.get("BENCH_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            for partitions, fields, rate, peak, _commits, alone in out:
                f.write("materializer e2e %dp x %df|%.0f rows/s|1p x 10f "
                        "%.0f rows/s, Kafka alone %.0f|%.2f|- (peak RSS "
                        "%.0f MB)\n" % (partitions, fields, rate, base, alone,
                                       rate / base, peak * 1024 / 1e6))
            f.write("materializer scale-out, 2 instances|%.0f rows/s|one "
                    "instance %.0f rows/s|%.2f|>= 1.6\n" % (
                        scale[1][0], scale[0][0],
                        scale[1][0] / scale[0][0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
