"""mesh-registry storage: the journal survives restarts, kill -9 and torn
tails; storage=kafka shares one state between instances writing at once
(mesh-broker and real Kafka) and takes over a `_schemas` topic written in
Confluent's record format.

Every check goes through the REST API of the real program (tests/integration
/registry.py's MeshRegistry); the journal file is only touched to damage it.
"""

import concurrent.futures
import json
import pathlib
import struct
import subprocess
import threading
import time
import urllib.parse

import pytest

from registry import MeshRegistry

def q(subject):
    return urllib.parse.quote(subject, safe="")


def avro(name, fields=1):
    """A distinct Avro record schema text."""
    return json.dumps({"type": "record", "name": name,
                       "fields": [{"name": f"f{i}", "type": "string",
                                   "default": ""} for i in range(fields)]})


@pytest.fixture
def binary(bins):
    path = bins / "mesh-registry"
    if not path.exists():
        pytest.fail(f"{path} not built (make test-build BUILD=build/asan SAN=1)")
    return path


class Registries:
    """Starts registries in private workdirs; restart() reuses a workdir so
    the same data.dir is replayed.  Every live one is stopped at teardown
    (SIGTERM, exit 0 asserted)."""

    def __init__(self, binary, tmp_path):
        self.binary = binary
        self.tmp_path = tmp_path
        self.live = []
        self.count = 0

    def start(self, sets=None, workdir=None):
        if workdir is None:
            workdir = self.tmp_path / f"registry-{self.count}"
            self.count += 1
            workdir.mkdir()
        # A url file left by a killed instance must not be mistaken for
        # the new one's.
        url = pathlib.Path(workdir) / "data" / "url"
        if url.exists():
            url.unlink()
        reg = MeshRegistry(self.binary, workdir, sets=dict(sets or {}))
        reg.workdir = pathlib.Path(workdir)
        self.live.append(reg)
        return reg

    def stop(self, reg):
        self.live.remove(reg)
        code = reg.stop()
        assert code == 0, f"mesh-registry exited {code}:\n{reg.log()[-3000:]}"

    def kill(self, reg):
        self.live.remove(reg)
        reg.kill()

    def close(self):
        bad = []
        for reg in list(self.live):
            code = reg.stop()
            if code != 0:
                bad.append(f"exit {code}:\n{reg.log()[-3000:]}")
        self.live.clear()
        assert not bad, "\n".join(bad)


@pytest.fixture
def regs(binary, tmp_path):
    r = Registries(binary, tmp_path)
    yield r
    r.close()


def ok(reg, method, path, body=None, want=200):
    status, js = getattr(reg, method)(path, body) if body is not None \
        else getattr(reg, method)(path)
    assert status == want, f"{method.upper()} {path} -> {status} {js}"
    return js


def register(reg, subject, schema):
    return ok(reg, "post", f"/subjects/{q(subject)}/versions",
              {"schema": schema})["id"]


def snapshot(reg):
    """Everything the API exposes about stored state, as comparable data."""
    snap = {"config": reg.get("/config"), "mode": reg.get("/mode"),
            "subjects": sorted(ok(reg, "get", "/subjects")),
            "all_subjects": sorted(ok(reg, "get", "/subjects?deleted=true")),
            "versions": {}}
    for s in snap["all_subjects"]:
        live = ok(reg, "get", f"/subjects/{q(s)}/versions") \
            if s in snap["subjects"] else []
        every = ok(reg, "get", f"/subjects/{q(s)}/versions?deleted=true")
        rows = []
        for v in every:
            js = ok(reg, "get", f"/subjects/{q(s)}/versions/{v}?deleted=true")
            rows.append((v, js["id"], json.loads(js["schema"]), v in live))
        snap["versions"][s] = rows
        snap[f"config/{s}"] = reg.get(f"/config/{q(s)}")
        snap[f"mode/{s}"] = reg.get(f"/mode/{q(s)}")
    ids = {row[1] for rows in snap["versions"].values() for row in rows}
    snap["ids"] = {i: json.loads(ok(reg, "get", f"/schemas/ids/{i}")["schema"])
                   for i in sorted(ids)}
    return snap


