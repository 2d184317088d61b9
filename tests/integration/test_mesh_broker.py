"""mesh-broker: lifecycle, control endpoint, bootstrap proxy, kcat, faults,
configuration errors.

Every broker binds port 0 and gets its own state.dir; topic names are unique
per test.  Fixtures (bins, mesh_broker, make_mesh_broker, unique_topic) come
from conftest.py.  kcat (Debian) proves a third-party client works through the
stable bootstrap address.
"""

import json
import pathlib
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from meshbroker import TIMEOUT_MULT  # noqa: E402

KCAT = shutil.which("kcat")


@pytest.fixture
def kcat_installed():
    # kcat is one of make deps's Debian packages: missing is a broken setup,
    # not a reason to skip the compatibility checks.
    assert KCAT is not None, "kcat not installed: run `make deps`"


needs_kcat = pytest.mark.usefixtures("kcat_installed")
# The mock answers an empty fetch only after fetch.wait.max.ms.
KCAT_CONSUMER_OPTS = ["-X", "fetch.wait.max.ms=10"]


def run(args, timeout=30.0, **kw):
    return subprocess.run(args, capture_output=True, timeout=timeout *
                          TIMEOUT_MULT, **kw)


def kcat_metadata(bootstrap):
    res = run([KCAT, "-b", bootstrap, "-L", "-J", "-m", "10"])
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(res.stdout)


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=10 * TIMEOUT_MULT) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# ---- lifecycle ---------------------------------------------------------------

def test_start_writes_state_files_and_stops_with_zero(make_mesh_broker):
    mb = make_mesh_broker(brokers=2)
    state = mb.state_dir
    assert (state / "bootstrap").read_text().endswith("\n")
    host, port = mb.bootstrap.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert mb.control.startswith("http://127.0.0.1:")
    assert len(mb.brokers.split(",")) == 2
    assert mb.stop() == 0
    log = mb.log()
    assert 'msg="mesh-broker ready"' in log
    assert "bootstrap=%s" % mb.bootstrap in log and "brokers=2" in log


def test_port_in_use_is_a_runtime_error(bins, tmp_path, mesh_broker):
    other = tmp_path / "other"
    other.mkdir()
    res = run([str(bins / "mesh-broker"),
               "--set", "bootstrap.listener=%s" % mesh_broker.bootstrap,
               "--set", "control.listener=127.0.0.1:0",
               "--set", "state.dir=%s" % (other / "state")])
    assert res.returncode == 1
    err = res.stderr.decode()
    assert "bootstrap.listener" in err and "cannot listen" in err
    assert not (other / "state" / "bootstrap").exists()


# ---- control endpoint ---------------------------------------------------------

def test_create_list_get_topic(mesh_broker, unique_topic):
    created = mesh_broker.create_topic(unique_topic, 3,
                                       {"cleanup.policy": "compact"})
    assert created == {"name": unique_topic, "partitions": 3,
                       "replication_factor": 3,
                       "configs": {"cleanup.policy": "compact"}}
    listed = {t["name"]: t for t in mesh_broker.topics()}
    assert listed[unique_topic] == created
    assert mesh_broker.topic(unique_topic) == created
    one = mesh_broker.create_topic(unique_topic + "-rf1", 1,
                                   replication_factor=1)
    assert one["replication_factor"] == 1 and one["configs"] == {}
    assert mesh_broker.topic(unique_topic + "-rf1")["replication_factor"] == 1


def test_duplicate_and_unknown_topic(mesh_broker, unique_topic):
    mesh_broker.create_topic(unique_topic, 2)
    status, body = mesh_broker.request("POST", "/topics",
                                       {"name": unique_topic, "partitions": 2})
    assert status == 409 and body["error_code"] == 409
    assert unique_topic in body["message"]
    status, body = mesh_broker.request("GET", "/topics/" + unique_topic + "-x")
    assert status == 404 and body["error_code"] == 404


