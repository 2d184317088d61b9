"""docker-compose.yml and the Dockerfile, checked without Docker (the build
machines cannot run it):

- the compose file parses and keeps to the compose specification's fields:
  every service has an image or a build, known service keys, environment
  as a mapping of scalars, ports as [IP:]HOST:CONTAINER, depends_on with a
  condition on a declared service (service_healthy only on one with a
  health check), health checks with a test and durations, named volumes
  declared and bind-mounted files present;
- the mesh it describes: Kafka in KRaft mode from the official image with
  a listener for containers and one for the host, PostgreSQL with
  wal_level=logical, mesh-registry on storage=kafka, a producer with
  source=pg, a materializer with a postgres or sqlite sink, each Meshwork
  service checked on /healthz of its ops.listener and configured only
  through MESH_* variables;
- every MESH_* variable is a key of the program it is given to (read from
  the program's own --help-markdown) with a value of the key's type, and
  the programs accept the whole configuration (they get past it, rather
  than exiting 2, when run here with it);
- the same configuration, with only addresses and state paths changed,
  runs outside Docker: mesh-registry on Kafka storage (mesh-broker), the
  pg producer on a database set up by docker/postgres-init.sql and the
  postgres materializer carry an inserted row to the output port;
- the Dockerfile's stages: Debian 12 slim, a build stage running make and
  a runtime stage with no compiler and no -dev package but every shared
  library the programs link; COPY sources exist (and are not excluded by
  .dockerignore), COPY --from names an earlier stage.
"""

import os
import pathlib
import re
import shlex
import signal
import subprocess
import time

import pytest
import yaml

from daemon import TIMEOUT_MULT

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROGRAMS = ("mesh-registry", "mesh-producer", "mesh-materializer",
            "mesh-broker", "meshctl")

# Keys of a service in the compose specification (the ones a file like
# ours may use; a typo such as "healtcheck" fails here).
SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "env_file",
    "ports", "expose", "depends_on", "healthcheck", "volumes", "restart",
    "hostname", "container_name", "networks", "user", "working_dir",
    "labels", "logging", "ulimits", "deploy", "profiles", "stop_signal",
    "stop_grace_period", "init", "shm_size", "tmpfs", "secrets", "configs",
    "extra_hosts", "cap_add", "cap_drop", "read_only", "platform",
}
TOP_KEYS = {"services", "volumes", "networks", "configs", "secrets", "name",
            "version"}
HEALTH_KEYS = {"test", "interval", "timeout", "retries", "start_period",
               "start_interval", "disable"}
CONDITIONS = {"service_started", "service_healthy",
              "service_completed_successfully"}
DURATION = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")
PORT = re.compile(r"^((\d{1,3}\.){3}\d{1,3}:)?\d+:\d+(/(tcp|udp))?$")


@pytest.fixture(scope="module")
def compose():
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def mesh_services(compose):
    """name -> (program, service) for the services running our programs."""
    out = {}
    for name, svc in compose["services"].items():
        cmd = svc.get("command") or []
        if isinstance(cmd, str):
            cmd = shlex.split(cmd)
        if cmd and cmd[0] in PROGRAMS:
            out[name] = (cmd[0], svc)
    return out


