"""Connection storms: mesh-registry serves at most listener.max.connections
connections at once and answers a request on any further one with a clean
503 (JSON body, Retry-After, connection closed), counted in
mesh_http_connections_refused_total; it never crashes and keeps serving
once the storm is over.  A bad bound is refused at start-up naming the key.
"""

import concurrent.futures
import http.client
import json
import re
import subprocess
import urllib.parse

from realkafka import free_ports

CT = "application/vnd.schemaregistry.v1+json"


def conn_to(url):
    u = urllib.parse.urlsplit(url)
    assert u.hostname == "127.0.0.1"
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def get(conn, path):
    conn.request("GET", path, headers={"Accept": CT})
    resp = conn.getresponse()
    return resp.status, dict(resp.getheaders()), resp.read()


def metric(ops_url, name, labels):
    c = conn_to(ops_url)
    try:
        status, _, body = get(c, "/metrics")
    finally:
        c.close()
    assert status == 200
    m = re.search(rf'^{name}\{{{re.escape(labels)}\}} (\S+)$',
                  body.decode(), re.M)
    assert m, f"{name}{{{labels}}} missing"
    return float(m.group(1))


def ops_url_of(reg):
    return "http://" + reg.settings["ops.listener"]


def test_bound_refuses_cleanly_and_recovers(make_registry):
    reg = make_registry(sets={"listener.max.connections": "3",
                              "ops.listener": f"127.0.0.1:{free_ports(1)[0]}"})
    ops = ops_url_of(reg)
    # Three keep-alive connections hold every slot.
    held = [conn_to(reg.url) for _ in range(3)]
    for c in held:
        assert get(c, "/subjects")[0] == 200
    assert metric(ops, "mesh_http_connections_open",
                  'listener="registry"') == 3
    # Every further connection is refused with a clean 503.
    for _ in range(10):
        c = conn_to(reg.url)
        status, headers, body = get(c, "/subjects")
        assert status == 503, body
        assert headers.get("Retry-After") == "1"
        assert headers.get("Connection", "").lower() == "close"
        js = json.loads(body)
        assert js["error_code"] == 503 and "too many connections" in \
            js["message"]
        c.close()
    assert metric(ops, "mesh_http_connections_refused_total",
                  'listener="registry"') == 10
    # The held connections keep being served.
    for c in held:
        assert get(c, "/subjects")[0] == 200
    for c in held:
        c.close()
    # Once they are closed their slots are free again: a new connection
    # serves (the registry notices each close on its own time, so the
    # loop waits for that, not for a duration).
    for _ in range(200):
        c = conn_to(reg.url)
        status, _, _ = get(c, "/subjects")
        c.close()
        if status == 200:
            break
    assert status == 200


def test_storm_of_concurrent_connections(make_registry):
    reg = make_registry(sets={"listener.max.connections": "4",
                              "ops.listener": f"127.0.0.1:{free_ports(1)[0]}"})
    ops = ops_url_of(reg)
    text = json.dumps({"type": "record", "name": "S", "fields": []})
    reg.register("storm", text)

    def one(_):
        c = conn_to(reg.url)
        try:
            return get(c, "/subjects/storm/versions/1")[0]
        finally:
            c.close()

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(one, range(400)))
    assert set(statuses) <= {200, 503}, set(statuses)
    refused = statuses.count(503)
    assert metric(ops, "mesh_http_connections_refused_total",
                  'listener="registry"') == refused
    # Still serving, and the open count never went past the bound.
    assert metric(ops, "mesh_http_connections_open",
                  'listener="registry"') <= 4
    assert reg.get("/subjects")[1] == ["storm"]


