"""Sink adapters for the materializer's tests parametrized over sinks.

Each adapter builds its sink's settings and reads the output port back:

    sink = SqliteSink(tmp_path) / PgSink(postgres) / AvroSink(tmp_path)
    sink.sets(mesh_broker, registry, topic, group, **extra)  # settings
    sink.offsets(topic)     # {partition: next_offset} stored by the sink
    sink.columns()          # the table's column names, in order
    sink.rows(columns)      # {id: row dict}, values as cdcgen expects them
    sink.stores_groups      # False: the sink keeps no group id (avro)
    sink.groups()           # set of group_id values in _mesh_offsets
    sink.commit_metric      # a histogram the sink observes at each commit
                            # point (a batch; for avro a file's rename)
    sink.column_added_log   # the sink's log line when its table gains a
                            # column; None when it has none (avro)
    sink.check_evolved()    # sink-specific checks of the evolved table
    sink.check_storage()    # sink-specific checks of the storage settings

The table is "items" (table.name) in the sink's own database file or
schema; for avro its state is the history in the final files under
<tmp_path>/avro/<topic>/, replayed (AvroSink).  wait_offsets, progress and
assert_exact are written once on top.
kill_seed() is the random seed of a test that kills at random moments:
printed at its start, MESH_TEST_SEED overrides it.
"""

import json
import os
import pathlib
import random
import re
import sqlite3
import time
import uuid

from materializer import wait_stored_offsets

TABLE = "items"
# Debezium's unavailable-value placeholder (consumers/mat_envelope.h).
UNAVAILABLE = "__debezium_unavailable_value"
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
    column_added_log = "column added"
    stores_groups = True

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
    column_added_log = "column added"
    stores_groups = True

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