def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def test_compose_keeps_to_the_specification(compose):
    extra = {k for k in compose if not k.startswith("x-")} - TOP_KEYS
    assert not extra, f"unknown top-level keys {extra}"
    services = compose["services"]
    declared = set(compose.get("volumes") or {})
    for name, svc in services.items():
        where = f"service {name}"
        assert isinstance(svc, dict), where
        assert not set(svc) - SERVICE_KEYS, (where, set(svc) - SERVICE_KEYS)
        assert "image" in svc or "build" in svc, where
        if isinstance(svc.get("build"), dict):
            ctx = ROOT / svc["build"].get("context", ".")
            assert (ctx / svc["build"].get("dockerfile", "Dockerfile")) \
                .is_file(), where
        env = svc.get("environment", {})
        assert isinstance(env, dict), where
        for k, v in env.items():
            assert re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k), (where, k)
            assert isinstance(v, (str, int, float, bool)), (where, k, v)
        for p in svc.get("ports", []):
            assert isinstance(p, str) and PORT.match(p), (where, p)
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{where}: depends_on with conditions"
        for dep, how in deps.items():
            assert dep in services and dep != name, (where, dep)
            assert set(how) <= {"condition", "restart", "required"}, how
            assert how.get("condition") in CONDITIONS, (where, dep, how)
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], (where, dep)
        hc = svc.get("healthcheck")
        if hc is not None:
            assert set(hc) <= HEALTH_KEYS, (where, hc)
            test = hc["test"]
            assert isinstance(test, str) or (
                isinstance(test, list) and
                test[0] in ("CMD", "CMD-SHELL", "NONE") and
                all(isinstance(t, str) for t in test)), (where, test)
            for k in ("interval", "timeout", "start_period"):
                if k in hc:
                    assert DURATION.match(str(hc[k])), (where, k, hc[k])
            if "retries" in hc:
                assert isinstance(hc["retries"], int) and hc["retries"] > 0
        for v in svc.get("volumes", []):
            assert isinstance(v, str), (where, v)
            src = v.split(":")[0]
            if src.startswith((".", "/")):
                assert (ROOT / src).exists(), (where, src)
            else:
                assert src in declared, (where, f"volume {src} undeclared")
    # depends_on has no cycle: compose refuses one.
    seen, done = set(), set()

    def visit(n):
        assert n not in seen - done, f"depends_on cycle through {n}"
        if n in done:
            return
        seen.add(n)
        for d in services[n].get("depends_on", {}):
            visit(d)
        done.add(n)
    for n in services:
        visit(n)


