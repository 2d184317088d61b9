"""mesh-producer core: configuration, lifecycle, ops endpoint, record headers,
and the emitter (schema resolution, encoding errors, back-pressure, dead
letters, degraded state) driven through tests/tools/pr_emit_tool."""

import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from producer import read_topic

ORDER = {"type": "record", "name": "Order", "namespace": "acme",
         "fields": [{"name": "id", "type": "long"},
                    {"name": "price", "type": "double"}]}
AVRO_CT = "application/vnd.kafka.avro.v2+json"


def http(method, url, body=None, ctype="application/json", timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


# ------------------------------------------------------------ configuration

BAD_CONFIGS = [
    ("unknown-key", ["sorce=http"],
     ["unknown key 'sorce'", "did you mean 'source'"]),
    ("bad-enum", ["source=bogus"],
     ["key 'source'", "'bogus'", "http, file"]),
    ("bad-kafka", ["source=http", "kafka.acks=maybe"],
     ["key 'kafka.acks'", "request.required.acks"]),
    ("unknown-kafka", ["source=http", "kafka.no.such.property=1"],
     ["key 'kafka.no.such.property'"]),
    ("file-without-topic", ["source=file", "file.paths=-"],
     ["key 'topic': required with source=file"]),
    ("bad-version", ["source=http", "value.schema.version=newest",
                     "http.listener=127.0.0.1:0"],
     ["key 'value.schema.version'", "'newest'"]),
    ("bad-topic", ["source=http", "topic=no/slash",
                   "http.listener=127.0.0.1:0"],
     ["key 'topic'", "'no/slash'"]),
    ("bad-headers", ["source=http", "headers=some",
                     "http.listener=127.0.0.1:0"],
     ["key 'headers'", "'some'"]),
    ("missing-source", [], ["source"]),
]


@pytest.mark.parametrize("name,sets,parts", BAD_CONFIGS,
                         ids=[c[0] for c in BAD_CONFIGS])
def test_bad_configuration_exits_2(bins, tmp_path, timeout, name, sets,
                                   parts):
    args = [str(bins / "mesh-producer"),
            "--set", f"ready.file={tmp_path / 'ready.json'}"]
    for kv in sets:
        args += ["--set", kv]
    proc = subprocess.run(args, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout(30))
    assert proc.returncode == 2, proc.stderr
    for part in parts:
        assert part in proc.stderr, proc.stderr
    assert not (tmp_path / "ready.json").exists()


def test_help_lists_every_key(bins, timeout):
    proc = subprocess.run([str(bins / "mesh-producer"), "--help"],
                          capture_output=True, text=True, timeout=timeout(30))
    assert proc.returncode == 0
    for key in ("source", "topic", "registry.url", "kafka.bootstrap.servers",
                "ops.listener", "http.listener", "file.paths", "file.format",
                "file.key.field", "checkpoint.dir", "value.subject",
                "value.schema.id", "value.schema.version", "key.subject",
                "subject.name.strategy", "auto.register", "dlq.topic",
                "max.inflight.bytes", "shutdown.timeout.ms", "ready.file"):
        assert key in proc.stdout, key


# ---------------------------------------------------------------- lifecycle

def test_sigterm_with_nothing_in_flight_exits_0(make_producer, mesh_broker,
                                                registry):
    prod = make_producer({"source": "http", "registry.url": registry.url,
                          "kafka.bootstrap.servers": mesh_broker.bootstrap})
    assert prod.http and prod.ops
    assert prod.stop() == 0
    assert "mesh-producer stopped" in prod.log()


def test_ops_healthz_and_metrics(make_producer, mesh_broker, registry):
    prod = make_producer({"source": "http", "registry.url": registry.url,
                          "kafka.bootstrap.servers": mesh_broker.bootstrap})
    status, _, body = http("GET", prod.ops + "/healthz")
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"
    status, headers, body = http("GET", prod.ops + "/metrics")
    assert status == 200
    assert "text/plain" in headers.get("Content-Type", "")
    assert "# TYPE mesh_kafka_outq_msgs gauge" in body


# The headers each `headers` mode puts on an event (traceparent aside).
HEADER_MODES = {"none": set(), "source": {"mesh.source"},
                "all": {"mesh.source", "mesh.position"}}


def mesh_headers(headers):
    return {h for h in headers if h.startswith("mesh.")}


@pytest.mark.parametrize("mode", ["default", "source", "all"])
def test_http_records_carry_the_configured_headers(make_producer, mesh_broker,
                                                   registry, unique_topic,
                                                   timeout, mode):
    mesh_broker.create_topic(unique_topic, 3)
    status, reg = registry.register(unique_topic + "-value", ORDER)
    assert status == 200, reg
    sets = {"source": "http", "registry.url": registry.url,
            "kafka.bootstrap.servers": mesh_broker.bootstrap}
    if mode != "default":
        sets["headers"] = mode
    prod = make_producer(sets)
    records = [{"value": {"id": i, "price": i / 2}} for i in range(5)]
    status, _, body = http("POST", f"{prod.http}/topics/{unique_topic}",
                           {"value_schema_id": reg["id"],
                            "records": records}, ctype=AVRO_CT,
                           timeout=timeout(30))
    assert status == 200, body
    got = read_topic(mesh_broker.bootstrap, unique_topic, registry.url, 5,
                     timeout(30))
    assert sorted(v["id"] for _, v, _, _, _ in got) == list(range(5))
    want = HEADER_MODES["none" if mode == "default" else mode]
    for _, _, headers, _, _ in got:
        assert mesh_headers(headers) == want, headers
        if want:
            assert headers["mesh.source"] == "http"
        if "mesh.position" in want:
            assert re.fullmatch(r".+:\d+", headers["mesh.position"]), headers
    status, _, body = http("GET", prod.ops + "/metrics")
    line = f'mesh_producer_events_out_total{{topic="{unique_topic}"}} 5'
    assert line in body, body


@pytest.mark.parametrize("mode", ["none", "source", "all"])
def test_file_records_carry_the_configured_headers(make_producer, mesh_broker,
                                                   registry, unique_topic,
                                                   tmp_path, timeout, mode):
    mesh_broker.create_topic(unique_topic, 1)
    status, reg = registry.register(unique_topic + "-value", ORDER)
    assert status == 200, reg
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"id": i, "price": 1.25}) + "\n" for i in range(3)]
    path.write_text("".join(lines))
    (tmp_path / "ckpt").mkdir()
    prod = make_producer({"source": "file", "topic": unique_topic,
                          "file.paths": str(path), "headers": mode,
                          "checkpoint.dir": str(tmp_path / "ckpt"),
                          "registry.url": registry.url,
                          "kafka.bootstrap.servers": mesh_broker.bootstrap})
    got = read_topic(mesh_broker.bootstrap, unique_topic, registry.url, 3,
                     timeout(30))
    assert [v["id"] for _, v, _, _, _ in got] == [0, 1, 2]
    offsets = []
    for _, _, headers, _, _ in got:
        assert mesh_headers(headers) == HEADER_MODES[mode], headers
        if mode == "none":
            continue
        assert headers["mesh.source"] == "file"
        if mode == "all":
            where, _, offset = headers["mesh.position"].rpartition(":")
            assert where == str(path), headers
            offsets.append(int(offset))
    if mode == "all":
        assert offsets == [0, len(lines[0]), len(lines[0]) + len(lines[1])]
    assert prod.stop() == 0


