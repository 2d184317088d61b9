"""Records that make no row still move a partition's durable offset.

A tombstone (the delete came before it) and a poison record (dead-lettered)
produce no row in the sink.  When a partition's batch holds only such
records, the offset past them must still become durable, or a restart reads
them again and a poison record lands in the dead-letter topic twice, which
breaks "Exactly once" in consumers/README.md.

For each sink and each kind of row-less tail, the test proves:
  - the offset past a tail that follows rows becomes durable while the
    process runs (for sink=avro: at the idle tick once avro.roll.ms passed,
    as a zero-row tail file);
  - a restart resumes past it: a poison record is dead-lettered once;
  - a tail right after a restart, when the process has seen no row of the
    partition yet, becomes durable at SIGTERM (sink=avro with avro.roll.ms
    too long for the tick, so only close can write it) and a second
    restart resumes past it too;
  - for sink=avro, both tails are zero-row files that start where their
    predecessor ends and keep its dt= directory and schema, read as empty
    by fastavro, python3-avro and avrocat.
"""

import subprocess
import time

import pytest

import cdcgen
import sinks
from sinks import wait_offsets

# avro.roll.ms of the second run: longer than the test, so that only the
# SIGTERM (the sink's close) can make its tail durable.
ROLL_MS_NEVER = "600000"


def wait_assigned(mat, runs, timeout=30):
    """Waits for the runs-th "partition assigned" in the log (the workdir's
    log is appended to by every run)."""
    deadline = time.monotonic() + timeout
    while mat.log().count("partition assigned") < runs:
        assert mat.proc.poll() is None, mat.log()[-3000:]
        assert time.monotonic() < deadline, mat.log()[-3000:]
        time.sleep(0.1)


@pytest.mark.parametrize("which", ["sqlite", "avro"])
@pytest.mark.parametrize("tail", ["tombstone", "poison"])
def test_tail_without_rows(which, tail, mesh_broker, registry,
                           make_materializer, unique_topic, tmp_path):
    from confluent_kafka import Producer
    sink = (sinks.SqliteSink if which == "sqlite" else sinks.AvroSink)(tmp_path)
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=1, keys=20, seed=5, delete_ratio=0.0)
    gen.produce(100)
    res = gen.result()
    sets = sink.sets(mesh_broker, registry, unique_topic, "tail",
                     **{"batch.max.ms": 100})
    workdir = tmp_path / "mat"
    prod = Producer({"bootstrap.servers": mesh_broker.bootstrap})

    def produce_tail(key_id):
        if tail == "tombstone":
            prod.produce(unique_topic,
                         key=gen.key_ser({"id": key_id}, gen.kctx),
                         value=None, partition=0)
        else:
            prod.produce(unique_topic, key=b"bad%d" % key_id,
                         value=b"\x01junk", partition=0)
        assert prod.flush(10) == 0

    # Run 1: rows, then a tail in a batch of its own, durable while running.
    mat = make_materializer(sets=sets, workdir=workdir)
    wait_offsets(sink, unique_topic, res.end_offsets, 30, [mat])
    produce_tail(1)
    end = gen.end_offsets()
    assert end[0] == res.end_offsets[0] + 1
    wait_offsets(sink, unique_topic, end, 30, [mat])
    assert mat.stop() == 0

    # Run 2: resumes past the tail, then gets only another tail.
    sets2 = dict(sets)
    if which == "avro":
        sets2["avro.roll.ms"] = ROLL_MS_NEVER
    mat = make_materializer(sets=sets2, workdir=workdir)
    wait_assigned(mat, 2)
    produce_tail(2)
    end2 = gen.end_offsets()
    assert end2[0] == end[0] + 1
    time.sleep(3)  # consumed (batch.max.ms 100), not rolled (avro.roll.ms)
    assert mat.stop() == 0
    assert sink.offsets(unique_topic) == end2

    # Run 3: resumes past the second tail.
    mat = make_materializer(sets=sets, workdir=workdir)
    wait_assigned(mat, 3)
    time.sleep(3)
    assert mat.stop() == 0
    if tail == "poison":
        dead = sinks.read_dlq(mesh_broker.bootstrap, f"{unique_topic}.dlq",
                              5, 8)
        assert sorted(k for k, _, _ in dead) == [b"bad1", b"bad2"], dead
    assert sink.offsets(unique_topic) == end2
    if which == "avro":
        check_tail_files(sink, unique_topic, end[0] - 1)


def check_tail_files(sink, topic, first_tail):
    """The two tails are zero-row files starting where their predecessor
    ends, in its dt= directory and with its schema (the table shape does
    not move), read as empty by fastavro, python3-avro and avro-c's
    avrocat."""
    from test_materializer_avro import read_file
    files = sink.final_files(topic)[0]
    assert [start for start, _ in files[-2:]] == [first_tail, first_tail + 1]
    prev = files[-3][1]
    prev_rows, prev_meta = read_file(prev)
    assert prev_rows and int(prev_meta["meshwork.next_offset"]) == first_tail
    for start, path in files[-2:]:
        rows, meta = read_file(path)
        assert rows == [], path
        assert int(meta["meshwork.next_offset"]) == start + 1, path
        assert path.parent == prev.parent, path
        assert meta["avro.schema"] == prev_meta["avro.schema"], path
        out = subprocess.run(["avrocat", str(path)], capture_output=True,
                             text=True, check=True).stdout
        assert out.strip() == "", path
