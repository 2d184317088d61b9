"""The broker adapter end to end, through meshctl (which uses bk_producer,
bk_consumer and bk_admin), against mesh-broker and a real Apache Kafka:

- 200,000 keyed messages through a 6-partition topic and a consumer group
  of two meshctl processes: exactly the produced set, no duplicates,
  per-partition and per-key order; again with a broker taken down and
  brought back in the middle (mesh-broker fault injection);
- admin: a compacted topic whose config reads back (Kafka protocol on the
  real broker, control-endpoint fallback on mesh-broker);
- kcat (a third-party client) sees the topics meshctl created, with their
  partition counts, and interoperates for produce/consume;
- bad configuration and an unreachable bootstrap give clear errors;
- SIGTERM during production: exit 0 and every delivered message is there.
"""

import collections
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

# Speed settings for the mock (an empty fetch otherwise waits 500 ms) and
# for quick group membership changes.
FAST = ["--set", "kafka.fetch.wait.max.ms=10",
        "--set", "kafka.session.timeout.ms=6000",
        "--set", "kafka.heartbeat.interval.ms=500"]
# The group must outlive the outage test's 2-second broker outage, or a
# member's session expires and the records it read but could not commit
# are read again (at-least-once: correct, but not what that test checks).
# librdkafka backs reconnects off exponentially up to
# reconnect.backoff.max.ms (10 s by default), so on a loaded machine a
# member could reach its coordinator again only after the 6-second session
# had run out; measured: 1 run in 3 under two busy cores, none in 8 with
# this cap.  (A longer session instead slows the mock's group joins.)
RIDE_OUT = ["--set", "kafka.reconnect.backoff.max.ms=500"]
COUNT = 200_000
PARTITIONS = 6


def meshctl(bins, bootstrap, *args, input=None, timeout=120, check=True):
    cmd = [str(bins / "meshctl"), "--bootstrap", bootstrap] + list(args)
    res = subprocess.run(cmd, input=input, capture_output=True,
                         timeout=timeout)
    if check:
        assert res.returncode == 0, (
            f"{cmd} -> {res.returncode}\n{res.stderr.decode(errors='replace')}")
    return res


def create_topic(bins, bootstrap, name, partitions=PARTITIONS, *extra):
    meshctl(bins, bootstrap, "topic", "create", name,
            "--partitions", str(partitions), *extra)