def wait_for(pred, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


# ---------------------------------------------------------------- journal

def populate(reg):
    """Subjects, versions, configs, modes, soft and permanent deletes."""
    ok(reg, "put", "/config", {"compatibility": "FULL"})
    ok(reg, "put", "/config/b", {"compatibility": "NONE"})
    ids = {"a1": register(reg, "a", avro("A", 1)),
           "a2": register(reg, "a", avro("A", 2)),
           "a3": register(reg, "a", avro("A", 3)),
           "b1": register(reg, "b", avro("B")),
           "c1": register(reg, "c", avro("C")),
           "d1": register(reg, "d", avro("D")),
           "e1": register(reg, "e/slash ü", avro("E"))}
    ok(reg, "put", "/mode/c", {"mode": "READONLY"})
    ok(reg, "delete", "/subjects/a/versions/1")
    ok(reg, "delete", "/subjects/a/versions/2")
    ok(reg, "delete", "/subjects/a/versions/2?permanent=true")
    ok(reg, "delete", "/subjects/d")
    ok(reg, "delete", "/subjects/d?permanent=true")
    ok(reg, "delete", "/config/b")
    ok(reg, "put", "/config/b", {"compatibility": "FORWARD"})
    return ids


def test_restart_keeps_everything(regs):
    reg = regs.start()
    ids = populate(reg)
    before = snapshot(reg)
    assert before["subjects"] == ["a", "b", "c", "e/slash ü"]
    assert [r[0] for r in before["versions"]["a"]] == [1, 3]
    regs.stop(reg)

    reg = regs.start(workdir=reg.workdir)
    assert snapshot(reg) == before
    # Ids are never reused, not even the permanently deleted ones (a2, d1).
    new_id = register(reg, "f", avro("F"))
    assert new_id > max(ids.values())
    # Versions continue past the highest ever used.
    assert ok(reg, "post", "/subjects/a/versions",
              {"schema": avro("A", 4)})["id"] > new_id
    assert ok(reg, "get", "/subjects/a/versions/latest")["version"] == 4
    after = snapshot(reg)
    regs.stop(reg)
    reg = regs.start(workdir=reg.workdir)
    assert snapshot(reg) == after


def burst(reg, threads, per_thread, kill=None, kill_after_acked=200,
          timeout_s=60):
    """Registers distinct schemas from several threads; returns the
    acknowledged (subject, schema, id) triples.  With kill, the process is
    killed once kill_after_acked registrations were acknowledged, while
    requests are in flight."""
    acked, lock = [], threading.Lock()

    def work(t):
        for i in range(per_thread):
            subject, schema = f"burst-{t}-{i % 4}", avro(f"B_{t}_{i}")
            try:
                status, js = reg.post(f"/subjects/{q(subject)}/versions",
                                      {"schema": schema})
            except Exception:  # connection reset by the kill
                return
            if status == 200 and "id" in js:
                with lock:
                    acked.append((subject, schema, js["id"]))

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(work, t) for t in range(threads)]
        if kill:
            wait_for(lambda: len(acked) >= kill_after_acked, timeout_s,
                     f"{kill_after_acked} acknowledged registrations")
            kill()
        for f in futures:
            f.result()
    return acked


def check_acked(reg, acked):
    assert acked
    seen = {}
    for subject, schema, sid in acked:
        js = ok(reg, "post", f"/subjects/{q(subject)}", {"schema": schema})
        assert js["id"] == sid, (subject, schema)
        assert json.loads(ok(reg, "get", f"/schemas/ids/{sid}")["schema"]) \
            == json.loads(schema)
        assert seen.setdefault(sid, schema) == schema


def test_kill9_during_burst_keeps_acknowledged(regs, timeout):
    reg = regs.start()
    ok(reg, "put", "/config", {"compatibility": "NONE"})
    acked = burst(reg, threads=4, per_thread=5000,
                  kill=lambda: regs.kill(reg), timeout_s=timeout(60))
    assert len(acked) < 20000, "burst finished before the kill"
    reg = regs.start(workdir=reg.workdir)
    check_acked(reg, acked)
    # Still writable, with fresh ids.
    assert register(reg, "after", avro("After")) > max(a[2] for a in acked)


def journal_path(reg):
    return reg.workdir / "data" / "schemas.journal"


def test_torn_tail_after_kill_is_cut(regs):
    reg = regs.start()
    ids = [register(reg, f"t{i}", avro(f"T{i}")) for i in range(5)]
    regs.kill(reg)
    path = journal_path(reg)
    good = path.stat().st_size
    # What a crash in the middle of an append leaves: a header announcing
    # a body that never fully reached the disk.
    with open(path, "ab") as f:
        f.write(struct.pack(">III", 0x4D574A31, 500, 0) + b"{\"keytype\"")
    reg = regs.start(workdir=reg.workdir)
    assert "journal tail cut" in reg.log()
    assert f"offset={good}" in reg.log()
    assert path.stat().st_size == good
    for i, sid in enumerate(ids):
        assert ok(reg, "get", f"/subjects/t{i}/versions/1")["id"] == sid
    assert register(reg, "t5", avro("T5")) > max(ids)


