"""freshness_bench: how old an event is when its row can be read, from
the source write to the committed row of the output port, at a steady
rate.

    python freshness_bench.py BUILD_DIR [RATE] [SECONDS]

Uses BUILD_DIR/bin's mesh-broker, mesh-registry, mesh-producer and
mesh-materializer (the release build under `make bench`) through the
integration tests' helpers (tests/integration: daemons on 127.0.0.1 port
0, private directories), so it needs the test venv (`make deps`).

The path: HTTP produce (mesh-producer, source=http, REST Proxy requests
of 50 records from 16 keep-alive connections, each on its own schedule
so together they send RATE events/s, default 10,000, for SECONDS, default
20, after WARMUP_S of the same whose ages are not counted: group joins
and first fetches stay outside) -> mesh-broker (8 partitions) -> mesh-materializer (sink=sqlite,
mode=append) -> a committed row.  Each record carries the monotonic
microsecond at which its request was sent; a reader polls the SQLite file
every 2 ms (read-only, WAL: it sees committed rows only) and takes each new
row's age when it first sees it.  The limit beside it, from the same run
and the same records: Kafka alone, the age at which a plain consumer
(Confluent's Python client, fetch.wait.max.ms=10) receives each record.

It runs the path three times, with the materializer's defaults (a batch
commits as soon as the consumer runs dry), with batch.linger.ms=50 and
with batch.linger.ms=500 (every batch held to batch.max.ms): the knob
that trades commit rate for freshness (docs/OPERATIONS.md).
mesh-broker answers an empty fetch only after fetch.wait.max.ms, so the
materializer runs with kafka.fetch.wait.max.ms=10, as the README says to.

Prints p50, p99 and max of both ages per run, and appends one row per run
to $BENCH_SUMMARY (bench/run.sh's summary table) when it is set.  Exit 1 when a step fails, or when a row
or a record is missing at the end.
"""

import http.client
import json
import pathlib
import sqlite3
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "bench"))

import bench_mesh  # noqa: E402
from materializer import MeshMaterializer  # noqa: E402
from producer import MeshProducer  # noqa: E402

PARTITIONS = 8
CONNECTIONS = 16
BATCH = 50
# A new consumer group waits out the broker's initial rebalance delay (3 s)
# before it reads: what is sent until then is a backlog, not freshness.
WARMUP_S = 5.0
POLL_S = 0.002
SCHEMA = {"type": "record", "name": "Tick", "namespace": "bench.fresh",
          "fields": [{"name": "id", "type": "long"},
                     {"name": "sent_us", "type": "long"},
                     {"name": "note", "type": "string"}]}
CT = "application/vnd.kafka.avro.v2+json"


def now_us():
    return time.monotonic_ns() // 1000


class Sender(threading.Thread):
    """Connection `idx` of CONNECTIONS: sends its share of the requests,
    each at its scheduled instant (later if the previous answer came
    late: the send time is taken when it really goes)."""

    def __init__(self, url, topic, schema_id, idx, requests, start, gap):
        super().__init__(daemon=True)
        host, port = url.split("//")[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.topic, self.schema_id = topic, schema_id
        self.idx, self.requests, self.start_s, self.gap = \
            idx, requests, start, gap
        self.error = None
        self.late = 0

    def run(self):
        try:
            for r in range(self.idx, self.requests, CONNECTIONS):
                due = self.start_s + r * self.gap
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -0.05:
                    self.late += 1
                sent = now_us()
                recs = [{"key": str(r * BATCH + i),
                         "value": {"id": r * BATCH + i, "sent_us": sent,
                                   "note": "n%d" % (r * BATCH + i)}}
                        for i in range(BATCH)]
                body = json.dumps({"value_schema_id": self.schema_id,
                                   "records": recs})
                self.conn.request("POST", "/topics/" + self.topic, body,
                                  {"Content-Type": CT})
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise RuntimeError("HTTP %d: %s" % (resp.status, data))
        except Exception as e:  # reported by the main thread
            self.error = e


class RowReader(threading.Thread):
    """Polls the output port; the age of each row when first seen."""

    def __init__(self, db, total, warm):
        super().__init__(daemon=True)
        self.db, self.total, self.warm = db, total, warm
        self.seen = 0
        self.ages, self.stop_ev, self.error = [], threading.Event(), None

    def run(self):
        last = 0
        con = None
        try:
            while not self.stop_ev.is_set() and self.seen < self.total:
                if con is None:
                    try:
                        con = sqlite3.connect(f"file:{self.db}?mode=ro",
                                              uri=True, timeout=1.0)
                        con.execute("SELECT 1 FROM fresh LIMIT 1")
                    except sqlite3.Error:
                        con = None  # not created yet
                        time.sleep(POLL_S)
                        continue
                rows = con.execute("SELECT rowid, id, sent_us FROM fresh "
                                   "WHERE rowid > ? ORDER BY rowid",
                                   (last,)).fetchall()
                seen = now_us()
                for rowid, ident, sent in rows:
                    if ident >= self.warm:
                        self.ages.append((seen - sent) / 1000.0)
                    last = rowid
                self.seen += len(rows)
                time.sleep(POLL_S)
        except Exception as e:
            self.error = e
        finally:
            if con is not None:
                con.close()


class KafkaReader(threading.Thread):
    """The limit: the age at which a plain consumer receives a record."""

    def __init__(self, bootstrap, topic, total, warm):
        super().__init__(daemon=True)
        from confluent_kafka import Consumer
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": "limit-" + topic,
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "fetch.wait.max.ms": 10})
        self.consumer.subscribe([topic])
        self.total, self.warm, self.seen = total, warm, 0
        self.ages, self.stop_ev, self.error = [], threading.Event(), None

    def run(self):
        try:
            while not self.stop_ev.is_set() and self.seen < self.total:
                for msg in self.consumer.consume(1000, 0.05):
                    if msg.error():
                        continue
                    seen = now_us()
                    ident, sent = id_and_sent_us(msg.value())
                    if ident >= self.warm:
                        self.ages.append((seen - sent) / 1000.0)
                    self.seen += 1
        except Exception as e:
            self.error = e
        finally:
            self.consumer.close()


