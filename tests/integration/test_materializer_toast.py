"""Debezium's unavailable-value placeholder (consumers/mat_envelope.h).

Debezium's PostgreSQL connector sends `__debezium_unavailable_value` (the
string, or its ASCII bytes for a bytes column) for a TOASTed column that
an UPDATE left unchanged under REPLICA IDENTITY DEFAULT.  The table sinks
keep the stored value there; a row that is not stored yet gets NULL in a
nullable column and the placeholder in a non-nullable one, counted in
mesh_materializer_unavailable_values_total and logged once per table.  The
avro sink writes the change history as it came, and its readers (here
sinks.AvroSink's replay) keep the previous value.

Change events are Debezium envelopes serialized by Confluent's
AvroSerializer against mesh-registry (as cdcgen does), on mesh-broker, one
partition, so the records' order is the changes' order.  The big values
are far beyond PostgreSQL's TOAST threshold (2 kB), as a TOASTed column's
would be.
"""

import hashlib
import json
import random

import pytest

import cdcgen
import sinks
from sinks import wait_offsets

PLACEHOLDER = "__debezium_unavailable_value"
PLACEHOLDER_BYTES = PLACEHOLDER.encode("ascii")
METRIC = "mesh_materializer_unavailable_values_total"

ROW_FIELDS = [
    {"name": "id", "type": "long"},
    {"name": "title", "type": "string"},
    {"name": "body", "type": ["null", "string"], "default": None},
    {"name": "blob", "type": ["null", "bytes"], "default": None},
    {"name": "qty", "type": "int"},
]


def value_schema(topic):
    row = {"type": "record", "name": "Value", "fields": ROW_FIELDS}
    return json.dumps({
        "type": "record", "name": "Envelope",
        "namespace": cdcgen._namespace(topic),
        "fields": [
            {"name": "before", "type": ["null", row], "default": None},
            {"name": "after", "type": ["null", "Value"], "default": None},
            {"name": "source", "type": cdcgen.SOURCE_SCHEMA},
            {"name": "op", "type": "string"},
            {"name": "ts_ms", "type": ["null", "long"], "default": None},
        ],
    })


class Events:
    """Debezium change events of the table above, produced with
    Confluent's AvroSerializer (before is null, as Debezium sends it under
    REPLICA IDENTITY DEFAULT)."""

    def __init__(self, bootstrap, registry_url, topic):
        from confluent_kafka import Producer
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import (MessageField,
                                                   SerializationContext)
        client = SchemaRegistryClient({"url": registry_url})
        self.bootstrap, self.topic = bootstrap, topic
        self.key_ser = AvroSerializer(client, cdcgen.key_schema(topic))
        self.value_ser = AvroSerializer(client, value_schema(topic))
        self.kctx = SerializationContext(topic, MessageField.KEY)
        self.vctx = SerializationContext(topic, MessageField.VALUE)
        self.prod = Producer({"bootstrap.servers": bootstrap,
                              "enable.idempotence": True})
        self.lsn = 1000

    def send(self, op, row):
        self.lsn += 8
        env = {"before": None, "after": row, "op": op, "ts_ms": 1,
               "source": {"connector": "postgresql", "db": "shop",
                          "schema": "public", "table": "items",
                          "lsn": self.lsn, "txId": self.lsn // 8,
                          "ts_ms": 1, "snapshot": "false"}}
        self.prod.produce(self.topic, partition=0,
                          key=self.key_ser({"id": row["id"]}, self.kctx),
                          value=self.value_ser(env, self.vctx))

    def flush(self):
        assert self.prod.flush(30) == 0

    def end_offsets(self):
        """{partition: high watermark} (cdcgen's own reading)."""
        return cdcgen.CdcGen.end_offsets(self)


def big_text(rnd, n):
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789 ")
                   for _ in range(n))


def big_bytes(rnd, n):
    return bytes(rnd.randrange(256) for _ in range(n))


def short(row):
    """A row with each big value as its length and digest, so that a
    failing comparison prints a line, not 300 kB."""
    def one(v):
        if not isinstance(v, (str, bytes)) or len(v) <= 64:
            return v
        raw = v if isinstance(v, bytes) else v.encode()
        return f"<{len(v)} long, sha1 {hashlib.sha1(raw).hexdigest()[:12]}>"
    return tuple(one(v) for v in row)