def run_refused(binary, workdir, timeout_s):
    proc = subprocess.run(
        [str(binary), "--set", "listeners=http://127.0.0.1:0",
         "--set", f"data.dir={workdir / 'data'}"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=timeout_s)
    return proc.returncode, proc.stderr + proc.stdout


def test_mid_journal_corruption_refused(regs, binary, timeout):
    reg = regs.start()
    for i in range(3):
        register(reg, f"m{i}", avro(f"M{i}"))
    regs.stop(reg)
    path = journal_path(reg)
    data = bytearray(path.read_bytes())
    first_len = 12 + struct.unpack(">I", data[4:8])[0]
    data[first_len + 30] ^= 0x55  # inside the second record's body
    path.write_bytes(bytes(data))
    code, log = run_refused(binary, reg.workdir, timeout(60))
    assert code != 0
    assert f"corrupt at offset {first_len}" in log
    assert path.read_bytes() == bytes(data), "a refused journal is not cut"


def test_second_registry_on_same_journal_refused(regs, binary, timeout):
    reg = regs.start()
    register(reg, "x", avro("X"))
    code, log = run_refused(binary, reg.workdir, timeout(60))
    assert code != 0
    assert "in use by another mesh-registry" in log
    assert ok(reg, "get", "/subjects/x/versions/1")["version"] == 1


# ---------------------------------------------------------------- kafka

def kafka_sets(bootstrap, topic):
    return {"storage": "kafka", "kafka.bootstrap.servers": bootstrap,
            "kafkastore.topic": topic}


def concurrent_registrations(instances, threads=4, per_thread=50):
    """threads x per_thread distinct schemas spread over the instances,
    some on shared subjects; plus one schema registered by every thread on
    the same subject.  Returns acknowledged (subject, schema, id)."""
    acked, lock = [], threading.Lock()

    def work(t):
        for i in range(per_thread):
            reg = instances[(t + i) % len(instances)]
            if i % 10 == 0:
                subject, schema = "dup", avro(f"Dup{i}")
            elif i % 2:
                subject, schema = f"shared-{i % 3}", avro(f"S_{t}_{i}")
            else:
                subject, schema = f"own-{t}", avro(f"O_{t}_{i}")
            status, js = reg.post(f"/subjects/{q(subject)}/versions",
                                  {"schema": schema})
            if status == 200:
                with lock:
                    acked.append((subject, schema, js["id"]))

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(work, t) for t in range(threads)]:
            f.result()
    return acked


def check_agreement(instances, acked, timeout_s):
    # Converged: every instance shows the same state (they all apply the
    # same log; a moment may pass before the last records are read).
    snaps = wait_for(lambda: (lambda s: s if all(x == s[0] for x in s)
                              else None)([snapshot(r) for r in instances]),
                     timeout_s, "instances to agree")
    snap = snaps[0]
    by_id = {}
    for subject, rows in snap["versions"].items():
        for version, sid, schema, _ in rows:
            assert by_id.setdefault(sid, schema) == schema, \
                f"id {sid} bound to two schemas"
    for reg in instances:
        check_acked(reg, acked)
    return snap


@pytest.mark.parametrize("backend", ["embedded", "kafka"])
def test_two_kafka_instances_agree(regs, backend, request, unique_topic,
                                   timeout):
    impl = request.getfixturevalue(
        "mesh_broker" if backend == "embedded" else "real_kafka")
    sets = kafka_sets(impl.bootstrap, unique_topic)
    a, b = regs.start(sets), regs.start(sets)
    ok(a, "put", "/config", {"compatibility": "NONE"})
    wait_for(lambda: b.get("/config")[1].get("compatibilityLevel") == "NONE",
             timeout(30), "config to reach the second instance")

    acked = concurrent_registrations([a, b])
    # Instances serialise their own registrations and retry lost races
    # with backoff: every registration must be acknowledged.
    assert len(acked) == 200, f"only {len(acked)} of 200 acknowledged"
    dup_ids = {}
    for subject, schema, sid in acked:
        if subject == "dup":
            assert dup_ids.setdefault(schema, sid) == sid
    snap = check_agreement([a, b], acked, timeout(60))

    c = regs.start(sets)
    assert check_agreement([a, c], acked, timeout(60)) == snap
    # Writes keep working on the late instance, with a fresh id.
    sid = register(c, "late", avro("Late"))
    assert sid > max(snap["ids"])
    wait_for(lambda: a.get("/subjects/late/versions/1")[0] == 200,
             timeout(30), "the late registration on the first instance")


