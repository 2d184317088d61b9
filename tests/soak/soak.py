"""The soak: the whole data path at a steady rate for N minutes under
rotating faults, then an exact check of every output port.

    build/venv/bin/python tests/soak/soak.py --build build --minutes 30

(`make soak SOAK_MINUTES=N` runs it on the release build.)  tests/soak/
README.md describes the run, the rate budget and how to read the output.
Exit 0 when everything held, 1 with one line naming the failure
otherwise (the logs of every daemon stay in the work directory it
prints).
"""

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE))

import pytest  # noqa: E402  (pytest.fail raises in the shared helpers)

from daemon import TIMEOUT_MULT  # noqa: E402
from pgcdc import watermarks  # noqa: E402
from soak_check import (SoakFailure, check_dead_letters, check_ports,  # noqa
                        drain, retention_intact, topic_bytes)
from soak_faults import Faults, stamp  # noqa: E402
from soak_load import FileLoad, HttpLoad, PgLoad, Poison  # noqa: E402
from soak_mesh import TOPICS, Mesh  # noqa: E402
from soak_rss import RssSampler  # noqa: E402

WARMUP_S = 15.0         # load before the first fault
QUIET_END_S = 10.0      # no fault starts later than this before the end
DRAIN_TIMEOUT_S = 300
BROKER_RETENTION = 5 * 1024 * 1024
# A record's own framing in a v2 batch (length, attributes, deltas, the
# lengths of key, value and headers: varints, ~10 bytes for small records)
# and a batch's header (61 bytes), counted once per record: the worst case,
# every record alone in its batch.
RECORD_FRAMING = 10
BATCH_FRAMING = 61


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build",
                    help="build directory holding bin/ (default build)")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=int, default=100,
                    help="events per second per source (default 100)")
    ap.add_argument("--partitions", type=int, default=32,
                    help="partitions per topic (default 32)")
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("MESH_TEST_SEED") or
                                time.time()))
    ap.add_argument("--workdir", help="default: a new directory in /tmp, "
                    "removed after a successful run")
    return ap.parse_args()


def fault_timing(run_s):
    """(slot_s, hold_s): each fault gets a slot of the run (inject, hold,
    recover, quiet until the slot ends), so that a short run still sees
    every kind once and a long one rotates through them several times."""
    slot = min(60.0, max(12.0, (run_s - WARMUP_S - QUIET_END_S) /
                         len(Faults.KINDS)))
    return slot, slot / 4


class StoredRecords:
    """Records in the data topics, for the broker's RSS allowance (the last
    value is kept while the brokers cannot answer)."""

    def __init__(self, mesh):
        from confluent_kafka import Consumer
        self.cons = Consumer({"bootstrap.servers": mesh.broker.bootstrap,
                              "group.id": "soak-watermarks",
                              "log_level": 2})
        self.parts = {t: sorted(watermarks(mesh.broker.bootstrap, t))
                      for t in TOPICS}
        self.value = 0

    def __call__(self):
        from confluent_kafka import KafkaException, TopicPartition
        total = 0
        try:
            for t, parts in self.parts.items():
                for p in parts:
                    total += self.cons.get_watermark_offsets(
                        TopicPartition(t, p), timeout=2, cached=False)[1]
        except KafkaException:
            return self.value
        self.value = total
        return total

    def close(self):
        self.cons.close()


