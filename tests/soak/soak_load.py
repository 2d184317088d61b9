"""soak_load: the steady input of the soak, one thread per source, and
the expected final state each one implies.

    HttpLoad   posts batches to the http source (REST Proxy v2); a batch
               that is not answered 200 with every error_code null is
               posted again, same content, until it is: the expected state
               holds only what the source acknowledged.  Every
               BAD_EVERY-th batch is a deliberately bad one (a record that
               does not fit the schema), which must be refused with 422
               42203, never accepted.
    FileLoad   appends JSON lines to the file source's file; every
               BAD_EVERY-th line is deliberately bad (not JSON, key field
               missing, wrong type in turn) and must end in soak.file.dlq.
    PgLoad     runs transactions of inserts, updates and deletes against
               the source table with psql; a transaction that fails (the
               server restarting) is simply lost, since the source table
               itself is the expected state of the pg topic.
    Poison     produces records that no materializer can decode (bad magic
               byte) straight into the http topic with Confluent's client:
               each sink must dead-letter each of them once.

Keys are drawn from KEYS per source, so rows are updated many times and a
sink's final state depends on the order of the updates; each event's seq
is the global count of the source, so the expected state of a key is its
last accepted value.  A thread paces itself with a fixed sleep per tick
(a load rate, not a wait for a condition).
"""

import json
import random
import struct
import threading
import time

import requests

from daemon import TIMEOUT_MULT
from soak_mesh import PG_TABLE, TOPIC_HTTP

KEYS = 5000
TICK_S = 0.2
BAD_EVERY = 500         # one bad line per 500 lines, one bad batch per 500
PAD = 24                # characters of padding per value
# Longest time a source may refuse everything (a fault lasts far less).
ACCEPT_TIMEOUT_S = 300
AVRO_CT = "application/vnd.kafka.avro.v2+json"


class Load(threading.Thread):
    """A paced thread: tick() once per TICK_S until stop(); an exception
    ends the thread and is kept in .error for the driver."""

    def __init__(self, name, mesh, rate, seed):
        super().__init__(name=name, daemon=True)
        self.mesh, self.rate = mesh, rate
        self.rnd = random.Random(seed)
        self.per_tick = max(1, round(rate * TICK_S))
        self.stopping = threading.Event()
        self.error = None
        self.events = 0         # events the source accepted
        self.bad = 0            # deliberately bad inputs sent

    def run(self):
        try:
            while not self.stopping.is_set():
                t0 = time.monotonic()
                self.tick()
                left = TICK_S - (time.monotonic() - t0)
                if left > 0:
                    self.stopping.wait(left)
        except Exception as e:      # reported by the driver
            self.error = f"{self.name}: {type(e).__name__}: {e}"

    def stop(self):
        self.stopping.set()
        self.join()

    def value(self, key, seq):
        pad = "".join(self.rnd.choice("abcdefghij") for _ in range(PAD))
        return {"id": key, "seq": seq, "pad": pad}


class HttpLoad(Load):
    def __init__(self, mesh, rate, seed):
        super().__init__("http-load", mesh, rate, seed)
        self.session = requests.Session()
        self.expected = {}
        self.seq = 0
        self.batches = 0
        self.retries = 0        # posts that were not accepted whole
        self.refused = 0        # bad batches answered 422 42203

    def _post(self, body, timeout=30):
        with self.mesh.lock:
            url = self.mesh.producers["http"].http
        try:
            return self.session.post(
                f"{url}/topics/{TOPIC_HTTP}", data=json.dumps(body),
                headers={"Content-Type": AVRO_CT}, timeout=timeout)
        except requests.RequestException:
            return None         # the producer is being restarted

    def _body(self, records):
        kid, vid = self.mesh.schema_ids[TOPIC_HTTP]
        return {"key_schema_id": kid, "value_schema_id": vid,
                "records": records}

    def tick(self):
        self.batches += 1
        if self.batches % BAD_EVERY == 0:
            self._bad_batch()
        recs = []
        for _ in range(self.per_tick):
            key = self.rnd.randrange(KEYS)
            self.seq += 1
            recs.append({"key": key, "value": self.value(key, self.seq)})
        # Posted again until accepted, also while stopping: the expected
        # state must not depend on when the driver stopped.  A source that
        # accepts nothing for ACCEPT_TIMEOUT_S is a failure (a hang).
        deadline = time.monotonic() + ACCEPT_TIMEOUT_S * TIMEOUT_MULT
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"the http source accepted no batch "
                                     f"for {ACCEPT_TIMEOUT_S} s")
            r = self._post(self._body(recs))
            if r is not None and r.status_code == 200 and all(
                    o.get("error_code") is None
                    for o in r.json()["offsets"]):
                break
            if r is not None and r.status_code not in (200, 503, 408):
                raise AssertionError(f"batch answered {r.status_code}: "
                                     f"{r.text[:300]}")
            self.retries += 1
            time.sleep(0.2)     # back off while the source is degraded
        for rec in recs:
            self.expected[rec["key"]] = rec["value"]
        self.events += len(recs)

    def _bad_batch(self):
        """A batch with one record whose seq is a string: the whole batch
        is refused (42203, naming $.seq) and nothing of it reaches Kafka."""
        key = self.rnd.randrange(KEYS)
        good = {"key": key, "value": self.value(key, 0)}
        bad = {"key": key, "value": {"id": key, "seq": "x", "pad": ""}}
        self.bad += 1
        deadline = time.monotonic() + ACCEPT_TIMEOUT_S * TIMEOUT_MULT
        while time.monotonic() < deadline:
            r = self._post(self._body([good, bad]))
            if r is not None and r.status_code not in (503, 408):
                break
            time.sleep(0.2)
        if r is None or r.status_code in (503, 408):
            raise AssertionError(f"the http source answered no bad batch "
                                 f"for {ACCEPT_TIMEOUT_S} s")
        body = r.json() if r.headers.get("Content-Type", "").find(
            "json") >= 0 else {}
        if r.status_code != 422 or body.get("error_code") != 42203 or \
                "seq" not in body.get("message", ""):
            raise AssertionError(f"bad batch answered {r.status_code}: "
                                 f"{r.text[:300]}")
        self.refused += 1


