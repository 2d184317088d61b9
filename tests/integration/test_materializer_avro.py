"""mesh-materializer's avro sink: Avro object container files, exactly once.

Change events from cdcgen (Debezium envelopes serialized by Confluent's
AvroSerializer) go to mesh-broker; the materializer writes them as a history
log under <avro.dir>/<topic>/dt=YYYY-MM-DD/part-<partition>-<start>.avro.
The produced history is read back from the topic with confluent-kafka (every
non-tombstone record is one change) and compared with the union of the
files' rows, keyed by (_partition, _offset):

- every file is readable by fastavro, by python3-avro and by avro-c's
  avrocat (Debian's avro-bin), its name matches its first row (start offset,
  UTC day of the row's source timestamp) and its header's
  meshwork.next_offset is where the partition resumes; a file without rows
  is only a tail file, which moves the offset past records that made no
  row (test_materializer_tail.py);
- after each SIGKILL no temporary file carries a final name, every final file
  is complete, no change appears twice and each partition's files hold
  exactly the history's prefix up to the last file's next_offset; after a
  final SIGTERM the union is the whole history, exactly once;
- files roll by avro.roll.records and by avro.roll.ms, an idle file too
  (no further record needed);
- _op is the change event's op letter (c, u, d, r).

The files' replayed final state under five SIGKILLs, schema evolution,
dead letters and SIGTERM is checked with the other sinks'
(test_materializer_sinks.py, AvroSink in sinks.py).
"""

import os
import pathlib
import re
import subprocess
import threading
import time

import pytest

from cdcgen import CdcGen
from sinks import kill_seed

TIMEOUT_MULT = float(os.environ.get("TIMEOUT_MULT", "1.0"))
FINAL = re.compile(r"^part-(\d+)-(\d+)\.avro$")
TMP = re.compile(r"^\.part-(\d+)-(\d+)\.avro\.tmp$")


def avro_sets(registry, broker, topic, avro_dir, **extra):
    sets = {"sink": "avro", "topics": topic, "group.id": "g-" + topic,
            "registry.url": registry.url, "avro.dir": str(avro_dir),
            "kafka.bootstrap.servers": broker.bootstrap,
            "batch.max.ms": "100", "log.level": "info"}
    sets.update(extra)
    return sets


def read_history(bootstrap, registry_url, topic, end_offsets):
    """{(partition, offset): (key id, op letter)} for every change event
    (tombstones excluded) below end_offsets, read back from the topic."""
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import (MessageField,
                                               SerializationContext)
    client = SchemaRegistryClient({"url": registry_url})
    deser = AvroDeserializer(client)
    ctx = SerializationContext(topic, MessageField.VALUE)
    cons = Consumer({"bootstrap.servers": bootstrap, "group.id": "hist-" + topic,
                     "enable.auto.commit": False})
    want = {p: end for p, end in end_offsets.items() if end > 0}
    cons.assign([TopicPartition(topic, p, 0) for p in want])
    history, seen = {}, {p: 0 for p in want}
    deadline = time.monotonic() + 60 * TIMEOUT_MULT
    while any(seen[p] < want[p] for p in want):
        assert time.monotonic() < deadline, f"history read stalled: {seen}"
        msg = cons.poll(0.5)
        if msg is None or msg.error():
            continue
        p, off = msg.partition(), msg.offset()
        seen[p] = max(seen[p], off + 1)
        if msg.value() is None:
            continue
        env = deser(msg.value(), ctx)
        row = env["after"] if env["after"] is not None else env["before"]
        history[(p, off)] = (row["id"], env["op"])
    cons.close()
    return history


def avro_files(avro_dir, topic):
    return sorted(pathlib.Path(avro_dir, topic).glob("dt=*/*"))


def read_file(path):
    """Checks one final file with fastavro and python3-avro; returns
    (rows, metadata)."""
    import avro.datafile
    import avro.io
    import fastavro
    with open(path, "rb") as f:
        reader = fastavro.reader(f)
        rows = list(reader)
        meta = dict(reader.metadata)
    with open(path, "rb") as f:
        rows2 = list(avro.datafile.DataFileReader(f, avro.io.DatumReader()))
    assert len(rows2) == len(rows), path
    assert [r["_offset"] for r in rows2] == [r["_offset"] for r in rows]
    return rows, meta


