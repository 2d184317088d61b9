"""mesh-materializer's core, with the SQLite sink (the simplest to read back).

- bad configuration: exit 2 and the message names the key;
- Debezium change events written by Confluent's AvroSerializer (cdcgen)
  materialize to exactly the expected final state, and SIGTERM exits 0
  with the stored offsets equal to the end offsets;
- on.error=stop: the partition stops, /healthz answers 503;
- batching: a batch commits once the consumer runs dry (by default at
  once, else when batch.linger.ms old), long before batch.max.ms;
- one end-to-end run on the real Apache Kafka fixture.

Schema evolution, poison records to the DLQ, SIGKILL and SIGTERM for every
sink: test_materializer_sinks.py.
"""

import sqlite3
import time

import cdcgen
import sinks


def mat_sets(bootstrap, registry, topic, db, **extra):
    sets = {"sink": "sqlite", "topics": topic, "group.id": f"g-{topic}",
            "sqlite.path": str(db), "registry.url": registry.url,
            "kafka.bootstrap.servers": bootstrap, "batch.max.ms": 100,
            # A restarted member joins without waiting out the old one.
            "kafka.session.timeout.ms": 6000,
            "kafka.heartbeat.interval.ms": 500}
    sets.update(extra)
    return sets


def table_name(topic):
    return topic.replace(".", "_").replace("-", "_")


def read_offsets(db, topic):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    except sqlite3.OperationalError:
        return {}
    try:
        rows = con.execute("SELECT partition, next_offset FROM _mesh_offsets "
                           "WHERE topic = ?", (topic,)).fetchall()
    except sqlite3.OperationalError:
        rows = []
    finally:
        con.close()
    return {p: o for p, o in rows}


def wait_offsets(db, topic, end, timeout, mat=None):
    """Waits until every partition with records has its end offset stored."""
    want = {p: o for p, o in end.items() if o > 0}
    deadline = time.monotonic() + timeout
    got = {}
    while time.monotonic() < deadline:
        got = read_offsets(db, topic)
        if all(got.get(p) == o for p, o in want.items()):
            return got
        if mat is not None and mat.proc.poll() is not None:
            break
        time.sleep(0.1)
    log = mat.log()[-4000:] if mat is not None else ""
    raise AssertionError(f"offsets {got}, expected {want}\n{log}")


def read_rows(db, table):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return {r["id"]: dict(r) for r in con.execute(f'SELECT * FROM "{table}"')}
    finally:
        con.close()


def assert_state(db, table, expected, columns):
    got = read_rows(db, table)
    assert set(got) == set(expected), (
        f"keys differ: missing {sorted(set(expected) - set(got))[:10]}, "
        f"extra {sorted(set(got) - set(expected))[:10]}")
    for key, row in expected.items():
        have = got[key]
        for col in columns:
            want = row.get(col)
            if isinstance(want, bool):
                want = int(want)
            assert have[col] == want, f"id {key} column {col}: {have[col]!r} " \
                                      f"!= {want!r}"


def test_bad_config_exits_2_naming_the_key(make_materializer, tmp_path):
    db = tmp_path / "m.db"
    base = {"sink": "sqlite", "topics": "t", "group.id": "g",
            "sqlite.path": str(db), "kafka.bootstrap.servers": "127.0.0.1:1",
            "registry.url": "http://127.0.0.1:1"}
    cases = [({"sink": "nope"}, "sink"),
             ({"group.id": None}, "group.id"),
             ({"batch.max.records": "0"}, "batch.max.records"),
             ({"batch.linger.ms": "-1"}, "batch.linger.ms"),
             ({"batch.linger.ms": "1000", "batch.max.ms": "500"},
              "batch.linger.ms"),
             ({"on.error": "maybe"}, "on.error"),
             ({"kafka.no.such.property": "1"}, "kafka.no.such.property"),
             ({"reader.schema": str(tmp_path / "missing.avsc")},
              "reader.schema"),
             ({"registry.url": "not a url"}, "registry.url")]
    for i, (change, key) in enumerate(cases):
        sets = dict(base)
        for k, v in change.items():
            if v is None:
                sets.pop(k)
            else:
                sets[k] = v
        mat = make_materializer(sets, workdir=tmp_path / f"m{i}", wait=False)
        mat.expect_exit = 2
        code = mat.wait_exit(30)
        assert code == 2, f"{change}: exit {code}\n{mat.log()[-2000:]}"
        assert f"'{key}'" in mat.log(), f"{change}: {mat.log()[-2000:]}"


def batch_seconds_under(mat, topic, bound):
    """(batches that took at most bound seconds, batches) over topic's
    partitions, from the mesh_materializer_apply_seconds histogram."""
    under = total = 0
    for (name, labels), v in mat.metrics().items():
        if ("topic", topic) not in labels:
            continue
        le = dict(labels).get("le")
        if name == "mesh_materializer_apply_seconds_bucket" and \
                float(le) == bound:
            under += v
        elif name == "mesh_materializer_apply_seconds_count":
            total += v
    return under, total


