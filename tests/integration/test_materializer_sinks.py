"""mesh-materializer's guarantees, once for every sink.

Each test runs once per sink of SINKS (fixture `sink`, adapters in
tests/integration/sinks.py): exactly-once under SIGKILL, schema evolution
mid-stream, dead letters, and SIGTERM committing the batch in progress.
The avro sink's output port is a history of changes in files; its adapter
replays the final (renamed) files into the table they amount to, and its
stored offsets are those files' meshwork.next_offset.
What only one sink does stays in its own file (test_materializer_sqlite.py,
_pg.py, _avro.py).

Change events come from cdcgen (Debezium envelopes serialized by Confluent's
AvroSerializer against mesh-registry) on mesh-broker; cdcgen returns the
expected final state and the end offsets.  Every check compares the table
with that state row by row and the stored offsets with the end offsets.

Adding a sink: write its adapter in sinks.py (settings, offsets, columns,
rows, stores_groups, groups, commit_metric, column_added_log, check_evolved,
check_storage) and add it to SINKS and KILL.
"""

import time

import pytest

import cdcgen
import sinks
from materializer import nonempty
from sinks import assert_exact, progress, wait_offsets

# name -> (adapter, its fixtures).  Per-sink sizes and seeds of the kill
# test are in KILL.
SINKS = {
    "sqlite": lambda request, tmp_path: sinks.SqliteSink(tmp_path),
    "postgres": lambda request, tmp_path: sinks.PgSink(
        request.getfixturevalue("postgres")),
    "avro": lambda request, tmp_path: sinks.AvroSink(tmp_path),
}
KILL = {"sqlite": {"seed": 7, "group": "kill9"},
        "postgres": {"seed": 17, "group": "pgkill9"},
        "avro": {"seed": 27, "group": "avrokill9"}}


@pytest.fixture(params=sorted(SINKS))
def sink(request, tmp_path):
    return SINKS[request.param](request, tmp_path)


# ------------------------------------------------------------ kill -9 x5

def test_sigkill_five_times_exactly_once(sink, mesh_broker, registry,
                                         make_materializer, unique_topic,
                                         tmp_path, timeout):
    rnd = sinks.kill_seed()
    kill = KILL[sink.name]
    # 32 partitions keep each under mesh-broker's ~5 MiB retention
    # (300k events + tombstones, ~170 bytes each).
    t0 = time.monotonic()
    mesh_broker.create_topic(unique_topic, 32)
    result = cdcgen.generate(mesh_broker.bootstrap, registry.url,
                             unique_topic, events=300_000, keys=30_000,
                             partitions=32, seed=kill["seed"], create=False)
    t_produce = time.monotonic() - t0
    total = sum(result.end_offsets.values())
    assert result.events == 300_000 and result.ops["d"] > 0
    # A restarted member joins only once the killed one's session has
    # expired: a 3-second session halves the time the five restarts take
    # (the heartbeats come from librdkafka's own thread, every 500 ms).
    sets = sink.sets(mesh_broker, registry, unique_topic, kill["group"],
                     **{"kafka.session.timeout.ms": "3000"})
    workdir = tmp_path / "mat"
    # Kill points: five random fractions of the stream, each crossed by the
    # stored offsets, then a random extra delay so the kill lands anywhere
    # in a batch (decoding, applying, COPY, merge, committing).  The last
    # point leaves 30 % of the stream: the avro sink's offsets advance a
    # 300-ms roll at a time, and from 90 % a fast machine finished the
    # stream between the crossing and the kill.
    points = sorted(rnd.uniform(0.03, 0.7) for _ in range(5))
    seen = []
    t1 = time.monotonic()
    for frac in points:
        mat = make_materializer(sets=sets, workdir=workdir)
        deadline = time.monotonic() + timeout(240)
        while progress(sink, unique_topic) < frac * total:
            assert mat.proc.poll() is None, mat.log()[-4000:]
            assert time.monotonic() < deadline, (
                f"no progress to {frac:.2f}:\n{mat.log()[-4000:]}")
            time.sleep(sink.progress_poll)
        time.sleep(rnd.uniform(0, 0.3))
        before = progress(sink, unique_topic)
        assert mat.kill() == -9
        after = progress(sink, unique_topic)
        # Offsets never go back across a crash.
        assert not seen or after >= seen[-1]
        seen.append(after)
        assert before < total, "the kill came after the end of the stream"
    mat = make_materializer(sets=sets, workdir=workdir)
    wait_offsets(sink, unique_topic, result.end_offsets, timeout(600), [mat])
    t_consume = time.monotonic() - t1
    assert mat.stop() == 0, mat.log()[-4000:]
    assert sink.offsets(unique_topic) == nonempty(result.end_offsets)
    assert_exact(sink, result)
    if sink.stores_groups:
        assert sink.groups() == {kill["group"]}
    print(f"\n{sink.name} sigkill x5: {total} records ({result.events} "
          f"events, {len(result.expected)} rows), kill points "
          f"{[round(s / total, 3) for s in seen]}, produce "
          f"{t_produce:.1f}s, materialize incl. restarts {t_consume:.1f}s")