@pytest.mark.parametrize("body,message", [
    ('{"name": "t", "partitions": 3', "malformed JSON at line 1"),
    ('[1, 2]', "must be a JSON object"),
    ({"partitions": 3}, 'missing field "name"'),
    ({"name": 5, "partitions": 3}, 'field "name" must be a topic name'),
    ({"name": "bad/name", "partitions": 3}, 'field "name" must be a topic'),
    ({"name": "ok", "partitions": 0}, 'field "partitions" must be an integer '
                                      'in 1..1000'),
    ({"name": "ok", "partitions": "3"}, 'field "partitions" must be an '
                                        'integer'),
    ({"name": "ok", "partitions": 1, "replication_factor": 4},
     'field "replication_factor" must be an integer in 1..3'),
    ({"name": "ok", "partitions": 1, "configs": {"retention.ms": 5}},
     'configs."retention.ms" must be a string'),
    ({"name": "ok", "partitions": 1, "configs": []},
     'field "configs" must be an object'),
])
def test_create_topic_bad_input(mesh_broker, body, message):
    status, res = mesh_broker.request("POST", "/topics", body)
    assert status == 400, res
    assert res["error_code"] == 400 and message in res["message"], res
    assert all(t["name"] != "ok" for t in mesh_broker.topics())


def test_unknown_path_and_method(mesh_broker):
    status, res = mesh_broker.request("GET", "/nope")
    assert status == 404 and res["error_code"] == 404
    status, res = mesh_broker.request("DELETE", "/topics")
    assert status == 405 and res["error_code"] == 405
    status, res = mesh_broker.request("POST", "/brokers/9/down")
    assert status == 404 and "broker 9 does not exist" in res["message"]


def test_http_through_bootstrap(mesh_broker, unique_topic):
    mesh_broker.create_topic(unique_topic, 2)
    status, text = http_get("http://%s/topics/%s" % (mesh_broker.bootstrap,
                                                     unique_topic))
    assert status == 200 and json.loads(text)["partitions"] == 2
    status, text = http_get("http://%s/healthz" % mesh_broker.bootstrap)
    assert status == 200 and json.loads(text)["status"] == "ok"
    status, text = http_get("http://%s/nope" % mesh_broker.bootstrap)
    assert status == 404


def test_large_bodies_through_bootstrap(mesh_broker, unique_topic):
    # ~900 KiB each way through the proxy: bounded queues must still carry
    # the whole body (backpressure pauses, it never truncates).
    big = "x" * (900 * 1024)
    body = json.dumps({"name": unique_topic, "partitions": 1,
                       "configs": {"big": big}}).encode()
    req = urllib.request.Request("http://%s/topics" % mesh_broker.bootstrap,
                                 data=body, method="POST")
    with urllib.request.urlopen(req, timeout=20 * TIMEOUT_MULT) as r:
        assert r.status == 201
    status, text = http_get("http://%s/topics/%s" % (mesh_broker.bootstrap,
                                                     unique_topic))
    assert status == 200 and json.loads(text)["configs"]["big"] == big
    req = urllib.request.Request("http://%s/topics" % mesh_broker.bootstrap,
                                 data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20 * TIMEOUT_MULT) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except (ConnectionError, urllib.error.URLError):
        status = "closed"
    assert status in (413, "closed")


def test_sigint_stops_with_zero(make_mesh_broker):
    mb = make_mesh_broker(brokers=1)
    mb.proc.send_signal(signal.SIGINT)
    assert mb.proc.wait(20 * TIMEOUT_MULT) == 0
    assert 'msg="shutdown requested"' in mb.log()


def test_metrics(mesh_broker):
    mesh_broker.broker_down(2)
    mesh_broker.broker_up(2)
    status, text = http_get(mesh_broker.control + "/metrics")
    assert status == 200
    assert 'mesh_broker_faults_total{kind="broker_down"} 1' in text
    assert 'mesh_broker_faults_total{kind="broker_up"} 1' in text
    assert "mesh_broker_brokers_up 3" in text
    assert "# TYPE mesh_broker_connections_total counter" in text
    assert 'mesh_broker_proxy_bytes_total{direction="upstream"}' in text


# ---- faults ---------------------------------------------------------------------