def test_batches_commit_when_the_consumer_runs_dry(
        mesh_broker, registry, make_materializer, unique_topic, tmp_path,
        timeout):
    # batch.max.ms is ten minutes: every commit seen here came from the
    # consumer running dry, at once (the default) or after the linger.
    res = cdcgen.generate(mesh_broker.bootstrap, registry.url, unique_topic,
                          events=400, keys=80, partitions=2, seed=11)
    for linger in (None, 1500):
        db = tmp_path / f"linger-{linger}.db"
        extra = {"batch.max.ms": 600000,
                 "group.id": f"g-{unique_topic}-{linger}"}
        if linger is not None:
            extra["batch.linger.ms"] = linger
        mat = make_materializer(mat_sets(mesh_broker.bootstrap, registry,
                                         unique_topic, db, **extra),
                                workdir=tmp_path / f"m-{linger}")
        wait_offsets(db, unique_topic, res.end_offsets, timeout(60), mat)
        assert_state(db, table_name(unique_topic), res.expected, res.columns)
        if linger is not None:
            # Each batch stayed open for the linger at least (1.5 s): none
            # fell into the histogram's buckets up to 1 s.
            under, total = batch_seconds_under(mat, unique_topic, 1.0)
            assert total >= 1 and under == 0, (under, total)
        assert mat.stop() == 0


def test_change_events_materialize_and_sigterm_commits(
        mesh_broker, registry, make_materializer, unique_topic, tmp_path,
        timeout):
    db = tmp_path / "out.db"
    res = cdcgen.generate(mesh_broker.bootstrap, registry.url, unique_topic,
                          events=3000, keys=300, partitions=3, seed=7,
                          snapshot=True)
    assert res.ops["d"] > 0 and res.ops["u"] > 0 and res.ops["r"] > 0
    mat = make_materializer(mat_sets(mesh_broker.bootstrap, registry,
                                     unique_topic, db))
    wait_offsets(db, unique_topic, res.end_offsets, timeout(60), mat)
    assert_state(db, table_name(unique_topic), res.expected, res.columns)
    applied = mat.metric("mesh_materializer_records_applied_total",
                         topic=unique_topic)
    assert applied == res.events, applied
    assert mat.metric("mesh_materializer_batches_total",
                      topic=unique_topic) >= 1
    fresh = mat.metric("mesh_materializer_freshness_seconds",
                       topic=unique_topic)
    assert 0 <= fresh < 600
    assert mat.health()[0] == 200
    # More events while running, then SIGTERM: whatever was consumed is
    # committed with its offsets; a restart finishes the rest exactly.
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=3, keys=300, seed=8, create=False)
    gen.rows = {k: {c: v for c, v in r.items()} for k, r in
                res.expected.items()}
    gen.produce(2000)
    res2 = gen.result()
    assert mat.stop() == 0, mat.log()[-3000:]
    mat2 = make_materializer(mat_sets(mesh_broker.bootstrap, registry,
                                      unique_topic, db))
    wait_offsets(db, unique_topic, res2.end_offsets, timeout(60), mat2)
    assert mat2.stop() == 0, mat2.log()[-3000:]
    assert read_offsets(db, unique_topic) == {
        p: o for p, o in res2.end_offsets.items() if o > 0}
    assert_state(db, table_name(unique_topic), res2.expected, res2.columns)


def test_on_error_stop_stops_the_partition(mesh_broker, registry,
                                           make_materializer, unique_topic,
                                           tmp_path, timeout):
    db = tmp_path / "stop.db"
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=1, keys=20, seed=9)
    gen.produce(50)
    first = gen.result()
    sinks.poison(mesh_broker.bootstrap, unique_topic, registry.url)
    gen.produce(50)
    gen.result()
    mat = make_materializer(mat_sets(mesh_broker.bootstrap, registry,
                                     unique_topic, db, **{"on.error": "stop"}))
    # The partition stops right before the first poison record.
    stop_at = first.end_offsets[0]
    wait_offsets(db, unique_topic, {0: stop_at}, timeout(60), mat)
    deadline = time.monotonic() + timeout(30)
    while mat.health()[0] != 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    status, body = mat.health()
    assert status == 503 and "stopped" in body, body
    # The stored offset stays where the partition stopped (read for half a
    # second: batches keep committing for other work meanwhile).
    until = time.monotonic() + 0.5
    while time.monotonic() < until:
        assert read_offsets(db, unique_topic) == {0: stop_at}
        time.sleep(0.05)
    assert read_offsets(db, unique_topic) == {0: stop_at}
    assert "partition stopped" in mat.log()


def test_real_kafka_end_to_end(real_kafka, registry, make_materializer,
                               unique_topic, tmp_path, timeout):
    db = tmp_path / "rk.db"
    res = cdcgen.generate(real_kafka.bootstrap, registry.url, unique_topic,
                          events=2000, keys=200, partitions=3, seed=11)
    mat = make_materializer(mat_sets(real_kafka.bootstrap, registry,
                                     unique_topic, db))
    wait_offsets(db, unique_topic, res.end_offsets, timeout(120), mat)
    assert mat.stop() == 0, mat.log()[-3000:]
    assert_state(db, table_name(unique_topic), res.expected, res.columns)
    assert read_offsets(db, unique_topic) == {
        p: o for p, o in res.end_offsets.items() if o > 0}