def confluent_records():
    """A `_schemas` log as Confluent Schema Registry writes it (keys and
    values as its JSON; None = tombstone)."""
    def key(keytype, subject=None, version=None, magic=0):
        k = {"keytype": keytype}
        if keytype != "NOOP":
            k["subject"] = subject
        if version is not None:
            k["version"] = version
        k["magic"] = magic
        return json.dumps(k, separators=(",", ":"))

    def schema_value(subject, version, sid, schema, deleted=False, typed=False):
        v = {"subject": subject, "version": version, "id": sid,
             "schema": schema, "deleted": deleted}
        if typed:
            v["schemaType"] = "AVRO"
        return json.dumps(v, separators=(",", ":"))

    s1, s2, s3 = avro("C1", 1), avro("C1", 2), avro("C2")
    return [
        (key("NOOP"), None),
        (key("CONFIG", None), json.dumps({"compatibilityLevel": "FULL"})),
        (key("SCHEMA", "orders-value", 1, 1),
         schema_value("orders-value", 1, 1, s1)),
        (key("SCHEMA", "orders-value", 2, 1),
         schema_value("orders-value", 2, 2, s2, typed=True)),
        (key("SCHEMA", "users-value", 1, 1),
         schema_value("users-value", 1, 3, s3)),
        (key("SCHEMA", "users-value", 1, 1),
         schema_value("users-value", 1, 3, s3, deleted=True)),
        (key("DELETE_SUBJECT", "users-value"),
         json.dumps({"subject": "users-value", "version": 1})),
        (key("SCHEMA", "old", 1, 1), schema_value("old", 1, 7, avro("Old"))),
        (key("SCHEMA", "old", 1, 1),
         schema_value("old", 1, 7, avro("Old"), deleted=True)),
        (key("SCHEMA", "old", 1, 1), None),
        (key("CONFIG", "orders-value"),
         json.dumps({"compatibilityLevel": "NONE"})),
        (key("MODE", "orders-value"), json.dumps({"mode": "READONLY"})),
        (key("NOOP"), None),
    ]


@pytest.mark.parametrize("backend", ["embedded", "kafka"])
def test_takes_over_confluent_schemas_topic(regs, backend, request,
                                            unique_topic, timeout):
    import confluent_kafka  # pinned in tests/requirements.txt (make deps)
    import confluent_kafka.admin as kafka_admin
    impl = request.getfixturevalue(
        "mesh_broker" if backend == "embedded" else "real_kafka")
    if backend == "embedded":
        impl.create_topic(unique_topic, 1, {"cleanup.policy": "compact"})
    else:
        admin = kafka_admin.AdminClient({"bootstrap.servers": impl.bootstrap})
        fut = admin.create_topics([kafka_admin.NewTopic(
            unique_topic, 1, 1, config={"cleanup.policy": "compact"})])
        fut[unique_topic].result(timeout(30))
    prod = confluent_kafka.Producer({"bootstrap.servers": impl.bootstrap,
                                     "enable.idempotence": True})
    for k, v in confluent_records():
        prod.produce(unique_topic, key=k.encode(),
                     value=None if v is None else v.encode(), partition=0)
    assert prod.flush(timeout(30)) == 0

    reg = regs.start(kafka_sets(impl.bootstrap, unique_topic))
    assert ok(reg, "get", "/subjects") == ["orders-value"]
    assert sorted(ok(reg, "get", "/subjects?deleted=true")) == \
        ["orders-value", "users-value"]
    assert ok(reg, "get", "/subjects/orders-value/versions") == [1, 2]
    v2 = ok(reg, "get", "/subjects/orders-value/versions/2")
    assert (v2["id"], json.loads(v2["schema"])) == \
        (2, json.loads(avro("C1", 2)))
    assert ok(reg, "get", "/schemas/ids/3")["schema"]
    assert ok(reg, "get", "/config")["compatibilityLevel"] == "FULL"
    assert ok(reg, "get", "/config/orders-value")["compatibilityLevel"] == \
        "NONE"
    assert ok(reg, "get", "/mode/orders-value")["mode"] == "READONLY"
    status, _ = reg.get("/subjects/old/versions")
    assert status == 404
    # The next id follows the highest ever seen (7, permanently deleted).
    assert register(reg, "new", avro("New")) == 8