def check_files(avro_dir, topic, history, complete):
    """The invariants every state of the directory keeps (after a SIGKILL
    too); complete: the whole history must be there (after SIGTERM).
    A file without rows is only allowed as a tail file (the durable offset
    of records that made no row, consumers/mat_avro.c point 6): it starts
    at its predecessor's next_offset (0 for a partition's first file), ends
    after its start and sits in its predecessor's dt= directory.
    Returns {partition: [row count of each file]}."""
    by_part, nexts, counts, finals = {}, {}, {}, []
    for path in avro_files(avro_dir, topic):
        m = FINAL.match(path.name)
        if not m:
            assert TMP.match(path.name), f"unexpected file {path}"
            continue
        finals.append((int(m.group(1)), int(m.group(2)), path))
    prev = {}  # partition -> (next_offset, dt directory) of its last file
    for part, start, path in sorted(finals):
        rows, meta = read_file(path)
        assert meta["meshwork.start_offset"] == str(start)
        nxt = int(meta["meshwork.next_offset"])
        prev_next, prev_dir = prev.get(part, (0, "dt=1970-01-01"))
        if not rows:
            assert start == prev_next, (
                f"empty file {path} does not start at the previous file's "
                f"next_offset {prev_next}")
            assert nxt > start, f"empty file {path} moves no offset"
            assert path.parent.name == prev_dir, path
        else:
            assert rows[0]["_offset"] == start, path
            ts = rows[0]["_ts_ms"]
            day = ts.strftime("%Y-%m-%d") if ts else "1970-01-01"
            assert path.parent.name == "dt=" + day, path
            assert nxt > rows[-1]["_offset"], path
        prev[part] = (nxt, path.parent.name)
        nexts[part] = max(nexts.get(part, 0), nxt)
        counts.setdefault(part, []).append(len(rows))
        for r in rows:
            assert r["_partition"] == part and r["_topic"] == topic
            key = (part, r["_offset"])
            assert key not in by_part, f"{key} twice (second in {path})"
            by_part[key] = (r["id"], r["_op"])
    for (p, off), (key_id, op) in history.items():
        if complete or off < nexts.get(p, 0):
            assert (p, off) in by_part, f"change {p}@{off} missing"
            got_id, got_op = by_part[(p, off)]
            assert got_id == key_id, (p, off)
            assert got_op == op, (p, off)  # the envelope's own letter
    extra = set(by_part) - set(history)
    assert not extra, f"rows that are not changes: {sorted(extra)[:5]}"
    return counts


def wait_assigned(mat, timeout=30):
    """Waits for the first partition assignment (a group join takes a few
    seconds): records produced before it would all land in one batch."""
    deadline = time.monotonic() + timeout * TIMEOUT_MULT
    while "partition assigned" not in mat.log():
        assert mat.proc.poll() is None, mat.log()[-3000:]
        assert time.monotonic() < deadline, mat.log()[-3000:]
        time.sleep(0.1)


def final_offsets(avro_dir, topic):
    offs = set()
    for path in avro_files(avro_dir, topic):
        if FINAL.match(path.name):
            rows, _ = read_file(path)
            offs.update((r["_partition"], r["_offset"]) for r in rows)
    return offs


def wait_files(avro_dir, topic, history, timeout):
    """Waits until the final files hold every change of history."""
    deadline = time.monotonic() + timeout * TIMEOUT_MULT
    offs = set()
    while time.monotonic() < deadline:
        offs = final_offsets(avro_dir, topic)
        if set(history) <= offs:
            return
        time.sleep(0.3)
    raise TimeoutError(f"files hold {len(offs)} of {len(history)} changes")


def test_avro_files_readable_and_exact(mesh_broker, registry,
                                       make_materializer, unique_topic,
                                       tmp_path):
    """Roll by records; SIGTERM rolls the open files; every file readable by
    three implementations; the history exactly once."""
    gen = CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                 partitions=3, keys=200)
    gen.produce(3000)
    res = gen.result()
    avro_dir = tmp_path / "avro"
    mat = make_materializer(avro_sets(registry, mesh_broker, unique_topic,
                                      avro_dir, **{"avro.roll.records": 250}))
    history = read_history(mesh_broker.bootstrap, registry.url, unique_topic,
                           res.end_offsets)
    assert len(history) == res.events
    # Files roll by count while running: all but each partition's last
    # (partial) file are visible before the stop.
    deadline = time.monotonic() + 60 * TIMEOUT_MULT
    while sum(1 for f in avro_files(avro_dir, unique_topic)
              if FINAL.match(f.name)) < res.events // 250 - 3:
        assert time.monotonic() < deadline, mat.log()[-3000:]
        time.sleep(0.2)
    assert mat.stop() == 0, mat.log()[-3000:]
    counts = check_files(avro_dir, unique_topic, history, complete=True)
    for part, sizes in counts.items():
        assert max(sizes) <= 250, (part, sizes)
    assert sum(len(s) for s in counts.values()) >= res.events // 250
    # avro-c's own reader (Debian avro-bin) on every file.
    for path in avro_files(avro_dir, unique_topic):
        out = subprocess.run(["avrocat", str(path)], capture_output=True,
                             text=True, check=True).stdout
        rows, _ = read_file(path)
        assert len(out.splitlines()) == len(rows), path


