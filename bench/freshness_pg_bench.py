"""freshness_pg_bench: how old a PostgreSQL change is when its row can be
read in a PostgreSQL output port, at a steady rate.

    python freshness_pg_bench.py BUILD_DIR [RATE] [SECONDS]

The path: a transaction commits rows in a source table -> mesh-producer
(source=pg: logical replication, pgoutput, Debezium-shaped envelopes;
defaults) -> mesh-broker (8 partitions) -> mesh-materializer
(sink=postgres, upsert on the key) -> a committed row in the output port.

One throwaway PostgreSQL 15 (tests/integration/pgserver.py: 127.0.0.1, a
free port, fsync and synchronous_commit on) holds both ends, the source
table in database `mesh` and the output port in database `port`, with
track_commit_timestamp=on: the age of an event is the commit timestamp
of the materializer's transaction that wrote its row minus the commit
timestamp of the source transaction that changed it, both read from
PostgreSQL after the run (pg_xact_commit_timestamp(xmin), one clock,
microseconds), so nothing polls and nothing is missed.

The load: one session inserts BATCH rows per transaction, transactions
on a fixed schedule so that they add up to RATE events/s (default
10,000) for SECONDS (default 20), after WARMUP_S of the same whose ages
are not counted (slot start, group join, first fetches).

The limit beside it, from the same run and the same events: Kafka alone,
the age at which a plain consumer (Confluent's Python client,
fetch.wait.max.ms=10) receives each change, against the same source
commit timestamp (the wall clock it reads is the one PostgreSQL stamps
commits with).  Like freshness_bench.py (HTTP -> SQLite) it runs three
times, with the materializer's defaults, with batch.linger.ms=50 and
with batch.linger.ms=500 (bench_mesh.BATCHING).

Prints p50, p99 and max of both ages per run and appends one row per run
to $BENCH_SUMMARY when it is set.  Exit 1 when a step fails or an event
is missing at the end.
"""

import pathlib
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "bench"))

import bench_mesh  # noqa: E402
from materializer import MeshMaterializer  # noqa: E402
from pgcdc import Db  # noqa: E402
from pgserver import PG_BIN, PgServer  # noqa: E402
from producer import MeshProducer  # noqa: E402

PARTITIONS = 8
BATCH = 50
WARMUP_S = 5.0
PORT_DB = "port"
DEADLINE_S = 120.0


class Writer(threading.Thread):
    """One psql session fed a transaction (an INSERT of BATCH rows) at
    each scheduled instant; psql runs them in order, each committed on its
    own (autocommit)."""

    def __init__(self, pg, table, first_id, txns, start, gap):
        super().__init__(daemon=True)
        self.proc = subprocess.Popen(
            [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(pg.port), "-U", pg.user,
             "-d", pg.dbname], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.table, self.first_id, self.txns = table, first_id, txns
        self.start_s, self.gap = start, gap
        self.late, self.error = 0, None

    def run(self):
        try:
            for t in range(self.txns):
                due = self.start_s + t * self.gap
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -0.05:
                    self.late += 1
                lo = self.first_id + t * BATCH
                self.proc.stdin.write(
                    "INSERT INTO %s (id, note) SELECT g, 'n' || g FROM "
                    "generate_series(%d, %d) g;\n"
                    % (self.table, lo, lo + BATCH - 1))
                self.proc.stdin.flush()
            self.proc.stdin.close()
            if self.proc.wait() != 0:
                raise RuntimeError("psql: %s" % self.proc.stderr.read())
        except Exception as e:  # reported by the main thread
            self.error = e


class KafkaReader(threading.Thread):
    """The limit: when a plain consumer receives each change (wall clock,
    microseconds), by the id in its key."""

    def __init__(self, bootstrap, topic, total):
        super().__init__(daemon=True)
        from confluent_kafka import Consumer
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": "limit-" + topic,
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "fetch.wait.max.ms": 10})
        self.consumer.subscribe([topic])
        self.total = total
        self.seen = {}
        self.stop_ev, self.error = threading.Event(), None

    def run(self):
        try:
            while not self.stop_ev.is_set() and len(self.seen) < self.total:
                for msg in self.consumer.consume(1000, 0.05):
                    if msg.error() or msg.value() is None:
                        continue
                    now = time.time_ns() // 1000
                    self.seen.setdefault(key_id(msg.key()), now)
        except Exception as e:
            self.error = e
        finally:
            self.consumer.close()


def key_id(key):
    """The id of a framed key record {id: long} (magic byte, 4-byte schema
    id, then one zig-zag varint)."""
    pos = 5
    shift = raw = 0
    while True:
        b = key[pos]
        raw |= (b & 0x7F) << shift
        pos += 1
        shift += 7
        if not b & 0x80:
            break
    return (raw >> 1) ^ -(raw & 1)


