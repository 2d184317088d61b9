"""soak_mesh: the whole mesh the soak runs, built from the integration
tests' fixtures (tests/integration), and the restarts the faults need.

    mesh = Mesh(bins, workdir, partitions)
    mesh.broker                       # MeshBroker (3 mock brokers)
    mesh.registry                     # MeshRegistry, journal storage
    mesh.pg                           # PgServer: source db and pg sink
    mesh.producers["http"|"file"|"pg"]
    mesh.mats["sqlite"|"postgres"|"avro"]
    mesh.stop_registry(); mesh.start_registry(); mesh.restart_pg()
    mesh.restart_producer(name); mesh.restart_materializer(name)
                                      # after the caller killed it
    mesh.close()                      # stops everything, exit codes checked

The registry listens on a port fixed at the start (a restart on port 0
would change registry.url under the daemons that use it); PostgreSQL keeps
its port across restarts (PgServer.restart).  Every other listener is on
port 0.  A daemon restarted after SIGKILL reuses its workdir: the file
source's checkpoints, the pg source's state file, the SQLite file and the
Avro directory are its durable state.
"""

import json
import socket
import threading

from materializer import MeshMaterializer
from meshbroker import MeshBroker
from pgcdc import Db, pg_sets
from pgserver import PgServer
from producer import MeshProducer
from registry import MeshRegistry
from sinks import AvroSink, PgSink, SqliteSink

TOPIC_HTTP = "soak.http"
TOPIC_FILE = "soak.file"
PG_PREFIX = "soak"
PG_TABLE = "orders"
TOPIC_PG = f"{PG_PREFIX}.public.{PG_TABLE}"
TOPICS = (TOPIC_HTTP, TOPIC_FILE, TOPIC_PG)
# The file source's own dead letters (bad lines).
FILE_DLQ = f"{TOPIC_FILE}.dlq"
SINKS = ("sqlite", "postgres", "avro")
SOURCES = ("http", "file", "pg")

# The plain records of the http and file sources: the key is the Avro long
# "id" (a primitive key becomes the column "key" in the tables), the value
# carries it again with a sequence number, so the final state of a key is
# the value with the highest sequence the source accepted.
EVENT_SCHEMA = {
    "type": "record", "name": "SoakEvent", "namespace": "meshwork.soak",
    "fields": [{"name": "id", "type": "long"},
               {"name": "seq", "type": "long"},
               {"name": "pad", "type": "string"}]}
KEY_SCHEMA = json.dumps("long")

# The group timing of the materializer tests (sinks.GROUP_TIMING): a
# restarted member does not wait out librdkafka's default 45 s session.
MAT_EXTRA = {"kafka.fetch.wait.max.ms": "10", "batch.max.ms": "200"}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mat_dlq(sink):
    """Each materializer dead-letters into a topic of its own, so that the
    check can tell that every sink refused every poison record once."""
    return f"soak.dlq.{sink}"