# ------------------------------------------------------------ evolution

def test_schema_evolution_adds_nullable_column(sink, mesh_broker, registry,
                                               make_materializer,
                                               unique_topic, timeout):
    mesh_broker.create_topic(unique_topic, 4)
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=4, keys=2000, seed=3, create=False)
    gen.produce(10_000, version=1)
    first = gen.result()
    mat = make_materializer(sets=sink.sets(mesh_broker, registry,
                                           unique_topic, "evolve"))
    wait_offsets(sink, unique_topic, first.end_offsets, timeout(120), [mat])
    assert "note" not in sink.columns()
    assert_exact(sink, first)

    gen.produce(10_000, version=2)
    second = gen.result()
    wait_offsets(sink, unique_topic, second.end_offsets, timeout(120), [mat])
    assert sink.columns() == cdcgen.COLUMNS_V2
    sink.check_evolved()
    assert_exact(sink, second)
    # Old rows (last written with v1) read NULL; v2 rows have notes.
    notes = [r["note"] for r in second.expected.values()]
    assert None in notes and any(n is not None for n in notes)
    assert "table gained columns" in mat.log()
    if sink.column_added_log:
        assert sink.column_added_log in mat.log()
    assert mat.stop() == 0, mat.log()[-4000:]


# ------------------------------------------------------------ dead letters

def test_poison_records_go_to_the_dlq(sink, mesh_broker, registry,
                                      make_materializer, unique_topic,
                                      timeout):
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=1, keys=50, seed=5)
    gen.produce(300)
    gen.result()
    bad = sinks.poison(mesh_broker.bootstrap, unique_topic, registry.url)
    gen.produce(300)
    res = gen.result()
    mat = make_materializer(sink.sets(mesh_broker, registry, unique_topic,
                                      f"g-{unique_topic}",
                                      **{"batch.max.ms": 100}))
    wait_offsets(sink, unique_topic, res.end_offsets, timeout(60), [mat])
    assert_exact(sink, res)
    assert mat.metric("mesh_materializer_dlq_total",
                      topic=unique_topic) == 3
    assert mat.metric("mesh_materializer_records_applied_total",
                      topic=unique_topic) == res.events
    dead = sinks.read_dlq(mesh_broker.bootstrap, f"{unique_topic}.dlq", 3,
                          timeout(30))
    assert sorted((k, v) for k, v, _ in dead) == sorted(bad)
    for key, _, hdrs in dead:
        assert hdrs["mesh.topic"] == unique_topic
        assert hdrs["mesh.partition"] == "0"
        assert int(hdrs["mesh.offset"]) >= 0
        assert hdrs["mesh.error"]
    errors = {k: h["mesh.error"] for k, _, h in dead}
    assert "magic" in errors[b"bad-magic"]
    assert "987654" in errors[b"unknown-id"]
    assert mat.health()[0] == 200


# ------------------------------------------------------------ SIGTERM

def test_sigterm_commits_and_exits_0(sink, mesh_broker, registry,
                                     make_materializer, unique_topic,
                                     tmp_path, timeout):
    mesh_broker.create_topic(unique_topic, 6)
    result = cdcgen.generate(mesh_broker.bootstrap, registry.url,
                             unique_topic, events=40_000, keys=5000,
                             partitions=6, seed=5, create=False)
    total = sum(result.end_offsets.values())
    sets = sink.sets(mesh_broker, registry, unique_topic, "term",
                     **{"batch.max.records": "1000"})
    workdir = tmp_path / "mat"

    # 1. SIGTERM in the middle of the stream: the batch in progress is
    #    committed, the exit is clean.
    mat = make_materializer(sets=sets, workdir=workdir)
    deadline = time.monotonic() + timeout(120)
    while progress(sink, unique_topic) < total // 4:
        assert time.monotonic() < deadline, mat.log()[-4000:]
        assert mat.proc.poll() is None, mat.log()[-4000:]
        time.sleep(0.02)
    assert mat.metric(sink.commit_metric) > 0
    assert mat.stop() == 0, mat.log()[-4000:]
    assert progress(sink, unique_topic) <= total

    # 2. The next run resumes there, catches up, and SIGTERM once idle
    #    leaves exactly the end offsets.
    mat = make_materializer(sets=sets, workdir=workdir)
    wait_offsets(sink, unique_topic, result.end_offsets, timeout(120), [mat])
    assert mat.stop() == 0, mat.log()[-4000:]
    assert sink.offsets(unique_topic) == nonempty(result.end_offsets)
    assert_exact(sink, result)
    sink.check_storage()
    if sink.stores_groups:
        assert sink.groups() == {"term"}
