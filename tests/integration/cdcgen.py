"""cdcgen: Debezium-envelope change events for the materializer's tests.

Produces inserts, updates and deletes over a set of integer keys to a topic
the way Debezium's PostgreSQL connector would: the value is the envelope
record (before / after nullable row records, source {connector, db, schema,
table, lsn, txId, ts_ms, snapshot}, op c/u/d/r, ts_ms), the key is the
primary-key record {"id": long}, and a tombstone (null value) follows each
delete.  Both are serialized by Confluent's own AvroSerializer (PyPI
confluent-kafka) against our registry (subjects <topic>-key and
<topic>-value), so whatever the materializer reads here a Confluent
pipeline would have written.  Records of one key always land on one
partition (the producer hashes the framed key bytes), so their order is
the order of the changes.

    gen = CdcGen(bootstrap, registry_url, topic, partitions=3, keys=100)
    gen.produce(1000)                   # 1000 change events (v1 schema)
    gen.produce(1000, version=2)        # the rest with a new nullable column
    res = gen.result()                  # flushes; CdcResult
    res.expected   # {id: {"id":..., "name":..., ...}} final state
    res.end_offsets  # {partition: high watermark}
    res.events, res.records  # change events, records (events + tombstones)

generate(bootstrap, registry_url, topic, events, keys, partitions, seed,
version) does it in one call; with version=2 the first half of the events
uses v1 and the second half v2 (schema evolution mid-stream).  In the
expected state every row then has "note", None for rows last written with
v1 (what the materializer's table holds after ALTER TABLE ADD COLUMN).

Row columns: id long (key), name string, qty int, price double,
active boolean; v2 adds note ["null","string"] default null.
"""

import dataclasses
import json
import random
import time

ROW_V1_FIELDS = [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "qty", "type": "int"},
    {"name": "price", "type": "double"},
    {"name": "active", "type": "boolean"},
]
NOTE_FIELD = {"name": "note", "type": ["null", "string"], "default": None}
COLUMNS_V1 = [f["name"] for f in ROW_V1_FIELDS]
COLUMNS_V2 = COLUMNS_V1 + ["note"]
KEY_COLUMNS = ["id"]

SOURCE_SCHEMA = {
    "type": "record", "name": "Source",
    "namespace": "io.debezium.connector.postgresql",
    "fields": [
        {"name": "connector", "type": "string"},
        {"name": "db", "type": "string"},
        {"name": "schema", "type": "string"},
        {"name": "table", "type": "string"},
        {"name": "lsn", "type": ["null", "long"], "default": None},
        {"name": "txId", "type": ["null", "long"], "default": None},
        {"name": "ts_ms", "type": "long"},
        {"name": "snapshot", "type": ["string", "null"],
         "default": "false"},
    ],
}


def _namespace(topic):
    # Debezium names records <server>.<schema>.<table>; a topic name may
    # hold '-', which Avro names may not.
    return "mesh.cdc." + "".join(c if c.isalnum() else "_" for c in topic)


def key_schema(topic):
    return json.dumps({"type": "record", "name": "Key",
                       "namespace": _namespace(topic),
                       "fields": [{"name": "id", "type": "long"}]})


def value_schema(topic, version=1):
    fields = list(ROW_V1_FIELDS)
    if version >= 2:
        fields.append(NOTE_FIELD)
    row = {"type": "record", "name": "Value", "fields": fields}
    ns = _namespace(topic)
    return json.dumps({
        "type": "record", "name": "Envelope", "namespace": ns,
        "fields": [
            {"name": "before", "type": ["null", row], "default": None},
            {"name": "after", "type": ["null", "Value"], "default": None},
            {"name": "source", "type": SOURCE_SCHEMA},
            {"name": "op", "type": "string"},
            {"name": "ts_ms", "type": ["null", "long"], "default": None},
        ],
    })


@dataclasses.dataclass
class CdcResult:
    expected: dict      # id -> row dict (final state; deleted keys absent)
    end_offsets: dict   # partition -> high watermark after the run
    events: int         # change events produced (c, r, u, d)
    records: int        # records produced (events + tombstones)
    ops: dict           # op letter -> count
    columns: list       # column names of the newest version used


def _create_via_control(bootstrap, topic, partitions):
    """mesh-broker answers HTTP on its bootstrap address (POST /topics);
    True when it did."""
    import urllib.error
    import urllib.request
    host = bootstrap.split(",")[0]
    body = json.dumps({"name": topic, "partitions": partitions}).encode()
    req = urllib.request.Request(f"http://{host}/topics", data=body,
                                 method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5):
            return True
    except urllib.error.HTTPError as e:
        return e.code == 409         # exists already
    except Exception:
        return False                 # not mesh-broker (a real Kafka)


def create_topic(bootstrap, topic, partitions, timeout=30.0):
    """Creates topic with partitions (replication 1) on mesh-broker (its
    control endpoint) or Kafka (Admin API); an existing topic is fine."""
    if _create_via_control(bootstrap, topic, partitions):
        return
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        try:
            fut.result(timeout)
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