class Mesh:
    def __init__(self, bins, workdir, partitions):
        self.bins, self.workdir = bins, workdir
        self.partitions = partitions
        # Restarts replace the objects below; the fault thread and the
        # load threads read them under this lock.
        self.lock = threading.Lock()
        self.pg = None
        self.broker = self.registry = None
        self.producers, self.mats = {}, {}
        try:
            self._start()
        except BaseException:
            self.close(check=False)
            raise

    # ---- start-up -------------------------------------------------------

    def _start(self):
        self.pg = PgServer()
        self.pg.start()
        self.src_db = Db(self.pg, "soak_src")
        self.pg.psql("CREATE DATABASE soak_src")
        self.src_db.psql(f"CREATE TABLE public.{PG_TABLE} (id bigint "
                         "PRIMARY KEY, name text NOT NULL, qty int NOT NULL, "
                         "note text)")
        self.broker = MeshBroker(self.bins / "mesh-broker",
                                 self.workdir / "broker", brokers=3)
        for t in TOPICS:
            self.broker.create_topic(t, self.partitions)
        for t in (FILE_DLQ,) + tuple(mat_dlq(s) for s in SINKS):
            self.broker.create_topic(t, 1)
        self.reg_port = free_port()
        self.registry = self._registry()
        self.schema_ids = {}
        for t in (TOPIC_HTTP, TOPIC_FILE):
            self.schema_ids[t] = (
                self._register(f"{t}-key", KEY_SCHEMA),
                self._register(f"{t}-value", json.dumps(EVENT_SCHEMA)))
        self.sinks = {"sqlite": SqliteSink(self.workdir / "sqlite"),
                      "postgres": PgSink(self.pg),
                      "avro": AvroSink(self.workdir / "avro")}
        for d in ("sqlite", "avro"):
            (self.workdir / d).mkdir(parents=True, exist_ok=True)
        self.file_path = self.workdir / "events.jsonl"
        self.file_path.touch()
        for name in SOURCES:
            self.producers[name] = self._producer(name)
        for name in SINKS:
            self.mats[name] = self._materializer(name)

    def _registry(self):
        return MeshRegistry(self.bins / "mesh-registry",
                            self.workdir / "registry",
                            sets={"storage": "journal", "listeners":
                                  f"http://127.0.0.1:{self.reg_port}"})

    def _register(self, subject, schema):
        status, body = self.registry.register(subject, schema)
        if status != 200:
            raise RuntimeError(f"registering {subject}: {status} {body}")
        return body["id"]

    def producer_sets(self, name):
        boot = self.broker.bootstrap
        common = {"registry.url": self.registry.url,
                  "kafka.bootstrap.servers": boot, "kafka.linger.ms": "5"}
        if name == "http":
            return {"source": "http", **common}
        if name == "file":
            return {"source": "file", "topic": TOPIC_FILE,
                    "key.subject": f"{TOPIC_FILE}-key",
                    "file.paths": str(self.file_path), "file.format": "jsonl",
                    "file.key.field": "id", "file.poll.ms": "50",
                    "checkpoint.dir": str(self.workdir / "file-ckpt"),
                    **common}
        return pg_sets(self.src_db, boot, self.registry, f"public.{PG_TABLE}",
                       "soak", self.workdir / "pg-state", prefix=PG_PREFIX)

    def _producer(self, name):
        return MeshProducer(self.bins / "mesh-producer",
                            self.workdir / f"producer-{name}",
                            sets=self.producer_sets(name))

    def _materializer(self, name):
        sets = self.sinks[name].sets(self.broker, self.registry,
                                     ",".join(TOPICS), f"soak-{name}",
                                     **MAT_EXTRA, **{"dlq.topic":
                                                     mat_dlq(name)})
        # One table per topic, named after it (the tests' helpers pin one
        # table, "items", for their one topic).
        del sets["table.name"]
        if name == "avro":
            # An open file buffers its rows in avro-c's block (up to 1 MiB
            # per partition) until it rolls: with the default 60 s the
            # memory of 96 open files is still filling when the RSS check
            # starts judging a short run.  10 s rolls reach the plateau in
            # the warm-up, and roll often under the faults.
            sets["avro.roll.ms"] = "10000"
        return MeshMaterializer(self.bins / "mesh-materializer",
                                self.workdir / f"mat-{name}", sets=sets)

    # ---- restarts (faults) ---------------------------------------------

    def daemons(self):
        """{label: daemon} of every daemon process, under the lock."""
        with self.lock:
            out = {"mesh-broker": self.broker,
                   "mesh-registry": self.registry}
            out.update({f"producer-{n}": p
                        for n, p in self.producers.items()})
            out.update({f"mat-{n}": m for n, m in self.mats.items()})
            return out

    def stop_registry(self):
        """SIGTERM; it must exit 0."""
        code = self.registry.stop()
        if code != 0:
            raise RuntimeError(f"mesh-registry exited with {code} on "
                               f"SIGTERM:\n{self.registry.log()[-3000:]}")

    def start_registry(self):
        """A new mesh-registry on the same journal and port."""
        with self.lock:
            self.registry = self._registry()

    def restart_pg(self):
        self.pg.restart()

    def restart_producer(self, name):
        """A new producer in the killed one's workdir (its state)."""
        with self.lock:
            self.producers[name] = self._producer(name)

    def restart_materializer(self, name):
        with self.lock:
            self.mats[name] = self._materializer(name)

    # ---- shutdown -------------------------------------------------------

    def close(self, check=True):
        """Stops every daemon with SIGTERM, top-down; with check, returns
        the list of "<daemon> exited with N" for each exit code not 0."""
        bad = []
        for group in (self.mats, self.producers):
            for name, d in group.items():
                code = d.stop()
                if code != 0:
                    bad.append(f"{d.PROGRAM} {name} exited with {code}:\n"
                               f"{d.log()[-2000:]}")
        for d in (self.registry, self.broker):
            if d is not None and d.proc is not None:
                code = d.stop()
                if code != 0:
                    bad.append(f"{d.PROGRAM} exited with {code}:\n"
                               f"{d.log()[-2000:]}")
        if self.pg is not None:
            self.pg.stop()
        return bad if check else []