class Consumer:
    """A `meshctl console consume` group member writing to files."""

    def __init__(self, bins, bootstrap, topic, group, tmp_path, idle_ms,
                 name, extra=()):
        self.out_path = tmp_path / f"{name}.out"
        self.err_path = tmp_path / f"{name}.err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        cmd = [str(bins / "meshctl"), "--bootstrap", bootstrap, *FAST,
               *extra, "--set", "log.level=info", "console", "consume", topic,
               "--group", group, "--from-beginning",
               "--idle-exit-ms", str(idle_ms), "--format", "%p %o %k %v"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err)

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def wait_assigned(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "partitions assigned" in self.stderr():
                return
            assert self.proc.poll() is None, self.stderr()
            time.sleep(0.1)
        raise TimeoutError(f"no assignment:\n{self.stderr()}")

    def assigned(self):
        """Partitions held now, from the member's rebalance log lines: an
        eager assignment replaces the set, a cooperative one adds to it, a
        revocation takes its count away."""
        held = 0
        for line in self.stderr().splitlines():
            m = re.search(r'msg="partitions (assigned|revoked)" count=(\d+)',
                          line)
            if not m:
                continue
            n = int(m.group(2))
            if m.group(1) == "revoked":
                held = max(0, held - n)
            elif "protocol=COOPERATIVE" in line:
                held += n
            else:
                held = n
        return held

    def wait(self, timeout):
        code = self.proc.wait(timeout=timeout)
        self._out.close()
        self._err.close()
        assert code == 0, f"consumer exit {code}:\n{self.stderr()[-3000:]}"

    def records(self):
        recs = []
        for line in self.out_path.read_bytes().decode().splitlines():
            p, o, k, v = line.split(" ", 3)
            recs.append((int(p), int(o), k, int(v[:12])))
        return recs


def check_exactly_once(consumers, expected_seqs):
    """Exactly the expected set, no duplicate, offsets increasing per
    partition in each member, per-key sequence increasing with offset."""
    all_recs = []
    for c in consumers:
        recs = c.records()
        last = {}
        for p, o, _, _ in recs:
            assert o > last.get(p, -1), f"offset went back on partition {p}"
            last[p] = o
        all_recs += recs
    seqs = [r[3] for r in all_recs]
    dups = [s for s, n in collections.Counter(seqs).items() if n > 1]
    assert not dups, f"{len(dups)} duplicates, e.g. {dups[:5]}"
    missing = expected_seqs - set(seqs)
    assert not missing, f"{len(missing)} missing, e.g. {sorted(missing)[:5]}"
    assert set(seqs) == expected_seqs
    offsets = collections.Counter((r[0], r[1]) for r in all_recs)
    assert max(offsets.values()) == 1, "one offset delivered twice"
    by_key = collections.defaultdict(list)
    for p, o, k, s in sorted(all_recs):
        by_key[k].append((p, s))
    for k, items in by_key.items():
        assert len({p for p, _ in items}) == 1, f"key {k} on several partitions"
        s = [x for _, x in items]
        assert s == sorted(s), f"key {k} out of order"


def start_group(bins, bootstrap, topic, tmp_path, timeout, idle_ms,
                extra=()):
    group = f"g-{uuid.uuid4().hex[:10]}"
    members = [Consumer(bins, bootstrap, topic, group, tmp_path, idle_ms,
                        f"member{i}", extra) for i in range(2)]
    for m in members:
        m.wait_assigned(timeout(60))
    # The second join's rebalance has settled once the two members hold
    # every partition between them, each some.
    deadline = time.monotonic() + timeout(60)
    while True:
        held = [m.assigned() for m in members]
        if sum(held) == PARTITIONS and all(held):
            break
        for m in members:
            assert m.proc.poll() is None, m.stderr()
        assert time.monotonic() < deadline, \
            f"group never settled (held {held}):\n" + \
            "\n".join(m.stderr()[-2000:] for m in members)
        time.sleep(0.05)
    return members


def test_200k_through_group_of_two(cluster, bins, unique_topic, tmp_path,
                                   timeout):
    create_topic(bins, cluster.bootstrap, unique_topic)
    members = start_group(bins, cluster.bootstrap, unique_topic, tmp_path,
                          timeout, idle_ms=int(timeout(10) * 1000))
    lines = "".join(f"k{i % 1000} {i:012d}\n" for i in range(COUNT))
    res = meshctl(bins, cluster.bootstrap, *FAST, "console", "produce",
                  unique_topic, "--key-sep", " ", input=lines.encode(),
                  timeout=timeout(300))
    assert f"produced={COUNT} delivered={COUNT} failed=0" in res.stderr.decode()
    for m in members:
        m.wait(timeout(300))
    assert all(m.records() for m in members), "a member got nothing"
    check_exactly_once(members, set(range(COUNT)))


def test_200k_with_broker_down_and_up(mesh_broker, bins, unique_topic,
                                      tmp_path, timeout):
    boot = mesh_broker.bootstrap
    create_topic(bins, boot, unique_topic)
    members = start_group(bins, boot, unique_topic, tmp_path, timeout,
                          idle_ms=int(timeout(15) * 1000), extra=RIDE_OUT)
    prod_err = tmp_path / "producer.err"
    with open(prod_err, "wb") as err:
        prod = subprocess.Popen(
            [str(bins / "meshctl"), "--bootstrap", boot, *FAST, "console",
             "produce", unique_topic, "--count", str(COUNT), "--size", "24"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        # The broker goes down once records are flowing to the group.
        deadline = time.monotonic() + timeout(60)
        while not any(m.out_path.stat().st_size for m in members):
            assert prod.poll() is None, prod_err.read_text()
            assert time.monotonic() < deadline, "nothing consumed"
            time.sleep(0.05)
        mesh_broker.broker_down(2)
        time.sleep(2.0)  # the outage's length: time the clients ride out
        mesh_broker.broker_up(2)
        assert prod.wait(timeout=timeout(300)) == 0, prod_err.read_text()
    assert (f"produced={COUNT} delivered={COUNT} failed=0"
            in prod_err.read_text())
    for m in members:
        m.wait(timeout(300))
    for m in members:
        assert "lost=true" not in m.stderr(), \
            "a session expired during the outage:\n" + m.stderr()[-6000:]
    try:
        check_exactly_once(members, set(range(COUNT)))
    except AssertionError:
        for i, m in enumerate(members):
            print(f"--- member{i} stderr ---\n{m.stderr()[-6000:]}")
        raise


def test_admin_compacted_topic_reads_back(cluster, bins, unique_topic):
    create_topic(bins, cluster.bootstrap, unique_topic, 3,
                 "--config", "cleanup.policy=compact")
    res = meshctl(bins, cluster.bootstrap, "--json", "topic", "describe",
                  unique_topic)
    desc = json.loads(res.stdout)
    assert desc["name"] == unique_topic
    assert desc["partitions"] == 3
    assert desc["configs"].get("cleanup.policy") == "compact"
    again = meshctl(bins, cluster.bootstrap, "topic", "create", unique_topic,
                    check=False)
    assert again.returncode == 1
    assert b"already exists" in again.stderr


def test_kcat_sees_created_topics(cluster, bins, make_topic_name, timeout):
    names = {make_topic_name("kcat-a"): 4, make_topic_name("kcat-b"): 2}
    for name, parts in names.items():
        create_topic(bins, cluster.bootstrap, name, parts)
    md = subprocess.run(["kcat", "-b", cluster.bootstrap, "-L", "-J"],
                        capture_output=True, timeout=timeout(30), check=True)
    seen = {t["topic"]: len(t["partitions"])
            for t in json.loads(md.stdout)["topics"]}
    for name, parts in names.items():
        assert seen.get(name) == parts


def test_kcat_interoperates(cluster, bins, make_topic_name, timeout):
    """kcat produces, meshctl consumes; meshctl produces, kcat consumes."""
    t1, t2 = make_topic_name("kcat-in"), make_topic_name("kcat-out")
    create_topic(bins, cluster.bootstrap, t1, 1)
    create_topic(bins, cluster.bootstrap, t2, 1)
    data = "".join(f"m{i}\n" for i in range(100)).encode()
    subprocess.run(["kcat", "-b", cluster.bootstrap, "-P", "-t", t1],
                   input=data, check=True, timeout=timeout(30))
    res = meshctl(bins, cluster.bootstrap, *FAST, "console", "consume", t1,
                  "--from-beginning", "--max", "100", timeout=timeout(60))
    assert res.stdout == data
    meshctl(bins, cluster.bootstrap, "console", "produce", t2, input=data,
            timeout=timeout(60))
    out = subprocess.run(["kcat", "-b", cluster.bootstrap, "-C", "-t", t2,
                          "-o", "beginning", "-e", "-q"],
                         capture_output=True, check=True, timeout=timeout(60))
    assert out.stdout == data


def test_bad_kafka_key_exits_2(bins, mesh_broker):
    res = meshctl(bins, mesh_broker.bootstrap, "--set",
                  "kafka.no.such.property=1", "topic", "list", check=False)
    err = res.stderr.decode()
    assert res.returncode == 2
    assert "key 'kafka.no.such.property'" in err
    assert "No such configuration property" in err


def test_bad_kafka_value_exits_2(bins, mesh_broker):
    res = meshctl(bins, mesh_broker.bootstrap, "--set",
                  "kafka.linger.ms=soon", "topic", "list", check=False)
    assert res.returncode == 2
    assert "kafka.linger.ms" in res.stderr.decode()


def test_unreachable_bootstrap_names_servers(bins, timeout):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    servers = f"127.0.0.1:{port}"
    t0 = time.monotonic()
    res = meshctl(bins, servers, "topic", "list", check=False,
                  timeout=timeout(60))
    assert res.returncode == 1
    assert servers in res.stderr.decode()
    assert "cannot reach" in res.stderr.decode()
    assert time.monotonic() - t0 < timeout(30)


def test_sigterm_during_produce_loses_nothing(mesh_broker, bins,
                                              unique_topic, tmp_path,
                                              timeout):
    boot = mesh_broker.bootstrap
    # 24 partitions: even all 2,000,000 small messages (~52 MB) stay under
    # the mock's ~5 MiB-per-partition retention, so whatever is missing on
    # the consume side would be a real loss.
    create_topic(bins, boot, unique_topic, 24)
    err_path = tmp_path / "producer.err"
    with open(err_path, "wb") as err:
        prod = subprocess.Popen(
            [str(bins / "meshctl"), "--bootstrap", boot, "console", "produce",
             unique_topic, "--count", "2000000", "--size", "12"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        # Deliberately a moment in the middle of the run: the signal must
        # land while records are in flight (0 < delivered < 2,000,000 below
        # checks that it did).
        time.sleep(0.7)
        prod.send_signal(signal.SIGTERM)
        assert prod.wait(timeout=timeout(60)) == 0, err_path.read_text()
    summary = [l for l in err_path.read_text().splitlines()
               if l.startswith("produced=")]
    assert summary, err_path.read_text()
    fields = dict(kv.split("=") for kv in summary[-1].split())
    delivered = int(fields["delivered"])
    assert 0 < delivered < 2_000_000
    assert int(fields["failed"]) == 0
    res = meshctl(bins, boot, *FAST, "console", "consume", unique_topic,
                  "--from-beginning", "--idle-exit-ms",
                  str(int(timeout(5) * 1000)), "--format", "%v",
                  timeout=timeout(300))
    values = res.stdout.decode().split()
    assert len(values) == delivered
    assert len(set(values)) == delivered
