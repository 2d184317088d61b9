"""mesh-producer's pg source: change data capture from a real PostgreSQL 15
(the session's throwaway server, wal_level=logical, one database per
test) through mesh-broker, decoded with Confluent's AvroDeserializer.

Shown here:
  - every mapped type: the `after` values and the Connect names of our
    schemas equal what Debezium 3.6.1 emitted for the same rows
    (tests/data/pg/debezium, captured by tests/tools/debezium_capture.sh),
    streamed and snapshotted, with the envelope fields a sink relies on;
  - 200,000 inserts, updates, deletes, primary-key changes and
    TOAST-preserving updates over several tables and transactions, the
    producer SIGKILLed at random moments and restarted: the events replay
    to exactly the database's final state, every transaction is complete
    (its END marker's count equals its distinct events), order per key
    holds;
  - snapshot and stream handover under concurrent writes: no gap, no
    overlap; a snapshot SIGKILLed half-way resumes after its last
    acknowledged chunk;
  - ALTER TABLE ADD COLUMN mid-stream: a new schema version; an
    incompatible change halts the source (exit 1, the table and the
    registry's reason in the log) and the slot does not move past it;
  - the slot follows acknowledgements (confirmed_flush_lsn) while the
    watched table is idle and another one churns: retained WAL bounded;
  - bad configuration: exit 2 naming the key (missing table, topic.map of
    an unknown table, wal_level not logical, no REPLICATION role); a slot
    dropped behind the source's back is reported, never re-created.
"""

import base64
import decimal
import json
import math
import os
import pathlib
import random
import subprocess
import threading
import time

import pytest

from pgcdc import (PLACEHOLDER, fresh_db, key_of, lsn_int, pg_sets, read_all,
                   read_changes, replay, slot_info, wait_streaming)
from producer import read_topic

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "pg"
SEED = int(os.environ.get("MESH_TEST_SEED", str(int(time.time()))))


@pytest.fixture(autouse=True)
def _drop_slots(postgres):
    """Replication slots are per server: each test's are dropped once its
    producers stopped (autouse: set up first, torn down last), so they
    neither hold WAL for the rest of the session nor clash by name."""
    yield
    postgres.psql("SELECT count(pg_drop_replication_slot(slot_name)) FROM "
                  "pg_replication_slots WHERE NOT active AND database LIKE "
                  "'cdc_%'")


def alltypes_sql():
    text = (DATA / "alltypes.sql").read_text()
    cut = text.index("INSERT INTO public.alltypes")
    return text[:cut], text[cut:]


def debezium(name):
    """Debezium's captured events: tests/data/pg/debezium, or the directory
    MESH_DEBEZIUM_DATA names (make bench runs Debezium live into one and
    these tests against it: the differential)."""
    where = pathlib.Path(os.environ.get("MESH_DEBEZIUM_DATA",
                                        DATA / "debezium"))
    return [json.loads(line) for line in (where / name)
            .read_text().splitlines() if line.strip()]


def _connect_field_types(value_schema):
    """Debezium's Connect schema of the row struct: {field: schema}."""
    after = next(f for f in value_schema["fields"] if f["field"] == "after")
    return {f["field"]: f for f in after["fields"]}


def _normalize_debezium(fields, row):
    out = {}
    for name, v in row.items():
        f = fields[name]
        if v is None:
            out[name] = None
        elif f.get("name") == "org.apache.kafka.connect.data.Decimal":
            unscaled = int.from_bytes(base64.b64decode(v), "big", signed=True)
            out[name] = decimal.Decimal(unscaled).scaleb(
                -int(f["parameters"]["scale"]))
        elif f.get("name") == "io.debezium.data.VariableScaleDecimal":
            out[name] = {"scale": v["scale"],
                         "value": base64.b64decode(v["value"])}
        elif f["type"] == "bytes":
            out[name] = base64.b64decode(v)
        else:
            out[name] = v
    return out


def _same(name, ours, theirs, ftype):
    if ftype in ("float", "double") and ours is not None and theirs is not None:
        return math.isclose(ours, theirs, rel_tol=1e-6, abs_tol=1e-30)
    return ours == theirs


def _unwrap(t):
    if isinstance(t, list):
        return next(x for x in t if x != "null")
    return t


def _our_field_types(registry, topic):
    status, body = registry.get(f"/subjects/{topic}-value/versions/latest")
    assert status == 200, body
    env = json.loads(body["schema"])
    before = next(f for f in env["fields"] if f["name"] == "before")
    row = _unwrap(before["type"])
    return {f["name"]: f for f in row["fields"]}, env