def run(args, workdir):
    bins = pathlib.Path(args.build).resolve() / "bin"
    t0 = time.monotonic()
    run_s = args.minutes * 60
    slot_s, hold_s = fault_timing(run_s)
    print(f"soak: {args.minutes:g} min, {args.rate} events/s per source, "
          f"{args.partitions} partitions per topic, fault slot {slot_s:.0f}s"
          f" (held {hold_s:.0f}s), seed={args.seed}, bins {bins}, workdir "
          f"{workdir}", flush=True)
    mesh = Mesh(bins, workdir, args.partitions)
    loads = {}
    stored = rss = None
    try:
        stored = StoredRecords(mesh)
        rss = RssSampler(mesh, stored, workdir / "rss.csv")
        loads = {"http": HttpLoad(mesh, args.rate, args.seed),
                 "file": FileLoad(mesh, args.rate, args.seed + 1),
                 "pg": PgLoad(mesh, args.rate, args.seed + 2),
                 "poison": Poison(mesh, args.seed + 3)}
        for load in loads.values():
            load.start()
        print(f"{stamp(t0)} mesh up, load running", flush=True)
        faults = Faults(mesh, t0)
        end = t0 + run_s
        next_fault = time.monotonic() + WARMUP_S
        while time.monotonic() < end:
            for load in loads.values():
                if load.error:
                    raise SoakFailure(load.error)
            rss.sample()
            if time.monotonic() >= next_fault and \
                    end - time.monotonic() > hold_s + QUIET_END_S:
                faults.run_one(hold_s)
                next_fault = next_fault + slot_s
                rss.sample(force=True)
                continue
            bad = faults.unhealthy()
            dead = {k: v for k, v in bad.items() if v.startswith("exited")}
            if dead:
                raise SoakFailure(f"daemon died: {dead}")
            time.sleep(1.0)     # the main loop's pace
        print(f"{stamp(t0)} load stopping, draining", flush=True)
        for load in loads.values():
            load.stop()
            if load.error:
                raise SoakFailure(load.error)
        loads["poison"].finish(60 * TIMEOUT_MULT)
        drain(mesh, DRAIN_TIMEOUT_S)
        rss.sample(force=True)
        print(f"{stamp(t0)} drained; checking", flush=True)
        retention_intact(mesh)
        rows = check_ports(mesh, loads)
        dlq = check_dead_letters(mesh, loads)
        sizes = {t: topic_bytes(mesh, t) for t in TOPICS}
        rec_bytes = RECORD_FRAMING + BATCH_FRAMING + (
            sum(s[2] for s in sizes.values()) /
                     max(1, sum(s[1] for s in sizes.values())))
        verdicts = rss.verdicts(rec_bytes)
        summary(args, t0, loads, rows, faults, verdicts, dlq, sizes)
        grows = [v for v in verdicts if v[5] == "GROWS"]
        if grows:
            raise SoakFailure("RSS grows: " + "; ".join(
                f"{v[0]} {v[2] / 1024:.1f} -> {v[3] / 1024:.1f} MiB "
                f"(allowed {v[4] / 1024:.1f})" for v in grows))
    finally:
        for load in loads.values():
            load.stopping.set()
        if stored is not None:
            stored.close()
        if rss is not None:
            rss.close()
        bad = mesh.close()
    if bad:
        raise SoakFailure("exit codes: " + "\n".join(bad))


def summary(args, t0, loads, rows, faults, verdicts, dlq, sizes):
    mib = 1024 * 1024
    print(f"\n== soak summary ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
          f" {args.minutes:g} min, {time.monotonic() - t0:.0f}s with drain)")
    print(f"{'source':8} {'events':>9} {'bad input':>10} {'keys':>6}")
    for name in ("http", "file", "pg"):
        ld = loads[name]
        keys = len(getattr(ld, "expected", {})) if name != "pg" else \
            rows[("sqlite", TOPICS[2])]
        print(f"{name:8} {ld.events:9d} {ld.bad:10d} {keys:6d}")
    print(f"{'poison':8} {len(loads['poison'].sent):9d}")
    print(f"\n{'sink':9} " + " ".join(f"{t:>20}" for t in TOPICS))
    for sink in ("sqlite", "postgres", "avro"):
        print(f"{sink:9} " + " ".join(f"{rows[(sink, t)]:>20d}"
                                      for t in TOPICS))
    print(f"\n{'topic':20} {'records':>9} {'payload/partition':>18} "
          f"{'worst case':>11}  (mesh-broker keeps "
          f"{BROKER_RETENTION // mib} MiB per partition)")
    for t, (mx, n, _total, mx_n) in sizes.items():
        worst = mx + mx_n * (RECORD_FRAMING + BATCH_FRAMING)
        print(f"{t:20} {n:9d} {mx / mib:14.2f} MiB {worst / mib:7.2f} MiB")
    kinds = {}
    for kind, _d in faults.done:
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"\nfaults injected: {len(faults.done)} (" + ", ".join(
        f"{k} {n}" for k, n in kinds.items()) + ")")
    print(f"\n{'daemon':16} {'restarts':>8} {'RSS first':>10} "
          f"{'RSS last':>10} {'allowed':>10}  verdict")
    for label, restarts, first, last, allowed, verdict in verdicts:
        def f(kb):
            return "-" if kb is None else f"{kb / 1024:.1f} MiB"
        print(f"{label:16} {restarts:8d} {f(first):>10} {f(last):>10} "
              f"{f(allowed):>10}  {verdict}")
    print("\ndead letters (distinct / copies): " + ", ".join(
        f"{t} {d}/{c}" for t, (d, c) in dlq.items()))
    print(f"http batches refused as bad: {loads['http'].refused}, "
          f"posts retried: {loads['http'].retries}, pg transactions lost "
          f"to restarts: {loads['pg'].failed_tx}")


def main():
    args = parse_args()
    keep = args.workdir is not None
    workdir = pathlib.Path(args.workdir or tempfile.mkdtemp(
        prefix="mesh-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(args, workdir)
    except (Exception, pytest.fail.Exception) as e:
        print(f"\nsoak: FAILED: {e}\n(logs in {workdir})", flush=True)
        return 1
    print("\nsoak: OK")
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
