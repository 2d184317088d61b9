"""Shared fixtures for Meshwork's integration tests.

    bins            pathlib.Path of $MESH_BUILD/bin (MESH_BUILD default build/asan)
    tools           pathlib.Path of $MESH_BUILD/tests/tools
    mesh_broker     a started mesh-broker (3 mock brokers, port 0 everywhere,
                    tmp state.dir), stopped after the test; its exit code must be 0
    make_mesh_broker  factory for tests that need other settings or several
    real_kafka      a real Apache Kafka (KRaft) single node, one per session,
                    started only if a test asks for it
    cluster         parametrized over "embedded" and "kafka": .kind, .bootstrap
    unique_topic    a fresh, valid topic name per test
    make_topic_name factory for more of them
    timeout         timeout(seconds) -> seconds * TIMEOUT_MULT
"""

import dataclasses
import os
import pathlib
import re
import shutil
import uuid

import pytest

import realkafka
from daemon import daemon_factory

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _mesh_build():
    build = pathlib.Path(os.environ.get("MESH_BUILD", "build/asan"))
    return build if build.is_absolute() else ROOT / build


def pytest_report_header(config):
    return [f"MESH_BUILD={_mesh_build()}  "
            f"TIMEOUT_MULT={realkafka.timeout_mult()}"]


@pytest.fixture(scope="session")
def timeout_mult():
    return realkafka.timeout_mult()


@pytest.fixture(scope="session")
def timeout(timeout_mult):
    """timeout(30) is 30 s stretched by TIMEOUT_MULT (slow sanitizer builds)."""
    return lambda seconds: seconds * timeout_mult


@pytest.fixture(scope="session")
def bins():
    return _mesh_build() / "bin"


@pytest.fixture(scope="session")
def tools():
    return _mesh_build() / "tests" / "tools"


@pytest.fixture
def make_mesh_broker(bins, tmp_path):
    """make_mesh_broker(**kwargs) starts one more mesh-broker, as
    MeshBroker(binary, private_tmpdir, **kwargs) (brokers=3, extra_args=(...));
    every one is stopped at teardown and must exit 0."""
    from meshbroker import MeshBroker

    yield from daemon_factory(bins, tmp_path, MeshBroker, _must_exit_0)


def _must_exit_0(i, d):
    """Teardown verdict for mesh-broker: every one is stopped, exit 0."""
    code = d.stop()
    if code != 0:
        return f"{d.PROGRAM} {i} exited with {code}:\n{d.log()[-3000:]}"
    return None


@pytest.fixture
def mesh_broker(make_mesh_broker):
    return make_mesh_broker()


@pytest.fixture(scope="session")
def real_kafka(tmp_path_factory):
    if os.environ.get("MESH_KAFKA") == "skip":
        pytest.skip("real Kafka disabled by MESH_KAFKA=skip")
    if not shutil.which("java") or not shutil.which("mvn"):
        pytest.fail("real Kafka needs java and mvn: run `make deps`")
    kafka = realkafka.RealKafka(tmp_path_factory.mktemp("real-kafka"))
    kafka.start()
    yield kafka
    code = kafka.stop()
    # The JVM exits 143 (128 + SIGTERM) after its shutdown hooks ran; -9
    # would mean the broker ignored SIGTERM for the whole stop timeout.
    assert code in (0, 143), f"Kafka exit code {code}\n{kafka.log_tail()}"


@dataclasses.dataclass
class Cluster:
    kind: str       # "embedded" (mesh-broker) or "kafka" (real Apache Kafka)
    bootstrap: str
    impl: object    # the MeshBroker or RealKafka behind it


@pytest.fixture(params=["embedded", "kafka"])
def cluster(request):
    if request.param == "embedded":
        impl = request.getfixturevalue("mesh_broker")
    else:
        impl = request.getfixturevalue("real_kafka")
    return Cluster(request.param, impl.bootstrap, impl)


def _topic_name(request, prefix=None):
    # Legal topic characters are [a-zA-Z0-9._-], 249 at most; "." is left
    # out too because Kafka treats "." and "_" as colliding.  The test name
    # makes a topic easy to trace back, the uuid makes it unique even on a
    # session-wide broker.
    base = prefix or request.node.name
    base = re.sub(r"[^a-zA-Z0-9_-]+", "-", base).strip("-")[:80]
    return f"{base or 't'}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_topic_name(request):
    return lambda prefix=None: _topic_name(request, prefix)


@pytest.fixture
def unique_topic(request):
    return _topic_name(request)


@pytest.fixture
def make_registry(bins, tmp_path):
    """make_registry(sets=None, **kwargs) starts one more mesh-registry as
    MeshRegistry(binary, private_workdir, sets=...) (journal storage unless
    sets says otherwise); every one still running is stopped at teardown
    with SIGTERM and must exit 0."""
    from registry import MeshRegistry

    yield from daemon_factory(bins, tmp_path, MeshRegistry,
                              _registry_verdict)


def _registry_verdict(i, reg):
    # Instances a test stopped or killed itself (their log is closed) are
    # its business; the others must shut down cleanly (exit 0 also means
    # no leak under ASan).
    if reg.proc.poll() is not None:
        if reg._log.closed:
            return None
        return (f"mesh-registry exited with {reg.proc.returncode} during "
                f"the test:\n{reg.log()[-3000:]}")
    code = reg.stop()
    if code != 0:
        return f"mesh-registry exited with {code}:\n{reg.log()[-3000:]}"
    return None


@pytest.fixture
def registry(make_registry):
    """One started journal-backed mesh-registry (MeshRegistry)."""
    return make_registry()


@pytest.fixture
def make_producer(bins, tmp_path):
    """make_producer(sets=None, workdir=None, **kwargs) starts mesh-producer
    as MeshProducer(binary, workdir, sets=...) (tests/integration/producer.py:
    ready.file, ops.listener and, for source=http, http.listener on port 0).
    At teardown every instance the test did not kill is stopped with SIGTERM
    and must exit 0 (or its .expect_exit, for a test that expects another
    code)."""
    from producer import MeshProducer

    yield from daemon_factory(bins, tmp_path, MeshProducer)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL 15 (tests/integration/pgserver.py), one per
    session: .conninfo ("host=127.0.0.1 port=N dbname=mesh user=postgres"),
    .port, .psql(sql) -> text, .rows(sql) -> [tuple], .log().  Tests share
    it, so each uses its own schema or table names.  Fast shutdown at the
    end of the session; the data directory is removed."""
    from pgserver import PgServer

    pg = PgServer()
    try:
        pg.start()
    except Exception:
        pg.stop()
        raise
    yield pg
    pg.stop()


@pytest.fixture
def make_materializer(bins, tmp_path):
    """make_materializer(sets=None, workdir=None, **kwargs) starts
    mesh-materializer as MeshMaterializer(binary, workdir, sets=...)
    (tests/integration/materializer.py: ready.file and ops.listener on port
    0; wait=False to start without waiting for ready).  At teardown every
    instance the test did not kill is stopped with SIGTERM and must exit 0
    (or its .expect_exit, for a test that expects another code)."""
    from materializer import MeshMaterializer

    yield from daemon_factory(bins, tmp_path, MeshMaterializer)