def _check_against_debezium(recs, dbz, registry, topic, op):
    fields = _connect_field_types(dbz[0]["value"]["schema"])
    ours_fields, env = _our_field_types(registry, topic)
    # the schema: every column's Connect name / parameters / optionality
    for name, f in fields.items():
        o = ours_fields[name]
        t = _unwrap(o["type"])
        assert isinstance(o["type"], list) == f["optional"], name
        if f.get("name"):
            assert isinstance(t, dict) and t.get("connect.name") == f["name"], \
                f"{name}: ours {t}, Debezium {f.get('name')}"
        if f.get("parameters", {}).get("allowed"):
            assert t["connect.parameters"]["allowed"] == \
                f["parameters"]["allowed"], name
        if f.get("name") == "org.apache.kafka.connect.data.Decimal":
            assert t["scale"] == int(f["parameters"]["scale"])
            assert t["precision"] == \
                int(f["parameters"]["connect.decimal.precision"])
        if f["type"] == "int16":
            assert t == {"type": "int", "connect.type": "int16"}, name
        if f["type"] == "array":
            assert t["type"] == "array" and isinstance(t["items"], list)
    assert env["name"] == "Envelope" and \
        env["connect.name"].endswith(".public.alltypes.Envelope")
    by_id = {r[0]["id"]: r for r in recs}
    for d in dbz:
        key = d["key"]["payload"]
        want = _normalize_debezium(fields, d["value"]["payload"]["after"])
        k, v, headers, _p, _o = by_id[key["id"]]
        assert k == key
        got = v["after"]
        for name in want:
            assert _same(name, got[name], want[name], fields[name]["type"]), \
                f"row {key['id']} column {name}: ours {got[name]!r}, " \
                f"Debezium {want[name]!r}"
        dsrc, src = d["value"]["payload"]["source"], v["source"]
        assert v["op"] == op == d["value"]["payload"]["op"]
        assert v["before"] is None
        for f in ("connector", "schema", "table"):
            assert src[f] == dsrc[f], f
        assert (src["snapshot"] == "false") == (dsrc["snapshot"] == "false")
        assert isinstance(src["ts_ms"], int) and isinstance(v["ts_ms"], int)
        assert src["lsn"] is None or isinstance(src["lsn"], int)
        seq = json.loads(src["sequence"]) if src["sequence"] else None
        if op == "c":
            assert isinstance(src["txId"], int) and isinstance(src["lsn"], int)
            assert isinstance(seq, list) and len(seq) == 2 and \
                seq[1] == str(src["lsn"])
        assert headers["mesh.source"] == "pg"


def test_pg_stream_types_match_debezium(mesh_broker, registry, postgres,
                                        make_producer, tmp_path):
    db = fresh_db(postgres)
    ddl, rows = alltypes_sql()
    db.psql(ddl)
    make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                               "public.alltypes", "types", tmp_path,
                               headers="source"))
    wait_streaming(db, "types")
    db.psql(rows)
    topic = "meshtest.public.alltypes"
    recs = read_changes(mesh_broker.bootstrap, topic, registry.url, 3)
    assert len(recs) == 3
    _check_against_debezium(recs, debezium("stream.jsonl"), registry, topic,
                            "c")
    # the column comment is the field's doc
    ours, _ = _our_field_types(registry, topic)
    assert ours["c_text"]["doc"] == "free text"


def test_pg_snapshot_types_match_debezium(mesh_broker, registry, postgres,
                                          make_producer, tmp_path):
    db = fresh_db(postgres)
    ddl, rows = alltypes_sql()
    db.psql(ddl)
    db.psql(rows)
    make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                               "public.alltypes", "snap", tmp_path,
                               headers="source"))
    topic = "meshtest.public.alltypes"
    recs = read_changes(mesh_broker.bootstrap, topic, registry.url, 3)
    _check_against_debezium(recs, debezium("snapshot.jsonl"), registry,
                            topic, "r")
    marks = sorted(r[1]["source"]["snapshot"] for r in recs)
    assert marks == ["first", "last", "true"]


# ------------------------------------------------ the big kill -9 run

TABLES_DDL = """
CREATE TABLE public.accounts (id bigint PRIMARY KEY, owner text NOT NULL,
    balance numeric(14, 2) NOT NULL, updated timestamptz);
CREATE TABLE public.orders (id bigint PRIMARY KEY, account bigint,
    qty int, note text, big text);
ALTER TABLE public.orders ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE public.events (region text, seq int, payload jsonb,
    PRIMARY KEY (region, seq));
ALTER TABLE public.events REPLICA IDENTITY FULL;
"""


def _workload(rng, n_changes):
    """SQL of about n_changes row changes in transactions of 1-50
    statements: inserts, updates, deletes, primary-key changes, and
    updates that leave the TOASTed orders.big alone."""
    stmts, tx, count = [], [], 0
    acc, orders, events = set(), {}, set()
    next_acc, next_order = 1, 1
    while count < n_changes:
        r = rng.random()
        if r < 0.25 or len(acc) < 50:
            rows = [(next_acc + i) for i in range(rng.randint(1, 60))]
            next_acc += len(rows)
            tx.append("INSERT INTO accounts SELECT g, 'o' || g, g * 1.5, "
                      f"now() FROM generate_series({rows[0]}, {rows[-1]}) g;")
            acc.update(rows)
            count += len(rows)
        elif r < 0.45:
            lo = rng.randint(1, next_acc)
            tx.append("UPDATE accounts SET balance = balance + 1, updated = "
                      f"now() WHERE id BETWEEN {lo} AND {lo + 29};")
            count += sum(1 for a in range(lo, lo + 30) if a in acc)
        elif r < 0.52:
            lo = rng.randint(1, next_acc)
            tx.append(f"DELETE FROM accounts WHERE id BETWEEN {lo} AND "
                      f"{lo + 9};")
            for a in range(lo, lo + 10):
                if a in acc:
                    acc.discard(a)
                    count += 1
        elif r < 0.56 and acc:
            old = rng.choice(sorted(acc))
            new = next_acc
            next_acc += 1
            tx.append(f"UPDATE accounts SET id = {new} WHERE id = {old};")
            acc.discard(old)
            acc.add(new)
            count += 1
        elif r < 0.66:
            n = rng.randint(1, 20)
            big = "repeat(md5(random()::text), 300)" if rng.random() < 0.2 \
                else "NULL"
            tx.append(f"INSERT INTO orders SELECT g, g % 99, 1, 'n' || g, "
                      f"{big} FROM generate_series({next_order}, "
                      f"{next_order + n - 1}) g;")
            for oid in range(next_order, next_order + n):
                orders[oid] = True
            next_order += n
            count += n
        elif r < 0.80 and orders:
            lo = rng.randint(1, next_order)
            tx.append(f"UPDATE orders SET qty = qty + 1, note = 'u' || qty "
                      f"WHERE id BETWEEN {lo} AND {lo + 9};")
            count += sum(1 for o in range(lo, lo + 10) if o in orders)
        elif r < 0.84 and orders:
            oid = rng.choice(list(orders))
            tx.append(f"DELETE FROM orders WHERE id = {oid};")
            del orders[oid]
            count += 1
        else:
            region = rng.choice("abcd")
            seq = rng.randint(1, 3000)
            if (region, seq) in events and rng.random() < 0.5:
                tx.append(f"UPDATE events SET payload = '{{\"v\": "
                          f"{rng.randint(1, 9)}}}' WHERE region = "
                          f"'{region}' AND seq = {seq};")
            elif (region, seq) not in events:
                tx.append(f"INSERT INTO events VALUES ('{region}', {seq}, "
                          f"'{{\"v\": 0}}');")
                events.add((region, seq))
            count += 1
        if len(tx) >= rng.randint(1, 50):
            stmts.append("BEGIN;\n" + "\n".join(tx) + "\nCOMMIT;")
            tx = []
    if tx:
        stmts.append("BEGIN;\n" + "\n".join(tx) + "\nCOMMIT;")
    return stmts


