"""bench_mesh: the private mesh-broker and mesh-registry the Python
benchmarks of bench/ run against, started from BUILD_DIR/bin through the
integration tests' helpers (127.0.0.1, port 0, a private directory) and
always stopped, the directory removed, also when a step fails.

    with bench_mesh.mesh(bins, "meshwork-fresh-") as (tmp, broker, registry):
        ...
"""

import contextlib
import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from meshbroker import MeshBroker  # noqa: E402
from registry import MeshRegistry  # noqa: E402


def stop_all(*daemons):
    """Stops each daemon still running (None and stopped ones are fine)."""
    for d in daemons:
        if d is not None and d.proc is not None and d.proc.poll() is None:
            d.stop()


@contextlib.contextmanager
def mesh(bins, prefix):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    broker = registry = None
    try:
        broker = MeshBroker(bins / "mesh-broker", tmp / "broker")
        registry = MeshRegistry(bins / "mesh-registry", tmp / "registry")
        yield tmp, broker, registry
    finally:
        stop_all(registry, broker)
        shutil.rmtree(tmp, ignore_errors=True)
