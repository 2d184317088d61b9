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

import json
import os
import pathlib
import signal
import subprocess
import time

TIMEOUT_MULT = float(os.environ.get("TIMEOUT_MULT", "1.0"))


class MeshProducer:
    def __init__(self, binary, workdir, sets=None, start_timeout=30.0,
                 wait=True, stdin=None):
        self.binary = pathlib.Path(binary)
        if self.binary.is_dir():
            self.binary = self.binary / "mesh-producer"
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ready_path = self.workdir / "ready.json"
        self.log_path = self.workdir / "mesh-producer.log"
        self.http = None
        self.ops = None
        self.ready = None
        self.killed = False
        settings = {"ready.file": str(self.ready_path),
                    "ops.listener": "127.0.0.1:0"}
        sets = {k: str(v) for k, v in (sets or {}).items()}
        if sets.get("source") == "http":
            settings["http.listener"] = "127.0.0.1:0"
        settings.update(sets)
        self.settings = settings
        # A ready file left by an earlier (killed) instance is not ours.
        try:
            self.ready_path.unlink()
        except FileNotFoundError:
            pass
        args = [str(self.binary)]
        for k, v in settings.items():
            args += ["--set", f"{k}={v}"]
        self.args = args
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=self._log,
            stdin=subprocess.DEVNULL if stdin is None else stdin)
        if wait:
            try:
                self.wait_ready(start_timeout * TIMEOUT_MULT)
            except Exception:
                self.kill()
                raise

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mesh-producer exited with %d before "
                                   "ready:\n%s" % (self.proc.returncode,
                                                   self.log()))
            if self.ready_path.exists():
                text = self.ready_path.read_text().strip()
                if text:
                    self.ready = json.loads(text)
                    self.http = self.ready.get("http")
                    self.ops = self.ready.get("ops")
                    return self.ready
            time.sleep(0.02)
        raise TimeoutError("mesh-producer not ready after %.1fs:\n%s"
                           % (timeout, self.log()))

    def log(self):
        """The producer's output so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=60.0):
        """SIGTERM, wait, return the exit code (-9 if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * TIMEOUT_MULT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def kill(self):
        """SIGKILL (a crash), wait, return the exit code."""
        self.killed = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


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
