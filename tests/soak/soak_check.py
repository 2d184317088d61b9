"""soak_check: the end of the soak: drain, then compare every output port
with the state the sources imply, and every dead-letter topic with the
deliberately bad input.

    drain(mesh, loads, timeout)      every source caught up, every sink at
                                     the end of every topic
    check_ports(mesh, loads)         -> {(sink, topic): rows}; raises
                                     SoakFailure naming sink, table, and
                                     rows missing / extra / different
    check_dead_letters(mesh, loads)  -> {dlq topic: (distinct, copies)}
    topic_bytes(bootstrap, topic)    -> per-partition bytes and records

Exactly once shows as: the tables hold one row per key (a primary key in
SQLite and PostgreSQL; the Avro history replayed per partition in offset
order, each key in one partition), equal to the last value the source
accepted for that key; nothing missing, nothing extra.
"""

import sqlite3
import time

from daemon import TIMEOUT_MULT
from pgcdc import watermarks
from sinks import AvroSink
from soak_mesh import (FILE_DLQ, PG_TABLE, SINKS, TOPIC_FILE, TOPIC_HTTP,
                       TOPIC_PG, TOPICS, mat_dlq)

EVENT_COLUMNS = ["key", "id", "seq", "pad"]
PG_COLUMNS = ["id", "name", "qty", "note"]


class SoakFailure(Exception):
    pass


def table_of(topic):
    return topic.replace(".", "_").replace("-", "_")


def _norm(values):
    return tuple(None if v is None else str(v) for v in values)


# ---- drain -----------------------------------------------------------------

def _poll(what, cond, timeout, mesh):
    """Polls cond() -> (done, detail) until done; SoakFailure with the
    detail after timeout or when a daemon exited."""
    deadline = time.monotonic() + timeout * TIMEOUT_MULT
    detail = None
    while time.monotonic() < deadline:
        for label, d in mesh.daemons().items():
            if d.proc.poll() is not None:
                raise SoakFailure(f"{label} exited with {d.proc.returncode}"
                                  f" while draining:\n{d.log()[-3000:]}")
        done, detail = cond()
        if done:
            return
        time.sleep(0.5)
    raise SoakFailure(f"drain: {what} not reached after {timeout}s: "
                      f"{detail}")


def drain(mesh, timeout):
    """After the loads stopped: the file source read and acknowledged the
    whole file, the pg source confirmed the WAL written so far (its slot's
    confirmed_flush_lsn; it confirms from keepalives when idle), then every
    sink's stored offsets equal the end offsets of every topic.  Returns
    {topic: {partition: end offset}}."""
    prod = mesh.producers["file"]
    _poll("file source lag 0",
          lambda: (lambda lag: (lag == 0, f"lag {lag} bytes"))(
              prod.metric("mesh_producer_file_lag_bytes")), timeout, mesh)
    lsn = mesh.src_db.psql("SELECT pg_current_wal_lsn()")

    def slot_done():
        got = mesh.src_db.psql(
            "SELECT confirmed_flush_lsn >= '%s' FROM pg_replication_slots "
            "WHERE slot_name = 'soak'" % lsn)
        return got == "t", f"slot soak confirmed < {lsn}"
    _poll("pg slot confirmed", slot_done, timeout, mesh)
    ends = {t: {p: hi for p, (_lo, hi) in
                watermarks(mesh.broker.bootstrap, t).items()}
            for t in TOPICS}

    def sinks_done():
        behind = []
        for name in SINKS:
            sink = mesh.sinks[name]
            for t in TOPICS:
                want = {p: o for p, o in ends[t].items() if o > 0}
                got = sink.offsets(t)
                if got != want:
                    lag = sum(o - got.get(p, 0) for p, o in want.items())
                    behind.append(f"{name}/{t} {lag} behind")
        return not behind, ", ".join(behind)
    _poll("every sink at the end", sinks_done, timeout, mesh)
    return ends