def _db_state(db, table, keys, cols):
    rows = db.rows(f"SELECT {', '.join(cols)} FROM {table}")
    out = {}
    for r in rows:
        d = dict(zip(cols, r))
        out[tuple(sorted((k, d[k]) for k in keys))] = d
    return out


def _as_text(v):
    if v is None:
        return None
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, bool):
        return "t" if v else "f"
    return str(v)


def _compare(db, recs, table, keys, cols):
    """Replay of recs equals the table, column by column (as text)."""
    got = replay(recs)
    want = _db_state(db, f"public.{table}", keys, cols)
    norm = {}
    for k, row in got.items():
        kk = tuple(sorted((c, _as_text(v)) for c, v in k))
        norm[kk] = {c: _as_text(row[c]) for c in cols}
    assert len(norm) == len(want), \
        f"{table}: {len(norm)} rows replayed, {len(want)} in the database"
    bad = [k for k in want if norm.get(k) != want[k]]
    assert not bad, (f"{table}: {len(bad)} rows differ, e.g. {bad[0]}: "
                     f"ours {norm.get(bad[0])}, db {want[bad[0]]}")


def _check_order_and_transactions(all_recs, tx_recs):
    # per key, the first occurrences of the changes' LSNs increase
    seen, last = set(), {}
    for recs in all_recs.values():
        for k, v, _h, p, o in sorted(recs, key=lambda r: (r[3], r[4])):
            if v is None:
                continue
            ident = (v["source"]["lsn"], v["op"], str(key_of(k)))
            if ident in seen:
                continue
            seen.add(ident)
            kk = (v["source"]["table"], key_of(k))
            assert v["source"]["lsn"] >= last.get(kk, 0), \
                f"order broken for {kk}"
            last[kk] = v["source"]["lsn"]
    # every transaction complete: END's count = its distinct events
    per_tx = {}
    for recs in all_recs.values():
        for k, v, _h, _p, _o in recs:
            if v is None or v["transaction"] is None:
                continue
            per_tx.setdefault(v["transaction"]["id"], set()).add(
                (v["source"]["lsn"], v["op"], str(key_of(k))))
    ends = {v["id"]: v for _k, v, _h, _p, _o in tx_recs
            if v["status"] == "END"}
    assert ends, "no END markers"
    for tid, end in ends.items():
        assert len(per_tx.get(tid, ())) == end["event_count"], \
            f"transaction {tid}: {len(per_tx.get(tid, ()))} events, END " \
            f"says {end['event_count']}"
    assert set(per_tx) <= set(ends), "events of a transaction with no END"