def commit_us(db, table, lo, hi):
    """{id: commit timestamp in epoch microseconds} for lo <= id < hi."""
    rows = db.rows(
        "SELECT id, (extract(epoch FROM pg_xact_commit_timestamp(xmin))"
        " * 1000000)::bigint FROM %s WHERE id >= %d AND id < %d"
        % (table, lo, hi))
    return {int(i): int(ts) for i, ts in rows}


def wait_rows(db, table, total):
    deadline = time.monotonic() + DEADLINE_S
    n = 0
    while time.monotonic() < deadline:
        try:
            n = int(db.psql("SELECT count(*) FROM %s" % table))
        except RuntimeError:
            n = 0  # not created yet
        if n >= total:
            break
        time.sleep(0.2)
    return n


def one_run(bins, tmp, pg, broker, registry, rate, seconds, batching, tag):
    table = "fresh_%s" % tag
    topic = "bench.public.%s" % table
    pg.psql("CREATE TABLE public.%s (id bigint PRIMARY KEY, note text)"
            % table)
    broker.create_topic(topic, PARTITIONS)
    txns = int(rate * (seconds + WARMUP_S) / BATCH)
    total = txns * BATCH
    warm = int(rate * WARMUP_S / BATCH) * BATCH
    prod = mat = None
    try:
        prod = MeshProducer(bins / "mesh-producer", tmp / ("p-" + tag), sets={
            "source": "pg", "pg.conninfo": pg.conninfo,
            "pg.tables": "public." + table, "pg.slot": "s_" + tag,
            "pg.publication": "p_" + tag,
            "pg.state.dir": str(tmp / ("state-" + tag)),
            "topic.prefix": "bench", "registry.url": registry.url,
            "kafka.bootstrap.servers": broker.bootstrap, "log.level": "warn"})
        port = Db(pg, PORT_DB)
        mat = MeshMaterializer(bins / "mesh-materializer", tmp / ("m-" + tag),
                               sets={
            "sink": "postgres", "postgres.conninfo": port.conninfo,
            "topics": topic, "table.name": table,
            "group.id": "fresh-" + tag, "registry.url": registry.url,
            "kafka.bootstrap.servers": broker.bootstrap,
            "kafka.fetch.wait.max.ms": "10", **batching,
            "log.level": "warn"})
        kafka = KafkaReader(broker.bootstrap, topic, total)
        kafka.start()
        start = time.monotonic() + 0.2
        writer = Writer(pg, "public." + table, 0, txns, start, BATCH / rate)
        writer.start()
        writer.join()
        if writer.error:
            raise RuntimeError("writer: %s" % writer.error)
        sent_s = time.monotonic() - start - WARMUP_S
        kafka.join(timeout=60)
        kafka.stop_ev.set()
        kafka.join()
        if kafka.error:
            raise RuntimeError("Kafka reader: %s" % kafka.error)
        got = wait_rows(port, table, total)
        if got != total or len(kafka.seen) != total:
            raise RuntimeError("%d rows and %d records seen of %d committed"
                               % (got, len(kafka.seen), total))
        src = commit_us(Db(pg, pg.dbname), "public." + table, warm, total)
        out = commit_us(port, table, warm, total)
        rows = [(out[i] - src[i]) / 1000.0 for i in src]
        recv = [(kafka.seen[i] - src[i]) / 1000.0 for i in src]
        return {"rows": rows, "kafka": recv,
                "rate": (total - warm) / sent_s, "late": writer.late}
    finally:
        bench_mesh.stop_all(mat, prod)


def main(argv):
    if len(argv) < 2:
        print("usage: freshness_pg_bench.py BUILD_DIR [RATE] [SECONDS]",
              file=sys.stderr)
        return 2
    bins = pathlib.Path(argv[1]).resolve() / "bin"
    rate = float(argv[2]) if len(argv) > 2 else 10000.0
    seconds = float(argv[3]) if len(argv) > 3 else 20.0
    results = []
    pg = PgServer()
    try:
        pg.start()
        pg.psql("ALTER SYSTEM SET track_commit_timestamp = on")
        pg.restart()
        pg.psql("CREATE DATABASE %s" % PORT_DB)
        with bench_mesh.mesh(bins, "meshwork-fresh-pg-") as (tmp, broker,
                                                            registry):
            for n, (label, batching) in enumerate(bench_mesh.BATCHING):
                r = one_run(bins, tmp, pg, broker, registry, rate, seconds,
                            batching, "b%d" % n)
                results.append((label, r))
    except Exception as e:  # a failed step, reported as such
        print("freshness_pg_bench: %s" % e, file=sys.stderr)
        return 1
    finally:
        pg.stop()
    bench_mesh.report_freshness(results, rate, "PostgreSQL row",
                                "transactions", "freshness pg->postgres")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
