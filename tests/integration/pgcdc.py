"""pgcdc: helpers for the tests of mesh-producer's pg source.

    db = fresh_db(postgres)             # a new database on the session
                                        # server: its own slots, types
    sets = pg_sets(db, broker, registry, tables="public.t", slot="s1")
    p = make_producer(sets=sets)        # source=pg
    wait_streaming(db, "s1")            # the slot is active
    recs = read_changes(broker.bootstrap, topic, registry.url, n)
    state = replay(recs)                # {key tuple: row dict}

A database here is a small object with .conninfo, .name, .psql(sql) and
.rows(sql), over the session's PgServer.
"""

import json
import time
import uuid

from daemon import TIMEOUT_MULT
from producer import read_topic

PLACEHOLDER = "__debezium_unavailable_value"


class Db:
    def __init__(self, server, name):
        self.server, self.name = server, name
        self.conninfo = (f"host=127.0.0.1 port={server.port} dbname={name} "
                         f"user={server.user}")

    def psql(self, sql):
        return self.server.psql(sql, dbname=self.name)

    def rows(self, sql):
        saved = self.server.dbname
        self.server.dbname = self.name
        try:
            return self.server.rows(sql)
        finally:
            self.server.dbname = saved

    def psql_file(self, path):
        import subprocess
        res = subprocess.run(
            [self.server_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.server.port), "-U",
             self.server.user, "-d", self.name, "-f", str(path)],
            capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"psql -f {path}: {res.stderr}")

    def server_bin(self, name):
        from pgserver import PG_BIN
        return str(PG_BIN / name)


def fresh_db(postgres):
    name = "cdc_" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    return Db(postgres, name)


def pg_sets(db, bootstrap, registry, tables, slot, state_dir,
            prefix="meshtest", **extra):
    sets = {"source": "pg", "pg.conninfo": db.conninfo, "pg.tables": tables,
            "pg.state.dir": str(state_dir),
            "pg.slot": slot, "pg.publication": slot, "topic.prefix": prefix,
            "registry.url": registry.url,
            "kafka.bootstrap.servers": bootstrap, "kafka.linger.ms": "5"}
    sets.update({k: str(v) for k, v in extra.items()})
    return sets


def wait_streaming(db, slot, timeout=30.0):
    """Until the slot exists and a walsender streams from it."""
    deadline = time.monotonic() + timeout * TIMEOUT_MULT
    while time.monotonic() < deadline:
        out = db.psql(f"SELECT active FROM pg_replication_slots WHERE "
                      f"slot_name = '{slot}'")
        if out == "t":
            return
        time.sleep(0.1)
    raise AssertionError(f"slot {slot} never became active")


def slot_info(db, slot):
    out = db.rows(f"SELECT confirmed_flush_lsn, "
                  f"pg_current_wal_lsn() - restart_lsn, active "
                  f"FROM pg_replication_slots WHERE slot_name = '{slot}'")
    return out[0] if out else None


def lsn_int(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


def read_changes(bootstrap, topic, registry_url, expect, timeout=60.0):
    """Every record of topic (key, value, headers, partition, offset),
    decoded, until expect arrived."""
    recs = read_topic(bootstrap, topic, registry_url, expect, timeout=timeout)
    assert len(recs) >= expect, \
        f"{topic}: {len(recs)} records, expected {expect}"
    return recs


def key_of(key):
    return tuple(sorted(key.items())) if isinstance(key, dict) else key


def replay(recs):
    """The table a log of Debezium envelopes leaves: per key, the last
    c/u/r row, deletes remove it; an unavailable (TOAST) value keeps the
    previous one.  Records are applied per partition in offset order."""
    state = {}
    for key, value, _h, _p, _o in sorted(recs, key=lambda r: (r[3], r[4])):
        if value is None:
            continue
        k = key_of(key)
        if value["op"] == "d":
            state.pop(k, None)
        elif value["op"] in ("c", "u", "r"):
            row = dict(value["after"])
            old = state.get(k, {})
            for col, v in row.items():
                if v == PLACEHOLDER or v == PLACEHOLDER.encode():
                    row[col] = old.get(col)
            state[k] = row
    return state


def ops(recs):
    return [r[1]["op"] if r[1] is not None else None for r in recs]


def dumps(obj):
    return json.dumps(obj, sort_keys=True, default=str)


def watermarks(bootstrap, topic):
    """{partition: (low, high)} of topic."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "wm",
                  "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        return {p: c.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=10)
                for p in sorted(md.partitions)}
    finally:
        c.close()


def read_all(bootstrap, topic, registry_url, timeout=60.0):
    """Every record of topic, decoded; asserts that the broker kept all of
    them (no partition's low watermark moved: mesh-broker drops its oldest
    batches past ~5 MiB per partition, and the tests must never depend on
    that)."""
    wm = watermarks(bootstrap, topic)
    assert all(lo == 0 for lo, _hi in wm.values()), \
        f"{topic}: the broker dropped records: {wm}"
    total = sum(hi for _lo, hi in wm.values())
    recs = read_topic(bootstrap, topic, registry_url, total, timeout=timeout)
    assert len(recs) == total, f"{topic}: read {len(recs)} of {total}"
    return recs