def test_pg_kill9_200k_changes_replay_exactly(mesh_broker, registry, postgres,
                                             make_producer, tmp_path):
    rng = random.Random(SEED)
    print(f"MESH_TEST_SEED={SEED}")
    db = fresh_db(postgres)
    db.psql(TABLES_DDL)
    tables = "public.accounts,public.orders,public.events"
    sets = pg_sets(db, mesh_broker.bootstrap, registry, tables, "kill",
                   tmp_path / "state", **{"emit.transactions": "true"})
    for t in ("accounts", "orders", "events"):
        # 32 partitions: mesh-broker keeps ~5 MiB of each, and the run
        # writes ~100 MB (read_all checks that nothing was dropped)
        mesh_broker.create_topic(f"meshtest.public.{t}", 32)
    mesh_broker.create_topic("meshtest.transaction", 8)
    p = make_producer(sets=sets, workdir=tmp_path / "p")
    wait_streaming(db, "kill")
    script = tmp_path / "workload.sql"
    script.write_text("\n".join(_workload(rng, 200_000)))
    writer = threading.Thread(target=db.psql_file, args=(script,))
    writer.start()
    kills = 0
    while writer.is_alive() or kills < 3:
        time.sleep(rng.uniform(0.5, 2.5))
        p.kill()
        kills += 1
        p = make_producer(sets=sets, workdir=tmp_path / "p")
        if kills >= 6:
            break
    writer.join()
    # quiescent: the slot has caught up with the last commit
    end_lsn = lsn_int(db.psql("SELECT pg_current_wal_lsn()"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = slot_info(db, "kill")
        if info and lsn_int(info[0]) >= end_lsn:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"slot never caught up: {slot_info(db, 'kill')}")
    print(f"kills={kills}")
    all_recs = {}
    counts = {}
    for t in ("accounts", "orders", "events"):
        topic = f"meshtest.public.{t}"
        all_recs[t] = read_all(mesh_broker.bootstrap, topic, registry.url)
        counts[t] = len(all_recs[t])
    print(f"records per topic: {counts}")
    _compare(db, all_recs["accounts"], "accounts", ["id"],
             ["id", "owner", "balance"])
    _compare(db, all_recs["orders"], "orders", ["id"],
             ["id", "account", "qty", "note", "big"])
    _compare(db, all_recs["events"], "events", ["region", "seq"],
             ["region", "seq", "payload"])
    tx = read_all(mesh_broker.bootstrap, "meshtest.transaction",
                  registry.url)
    _check_order_and_transactions(all_recs, tx)
    # an unchanged TOASTed value was sent as the placeholder, never null
    unavailable = sum(1 for _k, v, *_ in all_recs["orders"]
                      if v and v["op"] == "u" and
                      v["after"]["big"] == PLACEHOLDER)
    print(f"updates with an unavailable TOASTed value: {unavailable}")
    assert unavailable > 0


# ------------------------------------------------------------ snapshot

def _wait_caught_up(db, slot, timeout=120):
    end_lsn = lsn_int(db.psql("SELECT pg_current_wal_lsn()"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = slot_info(db, slot)
        if info and lsn_int(info[0]) >= end_lsn:
            return
        time.sleep(0.1)
    raise AssertionError(f"slot {slot} never caught up: {slot_info(db, slot)}")


def _state(path):
    try:
        return json.loads(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None


def test_pg_snapshot_handover_no_gap_no_overlap(mesh_broker, registry,
                                                postgres, make_producer,
                                                tmp_path):
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.big (id int PRIMARY KEY, v int, "
            "pad text); INSERT INTO big SELECT g, 0, repeat('p', 50) FROM "
            "generate_series(1, 30000) g")
    mesh_broker.create_topic("meshtest.public.big", 8)
    stop = threading.Event()
    rng = random.Random(SEED)

    def writer():
        while not stop.is_set():
            i = rng.randint(1, 40000)
            db.psql(f"BEGIN; UPDATE big SET v = v + 1 WHERE id = {i}; "
                    f"INSERT INTO big VALUES ({40000 + i}, 1, 'n') ON "
                    f"CONFLICT (id) DO UPDATE SET v = big.v + 1; "
                    f"DELETE FROM big WHERE id = {rng.randint(1, 40000)}; "
                    "COMMIT;")

    w = threading.Thread(target=writer)
    w.start()
    try:
        time.sleep(0.3)
        make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                                   "public.big", "handover", tmp_path,
                                   **{"snapshot.chunk.rows": 1000}))
        time.sleep(3)
    finally:
        stop.set()
        w.join()
    _wait_caught_up(db, "handover")
    recs = read_all(mesh_broker.bootstrap, "meshtest.public.big",
                    registry.url)
    snap = [r for r in recs if r[1] and r[1]["op"] == "r"]
    stream = [r for r in recs if r[1] and r[1]["op"] != "r"]
    assert len(snap) >= 29000 and stream, (len(snap), len(stream))
    # the rows are the state at the slot's consistent point, and the
    # stream starts right after it: every write adds 1 to v, so a key's
    # first streamed change is an update to r's v + 1 or a delete (an
    # overlap would repeat r's v, a gap skip one), and a key the snapshot
    # did not have starts with its insert
    consistent = snap[0][1]["source"]["lsn"]
    assert all(r[1]["source"]["lsn"] == consistent for r in snap)
    assert min(r[1]["source"]["lsn"] for r in stream) >= consistent
    assert len({r[0]["id"] for r in snap}) == len(snap)
    first = {}
    for k, v, _h, p, o in sorted(recs, key=lambda r: (r[3], r[4])):
        if v is not None and v["op"] != "r":
            first.setdefault(k["id"], v)
    seen = {r[0]["id"]: r[1]["after"]["v"] for r in snap}
    checked = 0
    for i, v in first.items():
        if i in seen:
            assert v["op"] in ("u", "d"), (i, v["op"])
            if v["op"] == "u":
                assert v["after"]["v"] == seen[i] + 1, (i, seen[i], v)
                checked += 1
        else:
            assert v["op"] == "c", (i, v["op"])
    assert checked > 0
    # ... and together they give the table exactly (no gap)
    _compare(db, recs, "big", ["id"], ["id", "v", "pad"])


def test_pg_snapshot_resumes_after_kill(mesh_broker, registry, postgres,
                                        make_producer, tmp_path):
    rows = 60000
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.huge (id int PRIMARY KEY, v text); "
            "INSERT INTO huge SELECT g, md5(g::text) FROM "
            f"generate_series(1, {rows}) g")
    mesh_broker.create_topic("meshtest.public.huge", 8)
    state_dir = tmp_path / "state"
    sets = pg_sets(db, mesh_broker.bootstrap, registry, "public.huge",
                   "resume", state_dir, **{"snapshot.chunk.rows": 500,
                                           "max.inflight.bytes": 262144})
    p = make_producer(sets=sets, workdir=tmp_path / "p")
    state_file = state_dir / "resume.json"
    deadline = time.monotonic() + 60
    saved = None
    while time.monotonic() < deadline:
        st = _state(state_file)
        if st and st["snapshot"]["key"] and \
                int(st["snapshot"]["key"][0]) >= rows // 4:
            break
        time.sleep(0.01)
    p.kill()
    st = _state(state_file)
    assert st and not st["snapshot"]["done"] and st["snapshot"]["key"], st
    saved = int(st["snapshot"]["key"][0])
    assert saved < rows, "the snapshot finished before the kill"
    print(f"killed with the snapshot saved at id {saved} of {rows}")
    db.psql(f"UPDATE huge SET v = 'changed' WHERE id IN (1, {rows})")
    make_producer(sets=sets, workdir=tmp_path / "p")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = _state(state_file)
        if st and st["snapshot"]["done"]:
            break
        time.sleep(0.1)
    assert st["snapshot"]["done"], st
    _wait_caught_up(db, "resume")
    recs = read_all(mesh_broker.bootstrap, "meshtest.public.huge",
                    registry.url)
    reads = {}
    for k, v, *_ in recs:
        if v and v["op"] == "r":
            reads[k["id"]] = reads.get(k["id"], 0) + 1
    # rows up to the saved chunk were read once: not started over
    assert all(reads[i] == 1 for i in range(1, saved + 1))
    assert set(reads) == set(range(1, rows + 1))
    print(f"snapshot reads {sum(reads.values())} for {rows} rows")
    _compare(db, recs, "huge", ["id"], ["id", "v"])


# ------------------------------------------------------- schema changes

def test_pg_schema_change_new_version_or_halt(mesh_broker, registry, postgres,
                                              make_producer, tmp_path):
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.s (id int PRIMARY KEY, a text)")
    topic = "meshtest.public.s"
    sets = pg_sets(db, mesh_broker.bootstrap, registry, "public.s", "alter",
                   tmp_path / "state")
    p = make_producer(sets=sets, workdir=tmp_path / "p")
    wait_streaming(db, "alter")
    db.psql("INSERT INTO s VALUES (1, 'x')")
    db.psql("ALTER TABLE s ADD COLUMN b int; INSERT INTO s VALUES (2, 'y', 5)")
    recs = read_changes(mesh_broker.bootstrap, topic, registry.url, 2)
    assert recs[1][1]["after"] == {"id": 2, "a": "y", "b": 5}
    status, versions = registry.get(f"/subjects/{topic}-value/versions")
    assert status == 200 and versions == [1, 2], versions
    _wait_caught_up(db, "alter")
    # a required column without an Avro default: not BACKWARD compatible
    db.psql("ALTER TABLE s ADD COLUMN c int NOT NULL DEFAULT 0; "
            "INSERT INTO s VALUES (3, 'z', 6, 7)")
    after = lsn_int(db.psql("SELECT pg_current_wal_lsn()"))
    p.expect_exit = 1
    code = p.wait_exit(60)
    assert code == 1, p.log()[-2000:]
    log = p.log()
    assert "table public.s: value schema" in log and \
        "incompatible" in log.lower(), log[-2000:]
    confirmed = lsn_int(slot_info(db, "alter")[0])
    assert confirmed < after, "the slot moved past the refused change"
    status, versions = registry.get(f"/subjects/{topic}-value/versions")
    assert versions == [1, 2]
    # restarted, it halts again at the same change: nothing was skipped
    p2 = make_producer(sets=sets, workdir=tmp_path / "p", wait=False)
    p2.expect_exit = 1
    assert p2.wait_exit(60) == 1
    assert lsn_int(slot_info(db, "alter")[0]) == confirmed
    assert len(read_changes(mesh_broker.bootstrap, topic, registry.url, 2,
                            timeout=3)) == 2


# ---------------------------------------------------------- the slot

def test_pg_idle_tables_do_not_pin_wal(mesh_broker, registry, postgres,
                                       make_producer, tmp_path):
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.watched (id int PRIMARY KEY); "
            "CREATE TABLE public.churn (id int, pad text)")
    make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                               "public.watched", "idle", tmp_path))
    wait_streaming(db, "idle")
    start = lsn_int(db.psql("SELECT pg_current_wal_lsn()"))
    worst_lag = 0
    for i in range(8):
        db.psql("INSERT INTO churn SELECT g, repeat('x', 200) FROM "
                "generate_series(1, 20000) g")
        time.sleep(0.5)
        cur = lsn_int(db.psql("SELECT pg_current_wal_lsn()"))
        lag = cur - lsn_int(slot_info(db, "idle")[0])
        worst_lag = max(worst_lag, lag)
    db.psql("CHECKPOINT")
    time.sleep(1)
    total = lsn_int(db.psql("SELECT pg_current_wal_lsn()")) - start
    info = slot_info(db, "idle")
    retained = int(info[1])
    print(f"WAL written {total} bytes; confirmed lag at most {worst_lag}; "
          f"retained after a checkpoint {retained}")
    assert total > 20_000_000
    assert worst_lag < total / 4
    assert retained < total / 2