def retention_intact(mesh):
    """mesh-broker never dropped a batch: every low watermark is 0."""
    for t in TOPICS:
        wm = watermarks(mesh.broker.bootstrap, t)
        dropped = {p: lo for p, (lo, _hi) in wm.items() if lo != 0}
        if dropped:
            raise SoakFailure(f"{t}: mesh-broker dropped batches (low "
                              f"watermarks {dropped}): the budget is wrong")


# ---- output ports ----------------------------------------------------------

def _sqlite_rows(mesh, table, columns):
    con = sqlite3.connect(str(mesh.sinks["sqlite"].db), timeout=30)
    try:
        cols = ", ".join(f'"{c}"' for c in columns)
        return con.execute(f'SELECT {cols} FROM "{table}"').fetchall()
    finally:
        con.close()


def _pg_rows(mesh, table, columns):
    cols = ", ".join(f'"{c}"' for c in columns)
    return mesh.pg.rows(f'SELECT {cols} FROM '
                        f'{mesh.sinks["postgres"].schema}."{table}"')


def _avro_rows(mesh, topic, columns):
    reader = AvroSink(mesh.workdir / "avro")
    reader.dir = mesh.sinks["avro"].dir
    reader.topic = topic
    return [tuple(r[c] for c in columns)
            for r in reader.rows(columns).values()]


def port_rows(mesh, sink, topic, columns):
    """{first column: normalised row tuple}; a key twice is a failure."""
    if sink == "sqlite":
        raw = _sqlite_rows(mesh, table_of(topic), columns)
    elif sink == "postgres":
        raw = _pg_rows(mesh, table_of(topic), columns)
    else:
        raw = _avro_rows(mesh, topic, columns)
    out = {}
    for row in raw:
        row = _norm(row)
        if row[0] in out:
            raise SoakFailure(f"{sink}/{table_of(topic)}: key {row[0]} "
                              "twice")
        out[row[0]] = row
    return out


def expected_states(mesh, loads):
    """{topic: (columns, {key: row})} from what the sources accepted: the
    http and file loads' last values per key, and the source table."""
    def events(expected):
        return {str(k): _norm((k, v["id"], v["seq"], v["pad"]))
                for k, v in expected.items()}
    src = {}
    for row in mesh.src_db.rows(f"SELECT id, name, qty, note FROM "
                                f"{PG_TABLE}"):
        row = _norm(row)
        src[row[0]] = row
    return {TOPIC_HTTP: (EVENT_COLUMNS, events(loads["http"].expected)),
            TOPIC_FILE: (EVENT_COLUMNS, events(loads["file"].expected)),
            TOPIC_PG: (PG_COLUMNS, src)}


def compare(label, got, want):
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(k for k in set(got) & set(want) if got[k] != want[k])
    if missing or extra or wrong:
        raise SoakFailure(
            f"{label}: {len(got)} rows, expected {len(want)}: "
            f"{len(missing)} missing (e.g. {missing[:5]}), {len(extra)} extra"
            f" (e.g. {extra[:5]}), {len(wrong)} differ (e.g. "
            + "; ".join(f"{got[k]} != {want[k]}" for k in wrong[:3]) + ")")


def check_ports(mesh, loads):
    """Every sink's table of every topic equals the expected state."""
    states = expected_states(mesh, loads)
    counts = {}
    for sink in SINKS:
        for topic, (columns, want) in states.items():
            got = port_rows(mesh, sink, topic, columns)
            compare(f"{sink}/{table_of(topic)}", got, want)
            counts[(sink, topic)] = len(got)
    return counts


# ---- dead letters ----------------------------------------------------------

# Reading back: at least this many records a second are expected (a 30-
# minute run's topic holds ~180,000), on top of a fixed minute.
READ_RATE_FLOOR = 1000


