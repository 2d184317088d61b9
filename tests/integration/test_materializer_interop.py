"""Records serialized by Confluent's own Python AvroSerializer
(PyPI confluent-kafka) materialize exactly like our producer's.

The same 2,000 plain (non-envelope) records, several per key so that later
ones update earlier ones, go
  (a) to topic A through mesh-producer's http source (REST Proxy v2, Avro
      JSON encoding: unions as {"long": v}, bytes as a string of code
      points), and
  (b) to topic B through confluent_kafka's SerializingProducer with
      AvroSerializer for the key and the value,
both on mesh-broker with three partitions each.  One mesh-materializer
(sink=sqlite, topics=A,B) builds one table per topic.  Once the offsets it
stored equal the end offsets of both topics, the two tables must hold the
same columns and the same rows, and both must equal the final state
computed here.  The value schema covers the logical types a Confluent
producer writes from Python objects: timestamp-millis (a datetime), decimal
bytes(10,2) (a Decimal), an enum, a nullable long and non-ASCII strings.
"""

import datetime
import decimal
import json
import random
import sqlite3
import time

import pytest
import requests

from confluent_kafka import Consumer, TopicPartition

PARTITIONS = 3
RECORDS = 2000
KEYS = 400
STATUSES = ["NEW", "ACTIVE", "CLOSED"]
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

KEY_SCHEMA = {
    "type": "record", "name": "AccountKey", "namespace": "meshwork.interop",
    "fields": [{"name": "id", "type": "int"}],
}
VALUE_SCHEMA = {
    "type": "record", "name": "Account", "namespace": "meshwork.interop",
    "fields": [
        {"name": "id", "type": "int"},
        {"name": "name", "type": "string"},
        {"name": "visits", "type": ["null", "long"], "default": None},
        {"name": "ratio", "type": "double"},
        {"name": "updated_at",
         "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "balance",
         "type": {"type": "bytes", "logicalType": "decimal",
                  "precision": 10, "scale": 2}},
        {"name": "status",
         "type": {"type": "enum", "name": "Status", "symbols": STATUSES}},
    ],
}
COLUMNS = [f["name"] for f in VALUE_SCHEMA["fields"]]
AVRO_V2 = "application/vnd.kafka.avro.v2+json"


def make_records(seed):
    """RECORDS plain records over KEYS keys, as (key id, fields) where fields
    holds plain Python values: visits int or None, updated_ms an int of
    milliseconds, balance the unscaled decimal (cents)."""
    rnd = random.Random(seed)
    out = []
    for i in range(RECORDS):
        key = rnd.randrange(KEYS)
        visits = None if rnd.random() < 0.3 else rnd.choice(
            [0, rnd.randrange(-10**6, 10**6), 2**62 + i, -(2**63) + i])
        out.append((key, {
            "id": key,
            "name": rnd.choice(["plain", "Grüße", "ελληνικά", "emoji 🚀",
                                'quote " and \\']) + f" #{i}",
            "visits": visits,
            "ratio": rnd.choice([0.0, -1.5, rnd.uniform(-1e6, 1e6),
                                 rnd.uniform(0, 1e-9)]),
            # 1950..2040, milliseconds kept.
            "updated_ms": rnd.randrange(-631152000000, 2208988800000),
            # 128 and 256 encode with a 0x00 byte (code point 0 in JSON).
            "balance": rnd.choice([0, -5, 100, 128, 256, -100000,
                                   random_cents(rnd)]),
            "status": rnd.choice(STATUSES),
        }))
    return out


def decimal_bytes(unscaled):
    """Big-endian two's complement, as few bytes as hold the sign (0 is no
    byte at all, which decodes as 0)."""
    if unscaled == 0:
        return b""
    magnitude = unscaled if unscaled > 0 else ~unscaled
    return unscaled.to_bytes((magnitude.bit_length() + 8) // 8, "big",
                             signed=True)


def random_cents(rnd):
    """A balance of up to 10 digits (its bytes may hold 0x00: the http
    source must take code point 0 in bytes values)."""
    return rnd.randrange(-10**9, 10**9)


def avro_json(fields):
    """The Avro JSON encoding our http source takes."""
    return {
        "id": fields["id"], "name": fields["name"],
        "visits": None if fields["visits"] is None
        else {"long": fields["visits"]},
        "ratio": fields["ratio"],
        "updated_at": fields["updated_ms"],
        # bytes: one code point (0-255) per byte.
        "balance": decimal_bytes(fields["balance"]).decode("latin-1"),
        "status": fields["status"],
    }


def python_value(fields):
    """What an application hands Confluent's AvroSerializer: a datetime and
    a Decimal for the logical types."""
    return {
        "id": fields["id"], "name": fields["name"],
        "visits": fields["visits"], "ratio": fields["ratio"],
        "updated_at": EPOCH + datetime.timedelta(
            milliseconds=fields["updated_ms"]),
        "balance": decimal.Decimal(fields["balance"]).scaleb(-2),
        "status": fields["status"],
    }


def expected_row(fields):
    """The row the SQLite sink stores (ISO UTC text for timestamps, decimal
    text with the scale's digits)."""
    ts = EPOCH + datetime.timedelta(milliseconds=fields["updated_ms"])
    cents = fields["balance"]
    return (fields["id"], fields["name"], fields["visits"], fields["ratio"],
            ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            f"{'-' if cents < 0 else ''}{abs(cents) // 100}."
            f"{abs(cents) % 100:02d}",
            fields["status"])