def test_bad_bound_refused_at_start(bins, tmp_path):
    for bad in ("0", "-5", "many"):
        proc = subprocess.run(
            [str(bins / "mesh-registry"), "--set",
             "listeners=http://127.0.0.1:0", "--set",
             f"data.dir={tmp_path / 'd'}", "--set",
             f"listener.max.connections={bad}"],
            capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "listener.max.connections" in proc.stderr


def held_then_refused(url, max_conns, path):
    """max_conns keep-alive connections get path; the next one is refused
    with a clean 503.  Returns the held connections (caller closes)."""
    held = [conn_to(url) for _ in range(max_conns)]
    for c in held:
        assert get(c, path)[0] in (200, 404)
    c = conn_to(url)
    status, headers, body = get(c, path)
    c.close()
    assert status == 503, body
    assert headers.get("Retry-After") == "1"
    assert "too many connections" in json.loads(body)["message"]
    return held


def test_ops_listener_bound(make_registry):
    reg = make_registry(sets={"ops.max.connections": "2",
                              "ops.listener": f"127.0.0.1:{free_ports(1)[0]}"})
    ops = ops_url_of(reg)
    held = held_then_refused(ops, 2, "/healthz")
    # The REST listener has its own bound and reports the ops refusal.
    status, body = reg.get("/metrics")
    assert status == 200
    assert 'mesh_http_connections_refused_total{listener="ops"} 1' in body
    for c in held:
        c.close()


def test_producer_http_source_bound(make_producer, mesh_broker, registry):
    prod = make_producer(sets={
        "source": "http", "registry.url": registry.url,
        "kafka.bootstrap.servers": mesh_broker.bootstrap,
        "http.max.connections": "2"})
    held = held_then_refused(prod.http, 2, "/topics")
    for c in held:
        c.close()
    c = conn_to(prod.ops)
    status, _, body = get(c, "/metrics")
    c.close()
    assert status == 200
    assert 'mesh_http_connections_refused_total{listener="http"} 1' in \
        body.decode()


class FlakyRegistry:
    """A third-party stand-in on loopback: answers GET /schemas/ids/1 with
    `failures` transient errors (status `status`) before the schema."""

    def __init__(self, failures, status=503):
        import http.server
        import threading

        self.calls = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer.calls += 1
                if outer.calls <= failures:
                    code, body = status, json.dumps(
                        {"error_code": status, "message": "busy"})
                else:
                    code, body = 200, json.dumps({"schema": '"string"'})
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", CT)
                self.send_header("Content-Length", str(len(data)))
                if code != 200:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def schema_get(bins, url):
    return subprocess.run([str(bins / "meshctl"), "--registry", url,
                           "schema", "get", "--id", "1"],
                          capture_output=True, text=True, timeout=120)


def test_client_retries_transient_answers_then_recovers(bins):
    for status in (503, 429, 500):
        flaky = FlakyRegistry(failures=3, status=status)
        try:
            proc = schema_get(bins, flaky.url)
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.strip() == '"string"'
            assert flaky.calls == 4
        finally:
            flaky.close()


def test_client_gives_up_after_bounded_retries(bins):
    flaky = FlakyRegistry(failures=1000)
    try:
        proc = schema_get(bins, flaky.url)
        assert proc.returncode == 1
        assert "503" in proc.stderr
        # One call and SR_CLIENT_RETRIES (5) retries, no more.
        assert flaky.calls == 6
    finally:
        flaky.close()


def test_client_does_not_retry_client_errors(bins):
    flaky = FlakyRegistry(failures=1000, status=422)
    try:
        proc = schema_get(bins, flaky.url)
        assert proc.returncode == 1
        assert flaky.calls == 1
    finally:
        flaky.close()


def test_client_retries_connection_refused_within_bound(bins):
    port = free_ports(1)[0]  # nothing listens there
    proc = schema_get(bins, f"http://127.0.0.1:{port}")
    assert proc.returncode == 1
    assert f"127.0.0.1:{port}" in proc.stderr


def test_client_keeps_one_connection_under_concurrent_use(
        make_registry, make_producer, mesh_broker):
    """The producer's registry client keeps one keep-alive connection (its
    pool's bound): eight threads posting to eight new topics at once make
    the registry admit one connection from it, not one per lookup."""
    import threading

    reg = make_registry(sets={"ops.listener":
                              f"127.0.0.1:{free_ports(1)[0]}"})
    ops = ops_url_of(reg)
    schema = {"type": "record", "name": "P", "fields": [
        {"name": "n", "type": "long"}]}
    topics = [f"pool-{i}" for i in range(8)]
    for t in topics:
        mesh_broker.create_topic(t, 1)
        assert reg.register(f"{t}-value", schema)[0] == 200
    prod = make_producer(sets={
        "source": "http", "registry.url": reg.url,
        "kafka.bootstrap.servers": mesh_broker.bootstrap})
    label = 'listener="registry"'
    before = metric(ops, "mesh_http_connections_total", label)
    errors = []

    def post(topic):
        u = urllib.parse.urlsplit(prod.http)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            for i in range(5):
                c.request("POST", f"/topics/{topic}", body=json.dumps(
                    {"records": [{"value": {"n": i}}]}), headers={
                    "Content-Type": "application/vnd.kafka.avro.v2+json",
                    "Accept": "application/vnd.kafka.v2+json"})
                resp = c.getresponse()
                body = resp.read()
                if resp.status != 200:
                    errors.append((resp.status, body))
        finally:
            c.close()

    threads = [threading.Thread(target=post, args=(t,)) for t in topics]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    # Every topic's schema was looked up (eight misses), over one
    # connection.
    assert metric(ops, "mesh_http_connections_total", label) - before == 1
    assert metric(ops, "mesh_http_connections_open", label) >= 1
