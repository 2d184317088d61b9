"""MeshProducer: runs mesh-producer for integration tests, and read_topic().

Starts the binary with ready.file=<workdir>/ready.json, ops.listener on port
0 (and http.listener on port 0 for source=http) plus the given settings,
waits for the ready file (written atomically once the source started) and
exposes the URLs found there.  Output goes to <workdir>/mesh-producer.log.

    p = MeshProducer(binary, workdir, sets={"source": "http", ...})
    p.http, p.ops          # "http://127.0.0.1:PORT" (None when absent)
    p.stop()               # SIGTERM, returns the exit code
    p.kill()               # SIGKILL, returns the exit code

read_topic(bootstrap, topic, registry_url, expect_count, timeout) reads a
topic from the beginning of every partition with confluent_kafka and
decodes values (and keys framed with a schema) through the registry:
a list of (key, value, headers, partition, offset) tuples, headers as a
dict of str -> str.
"""

import os
import time

from daemon import TIMEOUT_MULT, OpsDaemon


class MeshProducer(OpsDaemon):
    PROGRAM = "mesh-producer"

    def __init__(self, binary, workdir, sets=None, start_timeout=30.0,
                 wait=True, stdin=None):
        super().__init__(binary, workdir)
        self.http = None
        settings = self._base_settings()
        sets = {k: str(v) for k, v in (sets or {}).items()}
        if sets.get("source") == "http":
            settings["http.listener"] = "127.0.0.1:0"
        settings.update(sets)
        self.settings = settings
        self._start(settings, start_timeout, wait, stdin=stdin)

    def _read_ready(self):
        ready = super()._read_ready()
        if ready is not None:
            self.http = ready.get("http")
        return ready


def _headers(msg):
    out = {}
    for name, value in msg.headers() or []:
        out[name] = value.decode("utf-8", "replace") if value is not None \
            else None
    return out


def _decoder(registry_url):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import (MessageField,
                                               SerializationContext)

    client = SchemaRegistryClient({"url": registry_url})
    deser = AvroDeserializer(client)

    def decode(topic, data, field):
        # Raw (unframed) bytes, e.g. a key without schema, stay bytes.
        if data is None or len(data) < 5 or data[0] != 0:
            return data
        ctx = SerializationContext(
            topic, MessageField.KEY if field == "key" else MessageField.VALUE)
        return deser(data, ctx)

    return decode


def read_topic(bootstrap, topic, registry_url, expect_count, timeout=30.0,
               decode=True):
    """Reads topic from the beginning until expect_count records arrived or
    timeout passed; returns [(key, value, headers, partition, offset)].
    decode=False returns raw bytes for key and value (dead letters)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "read-topic-%d-%f" % (os.getpid(), time.time()),
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 10,
        "topic.metadata.refresh.interval.ms": 500,
    })
    decoder = _decoder(registry_url) if decode else None
    out = []
    deadline = time.monotonic() + timeout * TIMEOUT_MULT
    try:
        parts = None
        while parts is None and time.monotonic() < deadline:
            md = consumer.list_topics(topic, timeout=5)
            tmd = md.topics.get(topic)
            if tmd is not None and tmd.error is None and tmd.partitions:
                parts = sorted(tmd.partitions)
            else:
                time.sleep(0.1)
        if parts is None:
            return out
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        while len(out) < expect_count and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            key, value = msg.key(), msg.value()
            if decoder:
                key = decoder(topic, key, "key")
                value = decoder(topic, value, "value")
            out.append((key, value, _headers(msg), msg.partition(),
                        msg.offset()))
    finally:
        consumer.close()
    return out