@needs_kcat
def test_broker_down_and_up(mesh_broker, unique_topic):
    mesh_broker.create_topic(unique_topic, 3)
    res = mesh_broker.broker_down(1)
    assert res["id"] == 1 and res["up"] is False
    brokers = {b["id"]: b for b in mesh_broker.broker_list()}
    assert brokers[1]["up"] is False and brokers[2]["up"] is True
    # The control endpoint's own Metadata client must not wait on the dead
    # broker (it would answer 503 after its 3 s deadline).
    assert unique_topic in [t["name"] for t in mesh_broker.topics()]
    # Broker 1 no longer accepts connections: the bootstrap proxy forwards
    # to broker 2, so a metadata listing through it still works.
    md = kcat_metadata(mesh_broker.bootstrap)
    assert {t["topic"]: len(t["partitions"]) for t in md["topics"]}[
        unique_topic] == 3
    res = run([KCAT, "-b", brokers[1]["address"], "-L", "-J", "-m", "2"])
    assert res.returncode != 0
    mesh_broker.broker_down(2)
    mesh_broker.broker_down(3)
    status, text = http_get(mesh_broker.control + "/healthz")
    assert status == 503 and "down" in json.loads(text)["reason"]
    for i in (1, 2, 3):
        assert mesh_broker.broker_up(i)["up"] is True
    assert all(b["up"] for b in mesh_broker.broker_list())
    md = kcat_metadata(brokers[1]["address"])
    assert {b["id"] for b in md["brokers"]} == {1, 2, 3}


def leaders(bootstrap, topic):
    md = kcat_metadata(bootstrap)
    part = {t["topic"]: t for t in md["topics"]}[topic]["partitions"]
    return {p["partition"]: p["leader"] for p in part}


@needs_kcat
def test_broker_down_moves_leaders(mesh_broker, unique_topic):
    mesh_broker.create_topic(unique_topic, 6)
    victim = leaders(mesh_broker.bootstrap, unique_topic)[0]
    res = mesh_broker.broker_down(victim)
    assert res["leaders_moved"] >= 1
    assert victim not in leaders(mesh_broker.bootstrap, unique_topic).values()
    # Every partition has an up leader: producing to all of them works while
    # the victim is down, and the messages read back.
    sent = ["m%02d" % i for i in range(60)]
    res = run([KCAT, "-b", mesh_broker.bootstrap, "-P", "-t", unique_topic,
               "-X", "message.timeout.ms=20000"],
              input=("\n".join(sent) + "\n").encode())
    assert res.returncode == 0, res.stderr.decode()
    res = run([KCAT, "-b", mesh_broker.bootstrap, "-C", "-t", unique_topic,
               "-e", "-o", "beginning", "-q"] + KCAT_CONSUMER_OPTS)
    assert res.returncode == 0, res.stderr.decode()
    assert sorted(res.stdout.decode().split()) == sent
    mesh_broker.broker_up(victim)


@needs_kcat
def test_broker_down_keeps_leaders_on_request(mesh_broker, unique_topic):
    mesh_broker.create_topic(unique_topic, 6)
    before = leaders(mesh_broker.bootstrap, unique_topic)
    victim = before[0]
    status, res = mesh_broker.request("POST", "/brokers/%d/down" % victim,
                                      {"move_leaders": False})
    assert status == 200 and res["leaders_moved"] == 0
    assert leaders(mesh_broker.bootstrap, unique_topic) == before
    status, res = mesh_broker.request("POST", "/brokers/%d/down" % victim,
                                      {"move_leaders": "no"})
    assert status == 400 and "move_leaders" in res["message"]


def test_rtt(mesh_broker):
    assert mesh_broker.set_rtt(2, 50) == {
        "id": 2, "address": mesh_broker.brokers.split(",")[1], "up": True,
        "rtt_ms": 50}
    assert {b["id"]: b["rtt_ms"] for b in mesh_broker.broker_list()}[2] == 50
    mesh_broker.set_rtt(2, 0)
    status, res = mesh_broker.request("PUT", "/brokers/2/rtt", {"rtt_ms": -1})
    assert status == 400 and "rtt_ms" in res["message"]
    status, res = mesh_broker.request("PUT", "/brokers/2/rtt", {})
    assert status == 400 and 'missing field "rtt_ms"' in res["message"]