def test_pg_dropped_slot_is_reported_not_recreated(mesh_broker, registry,
                                                   postgres, make_producer,
                                                   tmp_path):
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.d (id int PRIMARY KEY)")
    sets = pg_sets(db, mesh_broker.bootstrap, registry, "public.d", "gone",
                   tmp_path / "state")
    p = make_producer(sets=sets, workdir=tmp_path / "p")
    wait_streaming(db, "gone")
    assert p.stop() == 0
    db.psql("SELECT pg_drop_replication_slot('gone')")
    p2 = make_producer(sets=sets, workdir=tmp_path / "p", wait=False)
    p2.expect_exit = 1
    assert p2.wait_exit(30) == 1
    assert "is gone" in p2.log() and "gone.json" in p2.log()
    assert slot_info(db, "gone") is None


def test_pg_connection_loss_is_retried(mesh_broker, registry, postgres,
                                       make_producer, tmp_path):
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.r (id int PRIMARY KEY, v int)")
    p = make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                                   "public.r", "retry", tmp_path))
    wait_streaming(db, "retry")
    db.psql("INSERT INTO r SELECT g, 0 FROM generate_series(1, 1000) g")
    for _ in range(2):
        db.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{db.name}' AND pid <> pg_backend_pid()")
        db.psql("UPDATE r SET v = v + 1")
        time.sleep(0.5)
    _wait_caught_up(db, "retry", timeout=60)
    recs = read_all(mesh_broker.bootstrap, "meshtest.public.r", registry.url)
    _compare(db, recs, "r", ["id"], ["id", "v"])
    assert "postgres connection lost, retrying" in p.log()
    status, _ = p.health()
    assert status == 200


