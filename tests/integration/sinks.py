"""Sink adapters for the materializer's tests parametrized over sinks.

Each adapter builds its sink's settings and reads the output port back:

    sink = SqliteSink(tmp_path) / PgSink(postgres)
    sink.sets(mesh_broker, registry, topic, group, **extra)  # settings
    sink.offsets(topic)     # {partition: next_offset} stored by the sink
    sink.columns()          # the table's column names, in order
    sink.rows(columns)      # {id: row dict}, values as cdcgen expects them
    sink.groups()           # set of group_id values in _mesh_offsets
    sink.commit_metric      # a histogram the sink observes at each batch
    sink.check_evolved()    # sink-specific checks of the evolved table
    sink.check_storage()    # sink-specific checks of the storage settings

The table is "items" (table.name) in the sink's own database file or
schema.  wait_offsets, progress and assert_exact are written once on top.
kill_seed() is the random seed of a test that kills at random moments:
printed at its start, MESH_TEST_SEED overrides it.
"""

import os
import random
import sqlite3
import time
import uuid

from materializer import wait_stored_offsets

TABLE = "items"
# librdkafka's default session timeout is 45 s: a restarted (or surviving)
# member would wait that long for the coordinator to expel a killed one.
GROUP_TIMING = {"kafka.session.timeout.ms": "6000",
                "kafka.heartbeat.interval.ms": "500"}


def kill_seed():
    """A random.Random for a kill test, its seed printed first (rerun a
    failure with MESH_TEST_SEED=<seed>)."""
    seed = int(os.environ.get("MESH_TEST_SEED") or time.time())
    print(f"\nrandom seed {seed} (MESH_TEST_SEED={seed} repeats it)")
    return random.Random(seed)


def base_sets(mesh_broker, registry, topic, group, **extra):
    sets = {"topics": topic, "group.id": group, "table.name": TABLE,
            "registry.url": registry.url,
            "kafka.bootstrap.servers": mesh_broker.bootstrap,
            "kafka.fetch.wait.max.ms": "10"}
    sets.update(GROUP_TIMING)
    sets.update(extra)
    return sets


class SqliteSink:
    """sink=sqlite, read with Python's sqlite3 (WAL: reading while the
    materializer writes is safe)."""
    name = "sqlite"
    poll = 0.1          # seconds between offset reads while waiting
    progress_poll = 0.02
    commit_metric = "mesh_materializer_sqlite_commit_seconds_count"

    def __init__(self, tmp_path):
        self.db = tmp_path / "out.db"

    def sets(self, mesh_broker, registry, topic, group, **extra):
        return base_sets(mesh_broker, registry, topic, group,
                         **{"sink": "sqlite", "sqlite.path": str(self.db),
                            **extra})

    def connect(self):
        return sqlite3.connect(str(self.db), timeout=30)

    def offsets(self, topic):
        """{partition: next_offset} from _mesh_offsets; {} before it
        exists."""
        if not self.db.exists():
            return {}
        con = self.connect()
        try:
            rows = con.execute("SELECT partition, next_offset FROM "
                               "_mesh_offsets WHERE topic = ?",
                               (topic,)).fetchall()
        except sqlite3.OperationalError:
            return {}
        finally:
            con.close()
        return dict(rows)

    def columns(self):
        con = self.connect()
        try:
            return [r[1] for r in
                    con.execute(f'PRAGMA table_info("{TABLE}")')]
        finally:
            con.close()

    def rows(self, columns):
        """{id: row dict} of the whole table; booleans (INTEGER in SQLite)
        read back as bool."""
        con = self.connect()
        try:
            cols = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f'SELECT {cols} FROM "{TABLE}"').fetchall()
        finally:
            con.close()
        out = {}
        for row in rows:
            rec = dict(zip(columns, row))
            assert rec["id"] not in out, f"duplicate key {rec['id']}"
            if rec.get("active") is not None:
                rec["active"] = bool(rec["active"])
            out[rec["id"]] = rec
        return out

    def groups(self):
        con = self.connect()
        try:
            return {r[0] for r in con.execute(
                "SELECT DISTINCT group_id FROM _mesh_offsets")}
        finally:
            con.close()

    def check_evolved(self):
        """After the v2 column arrived (nothing more than the columns,
        checked by the test)."""

    def check_storage(self):
        con = self.connect()
        try:
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            con.close()