class CdcGen:
    def __init__(self, bootstrap, registry_url, topic, partitions=3,
                 keys=100, seed=1, snapshot=False, create=True,
                 producer_conf=None, delete_ratio=0.2, table="items"):
        from confluent_kafka import Producer
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import (MessageField,
                                                   SerializationContext)
        self.bootstrap, self.topic = bootstrap, topic
        self.partitions, self.keys = partitions, keys
        self.rnd = random.Random(seed)
        self.snapshot = snapshot
        self.delete_ratio = delete_ratio
        self.table = table
        if create and partitions:
            create_topic(bootstrap, topic, partitions)
        self.client = SchemaRegistryClient({"url": registry_url})
        self._ser_cls = AvroSerializer
        self.key_ser = AvroSerializer(self.client, key_schema(topic))
        self.value_sers = {}
        self.kctx = SerializationContext(topic, MessageField.KEY)
        self.vctx = SerializationContext(topic, MessageField.VALUE)
        conf = {"bootstrap.servers": bootstrap, "enable.idempotence": True,
                "linger.ms": 20, "queue.buffering.max.messages": 200000}
        conf.update(producer_conf or {})
        self.prod = Producer(conf)
        self.rows = {}          # id -> current row (as last produced)
        self.state = {}         # id -> expected row (with note when v2)
        self.max_version = 1
        self.events = self.records = 0
        self.ops = {"c": 0, "r": 0, "u": 0, "d": 0}
        self.lsn = 1000
        self.errors = []

    def _value_ser(self, version):
        if version not in self.value_sers:
            self.value_sers[version] = self._ser_cls(
                self.client, value_schema(self.topic, version))
        return self.value_sers[version]

    def _row(self, key, version):
        r = self.rnd
        row = {"id": key, "name": f"name-{key}-{r.randrange(1 << 30)}",
               "qty": r.randrange(-1000, 100000),
               "price": round(r.uniform(0, 10000), 2),
               "active": r.random() < 0.5}
        if version >= 2:
            row["note"] = None if r.random() < 0.3 else f"note-{key}"
        return row

    def _send(self, key, value, version):
        kbytes = self.key_ser({"id": key}, self.kctx)
        vbytes = None if value is None else \
            self._value_ser(version)(value, self.vctx)
        while True:
            try:
                self.prod.produce(self.topic, key=kbytes, value=vbytes,
                                  on_delivery=self._delivered)
                break
            except BufferError:
                self.prod.poll(0.05)
        self.prod.poll(0)
        self.records += 1

    def _delivered(self, err, msg):
        if err is not None:
            self.errors.append(str(err))

    def _envelope(self, op, before, after):
        self.lsn += 8
        now = int(time.time() * 1000)
        snap = "true" if op == "r" else "false"
        return {"before": before, "after": after, "op": op, "ts_ms": now,
                "source": {"connector": "postgresql", "db": "shop",
                           "schema": "public", "table": self.table,
                           "lsn": self.lsn, "txId": self.lsn // 8,
                           "ts_ms": now, "snapshot": snap}}

    def _expected(self, row):
        out = dict(row)
        if self.max_version >= 2:
            out.setdefault("note", None)
        return out

    def produce(self, events, version=1):
        """Produces events change events with the given value schema
        version (1 or 2)."""
        self.max_version = max(self.max_version, version)
        for _ in range(events):
            key = self.rnd.randrange(self.keys)
            old = self.rows.get(key)
            if old is None:
                op = "r" if self.snapshot else "c"
                row = self._row(key, version)
                self._send(key, self._envelope(op, None, row), version)
                self.rows[key] = row
            elif self.rnd.random() < self.delete_ratio:
                op = "d"
                self._send(key, self._envelope("d", old, None), version)
                self._send(key, None, version)       # tombstone
                del self.rows[key]
            else:
                op = "u"
                row = self._row(key, version)
                self._send(key, self._envelope("u", old, row), version)
                self.rows[key] = row
            self.ops[op] += 1
            self.events += 1
        self.snapshot = False

    def end_offsets(self, timeout=30.0):
        from confluent_kafka import Consumer, TopicPartition
        cons = Consumer({"bootstrap.servers": self.bootstrap,
                         "group.id": "cdcgen-watermarks",
                         "enable.auto.commit": False})
        try:
            md = cons.list_topics(self.topic, timeout=timeout)
            parts = sorted(md.topics[self.topic].partitions)
            return {p: cons.get_watermark_offsets(
                TopicPartition(self.topic, p), timeout=timeout)[1]
                for p in parts}
        finally:
            cons.close()

    def result(self, timeout=60.0):
        """Flushes everything produced so far and returns a CdcResult."""
        left = self.prod.flush(timeout)
        if left:
            raise TimeoutError(f"cdcgen: {left} records not delivered")
        if self.errors:
            raise RuntimeError(f"cdcgen: delivery failed: {self.errors[:3]}")
        expected = {k: self._expected(v) for k, v in self.rows.items()}
        cols = COLUMNS_V2 if self.max_version >= 2 else COLUMNS_V1
        return CdcResult(expected, self.end_offsets(timeout), self.events,
                         self.records, dict(self.ops), cols)


def generate(bootstrap, registry_url, topic, events=1000, keys=100,
             partitions=3, seed=1, version=1, **kwargs):
    """One run: events change events over keys keys; version=2 switches to
    the v2 schema halfway.  Returns the CdcResult."""
    gen = CdcGen(bootstrap, registry_url, topic, partitions=partitions,
                 keys=keys, seed=seed, **kwargs)
    if version >= 2:
        gen.produce(events // 2, version=1)
        gen.produce(events - events // 2, version=2)
    else:
        gen.produce(events, version=1)
    return gen.result()