def test_request_errors_api(mesh_broker):
    res = mesh_broker.push_errors("Produce", ["NOT_LEADER_FOR_PARTITION",
                                              "_TRANSPORT", 7])
    assert res == {"api_key": 0, "count": 3}
    assert mesh_broker.clear_errors("Produce") == {"api_key": 0,
                                                   "cleared": True}
    assert mesh_broker.push_errors(1, ["REQUEST_TIMED_OUT"])["api_key"] == 1
    mesh_broker.clear_errors("1")
    status, res = mesh_broker.request("POST", "/errors",
                                      {"api": "Produce", "errors": ["NOPE"]})
    assert status == 400 and 'errors[0]: unknown error "NOPE"' in \
        res["message"]
    status, res = mesh_broker.request("POST", "/errors",
                                      {"api": "Frobnicate", "errors": [1]})
    assert status == 400 and 'unknown api "Frobnicate"' in res["message"]
    status, res = mesh_broker.request("POST", "/errors", {"api": "Fetch"})
    assert status == 400 and 'field "errors"' in res["message"]


@needs_kcat
def test_pushed_produce_error_reaches_client(mesh_broker, unique_topic):
    mesh_broker.create_topic(unique_topic, 1)
    # A non-retriable error: the producer must report it, not retry it.
    mesh_broker.push_errors("Produce", ["TOPIC_AUTHORIZATION_FAILED"])
    res = run([KCAT, "-b", mesh_broker.bootstrap, "-P", "-t", unique_topic],
              input=b"one\n")
    assert b"authoriz" in res.stderr.lower(), res.stderr.decode()


# ---- kcat through the stable bootstrap --------------------------------------------

@needs_kcat
def test_kcat_produce_consume(mesh_broker, unique_topic):
    mesh_broker.create_topic(unique_topic, 2)
    sent = ["message-%03d" % i for i in range(100)]
    res = run([KCAT, "-b", mesh_broker.bootstrap, "-P", "-t", unique_topic],
              input=("\n".join(sent) + "\n").encode())
    assert res.returncode == 0, res.stderr.decode()
    res = run([KCAT, "-b", mesh_broker.bootstrap, "-C", "-t", unique_topic,
               "-e", "-o", "beginning", "-q"] + KCAT_CONSUMER_OPTS)
    assert res.returncode == 0, res.stderr.decode()
    got = res.stdout.decode().split()
    assert sorted(got) == sent


@needs_kcat
def test_kcat_lists_control_topic(mesh_broker, unique_topic):
    mesh_broker.create_topic(unique_topic, 5, {"cleanup.policy": "compact"})
    md = kcat_metadata(mesh_broker.bootstrap)
    topics = {t["topic"]: t for t in md["topics"]}
    assert len(topics[unique_topic]["partitions"]) == 5
    assert {b["id"] for b in md["brokers"]} == {1, 2, 3}


@needs_kcat
def test_auto_created_topic_is_listed(mesh_broker, unique_topic):
    res = run([KCAT, "-b", mesh_broker.bootstrap, "-P", "-t", unique_topic],
              input=b"auto\n")
    assert res.returncode == 0, res.stderr.decode()
    topic = mesh_broker.topic(unique_topic)
    assert topic["partitions"] == 4 and topic["configs"] == {}
    status, _ = mesh_broker.request("POST", "/topics",
                                    {"name": unique_topic, "partitions": 1})
    assert status == 409


# ---- configuration ---------------------------------------------------------------

@pytest.mark.parametrize("args,parts", [
    (["--set", "brokerz=3"], ["unknown key 'brokerz'", "did you mean "
                                                       "'brokers'"]),
    (["--set", "brokers=abc"], ["'brokers'", "'abc'", "not an integer"]),
    (["--set", "brokers=17"], ["'brokers'", "'17'", "[1, 16]"]),
    (["--set", "log.level=loud"], ["'log.level'", "debug, info, warn, error"]),
    (["--frobnicate"], ["unknown option '--frobnicate'"]),
])
def test_bad_config_exits_2(bins, tmp_path, args, parts):
    res = run([str(bins / "mesh-broker"),
               "--set", "state.dir=%s" % (tmp_path / "s")] + args)
    assert res.returncode == 2
    err = res.stderr.decode()
    for part in parts:
        assert part in err, err
    assert not (tmp_path / "s").exists()


def test_help_states_limits(bins):
    res = run([str(bins / "mesh-broker"), "--help"])
    assert res.returncode == 0
    text = res.stdout.decode()
    low = text.lower()
    assert "not durable" in low and "not for production" in low
    for part in ("5 MiB", "100,000", "fetch.wait.max.ms", "CreateTopics",
                 "session", "bootstrap.listener", "control.listener"):
        assert part in text, part