def read_rows(sink):
    """{id: (title, body, blob, qty)} of the sink's table, big values
    shortened (short)."""
    if isinstance(sink, sinks.SqliteSink):
        con = sink.connect()
        try:
            got = con.execute(f'SELECT id, title, body, blob, qty FROM '
                              f'"{sinks.TABLE}"').fetchall()
        finally:
            con.close()
        return {r[0]: short((r[1], r[2],
                             None if r[3] is None else bytes(r[3]), r[4]))
                for r in got}
    got = sink.pg.rows(f"SELECT id, title, body, encode(blob, 'hex'), qty "
                       f"FROM {sink.schema}.{sinks.TABLE}")
    return {int(r[0]): short((r[1], r[2],
                              None if r[3] is None else bytes.fromhex(r[3]),
                              int(r[4]))) for r in got}


SINKS = {
    "sqlite": lambda request, tmp_path: sinks.SqliteSink(tmp_path),
    "postgres": lambda request, tmp_path: sinks.PgSink(
        request.getfixturevalue("postgres")),
}


@pytest.fixture(params=sorted(SINKS))
def table_sink(request, tmp_path):
    return SINKS[request.param](request, tmp_path)


def produce_and_wait(events, sink, mat, timeout):
    events.flush()
    ends = events.end_offsets()
    wait_offsets(sink, events.topic, ends, timeout(60), [mat])


def test_placeholder_keeps_the_stored_value(table_sink, mesh_broker,
                                            registry, make_materializer,
                                            unique_topic, timeout):
    sink = table_sink
    rnd = random.Random(11)
    mesh_broker.create_topic(unique_topic, 1)
    ev = Events(mesh_broker.bootstrap, registry.url, unique_topic)
    texts = {k: big_text(rnd, 300_000) for k in (1, 2, 3, 20)}
    blobs = {k: big_bytes(rnd, 100_000) for k in (1, 2, 3, 20)}

    # 1. One batch (produced before the materializer starts): key 20 is
    #    created and then updated with the placeholder, so the update
    #    replaces the insert among the batch's pending rows (postgres).
    ev.send("c", {"id": 20, "title": "t20", "body": texts[20],
                  "blob": blobs[20], "qty": 1})
    ev.send("u", {"id": 20, "title": "t20b", "body": PLACEHOLDER,
                  "blob": PLACEHOLDER_BYTES, "qty": 2})
    ev.flush()
    mat = make_materializer(sets=sink.sets(
        mesh_broker, registry, unique_topic, f"g-{unique_topic}",
        **{"batch.max.ms": "500"}))
    produce_and_wait(ev, sink, mat, timeout)
    assert read_rows(sink)[20] == short(("t20b", texts[20], blobs[20], 2))

    # 2. Rows with big values (new keys: postgres copies them straight
    #    into the table).
    for k in (1, 2, 3):
        ev.send("c", {"id": k, "title": f"t{k}", "body": texts[k],
                      "blob": blobs[k], "qty": k})
    produce_and_wait(ev, sink, mat, timeout)
    assert read_rows(sink)[1] == short(("t1", texts[1], blobs[1], 1))

    # 3. Updates in a later batch: the stored values are kept where the
    #    placeholder stands, every other column changes; a new key with
    #    the placeholder stores NULL (nullable) or the placeholder (title,
    #    not nullable).
    ev.send("u", {"id": 1, "title": "t1 new", "body": PLACEHOLDER,
                  "blob": PLACEHOLDER_BYTES, "qty": 100})
    ev.send("u", {"id": 2, "title": "t2", "body": PLACEHOLDER,
                  "blob": b"short", "qty": 200})
    ev.send("u", {"id": 3, "title": "t3", "body": "plain new text",
                  "blob": None, "qty": 300})
    ev.send("c", {"id": 10, "title": PLACEHOLDER, "body": PLACEHOLDER,
                  "blob": PLACEHOLDER_BYTES, "qty": 10})
    produce_and_wait(ev, sink, mat, timeout)
    got = read_rows(sink)
    assert got[1] == short(("t1 new", texts[1], blobs[1], 100))
    assert got[2] == short(("t2", texts[2], b"short", 200))
    assert got[3] == ("t3", "plain new text", None, 300)
    assert got[10] == (PLACEHOLDER, None, None, 10)
    assert got[20] == short(("t20b", texts[20], blobs[20], 2))
    assert sorted(got) == [1, 2, 3, 10, 20]

    # 4. A second placeholder update of an updated row keeps it again; so
    #    does an 'r' (a snapshot read of an existing row: Debezium does
    #    not send one with the placeholder, the sinks treat every upsert
    #    of a change event alike).
    ev.send("u", {"id": 1, "title": "t1 again", "body": PLACEHOLDER,
                  "blob": PLACEHOLDER_BYTES, "qty": 101})
    ev.send("r", {"id": 2, "title": "t2 read", "body": PLACEHOLDER,
                  "blob": None, "qty": 201})
    produce_and_wait(ev, sink, mat, timeout)
    got = read_rows(sink)
    assert got[1] == short(("t1 again", texts[1], blobs[1], 101))
    assert got[2] == short(("t2 read", texts[2], None, 201))

    # Three placeholders found nothing stored (key 10's), logged once.
    assert mat.metric(METRIC, table=sinks.TABLE) == 3
    log = mat.log()
    assert log.count("unavailable value without a stored row") == 1, \
        log[-4000:]
    assert mat.stop() == 0, mat.log()[-4000:]


