"""mesh-materializer into SQLite (sink=sqlite, consumers/mat_sqlite.c):
exactly-once under SIGKILL, a group of two sharing one database file with
one member killed, schema evolution mid-stream, and SIGTERM.

Topics are created through mesh-broker's control endpoint (cdcgen's
AdminClient CreateTopics does not complete against the mock cluster).
Change events come from cdcgen (Debezium envelopes serialized by Confluent's
AvroSerializer against mesh-registry) on mesh-broker; cdcgen returns the
expected final state and the end offsets.  Every check compares the table
with that state row by row and _mesh_offsets with the end offsets, reading
the database with Python's own sqlite3 module (WAL: reading while the
materializer writes is safe).
"""

import random
import re
import sqlite3
import threading
import time

import cdcgen
from materializer import nonempty, wait_stored_offsets

TABLE = "items"
# librdkafka's default session timeout is 45 s: a restarted (or surviving)
# member would wait that long for the coordinator to expel a killed one.
GROUP_TIMING = {"kafka.session.timeout.ms": "6000",
                "kafka.heartbeat.interval.ms": "500"}


def sink_sets(mesh_broker, registry, topic, db_path, group, **extra):
    sets = {"sink": "sqlite", "sqlite.path": str(db_path),
            "topics": topic, "group.id": group, "table.name": TABLE,
            "registry.url": registry.url,
            "kafka.bootstrap.servers": mesh_broker.bootstrap,
            "kafka.fetch.wait.max.ms": "10"}
    sets.update(GROUP_TIMING)
    sets.update(extra)
    return sets


def _connect(db_path):
    return sqlite3.connect(str(db_path), timeout=30)


def stored_offsets(db_path, topic):
    """{partition: next_offset} from _mesh_offsets; {} before it exists."""
    if not db_path.exists():
        return {}
    con = _connect(db_path)
    try:
        rows = con.execute("SELECT partition, next_offset FROM _mesh_offsets"
                           " WHERE topic = ?", (topic,)).fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        con.close()
    return dict(rows)


def table_columns(db_path):
    con = _connect(db_path)
    try:
        return [r[1] for r in con.execute(f'PRAGMA table_info("{TABLE}")')]
    finally:
        con.close()


def table_rows(db_path, columns):
    """{id: row dict} of the whole table, booleans as SQLite has them."""
    con = _connect(db_path)
    try:
        cols = ", ".join(f'"{c}"' for c in columns)
        rows = con.execute(f'SELECT {cols} FROM "{TABLE}"').fetchall()
    finally:
        con.close()
    out = {}
    for row in rows:
        rec = dict(zip(columns, row))
        assert rec["id"] not in out, f"duplicate key {rec['id']}"
        out[rec["id"]] = rec
    return out


def wait_offsets(db_path, topic, end_offsets, timeout, mats=()):
    return wait_stored_offsets(
        lambda: stored_offsets(db_path, topic), end_offsets, timeout, mats)


def assert_exact(db_path, result):
    """The table equals the expected final state, row by row."""
    columns = result.columns
    assert table_columns(db_path)[:len(columns)] == columns
    got = table_rows(db_path, columns)
    expected = {}
    for key, row in result.expected.items():
        row = dict(row)
        row["active"] = int(row["active"])
        expected[key] = row
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(got) & set(expected)
                   if got[k] != expected[k])
    assert not missing and not extra and not wrong, (
        f"{len(missing)} rows missing (e.g. {missing[:5]}), {len(extra)} "
        f"extra (e.g. {extra[:5]}), {len(wrong)} differ (e.g. "
        + "; ".join(f"{got[k]} != {expected[k]}" for k in wrong[:3]) + ")")


def progress(db_path, topic):
    return sum(stored_offsets(db_path, topic).values())


# ------------------------------------------------------------ kill -9 x5

