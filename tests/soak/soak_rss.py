"""soak_rss: each daemon's resident memory over the run.

sample() reads VmRSS from /proc/<pid>/status of every daemon; a restarted
daemon is a new pid and starts a new series, so a restart never looks
like a drop or a growth.  verdicts() judges the newest series of each
daemon:

  - the first WARMUP_FRACTION of the series (at least WARMUP_MIN_S,
    capped at WARMUP_MAX_S) is warm-up: librdkafka's buffers, SQLite's
    page cache, the registry client's caches, malloc's arenas fill once;
  - the median of the last third of what is left is compared with the
    median of its first third; medians, because one sample taken while a
    fault queues messages is not a trend;
  - growth is allowed up to max(first * REL_TOLERANCE, first +
    ABS_TOLERANCE_KB): after a fault librdkafka's queues and malloc's free
    lists keep what they grew to (memory reused, not leaked) and that is
    a few MiB whatever the daemon's size; a leak of 100 bytes per event
    at the default rate is ~18 MiB over 30 minutes and fails;
  - mesh-broker keeps every record in memory (it is the log), so its
    allowance also has what the topics gained between the two thirds: the
    records stored (the `stored_records` callback, sampled with RSS) times
    the bytes a record takes in the broker (measured at the end, passed to
    verdicts(), doubled for the mock's own bookkeeping per batch).

A series with fewer than MIN_SAMPLES samples after warm-up (a daemon
restarted near the end) is shown but not judged.  Every sample is also
written to rss.csv in the work directory (seconds since the start,
daemon, pid, VmRSS in KiB, records stored), to look at a curve after a
failure.
"""

import statistics
import time

SAMPLE_S = 5.0
WARMUP_FRACTION = 0.2
WARMUP_MIN_S = 30.0
WARMUP_MAX_S = 120.0
MIN_SAMPLES = 6
REL_TOLERANCE = 1.25
ABS_TOLERANCE_KB = 12 * 1024


def vmrss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler:
    def __init__(self, mesh, stored_records, csv_path):
        self.mesh = mesh
        self.t0 = time.monotonic()
        self.csv = open(csv_path, "w")
        self.csv.write("t_s,daemon,pid,vmrss_kb,stored_records\n")
        self.stored_records = stored_records  # () -> records in the topics
        self.series = {}                # label -> [(pid, [(t, kb, st)])]
        self.last = 0.0

    def sample(self, force=False):
        now = time.monotonic()
        if not force and now - self.last < SAMPLE_S:
            return
        self.last = now
        stored = self.stored_records()
        for label, d in self.mesh.daemons().items():
            if d.proc.poll() is not None:
                continue
            kb = vmrss_kb(d.proc.pid)
            if kb is None:
                continue
            runs = self.series.setdefault(label, [])
            if not runs or runs[-1][0] != d.proc.pid:
                runs.append((d.proc.pid, []))
            runs[-1][1].append((now, kb, stored))
            self.csv.write(f"{now - self.t0:.1f},{label},{d.proc.pid},"
                           f"{kb},{stored}\n")
        self.csv.flush()

    def close(self):
        self.csv.close()

    def verdicts(self, record_bytes):
        """[(label, restarts, first_kb, last_kb, allowed_kb, verdict)]
        where verdict is "ok", "GROWS" or "n/a"."""
        out = []
        for label, runs in sorted(self.series.items()):
            pts = runs[-1][1]
            t_first, t_last = pts[0][0], pts[-1][0]
            warm = min(WARMUP_MAX_S, max(WARMUP_MIN_S, WARMUP_FRACTION *
                                         (t_last - t_first)))
            pts = [p for p in pts if p[0] - t_first >= warm]
            if len(pts) < MIN_SAMPLES:
                out.append((label, len(runs) - 1, None, None, None, "n/a"))
                continue
            third = len(pts) // 3
            head, tail = pts[:third], pts[-third:]
            first = statistics.median(kb for _, kb, _ in head)
            last = statistics.median(kb for _, kb, _ in tail)
            allowed = max(first * REL_TOLERANCE, first + ABS_TOLERANCE_KB)
            if label == "mesh-broker":
                gained = (statistics.median(s for _, _, s in tail) -
                          statistics.median(s for _, _, s in head))
                allowed += max(0, gained) * 2 * record_bytes / 1024
            verdict = "ok" if last <= allowed else "GROWS"
            out.append((label, len(runs) - 1, first, last, allowed,
                        verdict))
        return out