def test_placeholder_in_plain_records_is_data(table_sink, mesh_broker,
                                              registry, make_materializer,
                                              unique_topic, timeout):
    """A plain keyed record (no envelope) is not a change event: the
    placeholder text is its value."""
    sink = table_sink
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import (MessageField,
                                               SerializationContext)
    mesh_broker.create_topic(unique_topic, 1)
    client = SchemaRegistryClient({"url": registry.url})
    row = {"type": "record", "name": "Plain", "namespace": "mesh.test",
           "fields": ROW_FIELDS}
    kser = AvroSerializer(client, cdcgen.key_schema(unique_topic))
    vser = AvroSerializer(client, json.dumps(row))
    kctx = SerializationContext(unique_topic, MessageField.KEY)
    vctx = SerializationContext(unique_topic, MessageField.VALUE)
    prod = Producer({"bootstrap.servers": mesh_broker.bootstrap})
    for body in ("stored", PLACEHOLDER):
        prod.produce(unique_topic, partition=0, key=kser({"id": 1}, kctx),
                     value=vser({"id": 1, "title": "t", "body": body,
                                 "blob": None, "qty": 1}, vctx))
    assert prod.flush(30) == 0
    ev = Events(mesh_broker.bootstrap, registry.url, unique_topic)
    mat = make_materializer(sets=sink.sets(
        mesh_broker, registry, unique_topic, f"g-{unique_topic}"))
    wait_offsets(sink, unique_topic, ev.end_offsets(),
                 timeout(60), [mat])
    assert read_rows(sink) == {1: ("t", PLACEHOLDER, None, 1)}
    assert mat.stop() == 0, mat.log()[-4000:]


def test_avro_history_keeps_the_placeholder(mesh_broker, registry,
                                            make_materializer, unique_topic,
                                            tmp_path, timeout):
    """The avro sink's files hold the change as it came; sinks.AvroSink's
    replay keeps the previous value, as a reader of the history must."""
    sink = sinks.AvroSink(tmp_path)
    mesh_broker.create_topic(unique_topic, 1)
    ev = Events(mesh_broker.bootstrap, registry.url, unique_topic)
    text = big_text(random.Random(5), 50_000)
    ev.send("c", {"id": 1, "title": "t", "body": text, "blob": b"b",
                  "qty": 1})
    ev.send("u", {"id": 1, "title": "t2", "body": PLACEHOLDER,
                  "blob": PLACEHOLDER_BYTES, "qty": 2})
    ev.send("c", {"id": 2, "title": "n", "body": PLACEHOLDER, "blob": None,
                  "qty": 3})
    mat = make_materializer(sets=sink.sets(
        mesh_broker, registry, unique_topic, f"g-{unique_topic}"))
    produce_and_wait(ev, sink, mat, timeout)
    assert mat.stop() == 0, mat.log()[-4000:]
    history = [rec for files in sink.final_files().values()
               for _, path in files for rec in sink._read(path, True)[2]]
    assert [(r["id"], r["_op"], r["body"]) for r in history] == [
        (1, "c", text), (1, "u", PLACEHOLDER), (2, "c", PLACEHOLDER)]
    assert history[1]["blob"] == PLACEHOLDER_BYTES
    cols = ["id", "title", "body", "blob", "qty"]
    assert sink.rows(cols) == {
        1: {"id": 1, "title": "t2", "body": text, "blob": b"b", "qty": 2},
        2: {"id": 2, "title": "n", "body": None, "blob": None, "qty": 3}}