def test_sigkill_five_times_exactly_once(mesh_broker, registry,
                                         make_materializer, unique_topic,
                                         tmp_path, timeout):
    # 32 partitions keep each under mesh-broker's ~5 MiB retention
    # (500k events + tombstones, ~170 bytes each).
    t0 = time.monotonic()
    mesh_broker.create_topic(unique_topic, 32)
    result = cdcgen.generate(mesh_broker.bootstrap, registry.url,
                             unique_topic, events=500_000, keys=50_000,
                             partitions=32, seed=7, create=False)
    t_produce = time.monotonic() - t0
    total = sum(result.end_offsets.values())
    assert result.events == 500_000 and result.ops["d"] > 0
    db = tmp_path / "kill.db"
    sets = sink_sets(mesh_broker, registry, unique_topic, db, "kill9")
    workdir = tmp_path / "mat"
    rnd = random.Random(int(time.time()))
    # Kill points: five random fractions of the stream, each crossed by the
    # stored offsets, then a random extra delay so the kill lands anywhere
    # in a batch (decoding, applying, committing).
    points = sorted(rnd.uniform(0.03, 0.9) for _ in range(5))
    seen = []
    t1 = time.monotonic()
    for frac in points:
        mat = make_materializer(sets=sets, workdir=workdir)
        deadline = time.monotonic() + timeout(240)
        while progress(db, unique_topic) < frac * total:
            assert mat.proc.poll() is None, mat.log()[-4000:]
            assert time.monotonic() < deadline, (
                f"no progress to {frac:.2f}:\n{mat.log()[-4000:]}")
            time.sleep(0.02)
        time.sleep(rnd.uniform(0, 0.3))
        before = progress(db, unique_topic)
        assert mat.kill() == -9
        after = progress(db, unique_topic)
        # Offsets never go back across a crash.
        assert not seen or after >= seen[-1]
        seen.append(after)
        assert before < total, "the kill came after the end of the stream"
    mat = make_materializer(sets=sets, workdir=workdir)
    wait_offsets(db, unique_topic, result.end_offsets, timeout(600), [mat])
    t_consume = time.monotonic() - t1
    assert mat.stop() == 0, mat.log()[-4000:]
    assert stored_offsets(db, unique_topic) == nonempty(result.end_offsets)
    assert_exact(db, result)
    print(f"\nsigkill x5: {total} records ({result.events} events, "
          f"{len(result.expected)} rows), kill points "
          f"{[round(s / total, 3) for s in seen]}, produce "
          f"{t_produce:.1f}s, materialize incl. restarts {t_consume:.1f}s")


# ------------------------------------------------------------ group of two

def test_group_of_two_survivor_takes_over(mesh_broker, registry,
                                          make_materializer, unique_topic,
                                          tmp_path, timeout):
    mesh_broker.create_topic(unique_topic, 6)
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=6, keys=6000, seed=11, create=False)
    gen.produce(10_000)
    gen.prod.flush(60)
    db = tmp_path / "group.db"
    sets = sink_sets(mesh_broker, registry, unique_topic, db, "pair",
                     **{"batch.max.records": "500"})
    first = make_materializer(sets=sets)
    second = make_materializer(sets=sets)

    # More events while both run, so that both members own partitions with
    # work to do when one of them dies.
    errors = []

    def produce_more():
        try:
            for _ in range(40):
                gen.produce(1500)
                gen.prod.poll(0)
                time.sleep(0.15)
        except Exception as e:  # reported by the main thread
            errors.append(e)

    feeder = threading.Thread(target=produce_more)
    t0 = time.monotonic()
    feeder.start()
    try:
        # Both members commit batches: every partition has an offset
        # (read from the database: the ops endpoint shares the loop thread
        # with SQLite's lock waits, so metrics answer late here).
        deadline = time.monotonic() + timeout(90)
        while len(stored_offsets(db, unique_topic)) < 6:
            assert time.monotonic() < deadline, first.log()[-3000:]
            assert first.proc.poll() is None, first.log()[-3000:]
            assert second.proc.poll() is None, second.log()[-3000:]
            time.sleep(0.05)
        time.sleep(random.uniform(0.1, 0.8))
        victim, survivor = random.sample([first, second], 2)
        t_kill = time.monotonic() - t0
        assert victim.kill() == -9
        at_kill = stored_offsets(db, unique_topic)
    finally:
        feeder.join()
    assert not errors, errors
    # Events produced after the kill land on every partition, the victim's
    # too: only a takeover by the survivor reaches the end offsets.
    gen.produce(6000)
    result = gen.result()
    assert len(at_kill) == 6 and sum(at_kill.values()) < sum(
        result.end_offsets.values())
    wait_offsets(db, unique_topic, result.end_offsets, timeout(180),
                 [survivor])
    t_done = time.monotonic() - t0
    assert_exact(db, result)
    assert survivor.stop() == 0, survivor.log()[-4000:]
    assert stored_offsets(db, unique_topic) == nonempty(result.end_offsets)
    def owned(mat):
        return set(re.findall(r'msg="partition assigned" topic=\S+ '
                              r'partition=(\d+)', mat.log()))
    assert owned(victim), "the victim never owned a partition"
    assert owned(survivor) == {str(p) for p in range(6)}, owned(survivor)
    print(f"\ngroup of two: kill at {t_kill:.1f}s with "
          f"{sum(at_kill.values())} of {sum(result.end_offsets.values())} "
          f"records stored, exact at {t_done:.1f}s")


