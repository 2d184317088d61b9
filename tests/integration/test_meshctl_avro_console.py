"""`meshctl produce|consume TOPIC --avro`: JSON lines to Confluent-framed
Avro through the registry and back, like kafka-avro-console-producer and
-consumer; the bytes are what Confluent's deserializers read (checked with
fastavro on the raw records), a line that does not fit the schema is
refused naming its line and JSON path."""

import io
import json
import struct
import subprocess
import time
import uuid

import fastavro

SCHEMA = {"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "long"},
    {"name": "note", "type": ["null", "string"], "default": None}]}
ROWS = [{"id": 1, "note": None}, {"id": 2, "note": {"string": "gift"}},
        {"id": 3, "note": {"string": "ünïcode"}}]


def meshctl(bins, broker, reg, *args, stdin=None, timeout=60):
    cmd = [str(bins / "meshctl"), "--bootstrap", broker.bootstrap,
           "--registry", reg.url] + [str(a) for a in args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def raw_values(bootstrap, topic, n, timeout_s=30):
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap,
                  "group.id": "t-" + uuid.uuid4().hex,
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    out, deadline = [], time.monotonic() + timeout_s
    try:
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append(m.value())
    finally:
        c.close()
    return out


def test_avro_produce_and_consume(bins, mesh_broker, registry, unique_topic):
    status, body = registry.register(f"{unique_topic}-value", SCHEMA)
    assert status == 200, body
    sid = body["id"]
    # One partition: the records come back in the order they were sent.
    assert meshctl(bins, mesh_broker, registry, "topic", "create",
                   unique_topic).returncode == 0
    lines = "".join(json.dumps(r) + "\n" for r in ROWS)
    res = meshctl(bins, mesh_broker, registry, "produce", unique_topic,
                  "--avro", stdin=lines)
    assert res.returncode == 0, res.stderr
    assert "delivered=3" in res.stderr

    parsed = fastavro.parse_schema(SCHEMA)
    decoded = []
    for v in raw_values(mesh_broker.bootstrap, unique_topic, 3):
        magic, got_id = struct.unpack(">bI", v[:5])
        assert (magic, got_id) == (0, sid)
        decoded.append(fastavro.schemaless_reader(io.BytesIO(v[5:]), parsed))
    assert decoded == [{"id": 1, "note": None}, {"id": 2, "note": "gift"},
                       {"id": 3, "note": "ünïcode"}]

    res = meshctl(bins, mesh_broker, registry, "consume", unique_topic,
                  "--avro", "--from-beginning", "--max", "3")
    assert res.returncode == 0, res.stderr
    assert [json.loads(l) for l in res.stdout.splitlines()] == ROWS

    bad = meshctl(bins, mesh_broker, registry, "produce", unique_topic,
                  "--avro", stdin='{"id": 4}\n{"id": "five"}\n')
    assert bad.returncode == 1
    assert "line 2:" in bad.stderr and "$.id" in bad.stderr, bad.stderr