def _read_all_raw(mesh, topic):
    """Every record of topic, raw, in batches: [(key, value, headers,
    partition, offset)]."""
    from confluent_kafka import Consumer, TopicPartition
    wm = watermarks(mesh.broker.bootstrap, topic)
    total = sum(hi for _lo, hi in wm.values())
    cons = Consumer({"bootstrap.servers": mesh.broker.bootstrap,
                     "group.id": f"soak-read-{topic}-{time.time()}",
                     "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    recs = []
    deadline = time.monotonic() + (60 + total / READ_RATE_FLOOR) * \
        TIMEOUT_MULT
    try:
        cons.assign([TopicPartition(topic, p, 0) for p in sorted(wm)])
        while len(recs) < total and time.monotonic() < deadline:
            for msg in cons.consume(10000, 0.2):
                if msg.error():
                    continue
                hdrs = {n: (v.decode("utf-8", "replace") if v is not None
                            else None) for n, v in msg.headers() or []}
                recs.append((msg.key(), msg.value(), hdrs, msg.partition(),
                             msg.offset()))
    finally:
        cons.close()
    if len(recs) != total:
        raise SoakFailure(f"{topic}: read {len(recs)} of {total} records")
    return recs


def check_dead_letters(mesh, loads):
    """soak.file.dlq holds exactly the file load's bad lines (by
    mesh.position, with the line as the value); each materializer's dead
    letters are exactly the poison records (by mesh.topic, mesh.partition,
    mesh.offset).  A copy of the same dead letter (the input was replayed
    after a SIGKILL, within the in-flight window) is counted, not failed.
    Returns {topic: (distinct, copies)}."""
    out = {}
    want = loads["file"].bad_positions
    seen = {}
    for _k, value, hdrs, _p, _o in _read_all_raw(mesh, FILE_DLQ):
        pos = hdrs.get("mesh.position")
        if pos not in want:
            raise SoakFailure(f"{FILE_DLQ}: a dead letter that was no bad "
                              f"line: {pos} {value[:200]!r} "
                              f"({hdrs.get('mesh.error')})")
        if value.decode() != want[pos]:
            raise SoakFailure(f"{FILE_DLQ}: {pos} holds {value[:200]!r}, "
                              f"the line was {want[pos]!r}")
        seen[pos] = seen.get(pos, 0) + 1
    if set(seen) != set(want):
        missing = sorted(set(want) - set(seen))
        raise SoakFailure(f"{FILE_DLQ}: {len(missing)} bad lines never "
                          f"dead-lettered, e.g. {missing[:3]}")
    out[FILE_DLQ] = (len(seen), sum(seen.values()))
    poison = {(TOPIC_HTTP, str(p), str(o))
              for p, o in loads["poison"].delivered.values()}
    for sink in SINKS:
        topic = mat_dlq(sink)
        seen = {}
        for _k, value, hdrs, _p, _o in _read_all_raw(mesh, topic):
            where = (hdrs.get("mesh.topic"), hdrs.get("mesh.partition"),
                     hdrs.get("mesh.offset"))
            if where not in poison:
                raise SoakFailure(f"{topic}: a dead letter that was no "
                                  f"poison record: {where} "
                                  f"({hdrs.get('mesh.error')})")
            seen[where] = seen.get(where, 0) + 1
        if set(seen) != poison:
            raise SoakFailure(f"{topic}: {len(poison - set(seen))} poison "
                              "records never dead-lettered")
        out[topic] = (len(seen), sum(seen.values()))
    return out


# ---- the broker's budget ---------------------------------------------------

def topic_bytes(mesh, topic):
    """(payload bytes of the fullest partition, records, payload bytes in
    all, records of the fullest partition): the payload is key, value and
    headers of every record as read back; the broker's batches add their
    framing on top."""
    per_part, count = {}, {}
    recs = _read_all_raw(mesh, topic)
    for key, value, hdrs, part, _o in recs:
        size = len(key or b"") + len(value or b"") + sum(
            len(k) + len(v or "") for k, v in hdrs.items())
        per_part[part] = per_part.get(part, 0) + size
        count[part] = count.get(part, 0) + 1
    fullest = max(per_part, key=per_part.get, default=None)
    return (per_part.get(fullest, 0), len(recs), sum(per_part.values()),
            count.get(fullest, 0))
