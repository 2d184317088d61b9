"""mesh-materializer into PostgreSQL (sink=postgres, consumers/mat_pg.c):
the mapping of Avro's logical types to PostgreSQL types (read back from the
catalog), a re-snapshot of existing keys, an outage of the server.
Exactly-once under SIGKILL, schema evolution, dead letters and SIGTERM are
in test_materializer_sinks.py, for every sink.

Change events come from cdcgen (Debezium envelopes serialized by Confluent's
AvroSerializer against mesh-registry) on mesh-broker; cdcgen returns the
expected final state and the end offsets.  Checks read PostgreSQL with psql
(tests/integration/pgserver.py, sinks.PgSink).  The server is shared by the
session, so each test works in its own schema (postgres.schema).
"""

import datetime
import decimal
import time

import cdcgen
from sinks import PgSink, assert_exact, wait_offsets

TABLE = "items"


# ------------------------------------------------------------ type mapping

TYPES_VALUE = {
    "type": "record", "name": "Typed", "namespace": "mesh.test",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "b", "type": "boolean"},
        {"name": "i32", "type": "int"},
        {"name": "f32", "type": "float"},
        {"name": "f64", "type": "double"},
        {"name": "s", "type": "string"},
        {"name": "raw", "type": "bytes"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal",
                                    "precision": 12, "scale": 3}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "tod", "type": {"type": "long",
                                 "logicalType": "time-micros"}},
        {"name": "at", "type": {"type": "long",
                                "logicalType": "timestamp-micros"}},
        {"name": "at_ms", "type": {"type": "long",
                                   "logicalType": "timestamp-millis"}},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "maybe", "type": ["null", "string"], "default": None},
    ],
}
TYPES_KEY = {"type": "record", "name": "TypedKey", "namespace": "mesh.test",
             "fields": [{"name": "id", "type": "long"}]}
EXPECTED_TYPES = [
    ("id", "bigint"), ("b", "boolean"), ("i32", "integer"), ("f32", "real"),
    ("f64", "double precision"), ("s", "text"), ("raw", "bytea"),
    ("amount", "numeric"), ("day", "date"),
    ("tod", "time without time zone"),
    ("at", "timestamp with time zone"), ("at_ms", "timestamp with time zone"),
    ("uid", "uuid"), ("tags", "jsonb"), ("attrs", "jsonb"), ("maybe", "text"),
]


def _typed_rows():
    utc = datetime.timezone.utc
    return [
        {"id": 1, "b": True, "i32": -2147483648, "f32": 1.5,
         "f64": 3.141592653589793, "s": "tab\there \\ new\nline 'q' \"d\"",
         "raw": b"\x00\x01\xff\\", "amount": decimal.Decimal("-12345.678"),
         "day": datetime.date(2024, 2, 29),
         "tod": datetime.time(23, 59, 59, 999999),
         "at": datetime.datetime(2024, 2, 29, 12, 30, 45, 123456, tzinfo=utc),
         "at_ms": datetime.datetime(1969, 12, 31, 23, 59, 59, 999000,
                                    tzinfo=utc),
         "uid": "6f1c2a3e-8d4b-4c2a-9e1f-0a1b2c3d4e5f",
         "tags": ["a", "b"], "attrs": {"x": 1}, "maybe": None},
        {"id": 2, "b": False, "i32": 7, "f32": -0.25, "f64": 1e-300,
         "s": "ünïcødé", "raw": b"", "amount": decimal.Decimal("0.001"),
         "day": datetime.date(1900, 1, 1), "tod": datetime.time(0, 0),
         "at": datetime.datetime(1970, 1, 1, tzinfo=utc),
         "at_ms": datetime.datetime(2038, 1, 19, 3, 14, 8, tzinfo=utc),
         "uid": "00000000-0000-0000-0000-000000000000",
         "tags": [], "attrs": {}, "maybe": "here"},
    ]


def _create_each(gen, n):
    """Keys 0..n-1 once each: every event a 'c'."""
    for key in range(n):
        row = gen._row(key, 1)
        gen._send(key, gen._envelope("c", None, row), 1)
        gen.rows[key] = row
        gen.events += 1