class PgSink:
    """sink=postgres in a schema of its own on the session's server, read
    with psql (tests/integration/pgserver.py)."""
    name = "postgres"
    poll = 0.2
    progress_poll = 0.05
    commit_metric = "mesh_materializer_pg_flush_seconds_count"

    def __init__(self, postgres):
        self.pg = postgres
        self.schema = f"mat_{uuid.uuid4().hex[:12]}"

    def sets(self, mesh_broker, registry, topic, group, **extra):
        return base_sets(mesh_broker, registry, topic, group,
                         **{"sink": "postgres",
                            "postgres.conninfo": self.pg.conninfo,
                            "postgres.schema": self.schema, **extra})

    def offsets(self, topic):
        try:
            rows = self.pg.rows(
                f"SELECT partition, next_offset FROM "
                f"{self.schema}._mesh_offsets WHERE topic = '{topic}'")
        except RuntimeError:
            return {}
        return {int(p): int(o) for p, o in rows}

    def typed_columns(self):
        """[(column, data_type)] in column order from
        information_schema."""
        return self.pg.rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{self.schema}' AND table_name = "
            f"'{TABLE}' ORDER BY ordinal_position")

    def columns(self):
        return [c for c, _ in self.typed_columns()]

    def rows(self, columns):
        conv = {"id": int, "qty": int, "price": float,
                "active": lambda v: v == "t", "name": str, "note": str}
        cols = ", ".join(f'"{c}"' for c in columns)
        out = {}
        for row in self.pg.rows(f"SELECT {cols} FROM {self.schema}.{TABLE}"):
            rec = {c: None if v is None else conv[c](v)
                   for c, v in zip(columns, row)}
            assert rec["id"] not in out, f"duplicate key {rec['id']}"
            out[rec["id"]] = rec
        return out

    def groups(self):
        return {r[0] for r in self.pg.rows(
            f"SELECT DISTINCT group_id FROM {self.schema}._mesh_offsets")}

    def check_evolved(self):
        """PostgreSQL's types for the v2 table; the added column is
        nullable, the key is the primary key."""
        schema = self.schema
        assert self.typed_columns() == [
            ("id", "bigint"), ("name", "text"), ("qty", "integer"),
            ("price", "double precision"), ("active", "boolean"),
            ("note", "text")]
        assert self.pg.rows(
            "SELECT is_nullable FROM information_schema.columns WHERE "
            f"table_schema = '{schema}' AND column_name = 'note'") == \
            [("YES",)]
        assert self.pg.rows(
            f"SELECT a.attname FROM pg_index i JOIN pg_attribute a ON "
            f"a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE "
            f"i.indrelid = '{schema}.{TABLE}'::regclass AND "
            f"i.indisprimary") == [("id",)]

    def check_storage(self):
        """Nothing beyond rows and offsets to check."""


def wait_offsets(sink, topic, end_offsets, timeout, mats=()):
    return wait_stored_offsets(lambda: sink.offsets(topic), end_offsets,
                               timeout, mats, poll=sink.poll)


def progress(sink, topic):
    return sum(sink.offsets(topic).values())


def assert_exact(sink, result):
    """The table equals the expected final state, row by row."""
    columns = result.columns
    assert sink.columns()[:len(columns)] == columns
    got = sink.rows(columns)
    expected = result.expected
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(got) & set(expected)
                   if got[k] != expected[k])
    assert not missing and not extra and not wrong, (
        f"{len(missing)} rows missing (e.g. {missing[:5]}), {len(extra)} "
        f"extra (e.g. {extra[:5]}), {len(wrong)} differ (e.g. "
        + "; ".join(f"{got[k]} != {expected[k]}" for k in wrong[:3]) + ")")


# ------------------------------------------------------------ poison records

def subject_versions(registry_url, subject):
    import json
    import urllib.request
    with urllib.request.urlopen(f"{registry_url}/subjects/{subject}/versions",
                                timeout=10) as r:
        versions = json.load(r)
    out = []
    for v in versions:
        with urllib.request.urlopen(f"{registry_url}/subjects/{subject}/"
                                    f"versions/{v}", timeout=10) as r:
            out.append(json.load(r))
    return out


def poison(bootstrap, topic, registry_url):
    """Three poison records, interleaved with good ones by the caller:
    bad magic, unknown schema id, truncated body."""
    import struct
    from confluent_kafka import Producer
    ids = [v["id"] for v in subject_versions(registry_url,
                                             f"{topic}-value")]
    good_id = ids[0]
    prod = Producer({"bootstrap.servers": bootstrap})
    bad = [(b"bad-magic", b"\x01" + struct.pack(">I", good_id) + b"\x02"),
           (b"unknown-id", b"\x00" + struct.pack(">I", 987654) + b"\x02\x04"),
           (b"truncated", b"\x00" + struct.pack(">I", good_id) + b"\x02")]
    for key, value in bad:
        prod.produce(topic, key=key, value=value, partition=0)
    assert prod.flush(30) == 0
    return bad


def read_dlq(bootstrap, topic, count, timeout):
    from confluent_kafka import Consumer
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": f"r-{topic}",
                     "auto.offset.reset": "earliest"})
    cons.subscribe([topic])
    out, deadline = [], time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            msg = cons.poll(0.5)
            if msg is None or msg.error():
                continue
            hdrs = {k: (v.decode() if v is not None else None)
                    for k, v in (msg.headers() or [])}
            out.append((msg.key(), msg.value(), hdrs))
    finally:
        cons.close()
    return out