def produce_http(prod, topic, key_id, value_id, records, timeout):
    with requests.Session() as s:
        for start in range(0, len(records), 500):
            batch = records[start:start + 500]
            body = {"key_schema_id": key_id, "value_schema_id": value_id,
                    "records": [{"key": {"id": k}, "value": avro_json(f)}
                                for k, f in batch]}
            resp = s.post(f"{prod.http}/topics/{topic}",
                          data=json.dumps(body),
                          headers={"Content-Type": AVRO_V2,
                                   "Accept": "application/vnd.kafka.v2+json"},
                          timeout=timeout)
            assert resp.status_code == 200, resp.text
            got = resp.json()
            assert got["key_schema_id"] == key_id, got
            assert got["value_schema_id"] == value_id, got
            bad = [o for o in got["offsets"] if o["error_code"] is not None]
            assert len(got["offsets"]) == len(batch) and not bad, bad[:3]


def produce_confluent(bootstrap, registry_url, topic, records, timeout):
    from confluent_kafka import SerializingProducer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer

    client = SchemaRegistryClient({"url": registry_url})
    prod = SerializingProducer({
        "bootstrap.servers": bootstrap, "enable.idempotence": True,
        "linger.ms": 5,
        "key.serializer": AvroSerializer(client, json.dumps(KEY_SCHEMA),
                                         lambda k, ctx: {"id": k}),
        "value.serializer": AvroSerializer(client, json.dumps(VALUE_SCHEMA)),
    })
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))

    for key, fields in records:
        prod.produce(topic, key=key, value=python_value(fields),
                     on_delivery=delivered)
        prod.poll(0)
    assert prod.flush(timeout) == 0, "records not delivered"
    assert not errors, errors[:3]


def end_offsets(bootstrap, topic):
    cons = Consumer({"bootstrap.servers": bootstrap,
                     "group.id": f"wm-{topic}", "enable.auto.commit": False})
    try:
        return {p: cons.get_watermark_offsets(TopicPartition(topic, p),
                                              timeout=30)[1]
                for p in range(PARTITIONS)}
    finally:
        cons.close()


def stored_offsets(db, topic):
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(con.execute("SELECT partition, next_offset FROM "
                                "_mesh_offsets WHERE topic = ?",
                                (topic,)).fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        con.close()


def wait_caught_up(db, ends, mat, timeout):
    """Waits until _mesh_offsets holds every topic's end offsets."""
    want = {t: {p: o for p, o in e.items() if o > 0} for t, e in ends.items()}
    deadline = time.monotonic() + timeout
    got = {}
    while time.monotonic() < deadline:
        got = {t: stored_offsets(db, t) for t in want}
        if got == want:
            return
        if mat.proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"stored offsets {got}, expected {want}\n{mat.log()[-4000:]}")


def table(db, name):
    """(column names, rows sorted by id) of one table."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        cols = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
        rows = con.execute(f'SELECT * FROM "{name}" ORDER BY id').fetchall()
    finally:
        con.close()
    return cols, rows


def test_confluent_serializer_materializes_like_our_producer(
        mesh_broker, registry, make_producer, make_materializer,
        make_topic_name, tmp_path, timeout):
    topic_a = make_topic_name("interop-mesh-producer")
    topic_b = make_topic_name("interop-confluent")
    ids = {}
    for topic in (topic_a, topic_b):
        mesh_broker.create_topic(topic, PARTITIONS)
        for side, schema in (("key", KEY_SCHEMA), ("value", VALUE_SCHEMA)):
            status, body = registry.register(f"{topic}-{side}", schema)
            assert status == 200, body
            ids[(topic, side)] = body["id"]
    records = make_records(seed=20240505)
    expected = {}
    for key, fields in records:
        expected[key] = expected_row(fields)
    assert len(expected) < RECORDS // 2          # many updates per key

    prod = make_producer(sets={
        "source": "http", "registry.url": registry.url,
        "kafka.bootstrap.servers": mesh_broker.bootstrap,
        "kafka.linger.ms": "5"})
    produce_http(prod, topic_a, ids[(topic_a, "key")],
                 ids[(topic_a, "value")], records, timeout(60))
    produce_confluent(mesh_broker.bootstrap, registry.url, topic_b, records,
                      timeout(60))
    ends = {t: end_offsets(mesh_broker.bootstrap, t)
            for t in (topic_a, topic_b)}
    for topic, e in ends.items():
        assert sum(e.values()) == RECORDS, (topic, e)

    db = tmp_path / "interop.db"
    mat = make_materializer({
        "sink": "sqlite", "sqlite.path": str(db),
        "topics": f"{topic_a},{topic_b}", "group.id": f"g-{topic_a}",
        "registry.url": registry.url,
        "kafka.bootstrap.servers": mesh_broker.bootstrap,
        "batch.max.ms": 100, "kafka.fetch.wait.max.ms": 10,
        "kafka.session.timeout.ms": 6000,
        "kafka.heartbeat.interval.ms": 500})
    wait_caught_up(db, ends, mat, timeout(90))
    assert mat.stop() == 0, mat.log()[-3000:]

    cols_a, rows_a = table(db, topic_a.replace("-", "_"))
    cols_b, rows_b = table(db, topic_b.replace("-", "_"))
    assert cols_a == COLUMNS, cols_a
    assert cols_b == cols_a
    want = [expected[k] for k in sorted(expected)]
    assert len(rows_b) == len(rows_a) == len(want)
    for a, b, w in zip(rows_a, rows_b, want):
        assert b == a, f"confluent row {b} != mesh-producer row {a}"
        assert a == w, f"row {a} != expected {w}"