# ------------------------------------------------------------ re-snapshot

def test_pg_resnapshot_upserts_existing_rows(mesh_broker, registry, postgres,
                                             make_materializer, unique_topic,
                                             timeout):
    """Inserts only (the sink COPYs them straight into the table), then a
    Debezium re-snapshot: 'r' events for keys already in the table, mixed
    with new keys.  The first such batch meets a unique violation and must
    fall back to the merge without losing or doubling a row."""
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=2, keys=3000, seed=29, delete_ratio=0.0)
    _create_each(gen, 2000)
    sink = PgSink(postgres)
    sets = sink.sets(mesh_broker, registry, unique_topic,
                     "pgresnap", **{"batch.max.records": "200"})
    mat = make_materializer(sets=sets)
    wait_offsets(sink, unique_topic, gen.result().end_offsets,
                 timeout(60), [mat])
    # The re-snapshot: the generator forgets what it sent, so every key it
    # draws is "new" again and goes out as an 'r' with fresh values.
    before = dict(gen.rows)
    gen.rows, gen.snapshot = {}, True
    gen.produce(4000)
    assert gen.ops["r"] > 0
    gen.rows = {**before, **gen.rows}
    result = gen.result()
    wait_offsets(sink, unique_topic, result.end_offsets,
                 timeout(90), [mat])
    assert mat.stop() == 0, mat.log()[-4000:]
    assert_exact(sink, result)


# ------------------------------------------------------------ updates

def test_pg_updates_then_new_keys(mesh_broker, registry, postgres,
                                  make_materializer, unique_topic, timeout):
    """Inserts (COPYed straight into the table), then rounds of updates of
    stored keys only: once a merge finds every key stored, the sink
    updates by UPDATE ... FROM.  Then changes over a wider key range mix
    updates, new keys and deletes into those batches: the UPDATE finds
    fewer rows than it staged, the new keys must still be inserted and the
    deleted ones removed, nothing lost or doubled."""
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=1, keys=1500, seed=31, delete_ratio=0.0)
    _create_each(gen, 1500)
    sink = PgSink(postgres)
    mat = make_materializer(sets=sink.sets(
        mesh_broker, registry, unique_topic, "pgupdates",
        **{"batch.max.records": "200"}))
    wait_offsets(sink, unique_topic, gen.result().end_offsets,
                 timeout(60), [mat])
    gen.produce(3000)          # updates only: every key is stored
    assert gen.ops["u"] == 3000
    wait_offsets(sink, unique_topic, gen.result().end_offsets,
                 timeout(60), [mat])
    assert_exact(sink, gen.result())
    gen.keys, gen.delete_ratio = 3000, 0.1
    gen.produce(3000)          # updates, new keys and deletes mixed
    assert gen.ops["c"] > 0 and gen.ops["d"] > 0
    result = gen.result()
    wait_offsets(sink, unique_topic, result.end_offsets,
                 timeout(60), [mat])
    assert mat.stop() == 0, mat.log()[-4000:]
    assert_exact(sink, result)


# ------------------------------------------------------------ outage

