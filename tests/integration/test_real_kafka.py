"""The real Apache Kafka fixture does what the adapter tests rely on: a
third-party client (kcat) sees the broker, confluent-kafka round-trips
messages, and topic configs such as cleanup.policy=compact are kept and read
back (the embedded mock broker does not implement DescribeConfigs)."""

import shutil
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

N_MESSAGES = 100


def test_kcat_lists_the_broker(real_kafka, timeout):
    if not shutil.which("kcat"):
        pytest.fail("kcat not installed: run `make deps`")
    out = subprocess.run(
        ["kcat", "-b", real_kafka.bootstrap, "-L", "-m", str(int(timeout(10)))],
        check=True, capture_output=True, text=True, timeout=timeout(30)).stdout
    assert "1 brokers:" in out
    assert f"broker 1 at {real_kafka.bootstrap}" in out


def test_produce_consume_round_trip(real_kafka, unique_topic, timeout):
    prod = Producer({"bootstrap.servers": real_kafka.bootstrap,
                     "enable.idempotence": True, "acks": "all",
                     "linger.ms": 5})
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    sent = [(f"k{i}".encode(), f"value-{i}".encode()) for i in range(N_MESSAGES)]
    for key, value in sent:
        prod.produce(unique_topic, value=value, key=key, on_delivery=on_delivery)
    assert prod.flush(timeout(30)) == 0, "messages still queued after flush"
    assert errors == []

    cons = Consumer({"bootstrap.servers": real_kafka.bootstrap,
                     "group.id": unique_topic,
                     "auto.offset.reset": "earliest",
                     "enable.auto.commit": False,
                     "enable.partition.eof": True})
    cons.subscribe([unique_topic])
    got = []
    try:
        for msg in _poll_until(cons, lambda: len(got) >= N_MESSAGES,
                               timeout(30)):
            got.append((msg.key(), msg.value()))
    finally:
        cons.close()
    # One partition (num.partitions=1): the order is the produce order.
    assert got == sent


def _poll_until(cons, done, seconds):
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out consuming"
        msg = cons.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise AssertionError(f"consume error: {msg.error()}")
        yield msg


def test_compacted_topic_config_reads_back(real_kafka, unique_topic, timeout):
    admin = AdminClient({"bootstrap.servers": real_kafka.bootstrap})
    new = NewTopic(unique_topic, num_partitions=3, replication_factor=1,
                   config={"cleanup.policy": "compact"})
    for fut in admin.create_topics([new]).values():
        fut.result(timeout(30))

    # CreateTopics answers once the controller committed the topic; the
    # broker's metadata cache follows a moment later (KRaft propagation), so
    # a Metadata request right away may still say UNKNOWN_TOPIC_OR_PART.
    deadline = time.monotonic() + timeout(10)
    while True:
        md = admin.list_topics(unique_topic, timeout=timeout(10))
        partitions = md.topics[unique_topic].partitions
        if len(partitions) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(partitions) == 3

    res = ConfigResource(ConfigResource.Type.TOPIC, unique_topic)
    configs = admin.describe_configs([res])[res].result(timeout(30))
    assert configs["cleanup.policy"].value == "compact"
    # Set on the topic, not inherited from the broker default ("delete").
    assert not configs["cleanup.policy"].is_default