# ------------------------------------------------------------------ emitter

def run_tool(tools, events, sets, timeout_s=60):
    args = [str(tools / "pr_emit_tool")]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    proc = subprocess.run(args, input="".join(json.dumps(e) + "\n"
                                              for e in events),
                          capture_output=True, text=True, timeout=timeout_s)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    summary = out.pop()["summary"]
    return sorted(out, key=lambda r: r["line"]), summary


@pytest.fixture
def emit_env(mesh_broker, registry, unique_topic):
    mesh_broker.create_topic(unique_topic, 3)
    return {"topic": unique_topic, "registry.url": registry.url,
            "kafka.bootstrap.servers": mesh_broker.bootstrap}


def test_emit_invalid_value_names_json_path(tools, registry, emit_env,
                                            timeout):
    topic = emit_env["topic"]
    reg_st, reg_js = registry.register(topic + "-value", ORDER)
    assert reg_st == 200, reg_js
    events = [{"value": {"id": 1, "price": 2.5}},
              {"value": {"id": 2, "price": "cheap"}},
              {"value": {"id": 3, "price": 1.0, "colour": "red"}}]
    res, _ = run_tool(tools, events, emit_env, timeout(60))
    assert res[0]["code"] == "MW_OK" and res[0]["offset"] >= 0
    assert res[1]["code"] == "MW_ERR_INVALID" and res[1]["sync"]
    assert res[1]["error"].startswith("$.price"), res[1]
    assert res[2]["code"] == "MW_ERR_INVALID"
    assert "colour" in res[2]["error"], res[2]


