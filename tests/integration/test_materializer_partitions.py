"""mesh-materializer reading many partitions (SQLite sink): how each
partition's first fetch starts (docs/OPERATIONS.md, "Reading many
partitions").

- A partition the sink has no offset for starts at an absolute offset 0,
  not at the logical `beginning`: librdkafka resolves a logical start with
  an offset query that, right after an assignment, it often postpones by a
  fixed 500 ms timer, so some partitions started half a second after the
  others.  The test reads librdkafka's own debug lines (`kafka.debug`):
  every partition starts fetching at offset 0 and none queries a logical
  offset.
- When the partition's head is gone (mesh-broker's retention dropped it),
  offset 0 is out of range and auto.offset.reset (earliest) moves the fetch
  to the log start: every record still there is materialized exactly once
  and the stored offset is the end offset.
"""

import json
import re

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from sinks import TABLE, SqliteSink, wait_offsets

KEY_SCHEMA = {"type": "record", "name": "Key", "namespace": "test.parts",
              "fields": [{"name": "id", "type": "long"}]}
VALUE_SCHEMA = {"type": "record", "name": "Item", "namespace": "test.parts",
                "fields": [{"name": "id", "type": "long"},
                           {"name": "pad", "type": "string"}]}


def produce(broker, registry, topic, events, partitions, pad):
    """events records with distinct keys, round robin over the partitions;
    returns the end offsets."""
    client = SchemaRegistryClient({"url": registry.url})
    kser = AvroSerializer(client, json.dumps(KEY_SCHEMA))
    vser = AvroSerializer(client, json.dumps(VALUE_SCHEMA))
    kctx = SerializationContext(topic, MessageField.KEY)
    vctx = SerializationContext(topic, MessageField.VALUE)
    prod = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5,
                     "enable.idempotence": True})
    failed = []

    def report(err, _msg):
        if err is not None:
            failed.append(err)
    for key in range(events):
        k = kser({"id": key}, kctx)
        v = vser({"id": key, "pad": pad}, vctx)
        while True:
            try:
                prod.produce(topic, key=k, value=v,
                             partition=key % partitions, on_delivery=report)
                break
            except BufferError:
                prod.poll(0.05)
    assert prod.flush(120) == 0
    assert not failed, failed[:3]
    return watermarks(broker, topic, partitions)


def watermarks(broker, topic, partitions):
    cons = Consumer({"bootstrap.servers": broker.bootstrap,
                     "group.id": "wm-" + topic})
    try:
        return {p: cons.get_watermark_offsets(TopicPartition(topic, p),
                                              timeout=30)
                for p in range(partitions)}
    finally:
        cons.close()


def count_rows(sink):
    con = sink.connect()
    try:
        return con.execute('SELECT count(*), count(DISTINCT id) FROM "%s"'
                           % TABLE).fetchone()
    finally:
        con.close()


def test_every_partition_starts_at_offset_zero(mesh_broker, registry,
                                               make_materializer,
                                               unique_topic, tmp_path,
                                               timeout):
    partitions = 8
    mesh_broker.create_topic(unique_topic, partitions)
    wm = produce(mesh_broker, registry, unique_topic, 4000, partitions, "x")
    sink = SqliteSink(tmp_path)
    mat = make_materializer(sets=sink.sets(
        mesh_broker, registry, unique_topic, "starts",
        **{"kafka.debug": "fetch,topic", "log.level": "debug"}))
    wait_offsets(sink, unique_topic, {p: hi for p, (_lo, hi) in wm.items()},
                 timeout(60), [mat])
    log = mat.log()
    starts = set(int(p) for p in re.findall(
        r"Partition %s \[(\d+)\] start fetching at offset 0\b"
        % re.escape(unique_topic), log))
    assert starts == set(range(partitions)), log[-4000:]
    # A logical start would have shown as an offset query per partition.
    assert "querying for logical offset" not in log, log[-4000:]
    assert count_rows(sink) == (4000, 4000)
    assert mat.stop() == 0, mat.log()[-3000:]


def test_a_partition_without_its_head_starts_at_the_log_start(
        mesh_broker, registry, make_materializer, unique_topic, tmp_path,
        timeout):
    mesh_broker.create_topic(unique_topic, 1)
    # 30,000 records of ~260 bytes, ~7.5 MiB into one partition: past the
    # 5 MiB mesh-broker keeps, so the oldest records are gone.
    wm = produce(mesh_broker, registry, unique_topic, 30000, 1, "p" * 250)
    low, high = wm[0]
    assert 0 < low < high == 30000, wm
    sink = SqliteSink(tmp_path)
    mat = make_materializer(sets=sink.sets(mesh_broker, registry,
                                           unique_topic, "head"))
    wait_offsets(sink, unique_topic, {0: high}, timeout(60), [mat])
    # Low can only have risen since it was read (nothing is produced
    # now, so it did not): exactly the records kept, once each.
    assert count_rows(sink) == (high - low, high - low)
    assert mat.stop() == 0, mat.log()[-3000:]