def id_and_sent_us(value):
    """The first two fields of a framed Tick (Confluent framing: magic and
    a 4-byte schema id, then the Avro record: two zig-zag varints)."""
    pos, out = 5, []
    for _ in range(2):
        shift = raw = 0
        while True:
            b = value[pos]
            raw |= (b & 0x7F) << shift
            pos += 1
            shift += 7
            if not b & 0x80:
                break
        out.append((raw >> 1) ^ -(raw & 1))
    return out


def one_run(bins, tmp, broker, registry, rate, seconds, batching, tag):
    topic = "bench.fresh.%s" % tag
    broker.create_topic(topic, PARTITIONS)
    status, reg = registry.register(topic + "-value", SCHEMA)
    if status != 200:
        raise RuntimeError("cannot register the schema: %s" % reg)
    requests = int(rate * (seconds + WARMUP_S) / BATCH)
    total = requests * BATCH
    warm = int(rate * WARMUP_S / BATCH) * BATCH
    db = tmp / ("%s.db" % tag)
    prod = mat = None
    try:
        prod = MeshProducer(bins / "mesh-producer", tmp / ("p-" + tag), sets={
            "source": "http", "registry.url": registry.url,
            "kafka.bootstrap.servers": broker.bootstrap, "log.level": "warn"})
        mat = MeshMaterializer(bins / "mesh-materializer", tmp / ("m-" + tag),
                               sets={
            "sink": "sqlite", "sqlite.path": str(db), "topics": topic,
            "table.name": "fresh", "mode": "append",
            "group.id": "fresh-" + tag, "registry.url": registry.url,
            "kafka.bootstrap.servers": broker.bootstrap,
            "kafka.fetch.wait.max.ms": "10", **batching,
            "log.level": "warn"})
        rows = RowReader(db, total, warm)
        kafka = KafkaReader(broker.bootstrap, topic, total, warm)
        rows.start()
        kafka.start()
        start = time.monotonic() + 0.2
        gap = BATCH / rate
        senders = [Sender(prod.http, topic, reg["id"], i, requests, start,
                          gap) for i in range(CONNECTIONS)]
        for s in senders:
            s.start()
        for s in senders:
            s.join()
            if s.error:
                raise RuntimeError("sender: %s" % s.error)
        sent_s = time.monotonic() - start - WARMUP_S
        for reader in (rows, kafka):
            reader.join(timeout=60)
            reader.stop_ev.set()
            reader.join()
            if reader.error:
                raise RuntimeError("reader: %s" % reader.error)
        if rows.seen != total or kafka.seen != total:
            raise RuntimeError("%d rows and %d records seen of %d sent"
                               % (rows.seen, kafka.seen, total))
        late = sum(s.late for s in senders)
        return {"rows": rows.ages, "kafka": kafka.ages,
                "rate": (total - warm) / sent_s, "late": late}
    finally:
        bench_mesh.stop_all(mat, prod)


def main(argv):
    if len(argv) < 2:
        print("usage: freshness_bench.py BUILD_DIR [RATE] [SECONDS]",
              file=sys.stderr)
        return 2
    bins = pathlib.Path(argv[1]).resolve() / "bin"
    rate = float(argv[2]) if len(argv) > 2 else 10000.0
    seconds = float(argv[3]) if len(argv) > 3 else 20.0
    results = []
    try:
        with bench_mesh.mesh(bins, "meshwork-fresh-") as (tmp, broker,
                                                         registry):
            for n, (label, batching) in enumerate(bench_mesh.BATCHING):
                r = one_run(bins, tmp, broker, registry, rate, seconds,
                            batching, "b%d" % n)
                results.append((label, r))
    except Exception as e:  # a failed step, reported as such
        print("freshness_bench: %s" % e, file=sys.stderr)
        return 1
    bench_mesh.report_freshness(results, rate, "SQLite row", "requests",
                                "freshness http->sqlite")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