class AvroSink:
    """sink=avro under <tmp_path>/avro, read with fastavro.  The durable
    state is the final (renamed) files only: .part-*.avro.tmp files are
    never read.  A final file is immutable (renamed without replacing), so
    its header and rows are read once and cached.

    The output port is a history (one row per change, _op the change
    event's op letter, the key columns the table's own, here id); rows()
    replays it per partition in offset order into the final state, as a
    table sink holds it (a change event's Debezium placeholder keeps the
    previous value, see _upserted).  Small avro.roll.ms / avro.roll.records make the
    state durable soon after the input stops (an idle file rolls at the
    next tick, every batch.max.ms).  Zero-row files are read too: a tail
    file carries the offset past records that made no row (tombstones,
    dead letters) and is where a restart resumes like any other."""
    name = "avro"
    poll = 0.2
    progress_poll = 0.05
    # The rename is the avro sink's commit point: one observation per file
    # made durable (consumers/mat_avro.c).
    commit_metric = "mesh_materializer_avro_roll_seconds_count"
    # The table's columns are appended to the file schema only; the loop's
    # "table gained columns" is the log line (checked by the test).
    column_added_log = None
    # Files carry topic, partition and offsets, no group id.
    stores_groups = False
    ROLL = {"avro.roll.records": "20000", "avro.roll.ms": "300"}
    META = ["_topic", "_partition", "_offset", "_op", "_ts_ms"]
    UPSERT_OPS = {"c", "u", "r", "upsert"}
    FINAL = re.compile(r"^part-(\d+)-(\d+)\.avro$")
    TMP = re.compile(r"^\.part-(\d+)-(\d+)\.avro\.tmp$")

    def __init__(self, tmp_path):
        self.dir = tmp_path / "avro"
        self.topic = None
        self._files = {}        # path -> (meta, schema fields, rows|None)

    def sets(self, mesh_broker, registry, topic, group, **extra):
        self.topic = topic
        return base_sets(mesh_broker, registry, topic, group,
                         **{"sink": "avro", "avro.dir": str(self.dir),
                            **self.ROLL, **extra})

    # ---- files

    def entries(self, topic=None):
        """[(dt dir name, file name, path)] of every entry under
        <avro.dir>/<topic>/dt=*/."""
        out = []
        top = pathlib.Path(self.dir, topic or self.topic)
        if not top.is_dir():
            return out
        for day in sorted(os.listdir(top)):
            for name in sorted(os.listdir(top / day)):
                out.append((day, name, top / day / name))
        return out

    def final_files(self, topic=None):
        """{partition: [(start, path)] sorted by start}."""
        parts = {}
        for _, name, path in self.entries(topic):
            m = self.FINAL.match(name)
            if m:
                parts.setdefault(int(m.group(1)), []).append(
                    (int(m.group(2)), path))
        for files in parts.values():
            files.sort()
        return parts

    def _read(self, path, rows=False):
        """(metadata, table fields [(name, type)], rows or None)."""
        import fastavro
        got = self._files.get(path)
        if got and (got[2] is not None or not rows):
            return got
        with open(path, "rb") as f:
            reader = fastavro.reader(f)
            meta = dict(reader.metadata)
            schema = json.loads(meta["avro.schema"])
            fields = [(fl["name"], fl["type"]) for fl in schema["fields"]]
            assert [n for n, _ in fields[:len(self.META)]] == self.META, \
                (path, fields)
            data = list(reader) if rows else None
        got = (meta, fields[len(self.META):], data)
        self._files[path] = got
        return got

    # ---- the adapter

    def offsets(self, topic):
        """{partition: meshwork.next_offset of its final file with the
        highest start offset} (where a restart resumes); {} before any."""
        return {p: int(self._read(files[-1][1])[0]["meshwork.next_offset"])
                for p, files in self.final_files(topic).items()}

    def columns(self):
        """The table's columns of the files' writer schemas (metadata
        columns excluded): the widest; every other file's is a prefix
        (columns are only appended)."""
        shapes = [[n for n, _ in self._read(path)[1]]
                  for files in self.final_files().values()
                  for _, path in files]
        widest = max(shapes, key=len, default=[])
        for cols in shapes:
            assert widest[:len(cols)] == cols, (cols, widest)
        return widest

    def rows(self, columns):
        """Replays each partition's final files in offset order: an upsert
        (c, u, r, upsert) replaces the key's row, a delete (d) removes it.
        Checks on the way that the files of a partition hold disjoint,
        increasing offset ranges, each file starting at or after its
        predecessor's next_offset and ending before its own.  A file
        without rows (a tail file: records that made no row,
        consumers/mat_avro.c point 6) moves the offset and adds no row."""
        out = {}
        where = {}
        for part, files in self.final_files().items():
            resume = 0
            for start, path in files:
                meta, _, data = self._read(path, rows=True)
                assert int(meta["meshwork.start_offset"]) == start, path
                assert not data or data[0]["_offset"] == start, path
                assert start >= resume, (
                    f"{path} starts at {start}, before the previous file's "
                    f"next_offset {resume}")
                last = -1
                for rec in data:
                    off = rec["_offset"]
                    assert rec["_partition"] == part, path
                    assert off > last, f"{path}: offset {off} after {last}"
                    last = off
                    key = rec["id"]
                    if where.get(key, part) != part:
                        raise AssertionError(f"key {key} in partitions "
                                             f"{where[key]} and {part}")
                    where[key] = part
                    if rec["_op"] == "d":
                        out.pop(key, None)
                    else:
                        assert rec["_op"] in self.UPSERT_OPS, (path, rec)
                        out[key] = self._upserted(rec, out.get(key),
                                                  columns)
                resume = int(meta["meshwork.next_offset"])
                assert resume > (last if data else start), path
        return out

    def _upserted(self, rec, old, columns):
        """The row after upsert rec over old (None when not stored).  A
        change event's (c, u, r) Debezium placeholder means "unchanged":
        the previous value stays, None when there was no row (the files'
        columns are all nullable); a plain record's is its value, as in
        the table sinks (consumers/mat_envelope.h)."""
        row = {c: rec.get(c) for c in columns}
        if rec["_op"] == "upsert":
            return row
        for c, v in row.items():
            if v == UNAVAILABLE or v == UNAVAILABLE.encode("ascii"):
                row[c] = old.get(c) if old else None
        return row

    def groups(self):
        raise AssertionError("the avro sink stores no group id")

    def check_evolved(self):
        """The evolved schema: the v2 column is appended as a nullable
        string, the rest keep their Avro types; a partition's files switch
        from the v1 to the v2 shape once (a new shape rolls the file), and
        every partition has v2 files."""
        want = [("id", "long"), ("name", "string"), ("qty", "int"),
                ("price", "double"), ("active", "boolean"),
                ("note", "string")]
        for part, files in self.final_files().items():
            widths = []
            for _, path in files:
                fields = self._read(path)[1]
                got = [(n, t[1] if isinstance(t, list) else t)
                       for n, t in fields]
                assert all(isinstance(t, list) and t[0] == "null"
                           for _, t in fields), (path, fields)
                assert got == want[:len(got)], (path, got)
                widths.append(len(got))
            assert widths == sorted(widths), (part, widths)
            assert widths[-1] == len(want), (part, widths)

    def check_storage(self):
        """After a clean stop: no temporary file left, every file has its
        final name in its dt=YYYY-MM-DD directory and its header names its
        topic, partition and start offset."""
        for day, name, path in self.entries():
            assert re.match(r"^dt=\d{4}-\d{2}-\d{2}$", day), path
            assert not self.TMP.match(name), f"temporary file left: {path}"
            m = self.FINAL.match(name)
            assert m, f"unexpected file {path}"
            meta = self._read(path)[0]
            assert meta["meshwork.topic"] == self.topic, path
            assert meta["meshwork.partition"] == m.group(1), path
            assert meta["meshwork.start_offset"] == m.group(2), path
            assert meta["avro.codec"] == "deflate", path


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
