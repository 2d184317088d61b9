"""mesh-materializer into SQLite (sink=sqlite, consumers/mat_sqlite*.c):
a group of two sharing one database file with one member killed.
Exactly-once under SIGKILL, schema evolution, dead letters and SIGTERM are
in test_materializer_sinks.py, for every sink.

Topics are created through mesh-broker's control endpoint (cdcgen's
AdminClient CreateTopics does not complete against the mock cluster).
Change events come from cdcgen (Debezium envelopes serialized by Confluent's
AvroSerializer against mesh-registry) on mesh-broker; cdcgen returns the
expected final state and the end offsets.  Every check compares the table
with that state row by row and _mesh_offsets with the end offsets, reading
the database with Python's own sqlite3 module (sinks.SqliteSink).
"""

import re
import threading
import time

import cdcgen
from materializer import nonempty
from sinks import SqliteSink, assert_exact, kill_seed, wait_offsets


# ------------------------------------------------------------ group of two

def test_group_of_two_survivor_takes_over(mesh_broker, registry,
                                          make_materializer, unique_topic,
                                          tmp_path, timeout):
    rnd = kill_seed()
    mesh_broker.create_topic(unique_topic, 6)
    gen = cdcgen.CdcGen(mesh_broker.bootstrap, registry.url, unique_topic,
                        partitions=6, keys=6000, seed=11, create=False)
    gen.produce(10_000)
    gen.prod.flush(60)
    sink = SqliteSink(tmp_path)
    sets = sink.sets(mesh_broker, registry, unique_topic, "pair",
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
        while len(sink.offsets(unique_topic)) < 6:
            assert time.monotonic() < deadline, first.log()[-3000:]
            assert first.proc.poll() is None, first.log()[-3000:]
            assert second.proc.poll() is None, second.log()[-3000:]
            time.sleep(0.05)
        time.sleep(rnd.uniform(0.1, 0.8))
        victim, survivor = rnd.sample([first, second], 2)
        t_kill = time.monotonic() - t0
        assert victim.kill() == -9
        at_kill = sink.offsets(unique_topic)
    finally:
        feeder.join()
    assert not errors, errors
    # Events produced after the kill land on every partition, the victim's
    # too: only a takeover by the survivor reaches the end offsets.
    gen.produce(6000)
    result = gen.result()
    assert len(at_kill) == 6 and sum(at_kill.values()) < sum(
        result.end_offsets.values())
    wait_offsets(sink, unique_topic, result.end_offsets, timeout(180),
                 [survivor])
    t_done = time.monotonic() - t0
    assert_exact(sink, result)
    assert survivor.stop() == 0, survivor.log()[-4000:]
    assert sink.offsets(unique_topic) == nonempty(result.end_offsets)
    def owned(mat):
        return set(re.findall(r'msg="partition assigned" topic=\S+ '
                              r'partition=(\d+)', mat.log()))
    assert owned(victim), "the victim never owned a partition"
    assert owned(survivor) == {str(p) for p in range(6)}, owned(survivor)
    print(f"\ngroup of two: kill at {t_kill:.1f}s with "
          f"{sum(at_kill.values())} of {sum(result.end_offsets.values())} "
          f"records stored, exact at {t_done:.1f}s")