def test_pg_outage_skips_nothing(mesh_broker, registry, postgres,
                                 make_materializer, unique_topic, timeout):
    """PostgreSQL refuses connections while records arrive one by one, so
    each arrives when no batch is open and the batch cannot even begin:
    once the server is back, every record is in the table exactly once."""
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=1, keys=1_000_000, seed=23)
    gen.produce(100)
    sink = PgSink(postgres)
    mat = make_materializer(sets=sink.sets(
        mesh_broker, registry, unique_topic, "pgoutage",
        **{"batch.max.ms": "100"}))
    wait_offsets(sink, unique_topic, gen.result().end_offsets,
                 timeout(60), [mat])
    db = postgres.dbname
    postgres.psql(f"ALTER DATABASE {db} WITH ALLOW_CONNECTIONS false",
                  dbname="postgres")
    try:
        killed = postgres.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'mesh-materializer'",
            dbname="postgres")
        assert int(killed) >= 1
        # One record a little more often than the loop's 1 s back-off:
        # every one meets a sink that cannot begin its batch.
        for _ in range(5):
            gen.produce(1)
            gen.prod.flush(10)
            time.sleep(1.2)
        assert mat.proc.poll() is None, mat.log()[-4000:]
    finally:
        postgres.psql(f"ALTER DATABASE {db} WITH ALLOW_CONNECTIONS true",
                      dbname="postgres")
    gen.produce(20)
    result = gen.result()
    wait_offsets(sink, unique_topic, result.end_offsets,
                 timeout(60), [mat])
    assert mat.stop() == 0, mat.log()[-4000:]
    assert_exact(sink, result)
    assert "batch failed" in mat.log()


def test_pg_type_mapping(mesh_broker, registry, postgres, make_materializer,
                         unique_topic, timeout):
    import json
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import (MessageField,
                                               SerializationContext)
    cdcgen.create_topic(mesh_broker.bootstrap, unique_topic, 2)
    client = SchemaRegistryClient({"url": registry.url})
    kser = AvroSerializer(client, json.dumps(TYPES_KEY))
    vser = AvroSerializer(client, json.dumps(TYPES_VALUE))
    kctx = SerializationContext(unique_topic, MessageField.KEY)
    vctx = SerializationContext(unique_topic, MessageField.VALUE)
    prod = Producer({"bootstrap.servers": mesh_broker.bootstrap})
    rows = _typed_rows()
    for row in rows:
        prod.produce(unique_topic, key=kser({"id": row["id"]}, kctx),
                     value=vser(row, vctx))
    assert prod.flush(30) == 0
    end = end_offsets(mesh_broker.bootstrap, unique_topic)
    sink = PgSink(postgres)
    schema = sink.schema
    mat = make_materializer(sets=sink.sets(mesh_broker, registry,
                                           unique_topic, "types"))
    wait_offsets(sink, unique_topic, end, timeout(60), [mat])
    assert sink.typed_columns() == EXPECTED_TYPES
    assert postgres.rows(
        "SELECT numeric_precision, numeric_scale FROM "
        f"information_schema.columns WHERE table_schema = '{schema}' AND "
        "column_name = 'amount'") == [("12", "3")]
    # s with its newlines replaced: psql prints one line per row.
    got = postgres.rows(
        "SELECT id, b, i32, f32, f64, replace(s, E'\\n', '<NL>'), "
        "encode(raw, 'hex'), amount, day, tod, "
        "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
        "to_char(at_ms AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
        "uid, tags::text, attrs::text, maybe "
        f"FROM {schema}.{TABLE} ORDER BY id")
    want = []
    for r in rows:
        tod = r["tod"].strftime("%H:%M:%S")
        if r["tod"].microsecond:
            tod += f".{r['tod'].microsecond:06d}".rstrip("0")
        want.append((
            str(r["id"]), "t" if r["b"] else "f", str(r["i32"]),
            repr(r["f32"]), repr(r["f64"]), r["s"].replace("\n", "<NL>"),
            r["raw"].hex(), str(r["amount"]), r["day"].isoformat(), tod,
            r["at"].strftime("%Y-%m-%d %H:%M:%S.%f"),
            r["at_ms"].strftime("%Y-%m-%d %H:%M:%S.%f"),
            r["uid"], json.dumps(r["tags"]), json.dumps(r["attrs"]),
            r["maybe"]))
    assert got == want
    assert mat.stop() == 0, mat.log()[-4000:]


def end_offsets(bootstrap, topic):
    from confluent_kafka import Consumer, TopicPartition
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": "pg-wm",
                     "enable.auto.commit": False})
    try:
        md = cons.list_topics(topic, timeout=30)
        return {p: cons.get_watermark_offsets(TopicPartition(topic, p),
                                              timeout=30)[1]
                for p in md.topics[topic].partitions}
    finally:
        cons.close()