# --------------------------------------------------------- configuration

def _start_fail(make_producer, sets, tmp_path, name):
    p = make_producer(sets=sets, workdir=tmp_path / name, wait=False)
    code = p.wait_exit(30)
    p.expect_exit = code
    return code, p.log()


def test_pg_bad_configuration(mesh_broker, registry, postgres, make_producer,
                              tmp_path):
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.ok (id int PRIMARY KEY); "
            "CREATE ROLE norepl LOGIN")
    base = pg_sets(db, mesh_broker.bootstrap, registry, "public.ok", "cfg",
                   tmp_path / "state")
    cases = [
        ({"pg.tables": "public.nope"},
         "key 'pg.tables': table public.nope does not exist"),
        ({"pg.tables": "nodot"}, "key 'pg.tables': 'nodot' is not"),
        ({"topic.map.public.other": "x"}, "public.other is not in pg.tables"),
        ({"pg.slot": "Bad-Slot"}, "key 'pg.slot'"),
        ({"snapshot.mode": "sometimes"}, "snapshot.mode"),
        ({"pg.conninfo": db.conninfo.replace("user=postgres", "user=norepl")},
         "lacks the REPLICATION attribute"),
    ]
    for i, (extra, message) in enumerate(cases):
        code, log = _start_fail(make_producer, {**base, **extra}, tmp_path,
                                f"c{i}")
        assert code == 2 and message in log, (extra, code, log[-1500:])
    assert slot_info(db, "cfg") is None


def test_pg_wal_level_not_logical(mesh_broker, registry, make_producer,
                                  tmp_path):
    from pgserver import PgServer

    pg = PgServer(wal_level="replica")
    pg.start()
    try:
        pg.psql("CREATE TABLE public.t (id int PRIMARY KEY)")
        code, log = _start_fail(
            make_producer,
            {"source": "pg", "pg.conninfo": pg.conninfo,
             "pg.tables": "public.t", "pg.state.dir": str(tmp_path / "s"),
             "registry.url": registry.url,
             "kafka.bootstrap.servers": mesh_broker.bootstrap}, tmp_path, "w")
        assert code == 2 and "wal_level is 'replica'" in log, log[-1500:]
    finally:
        pg.stop()


# ------------------------------------------------------ more behaviours

def test_pg_brokers_down_and_up_no_loss(mesh_broker, registry, postgres,
                                        make_producer, tmp_path):
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.k (id int PRIMARY KEY, v int)")
    mesh_broker.create_topic("meshtest.public.k", 4)
    p = make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                                   "public.k", "outage", tmp_path))
    wait_streaming(db, "outage")
    db.psql("INSERT INTO k SELECT g, 0 FROM generate_series(1, 2000) g")
    read_changes(mesh_broker.bootstrap, "meshtest.public.k", registry.url, 1)
    for b in (1, 2, 3):
        mesh_broker.broker_down(b)
    db.psql("UPDATE k SET v = 1 WHERE id % 2 = 0")
    db.psql("DELETE FROM k WHERE id % 7 = 0")
    time.sleep(3)
    # nothing was acknowledged, so the slot did not move past the outage
    stuck = lsn_int(slot_info(db, "outage")[0])
    assert stuck < lsn_int(db.psql("SELECT pg_current_wal_lsn()"))
    for b in (1, 2, 3):
        mesh_broker.broker_up(b)
    db.psql("INSERT INTO k VALUES (5000, 5)")
    _wait_caught_up(db, "outage", timeout=90)
    recs = read_all(mesh_broker.bootstrap, "meshtest.public.k", registry.url)
    _compare(db, recs, "k", ["id"], ["id", "v"])
    assert p.stop() == 0


