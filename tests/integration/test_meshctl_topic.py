"""`meshctl topic create|list|describe` and meshctl's command line: table
and JSON output, exit codes (0 ok, 1 runtime failure, 2 usage/config) and
messages that name the culprit.  Mostly against mesh-broker (fast); the
create/describe round trip also against the real Kafka."""

import json
import subprocess

import pytest


def run(bins, *args, bootstrap=None, timeout=60, env=None):
    cmd = [str(bins / "meshctl")]
    if bootstrap:
        cmd += ["--bootstrap", bootstrap]
    return subprocess.run(cmd + list(args), capture_output=True,
                          timeout=timeout, env=env)


def test_create_list_describe(cluster, bins, unique_topic):
    boot = cluster.bootstrap
    res = run(bins, "topic", "create", unique_topic, "--partitions", "5",
              bootstrap=boot)
    assert res.returncode == 0, res.stderr
    res = run(bins, "topic", "list", bootstrap=boot)
    assert res.returncode == 0, res.stderr
    header, *rows = res.stdout.decode().splitlines()
    assert header.split() == ["NAME", "PARTITIONS", "REPLICATION"]
    row = [r.split() for r in rows if r.split()[0] == unique_topic]
    assert len(row) == 1 and row[0][1] == "5" and int(row[0][2]) >= 1
    res = run(bins, "--json", "topic", "list", bootstrap=boot)
    topics = {t["name"]: t for t in json.loads(res.stdout)["topics"]}
    assert topics[unique_topic]["partitions"] == 5
    res = run(bins, "topic", "describe", unique_topic, bootstrap=boot)
    assert res.returncode == 0, res.stderr
    assert f"name: {unique_topic}" in res.stdout.decode()
    assert "partitions: 5" in res.stdout.decode()
    # A new topic: every partition empty, nothing dropped, no warning.
    for p in range(5):
        assert f"  partition {p}: low=0 high=0\n" in res.stdout.decode()
    assert "warning:" not in res.stdout.decode()


def test_exists_and_if_not_exists(mesh_broker, bins, unique_topic):
    boot = mesh_broker.bootstrap
    assert run(bins, "topic", "create", unique_topic,
               bootstrap=boot).returncode == 0
    res = run(bins, "topic", "create", unique_topic, bootstrap=boot)
    assert res.returncode == 1
    assert b"already exists" in res.stderr
    assert run(bins, "topic", "create", unique_topic, "--if-not-exists",
               bootstrap=boot).returncode == 0


def test_describe_missing_topic(mesh_broker, bins, unique_topic):
    res = run(bins, "topic", "describe", unique_topic,
              bootstrap=mesh_broker.bootstrap)
    assert res.returncode == 1
    assert b"does not exist" in res.stderr


@pytest.mark.parametrize("args,needle", [
    (["topic", "create", "t", "--partitions", "0"], "--partitions"),
    (["topic", "create", "t", "--partitions"], "--partitions"),
    (["topic", "create", "t", "--config", "novalue"], "--config"),
    (["topic", "create"], "NAME"),
    (["topic", "create", "t", "--bogus"], "--bogus"),
    (["topic", "frobnicate"], "frobnicate"),
    (["topic", "describe"], "NAME"),
    (["frobnicate"], "frobnicate"),
    (["console", "consume", "t", "--format", "%z"], "%z"),
    (["console", "produce"], "TOPIC"),
    (["--set", "json=maybe", "topic", "list"], "json"),
    (["--set", "kafka.no.such.property=1", "topic", "list"],
     "kafka.no.such.property"),
])
def test_usage_errors_exit_2(bins, args, needle):
    # No cluster is contacted: every one fails before any network call.
    res = run(bins, "--bootstrap", "127.0.0.1:1", *args)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr.decode()


def test_bootstrap_from_environment(mesh_broker, bins, unique_topic):
    env = {"MESH_BOOTSTRAP": mesh_broker.bootstrap, "PATH": "/usr/bin:/bin"}
    res = run(bins, "topic", "create", unique_topic, env=env)
    assert res.returncode == 0, res.stderr
    assert unique_topic in {t["name"] for t in mesh_broker.topics()}


def test_help_exits_0(bins):
    res = run(bins, "--help")
    assert res.returncode == 0
    assert b"topic create" in res.stdout
