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

# TIMEOUT_MULT and parse_metrics stay importable from here.
from daemon import TIMEOUT_MULT, OpsDaemon, parse_metrics  # noqa: F401


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