def test_pg_snapshot_modes(mesh_broker, registry, postgres, make_producer,
                           tmp_path):
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.m (id int PRIMARY KEY); "
            "INSERT INTO m SELECT generate_series(1, 50)")
    topic = "meshtest.public.m"
    # initial_only: the rows, then nothing more and no slot at all
    p = make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                                   "public.m", "only", tmp_path / "a",
                                   **{"snapshot.mode": "initial_only"}))
    recs = read_changes(mesh_broker.bootstrap, topic, registry.url, 50)
    assert {r[1]["op"] for r in recs} == {"r"}
    assert slot_info(db, "only") is None
    assert p.stop() == 0
    # never: a slot and the stream, no rows of before
    p = make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                                   "public.m", "never", tmp_path / "b",
                                   **{"snapshot.mode": "never"}))
    wait_streaming(db, "never")
    db.psql("INSERT INTO m VALUES (100); TRUNCATE m")
    recs = read_changes(mesh_broker.bootstrap, topic, registry.url, 52)
    # a truncate has no key, so no partition of its own: order by LSN
    tail = sorted((r for r in recs if r[1]["op"] != "r"),
                  key=lambda r: r[1]["source"]["lsn"])
    assert [r[1]["op"] for r in tail] == ["c", "t"], tail
    assert tail[1][0] is None  # a truncate has no key
    assert p.stop() == 0


def test_pg_heartbeat_and_slot_metrics(mesh_broker, registry, postgres,
                                       make_producer, tmp_path):
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.w (id int PRIMARY KEY); "
            "CREATE TABLE public.hb (at timestamptz)")
    p = make_producer(sets=pg_sets(
        db, mesh_broker.bootstrap, registry, "public.w", "beat", tmp_path,
        **{"heartbeat.interval.ms": 200,
           "heartbeat.action.query": "INSERT INTO hb VALUES (now())"}))
    wait_streaming(db, "beat")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if int(db.psql("SELECT count(*) FROM hb")) >= 3:
            break
        time.sleep(0.2)
    assert int(db.psql("SELECT count(*) FROM hb")) >= 3
    p.wait_metric("mesh_producer_pg_connected", 1)
    p.wait_metric("mesh_producer_pg_confirmed_lsn", 1)
    assert p.metric("mesh_producer_pg_slot_retained_wal_bytes") >= 0
    assert ("mesh_producer_pg_lag_bytes", frozenset()) in p.metrics()


# ---------------------------------------------- into the output ports

MAT_DDL = """
CREATE TABLE public.acct (id bigint PRIMARY KEY, owner text NOT NULL,
    balance numeric(14, 2), seen timestamptz, tags text[]);
CREATE TABLE public.docs (id int PRIMARY KEY, title text, body text);
ALTER TABLE public.docs ALTER COLUMN body SET STORAGE EXTERNAL;
"""


def _sink_rows_sqlite(path, table, cols):
    import sqlite3
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0]: dict(zip(cols, r)) for r in con.execute(
            f"SELECT {', '.join(cols)} FROM {table}")}
    finally:
        con.close()


def _norm(v):
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode()
    try:
        return str(decimal.Decimal(str(v)).normalize())
    except decimal.InvalidOperation:
        return str(v)


@pytest.mark.parametrize("sink", ["sqlite", "postgres"])
def test_pg_materializes_into_output_ports(sink, mesh_broker, registry,
                                           postgres, make_producer,
                                           make_materializer, tmp_path):
    db = fresh_db(postgres)
    db.psql(MAT_DDL)
    db.psql("INSERT INTO acct SELECT g, 'o' || g, g * 1.25, now(), "
            "ARRAY['a', 'b'] FROM generate_series(1, 300) g; "
            "INSERT INTO docs SELECT g, 't' || g, repeat(md5(g::text), 400) "
            "FROM generate_series(1, 40) g")
    make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                               "public.acct,public.docs", "mat", tmp_path))
    wait_streaming(db, "mat")
    db.psql("UPDATE acct SET balance = balance + 1 WHERE id % 3 = 0; "
            "DELETE FROM acct WHERE id % 10 = 0; "
            "UPDATE acct SET id = id + 1000 WHERE id = 7; "
            "UPDATE docs SET title = 'changed' WHERE id % 2 = 0; "
            "DELETE FROM docs WHERE id = 5")
    _wait_caught_up(db, "mat")
    topics = "meshtest.public.acct,meshtest.public.docs"
    sets = {"topics": topics, "group.id": f"mat-{sink}",
            "registry.url": registry.url,
            "kafka.bootstrap.servers": mesh_broker.bootstrap,
            "kafka.fetch.wait.max.ms": "10", "sink": sink}
    if sink == "sqlite":
        out = tmp_path / "port.db"
        sets["sqlite.path"] = str(out)
    else:
        schema = f"port_{db.name}"
        postgres.psql(f"CREATE SCHEMA {schema}")
        sets.update({"postgres.conninfo": postgres.conninfo,
                     "postgres.schema": schema})
    m = make_materializer(sets=sets)
    for t, n in (("acct", 270), ("docs", 39)):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if sink == "sqlite":
                    got = len(_sink_rows_sqlite(out, f"meshtest_public_{t}",
                                                ["id"]))
                else:
                    got = int(postgres.psql(
                        f"SELECT count(*) FROM {schema}.meshtest_public_{t}"))
            except Exception:
                got = -1
            if got == n:
                break
            time.sleep(0.2)
        assert got == n, (t, got)
    time.sleep(1)  # the last batches: counts reached, values settle
    for t, cols in (("acct", ["id", "owner", "balance", "seen", "tags"]),
                    ("docs", ["id", "title", "body"])):
        want = {int(r[0]): r for r in db.rows(
            f"SELECT {', '.join(cols)} FROM {t}")}
        if sink == "sqlite":
            got = _sink_rows_sqlite(out, f"meshtest_public_{t}", cols)
        else:
            got = {int(r[0]): dict(zip(cols, r)) for r in postgres.rows(
                f"SELECT {', '.join(cols)} FROM {schema}.meshtest_public_{t}")}
        assert set(got) == set(want), t
        for k, row in want.items():
            for c, v in zip(cols, row):
                if c in ("seen", "tags"):
                    assert got[k][c] is not None, (t, k, c)
                    continue
                assert _norm(got[k][c]) == _norm(v), (t, k, c, got[k][c], v)
    assert m.stop() == 0