# ------------------------------------------------------------ evolution

def test_schema_evolution_adds_nullable_column(mesh_broker, registry,
                                               make_materializer,
                                               unique_topic, tmp_path,
                                               timeout):
    mesh_broker.create_topic(unique_topic, 4)
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=4, keys=2000, seed=3, create=False)
    gen.produce(10_000, version=1)
    first = gen.result()
    db = tmp_path / "evolve.db"
    mat = make_materializer(sets=sink_sets(mesh_broker, registry,
                                           unique_topic, db, "evolve"))
    wait_offsets(db, unique_topic, first.end_offsets, timeout(120), [mat])
    assert "note" not in table_columns(db)
    assert_exact(db, first)

    gen.produce(10_000, version=2)
    second = gen.result()
    wait_offsets(db, unique_topic, second.end_offsets, timeout(120), [mat])
    assert table_columns(db) == cdcgen.COLUMNS_V2
    assert_exact(db, second)
    # Old rows (last written with v1) read NULL; v2 rows have notes.
    notes = [r["note"] for r in second.expected.values()]
    assert None in notes and any(n is not None for n in notes)
    assert "column added" in mat.log()
    assert mat.stop() == 0, mat.log()[-4000:]


# ------------------------------------------------------------ SIGTERM

def test_sigterm_commits_and_exits_0(mesh_broker, registry,
                                     make_materializer, unique_topic,
                                     tmp_path, timeout):
    mesh_broker.create_topic(unique_topic, 6)
    result = cdcgen.generate(mesh_broker.bootstrap, registry.url,
                             unique_topic, events=40_000, keys=5000,
                             partitions=6, seed=5, create=False)
    total = sum(result.end_offsets.values())
    db = tmp_path / "term.db"
    sets = sink_sets(mesh_broker, registry, unique_topic, db, "term",
                     **{"batch.max.records": "1000"})
    workdir = tmp_path / "mat"

    # 1. SIGTERM in the middle of the stream: the batch in progress is
    #    committed, the exit is clean.
    mat = make_materializer(sets=sets, workdir=workdir)
    deadline = time.monotonic() + timeout(120)
    while progress(db, unique_topic) < total // 4:
        assert time.monotonic() < deadline, mat.log()[-4000:]
        assert mat.proc.poll() is None, mat.log()[-4000:]
        time.sleep(0.02)
    assert mat.metric("mesh_materializer_sqlite_commit_seconds_count") > 0
    assert mat.stop() == 0, mat.log()[-4000:]
    assert progress(db, unique_topic) <= total

    # 2. The next run resumes there, catches up, and SIGTERM once idle
    #    leaves exactly the end offsets.
    mat = make_materializer(sets=sets, workdir=workdir)
    wait_offsets(db, unique_topic, result.end_offsets, timeout(120), [mat])
    assert mat.stop() == 0, mat.log()[-4000:]
    assert stored_offsets(db, unique_topic) == nonempty(result.end_offsets)
    assert_exact(db, result)
    con = _connect(db)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        groups = {r[0] for r in con.execute(
            "SELECT DISTINCT group_id FROM _mesh_offsets")}
    finally:
        con.close()
    assert groups == {"term"}