def _produce_slowly(gen, total, stop):
    done = 0
    while done < total and not stop.is_set():
        gen.produce(200)
        gen.prod.flush(30)
        done += 200
        time.sleep(0.05)


def test_avro_exactly_once_across_kills(mesh_broker, registry,
                                        make_materializer, unique_topic,
                                        tmp_path):
    """SIGKILL at random moments while changes flow; after each kill the
    directory is consistent (no partial file, nothing twice, a prefix of the
    history); the final union is the history exactly once."""
    rnd = kill_seed()
    gen = CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                 partitions=3, keys=500)
    avro_dir = tmp_path / "avro"
    sets = avro_sets(registry, mesh_broker, unique_topic, avro_dir,
                     **{"avro.roll.records": 300, "avro.roll.ms": 700,
                        "kafka.session.timeout.ms": 6000})
    workdir = tmp_path / "mat"
    stop = threading.Event()
    producer = threading.Thread(target=_produce_slowly,
                                args=(gen, 12000, stop))
    producer.start()
    try:
        for kill in range(4):
            mat = make_materializer(sets, workdir=workdir)
            time.sleep(rnd.uniform(0.5, 3.0))
            mat.kill()
            # The history so far, to check the directory as the crash
            # left it (the generator keeps producing meanwhile).
            res_now = gen.end_offsets()
            history = read_history(mesh_broker.bootstrap, registry.url,
                                   unique_topic, res_now)
            check_files(avro_dir, unique_topic, history, complete=False)
        producer.join()
    finally:
        stop.set()
        producer.join()
    res = gen.result()
    history = read_history(mesh_broker.bootstrap, registry.url, unique_topic,
                           res.end_offsets)
    assert len(history) == res.events
    mat = make_materializer(sets, workdir=workdir)
    # Everything rolls by records or time while the final instance runs;
    # the last files roll at SIGTERM.
    deadline = time.monotonic() + 120 * TIMEOUT_MULT
    while True:
        offs = set()
        for path in avro_files(avro_dir, unique_topic):
            if FINAL.match(path.name):
                offs.update((r["_partition"], r["_offset"])
                            for r in read_file(path)[0])
        if len(offs) >= len(history) - 3 * 300:
            break
        assert time.monotonic() < deadline, mat.log()[-3000:]
        time.sleep(0.5)
    # The rest rolls once idle (avro.roll.ms plus a tick) before the stop.
    wait_files(avro_dir, unique_topic, history, 10)
    assert mat.stop() == 0, mat.log()[-3000:]
    assert not [f for f in avro_files(avro_dir, unique_topic)
                if TMP.match(f.name)]
    check_files(avro_dir, unique_topic, history, complete=True)
    assert "offset recovered" in mat.log()


def test_avro_roll_by_time(mesh_broker, registry, make_materializer,
                           unique_topic, tmp_path):
    """avro.roll.records far away: files still roll by avro.roll.ms while
    changes trickle in, and become visible without a stop; the last file
    rolls once idle for avro.roll.ms, without a further record."""
    gen = CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                 partitions=1, keys=50)
    avro_dir = tmp_path / "avro"
    mat = make_materializer(avro_sets(registry, mesh_broker, unique_topic,
                                      avro_dir,
                                      **{"avro.roll.records": 1000000,
                                         "avro.roll.ms": 800}))
    wait_assigned(mat)
    for _ in range(12):
        gen.produce(5)
        gen.prod.flush(10)
        time.sleep(0.4)
    res = gen.result()
    history = read_history(mesh_broker.bootstrap, registry.url, unique_topic,
                           res.end_offsets)
    deadline = time.monotonic() + 30 * TIMEOUT_MULT
    while True:
        finals = [f for f in avro_files(avro_dir, unique_topic)
                  if FINAL.match(f.name)]
        if len(finals) >= 3:
            break
        assert time.monotonic() < deadline, (finals, mat.log()[-3000:])
        time.sleep(0.2)
    check_files(avro_dir, unique_topic, history, complete=False)
    # Idle roll: nothing is produced any more; within avro.roll.ms (plus a
    # tick, batch.max.ms) the last open file is renamed all the same.
    wait_files(avro_dir, unique_topic, history, 10)
    finals = [f for f in avro_files(avro_dir, unique_topic)
              if FINAL.match(f.name)]
    assert not [f for f in avro_files(avro_dir, unique_topic)
                if TMP.match(f.name)], finals
    check_files(avro_dir, unique_topic, history, complete=True)
    assert mat.stop() == 0, mat.log()[-3000:]
    counts = check_files(avro_dir, unique_topic, history, complete=True)
    assert len(counts[0]) >= 3 and max(counts[0]) < len(history)
    # The stop found nothing left to roll.
    assert sorted(avro_files(avro_dir, unique_topic)) == finals