def test_compose_describes_the_mesh(compose):
    services = compose["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    kenv = env_of(kafka)
    assert set(kenv["KAFKA_PROCESS_ROLES"].split(",")) == {"broker",
                                                           "controller"}
    assert not any("ZOOKEEPER" in k for k in kenv)
    advertised = dict(l.split("://") for l in
                      kenv["KAFKA_ADVERTISED_LISTENERS"].split(","))
    inside = [a for a in advertised.values() if a.startswith("kafka:")]
    host = [a for a in advertised.values() if a.startswith("127.0.0.1:")]
    assert len(inside) == 1 and len(host) == 1, advertised
    host_port = host[0].split(":")[1]
    assert any(p.endswith(f":{host_port}:{host_port}")
               for p in kafka["ports"])
    assert kenv["KAFKA_LOG_DIRS"] in [v.split(":")[1]
                                      for v in kafka["volumes"]]

    pg = services["postgres"]
    assert "wal_level=logical" in " ".join(pg["command"])

    mesh = mesh_services(compose)
    by_program = {}
    for name, (program, svc) in mesh.items():
        by_program.setdefault(program, []).append((name, svc))
        env = env_of(svc)
        # Configuration only through MESH_* variables: no arguments, no
        # properties file.
        assert svc["command"] == [program], name
        assert all(k.startswith("MESH_") for k in env), name
        ops = env["MESH_OPS_LISTENER"].rsplit(":", 1)[1]
        test = " ".join(svc["healthcheck"]["test"])
        assert f"127.0.0.1:{ops}/healthz" in test, (name, test)
        if "MESH_KAFKA_BOOTSTRAP_SERVERS" in env:
            assert env["MESH_KAFKA_BOOTSTRAP_SERVERS"] == inside[0], name
            assert "kafka" in svc["depends_on"] or name != "registry"
    (reg_name, reg), = by_program["mesh-registry"]
    assert env_of(reg)["MESH_STORAGE"] == "kafka"
    reg_port = env_of(reg)["MESH_LISTENERS"].rsplit(":", 1)[1]
    (_, prod), = by_program["mesh-producer"]
    penv = env_of(prod)
    assert penv["MESH_SOURCE"] == "pg"
    assert "host=postgres" in penv["MESH_PG_CONNINFO"]
    (_, mat), = by_program["mesh-materializer"]
    menv = env_of(mat)
    assert menv["MESH_SINK"] in ("postgres", "sqlite")
    # The materializer reads what the producer writes.
    assert menv["MESH_TOPICS"].startswith(penv["MESH_TOPIC_PREFIX"] + ".")
    for env in (penv, menv):
        assert env["MESH_REGISTRY_URL"] == f"http://{reg_name}:{reg_port}"


def key_table(bins, program):
    """(keys {name: type text}, passthrough prefixes) from --help-markdown."""
    out = subprocess.run([str(bins / program), "--help-markdown"],
                         capture_output=True, text=True, timeout=30,
                         check=True).stdout
    keys = {}
    for m in re.finditer(r"^\| `([a-z0-9._-]+)` \| ([^|]*) \| ([^|]*) \|",
                         out, re.M):
        keys[m.group(1)] = (m.group(2).strip(), m.group(3).strip())
    prefixes = re.findall(r"`([a-z.]+)\.\*` keys as `MESH_", out)
    assert keys, out
    return keys, prefixes


def env_name(key):
    return "MESH_" + key.upper().replace(".", "_").replace("-", "_")


def check_value(key, typ, value):
    m = re.match(r"one of: (.*)", typ)
    if m:
        allowed = re.findall(r"`([^`]*)`", m.group(1))
        assert value in allowed, (key, value, allowed)
    m = re.match(r"integer in \[(-?\d+), (-?\d+)\]", typ)
    if m:
        assert int(m.group(1)) <= int(value) <= int(m.group(2)), (key, value)
    if typ.startswith("boolean"):
        assert value in ("true", "false"), (key, value)
    if typ.startswith("listener"):
        assert re.match(r"^(https?://)?[^:/]+:\d+$", value), (key, value)


def test_every_mesh_variable_is_a_key_of_its_program(bins, compose):
    for name, (program, svc) in mesh_services(compose).items():
        keys, prefixes = key_table(bins, program)
        by_env = {env_name(k): k for k in keys}
        for var, value in env_of(svc).items():
            if var in by_env:
                check_value(by_env[var], keys[by_env[var]][0], value)
                continue
            assert any(var.startswith(env_name(p) + "_") for p in prefixes), \
                f"service {name}: {var} is no key of {program}"
        given = {by_env[v] for v in env_of(svc) if v in by_env}
        required = {k for k, (_, dflt) in keys.items() if dflt == "required"}
        assert required <= given, (name, required - given)


def run_briefly(binary, env, cwd, log):
    """Runs binary with env for a few seconds at most; its exit code (-9
    when it was still running and got killed) and its output."""
    with open(log, "w") as out:
        proc = subprocess.Popen([str(binary)], env=env, cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT)
        # Letting time pass on purpose: a configuration error exits at
        # once; past this the program is connecting, or gave up on an
        # unresolvable host with exit 1.
        deadline = time.monotonic() + 3 * TIMEOUT_MULT
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return proc.returncode, log.read_text()


def test_programs_accept_the_configuration(bins, compose, tmp_path):
    """Each program run here with its service's environment gets past its
    configuration (exit 2 is a bad key or value).  State paths move under
    tmp_path and listeners to port 0 on loopback, so nothing is written or
    bound outside the test; the hosts (kafka, postgres, registry) do not
    resolve here, which the programs meet only after their configuration."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
    for name, (program, svc) in mesh_services(compose).items():
        env = dict(base)
        for var, value in env_of(svc).items():
            if value.startswith("/var/lib/meshwork"):
                value = str(tmp_path / name) + value[len("/var/lib/meshwork"):]
            if var.endswith("LISTENER") or var.endswith("LISTENERS"):
                value = re.sub(r"[^/:]+:\d+$", "127.0.0.1:0", value)
            env[var] = value
        rc, text = run_briefly(bins / program, env, tmp_path,
                               tmp_path / f"{name}.log")
        assert rc != 2, f"{name}: {text[-3000:]}"
        # The check can fail: one bad value and the same run exits 2.
        env["MESH_LOG_LEVEL"] = "chatty"
        rc, text = run_briefly(bins / program, env, tmp_path,
                               tmp_path / f"{name}-bad.log")
        assert rc == 2 and "MESH_LOG_LEVEL" in text, (name, rc, text)


def dockerfile_instructions():
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def dockerfile_stages():
    """[{"name", "ins": [(WORD, rest)]}] per FROM, checked on the way."""
    ins = dockerfile_instructions()
    known = {"FROM", "RUN", "COPY", "WORKDIR", "USER", "VOLUME", "CMD",
             "ENTRYPOINT", "ENV", "ARG", "EXPOSE", "LABEL", "HEALTHCHECK"}
    assert not {w for w, _ in ins} - known, ins
    stages, current = [], None
    for word, rest in ins:
        if word == "FROM":
            m = re.match(r"^(\S+)(?: AS (\S+))?$", rest, re.I)
            assert m, rest
            assert m.group(1) == "debian:12-slim", rest
            current = {"name": m.group(2), "ins": []}
            stages.append(current)
        else:
            assert current is not None, f"{word} before FROM"
            current["ins"].append((word, rest))
    assert len(stages) >= 2
    return stages


def runtime_runs(stages):
    return " ".join(r for w, r in stages[-1]["ins"] if w == "RUN")


def test_dockerfile_stages_and_sources():
    stages = dockerfile_stages()
    build, runtime = stages[0], stages[-1]
    names = [s["name"] for s in stages]

    ignored = [l.strip() for l in (ROOT / ".dockerignore").read_text()
               .splitlines() if l.strip() and not l.startswith("#")]
    copied = []
    for i, stage in enumerate(stages):
        for word, rest in stage["ins"]:
            if word != "COPY":
                continue
            args = rest.split()
            flags = [a for a in args if a.startswith("--")]
            paths = [a for a in args if not a.startswith("--")]
            src, _dst = paths[:-1], paths[-1]
            frm = [f.split("=", 1)[1] for f in flags
                   if f.startswith("--from=")]
            if frm:
                assert frm[0] in names[:i], f"COPY --from={frm[0]}"
                continue
            for s in src:
                assert (ROOT / s).exists(), f"COPY source {s} missing"
                assert s.rstrip("/").split("/")[0] not in ignored, s
                copied.append(s.rstrip("/"))
    # The build has every library folder and the Makefile.
    make = (ROOT / "Makefile").read_text()
    libdirs = re.search(r"^LIBDIRS := (.*?)\n\n", make, re.M | re.S).group(1)
    for d in libdirs.replace("\\", " ").split():
        assert any(d == c or d.startswith(c + "/") for c in copied), d
    assert "Makefile" in copied
    runs = " ".join(r for w, r in build["ins"] if w == "RUN")
    assert re.search(r"\bmake\b.*\bprograms\b", runs)

    rt_runs = runtime_runs(stages)
    assert not re.search(r"-dev\b|build-essential|\bgcc\b|\bmake\b",
                         rt_runs), rt_runs
    froms = [r for w, r in runtime["ins"] if w == "COPY" and "--from=" in r]
    assert any("/build/bin/" in r for r in froms), froms
    assert ("USER", "mesh") in runtime["ins"]


def test_runtime_stage_has_every_linked_library(bins):
    """The packages owning the shared libraries our programs link directly
    (NEEDED) are installed in the runtime stage (glibc's come with the
    base image; the sanitizers' only with this test build)."""
    rt_runs = runtime_runs(dockerfile_stages())
    base = {"libc6", "libasan8", "libubsan1", "libtsan2", "libgcc-s1"}
    missing = set()
    for program in ("mesh-registry", "mesh-producer", "mesh-materializer",
                    "mesh-broker", "meshctl"):
        binary = bins / program
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", str(binary)],
                                           capture_output=True, text=True,
                                           check=True).stdout)
        ldd = subprocess.run(["ldd", str(binary)], capture_output=True,
                             text=True, check=True).stdout
        paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
        for lib in needed:
            path = os.path.realpath(paths[lib])
            pkg = subprocess.run(["dpkg", "-S", path], capture_output=True,
                                 text=True)
            if pkg.returncode != 0:  # merged /usr: ask for the /lib alias
                pkg = subprocess.run(["dpkg", "-S", paths[lib]],
                                     capture_output=True, text=True)
            assert pkg.returncode == 0, (lib, path, pkg.stderr)
            name = pkg.stdout.split(":")[0]
            if name not in base and not re.search(
                    rf"(^|\s){re.escape(name)}(\s|$)", rt_runs):
                missing.add(f"{name} ({lib}, {program})")
    assert not missing, f"runtime stage lacks {sorted(missing)}"