def test_pg_and_materializer_with_a_secured_registry(mesh_broker,
                                                     make_registry, postgres,
                                                     make_producer,
                                                     make_materializer,
                                                     tmp_path):
    """A domain's principal: its producer registers the table's schemas
    under its own domain (another domain's prefix is refused with 403 and
    stops start-up), and its materializer reads them while reads need
    credentials."""
    from registry import yescrypt

    creds = tmp_path / "principals"
    creds.write_text(f"olga:{yescrypt('olga-secret')}:orders\n")
    registry = make_registry(sets={"auth.credentials.file": str(creds),
                                   "auth.reads": "authenticated"})
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.t (id int PRIMARY KEY, v text)")
    auth = {"registry.basic.auth.user.info": "olga:olga-secret"}
    # the mesh's names: a domain principal's subjects are
    # <domain>.<product>.v<major>-key|value
    p = make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                                   "public.t", "sec", tmp_path / "a",
                                   **auth,
                                   **{"topic.map.public.t": "orders.t.v1"}))
    wait_streaming(db, "sec")
    db.psql("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
    _wait_caught_up(db, "sec")
    m = make_materializer(sets={
        "topics": "orders.t.v1", "group.id": "sec", "sink": "sqlite",
        "sqlite.path": str(tmp_path / "port.db"),
        "registry.url": registry.url,
        "kafka.bootstrap.servers": mesh_broker.bootstrap,
        "kafka.fetch.wait.max.ms": "10", **auth})
    deadline = time.monotonic() + 30
    rows = {}
    while time.monotonic() < deadline and len(rows) < 2:
        try:
            rows = _sink_rows_sqlite(tmp_path / "port.db", "orders_t_v1",
                                     ["id", "v"])
        except Exception:
            rows = {}
        time.sleep(0.2)
    assert {k: r["v"] for k, r in rows.items()} == {1: "one", 2: "two"}
    assert m.stop() == 0 and p.stop() == 0
    # another domain's topics: the registry refuses the schemas
    code, log = _start_fail(make_producer,
                            pg_sets(db, mesh_broker.bootstrap, registry,
                                    "public.t", "sec2", tmp_path / "b",
                                    **auth, **{"topic.map.public.t":
                                               "marketing.t.v1"}),
                            tmp_path, "refused")
    assert code == 1 and "403" in log and "marketing" in log, log[-1500:]


def test_pg_unchanged_toast_without_placeholder_is_read_back(
        mesh_broker, registry, postgres, make_producer, tmp_path):
    """An unchanged TOASTed array (no placeholder fits an array) under the
    default replica identity is read back from the table, never sent as
    null; a multi-dimensional array stops the source naming the column."""
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.a (id int PRIMARY KEY, n int, arr int[]); "
            "ALTER TABLE public.a ALTER COLUMN arr SET STORAGE EXTERNAL")
    p = make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                                   "public.a", "rb", tmp_path / "a"))
    wait_streaming(db, "rb")
    db.psql("INSERT INTO a SELECT 1, 0, array_agg(g) FROM "
            "generate_series(1, 5000) g")
    db.psql("UPDATE a SET n = 1 WHERE id = 1")
    recs = read_changes(mesh_broker.bootstrap, "meshtest.public.a",
                        registry.url, 2)
    upd = [r[1] for r in recs if r[1]["op"] == "u"]
    assert upd and upd[0]["after"]["arr"] == list(range(1, 5001))
    assert upd[0]["after"]["n"] == 1
    db.psql("INSERT INTO a VALUES (2, 0, '{{1,2},{3,4}}')")
    p.expect_exit = 1
    assert p.wait_exit(30) == 1
    assert "column arr" in p.log() and "multi-dimensional" in p.log()


def test_pg_captures_only_its_tables_from_a_wider_publication(
        mesh_broker, registry, postgres, make_producer, tmp_path):
    db = fresh_db(postgres)
    db.psql("CREATE TABLE public.mine (id int PRIMARY KEY); "
            "CREATE TABLE public.other (id int PRIMARY KEY); "
            "CREATE PUBLICATION wide FOR TABLE public.mine, public.other")
    p = make_producer(sets=pg_sets(db, mesh_broker.bootstrap, registry,
                                   "public.mine", "wide", tmp_path,
                                   **{"pg.publication": "wide"}))
    wait_streaming(db, "wide")
    db.psql("INSERT INTO other VALUES (1); INSERT INTO mine VALUES (1)")
    recs = read_changes(mesh_broker.bootstrap, "meshtest.public.mine",
                        registry.url, 1)
    assert [r[0] for r in recs] == [{"id": 1}]
    _wait_caught_up(db, "wide")
    status, _ = registry.get("/subjects/meshtest.public.other-value/versions")
    assert status == 404
    assert p.stop() == 0