class FileLoad(Load):
    BAD_LINES = ("this line is not JSON",
                 '{"seq": 1, "pad": "no id"}',
                 '{"id": 1, "seq": "not a long", "pad": ""}')

    def __init__(self, mesh, rate, seed):
        super().__init__("file-load", mesh, rate, seed)
        self.path = mesh.file_path
        self.expected = {}
        self.seq = 0
        self.lines = 0
        self.bad_positions = {}     # "<path>:<offset>" -> line

    def tick(self):
        with open(self.path, "a") as f:
            for _ in range(self.per_tick):
                self.lines += 1
                if self.lines % BAD_EVERY == 0:
                    line = self.BAD_LINES[self.bad % len(self.BAD_LINES)]
                    self.bad_positions[f"{self.path}:{f.tell()}"] = line
                    self.bad += 1
                    f.write(line + "\n")
                    continue
                key = self.rnd.randrange(KEYS)
                self.seq += 1
                value = self.value(key, self.seq)
                f.write(json.dumps(value, separators=(",", ":")) + "\n")
                self.expected[key] = value
                self.events += 1


class PgLoad(Load):
    """Transactions of per_tick statements: inserts of new ids while the
    table is small, then updates of random ids, and a tenth deletes."""

    def __init__(self, mesh, rate, seed):
        super().__init__("pg-load", mesh, rate, seed)
        self.next_id = 0
        self.failed_tx = 0

    def _statement(self):
        r = self.rnd
        if self.next_id < KEYS and r.random() < 0.5 or self.next_id == 0:
            self.next_id += 1
            return (f"INSERT INTO {PG_TABLE} VALUES ({self.next_id}, "
                    f"'n{r.randrange(1 << 20)}', {r.randrange(1000)}, "
                    f"{self._note()}) ON CONFLICT (id) DO NOTHING;")
        key = r.randrange(1, self.next_id + 1)
        if r.random() < 0.1:
            return f"DELETE FROM {PG_TABLE} WHERE id = {key};"
        return (f"INSERT INTO {PG_TABLE} VALUES ({key}, "
                f"'n{r.randrange(1 << 20)}', {r.randrange(1000)}, "
                f"{self._note()}) ON CONFLICT (id) DO UPDATE SET "
                "name = excluded.name, qty = excluded.qty, "
                "note = excluded.note;")

    def _note(self):
        return "NULL" if self.rnd.random() < 0.3 else \
            f"'note {self.rnd.randrange(100)}'"

    def tick(self):
        sql = "BEGIN;" + "".join(self._statement()
                                 for _ in range(self.per_tick)) + "COMMIT;"
        try:
            self.mesh.src_db.psql(sql)
            self.events += self.per_tick
        except RuntimeError:
            self.failed_tx += 1     # the server is restarting


class Poison(Load):
    """One poison record per POISON_EVERY_S into the http topic."""
    POISON_EVERY_S = 20.0

    def __init__(self, mesh, seed):
        super().__init__("poison", mesh, 1.0 / self.POISON_EVERY_S, seed)
        from confluent_kafka import Producer
        self.prod = Producer({"bootstrap.servers": mesh.broker.bootstrap,
                              "enable.idempotence": True, "linger.ms": 5,
                              # a broker down is the point: no log noise
                              "log_level": 2})
        self.sent = []              # (key) of every poison produced
        self.delivered = {}         # key -> (partition, offset)
        self.errors = []
        self.last = time.monotonic()

    def tick(self):
        self.prod.poll(0)
        if time.monotonic() - self.last < self.POISON_EVERY_S:
            return
        self.last = time.monotonic()
        key = b"poison-%d" % len(self.sent)
        # Magic byte 1 (Confluent framing has 0), then a plausible id.
        value = b"\x01" + struct.pack(">I", 1) + b"\x02\x04"
        self.prod.produce(TOPIC_HTTP, key=key, value=value,
                          on_delivery=self._delivered)
        self.sent.append(key)
        self.bad += 1

    def _delivered(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
        else:
            self.delivered[msg.key()] = (msg.partition(), msg.offset())

    def finish(self, timeout):
        """Flushes; every poison record must have been delivered."""
        left = self.prod.flush(timeout)
        if left or self.errors or len(self.delivered) != len(self.sent):
            raise AssertionError(f"poison: {left} not flushed, errors "
                                 f"{self.errors[:3]}, {len(self.delivered)}"
                                 f" of {len(self.sent)} delivered")