def settings_of(bins, program, svc, where):
    """The service's MESH_* variables as the program's keys, values with
    the compose addresses replaced by where's (old -> new substrings)."""
    keys, prefixes = key_table(bins, program)
    by_env = {env_name(k): k for k in keys}
    out = {}
    for var, value in env_of(svc).items():
        for old, new in where.items():
            value = value.replace(old, new)
        if var in by_env:
            key = by_env[var]
        else:
            p = next(p for p in prefixes if var.startswith(env_name(p) + "_"))
            key = p + "." + var[len(env_name(p)) + 1:].lower().replace("_",
                                                                     ".")
        if "listener" in key:
            value = re.sub(r"[^/:]+:\d+$", "127.0.0.1:0", value)
        out[key] = value
    return out


def test_compose_configuration_runs_outside_docker(
        bins, tmp_path, compose, real_kafka, postgres, make_registry,
        make_producer, make_materializer):
    """The compose services' configuration, with only the addresses and
    state paths changed, carries a row from the operational database to
    the output port on a real Apache Kafka (the tests' fixture, as the
    compose file's `apache/kafka` service): mesh-registry on Kafka storage,
    the pg producer on a database set up by docker/postgres-init.sql, the
    postgres materializer."""
    # The container's databases and role on the session's PostgreSQL.
    postgres.psql("DO $$ BEGIN CREATE ROLE mesh LOGIN SUPERUSER; "
                  "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    for db in ("shop", "analytics"):
        postgres.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    postgres.psql("CREATE DATABASE shop OWNER mesh")
    init = re.sub(r"--[^\n]*", "",
                  (ROOT / "docker" / "postgres-init.sql").read_text())
    for stmt in (s.strip() for s in init.split(";")):
        if stmt:
            postgres.psql(stmt, dbname="shop")

    mesh = mesh_services(compose)
    where = {"kafka:29092": real_kafka.bootstrap,
             "host=postgres": f"host=127.0.0.1 port={postgres.port}"}

    def conf(name):
        program, svc = mesh[name]
        w = dict(where, **{"/var/lib/meshwork": str(tmp_path / name)})
        return settings_of(bins, program, svc, w)

    reg_conf = conf("registry")
    # The test's MeshRegistry waits for the url file in a data.dir of its
    # own: only that path differs.
    assert reg_conf.pop("data.dir").startswith(str(tmp_path))
    registry = make_registry(sets=reg_conf)
    assert registry.get("/healthz")[1]["status"] == "ok"
    assert registry.get("/ui")[0] == 200
    where["http://registry:8081"] = registry.url
    producer = make_producer(sets=conf("producer"))
    mat = make_materializer(sets=conf("materializer"))
    try:
        assert producer.health()[0] == 200 and mat.health()[0] == 200
        postgres.psql("INSERT INTO orders (id, customer_email, amount) "
                      "VALUES (1, 'a@example.com', 9.5)", dbname="shop")
        deadline = time.monotonic() + 60 * TIMEOUT_MULT
        got = None
        while got != "a@example.com|9.5":
            assert time.monotonic() < deadline, (got, mat.log()[-3000:])
            time.sleep(0.2)  # polling the output port
            try:
                got = postgres.psql("SELECT customer_email, amount FROM "
                                    "shop_public_orders WHERE id = 1",
                                    dbname="analytics")
            except RuntimeError:
                got = None  # the table comes with the first batch
    finally:
        assert mat.stop() == 0, mat.log()[-3000:]
        assert producer.stop() == 0, producer.log()[-3000:]
        # Slots are per server: this one must not hold WAL for the session.
        postgres.psql("SELECT count(pg_drop_replication_slot(slot_name)) "
                      "FROM pg_replication_slots WHERE database = 'shop'")