def test_emit_subject_missing_is_not_found(tools, emit_env, timeout):
    res, _ = run_tool(tools, [{"value": {"id": 1, "price": 1.0}}], emit_env,
                      timeout(60))
    assert res[0]["code"] == "MW_ERR_NOT_FOUND"
    assert f"{emit_env['topic']}-value" in res[0]["error"]


def test_emit_inline_schema_needs_auto_register(tools, registry, emit_env,
                                                timeout):
    topic = emit_env["topic"]
    ev = {"value": {"id": 7, "price": 1.0}, "value_schema": json.dumps(ORDER)}
    res, _ = run_tool(tools, [ev], emit_env, timeout(60))
    assert res[0]["code"] == "MW_ERR_NOT_FOUND"
    assert "auto.register" in res[0]["error"]
    res, _ = run_tool(tools, [ev], dict(emit_env, **{"auto.register": "true"}),
                      timeout(60))
    assert res[0]["code"] == "MW_OK", res
    status, ver = registry.get(f"/subjects/{topic}-value/versions/latest")
    assert status == 200 and ver["id"] == res[0]["value_schema_id"]
    got = read_topic(emit_env["kafka.bootstrap.servers"], topic,
                     registry.url, 1, timeout(30))
    assert got[0][1] == {"id": 7, "price": 1.0}


def test_emit_topic_record_strategy(tools, registry, emit_env, timeout):
    topic = emit_env["topic"]
    sets = dict(emit_env, **{"auto.register": "true",
                             "subject.name.strategy": "topic_record"})
    ev = {"value": {"id": 1, "price": 1.0}, "value_schema": json.dumps(ORDER)}
    res, _ = run_tool(tools, [ev], sets, timeout(60))
    assert res[0]["code"] == "MW_OK", res
    status, _ = registry.get(f"/subjects/{topic}-acme.Order/versions/latest")
    assert status == 200
    # Without the schema the record name is unknown: refused, not guessed.
    res, _ = run_tool(tools, [{"value": {"id": 2, "price": 1.0}}], sets,
                      timeout(60))
    assert res[0]["code"] == "MW_ERR_NOT_FOUND"
    assert "subject.name.strategy" in res[0]["error"]


def test_emit_bounded_inflight_bytes(tools, registry, emit_env, timeout):
    topic = emit_env["topic"]
    reg_st, reg_js = registry.register(topic + "-value", ORDER)
    assert reg_st == 200, reg_js
    bound = 4096
    events = [{"value": {"id": i, "price": 0.5}, "key": f"k{i % 7}"}
              for i in range(2000)]
    res, summary = run_tool(tools, events, dict(emit_env, **{
        "max.inflight.bytes": str(bound)}), timeout(120))
    assert all(r["code"] == "MW_OK" for r in res), \
        [r for r in res if r["code"] != "MW_OK"][:3]
    assert len(res) == 2000
    assert summary["full_cnt"] > 0
    assert summary["peak_inflight_bytes"] <= bound
    got = read_topic(emit_env["kafka.bootstrap.servers"], topic,
                     registry.url, 2000, timeout(60))
    assert sorted(v["id"] for _, v, _, _, _ in got) == list(range(2000))
    # Per key, the order of sending is kept.
    per_key = {}
    for key, value, _, _, _ in sorted(got, key=lambda r: (r[3], r[4])):
        per_key.setdefault(key, []).append(value["id"])
    for ids in per_key.values():
        assert ids == sorted(ids)


