"""mesh-broker's retention watcher: the mock cluster keeps only the newest
5 MiB or 100,000 batches of a partition; mesh-broker must say so when it
drops records (a warning naming topic and partition, a metric) and stay
quiet below the ceiling.

Waiting is polling with a deadline; the negative case waits for complete
scans after the data is in (mesh_broker_retention_scans_total) so that its
silence is a verdict, not a race."""

import pathlib
import re
import subprocess
import sys
import time
import urllib.request

from confluent_kafka import Producer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from meshbroker import TIMEOUT_MULT  # noqa: E402

DROPPED = "mesh_broker_retention_dropped_records_total"
SCANS = "mesh_broker_retention_scans_total"


def metrics(broker):
    with urllib.request.urlopen(broker.control + "/metrics",
                                timeout=10 * TIMEOUT_MULT) as r:
        return r.read().decode()


def metric_value(text, name, labels=None):
    """The sample's value, None when the series does not exist."""
    want = name + ("{%s}" % labels if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


def wait_for(what, cond, timeout=30.0):
    deadline = time.monotonic() + timeout * TIMEOUT_MULT
    while True:
        res = cond()
        if res:
            return res
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)  # pacing the poll, not a timing assertion


def produce(broker, topic, cnt, size=100):
    prod = Producer({"bootstrap.servers": broker.bootstrap,
                     "linger.ms": 5, "compression.type": "none"})
    failed = []

    def report(err, _msg):
        if err is not None:
            failed.append(err)

    value = b"x" * size
    for i in range(cnt):
        while True:
            try:
                prod.produce(topic, value=value, key=b"%d" % i,
                             partition=0, on_delivery=report)
                break
            except BufferError:
                prod.poll(0.05)
    assert prod.flush(60 * TIMEOUT_MULT) == 0
    assert not failed, failed[:3]


def describe(bins, broker, topic):
    res = subprocess.run([str(bins / "meshctl"), "--bootstrap",
                          broker.bootstrap, "topic", "describe", topic],
                         capture_output=True, timeout=60 * TIMEOUT_MULT)
    assert res.returncode == 0, res.stderr
    return res.stdout.decode()


def test_start_up_states_the_ceiling(mesh_broker):
    line = [ln for ln in mesh_broker.log().splitlines()
            if 'msg="retention ceiling"' in ln]
    assert len(line) == 1, mesh_broker.log()
    assert "max_bytes_per_partition=5242880" in line[0]
    assert "max_batches_per_partition=100000" in line[0]
    assert metric_value(metrics(mesh_broker), SCANS) is not None


def test_past_the_ceiling_warns_and_counts(bins, mesh_broker, unique_topic):
    mesh_broker.create_topic(unique_topic, 1)
    # 80,000 records of ~110 bytes: about 8 MiB into one partition, well
    # past the 5 MiB the mock keeps.
    produce(mesh_broker, unique_topic, 80000)
    labels = 'partition="0",topic="%s"' % unique_topic

    def dropped():
        text = metrics(mesh_broker)
        v = metric_value(text, DROPPED, labels)
        if v is None:
            v = metric_value(text, DROPPED,
                             'topic="%s",partition="0"' % unique_topic)
        return v

    value = wait_for("the dropped-records metric", dropped)
    assert 0 < value < 80000
    warn = wait_for("the retention warning", lambda: [
        ln for ln in mesh_broker.log().splitlines()
        if 'msg="records dropped by retention"' in ln
        and "topic=%s " % unique_topic in ln])
    assert "level=warn" in warn[0]
    assert "partition=0 " in warn[0]
    m = re.search(r"dropped=(\d+) low=(\d+) high=(\d+)", warn[0])
    assert m and int(m.group(1)) > 0 and int(m.group(3)) == 80000
    assert "real Kafka" in warn[0] and "more partitions" in warn[0]
    out = describe(bins, mesh_broker, unique_topic)
    m = re.search(r"^  partition 0: low=(\d+) high=(\d+)$", out, re.M)
    assert m, out
    assert int(m.group(1)) >= int(value) and int(m.group(2)) == 80000
    assert re.search(r"^warning: partition 0: the %s oldest records were "
                     r"dropped by mesh-broker's retention" % m.group(1),
                     out, re.M), out


def test_below_the_ceiling_stays_quiet(bins, mesh_broker, unique_topic):
    mesh_broker.create_topic(unique_topic, 1)
    produce(mesh_broker, unique_topic, 20000)  # ~2 MiB
    scans = metric_value(metrics(mesh_broker), SCANS)
    # Two more complete scans start after the data was acknowledged.
    wait_for("two complete scans", lambda: metric_value(
        metrics(mesh_broker), SCANS) >= scans + 2)
    assert DROPPED not in metrics(mesh_broker).replace(
        "# HELP " + DROPPED, "").replace("# TYPE " + DROPPED, "")
    assert 'msg="records dropped by retention"' not in mesh_broker.log()
    out = describe(bins, mesh_broker, unique_topic)
    assert "  partition 0: low=0 high=20000\n" in out, out
    assert "warning:" not in out and "note:" not in out
