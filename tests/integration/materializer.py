"""MeshMaterializer: runs mesh-materializer for integration tests.

Starts the binary with ready.file=<workdir>/ready.json and ops.listener on
port 0 plus the given settings (any key of mesh-materializer, kafka.* too),
waits for the ready file (written atomically once the consumer is
subscribed and the ops endpoint listens) and exposes the ops URL found
there.  Output goes to <workdir>/mesh-materializer.log (appended to, so a
restarted instance in the same workdir keeps the whole story).

    m = MeshMaterializer(binary, workdir, sets={"sink": "sqlite", ...})
    m.ops                  # "http://127.0.0.1:PORT"
    m.metrics()            # {(name, frozenset(labels.items())): value}
    m.metric("mesh_materializer_records_applied_total", topic=t)  # sum
    m.health()             # (status, body)
    m.wait_metric(name, at_least, timeout, **labels)
    m.stop()               # SIGTERM, returns the exit code
    m.kill()               # SIGKILL, returns the exit code
    m.wait_exit(timeout)   # for runs expected to end by themselves

wait=False starts without waiting (a bad configuration exits 2 at once:
m.wait_exit() then m.log()).
"""

import time

import pytest

# TIMEOUT_MULT and parse_metrics stay importable from here.
from daemon import TIMEOUT_MULT, OpsDaemon, parse_metrics  # noqa: F401


def nonempty(end_offsets):
    """The offsets a sink stores: a partition that received nothing has no
    stored offset."""
    return {p: o for p, o in end_offsets.items() if o > 0}


def wait_stored_offsets(read_offsets, end_offsets, timeout, mats=(),
                        poll=0.1):
    """Waits until read_offsets() ({partition: next_offset} from the sink's
    _mesh_offsets) equals the end offsets; fails early when a materializer
    that should be running exited, and on timeout with the lag per
    partition and the materializers' logs."""
    want = nonempty(end_offsets)
    deadline = time.monotonic() + timeout
    got = {}
    while time.monotonic() < deadline:
        got = read_offsets()
        if got == want:
            return got
        for m in mats:
            if m.proc.poll() is not None:
                pytest.fail(f"mesh-materializer exited with "
                            f"{m.proc.returncode}:\n{m.log()[-4000:]}")
        time.sleep(poll)
    lag = {p: want[p] - got.get(p, 0) for p in want if got.get(p) != want[p]}
    pytest.fail(f"offsets not at the end after {timeout:.0f}s; missing per "
                f"partition: {lag}\n" +
                "\n".join(m.log()[-3000:] for m in mats))


class MeshMaterializer(OpsDaemon):
    PROGRAM = "mesh-materializer"
    LOG_TAIL = 4000

    def __init__(self, binary, workdir, sets=None, start_timeout=60.0,
                 wait=True):
        super().__init__(binary, workdir)
        settings = self._base_settings()
        settings.update({k: str(v) for k, v in (sets or {}).items()})
        self.settings = settings
        self._start(settings, start_timeout, wait)