def test_emit_dead_letter_headers(tools, registry, emit_env, timeout):
    topic = emit_env["topic"]
    ev = {"dlq": "{not json", "reason": "line 3: invalid JSON",
          "source": "file", "position": "/var/log/app.jsonl:120",
          "traceparent": "00-0af7651916cd43dd8448eb211c80319c-"
                         "b7ad6b7169203331-01"}
    res, _ = run_tool(tools, [ev], emit_env, timeout(60))
    assert res[0]["code"] == "MW_OK"
    assert res[0]["topic"] == topic + ".dlq"
    got = read_topic(emit_env["kafka.bootstrap.servers"], topic + ".dlq",
                     registry.url, 1, timeout(30), decode=False)
    _, value, headers, _, _ = got[0]
    assert value == b"{not json"
    assert headers["mesh.error"] == "line 3: invalid JSON"
    assert headers["mesh.source"] == "file"
    assert headers["mesh.position"] == "/var/log/app.jsonl:120"
    assert headers["mesh.topic"] == topic
    assert headers["traceparent"] == ev["traceparent"]


def test_emit_degraded_when_all_brokers_down(tools, mesh_broker, registry,
                                             emit_env, timeout):
    topic = emit_env["topic"]
    reg_st, reg_js = registry.register(topic + "-value", ORDER)
    assert reg_st == 200, reg_js
    # Resolve the schema while the cluster is up, then take it down.
    res, _ = run_tool(tools, [{"value": {"id": 0, "price": 0.0}}], emit_env,
                      timeout(60))
    assert res[0]["code"] == "MW_OK"
    for broker in mesh_broker.broker_list():
        mesh_broker.broker_down(broker["id"])
    sets = dict(emit_env, **{"kafka.message.timeout.ms": "8000"})
    res, summary = run_tool(tools, [{"value": {"id": 1, "price": 1.0}}],
                            sets, timeout(90))
    assert res[0]["code"] in ("MW_ERR_TIMEOUT", "MW_ERR_TRANSPORT"), res
    assert summary["was_degraded"]
    for broker in mesh_broker.broker_list():
        mesh_broker.broker_up(broker["id"])


def test_brokers_down_health_and_shutdown_deadline(make_producer, mesh_broker,
                                                   registry, unique_topic,
                                                   tmp_path, timeout):
    """All brokers down: /healthz turns 503 while events wait; SIGTERM
    still exits 0 within shutdown.timeout.ms (the unacknowledged events are
    failed, not checkpointed); once the cluster is back a restart delivers
    every line."""
    import time

    mesh_broker.create_topic(unique_topic, 1)
    reg_st, reg_js = registry.register(unique_topic + "-value", ORDER)
    assert reg_st == 200, reg_js
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"id": i, "price": 1.0}) + "\n"
                            for i in range(3)))
    (tmp_path / "ckpt").mkdir()
    sets = {"source": "file", "topic": unique_topic, "file.paths": str(path),
            "checkpoint.dir": str(tmp_path / "ckpt"),
            "shutdown.timeout.ms": "1000",
            "registry.url": registry.url,
            "kafka.bootstrap.servers": mesh_broker.bootstrap}
    brokers = [b["id"] for b in mesh_broker.broker_list()]
    for b in brokers:
        mesh_broker.broker_down(b)
    prod = make_producer(sets)
    deadline = time.monotonic() + timeout(20)
    status, body = 200, ""
    while time.monotonic() < deadline:
        status, _, body = http("GET", prod.ops + "/healthz")
        if status == 503:
            break
        time.sleep(0.2)
    assert status == 503, body
    assert "kafka unreachable" in body
    started = time.monotonic()
    assert prod.stop() == 0, prod.log()[-3000:]
    assert time.monotonic() - started < timeout(10)
    for b in brokers:
        mesh_broker.broker_up(b)
    make_producer(sets)
    got = read_topic(mesh_broker.bootstrap, unique_topic, registry.url, 3,
                     timeout(30))
    assert sorted(v["id"] for _, v, _, _, _ in got) == [0, 1, 2]
