"""mesh-registry REST API against Confluent Schema Registry's contract: every
endpoint, every error_code, the details clients depend on, and bad input
(the registry must answer 4xx with a Confluent-style body and keep serving).

Each test gets its own journal-backed registry (fixture `registry`), stopped
with SIGTERM at teardown: exit 0 also proves no leak under ASan.
"""

import http.client
import json
import socket
import urllib.parse

import pytest

from registry import quote

CT = "application/vnd.schemaregistry.v1+json"


def rec(name, fields):
    return json.dumps({"type": "record", "name": name,
                       "fields": [dict({"name": n, "type": t}, **extra)
                                  for n, t, *rest in fields
                                  for extra in [rest[0] if rest else {}]]})


V1 = rec("User", [("id", "long")])
V2 = rec("User", [("id", "long"), ("name", "string", {"default": ""})])
V3_BAD = rec("User", [("id", "string")])  # long -> string: incompatible


def err(resp, status, code):
    st, body = resp
    assert st == status, (st, body)
    assert isinstance(body, dict) and body["error_code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return body["message"]


def ok(resp, status=200):
    st, body = resp
    assert st == status, (st, body)
    return body


# ---- basics ---------------------------------------------------------------

def test_root_and_types(registry):
    assert ok(registry.get("/")) == {}
    assert ok(registry.get("/schemas/types")) == ["AVRO"]


def test_register_get_and_ids(registry):
    r = registry
    assert ok(r.register("s1", V1)) == {"id": 1}
    # Same schema again (other spacing / key order): same id, no version.
    again = json.dumps(json.loads(V1), indent=2)
    assert ok(r.register("s1", again)) == {"id": 1}
    assert ok(r.get("/subjects/s1/versions")) == [1]
    # Same schema under another subject shares the id.
    assert ok(r.register("s2", V1)) == {"id": 1}
    assert ok(r.register("s1", V2)) == {"id": 2}
    v = ok(r.get("/subjects/s1/versions/2"))
    assert v["subject"] == "s1" and v["version"] == 2 and v["id"] == 2
    assert json.loads(v["schema"]) == json.loads(V2)
    assert "schemaType" not in v
    for latest in ("latest", "LATEST", "Latest", "-1"):
        assert ok(r.get(f"/subjects/s1/versions/{latest}"))["version"] == 2
    raw = ok(r.get("/subjects/s1/versions/1/schema"))
    assert raw == json.loads(V1)
    s = ok(r.get("/schemas/ids/2"))
    assert json.loads(s["schema"]) == json.loads(V2)
    assert ok(r.get("/schemas/ids/1/schema")) == json.loads(V1)
    assert sorted(ok(r.get("/schemas/ids/1/subjects"))) == ["s1", "s2"]
    assert sorted(ok(r.get("/schemas/ids/1/versions")),
                  key=lambda x: x["subject"]) == [
        {"subject": "s1", "version": 1}, {"subject": "s2", "version": 1}]
    # Newer clients' parameters are accepted.
    s = ok(r.get("/schemas/ids/2?fetchMaxId=true&subject=s1&format=x"))
    assert s["maxId"] == 2
    assert ok(r.get("/subjects")) == ["s1", "s2"]
    assert ok(r.get("/subjects?subjectPrefix=s2")) == ["s2"]
    all_ = ok(r.get("/schemas?latestOnly=true"))
    assert {(x["subject"], x["version"]) for x in all_} == {("s1", 2),
                                                          ("s2", 1)}


def test_unknown_fields_and_normalize_tolerated(registry):
    body = {"schema": V1, "schemaType": "AVRO", "whatever": [1, 2],
            "metadata": None, "ruleSet": None}
    assert ok(registry.post("/subjects/x/versions?normalize=true",
                            body)) == {"id": 1}


def test_lookup(registry):
    r = registry
    err(r.post("/subjects/nope", {"schema": V1}), 404, 40401)
    r.register("s", V1)
    got = ok(r.post("/subjects/s", {"schema": V1}))
    assert (got["subject"], got["version"], got["id"]) == ("s", 1, 1)
    assert json.loads(got["schema"]) == json.loads(V1)
    assert err(r.post("/subjects/s", {"schema": V2}), 404, 40403) \
        == "Schema not found"
    err(r.post("/subjects/s", {"schema": "{not json"}), 422, 42201)


def test_not_found_codes(registry):
    r = registry
    assert err(r.get("/subjects/none/versions"), 404, 40401) \
        == "Subject 'none' not found."
    err(r.get("/subjects/none/versions/1"), 404, 40401)
    r.register("s", V1)
    assert err(r.get("/subjects/s/versions/7"), 404, 40402) \
        == "Version 7 not found."
    assert err(r.get("/schemas/ids/99"), 404, 40403) == "Schema 99 not found"
    err(r.get("/schemas/ids/99/versions"), 404, 40403)
    err(r.get("/schemas/ids/abc"), 404, 404)


@pytest.mark.parametrize("version", ["0", "-2", "2147483648", "abc", "1.5",
                                     "99999999999"])
def test_invalid_version_before_existence(registry, version):
    # 42202 even though the subject does not exist.
    msg = err(registry.get(f"/subjects/none/versions/{version}"), 422, 42202)
    assert "is not a valid version id" in msg
    err(registry.delete(f"/subjects/none/versions/{version}"), 422, 42202)
    err(registry.post(f"/compatibility/subjects/none/versions/{version}",
                      {"schema": V1}), 422, 42202)


def test_invalid_schema(registry):
    msg = err(registry.register("s", '{"type":"record","name":"R"}'),
              422, 42201)
    assert "fields" in msg
    err(registry.register("s", "not json at all"), 422, 42201)
    bad_default = rec("R", [("a", "int", {"default": "abc"})])
    err(registry.register("s", bad_default), 422, 42201)
    err(registry.post("/subjects/s/versions", {}), 422, 42201)
    err(registry.post("/subjects/s/versions", {"schema": V1,
                                               "schemaType": "PROTOBUF"}),
        422, 42201)
    err(registry.post("/subjects/s/versions", {"schema": 5}), 422, 422)
    # The registry still serves.
    assert ok(registry.register("s", V1)) == {"id": 1}


def test_incompatible_409_and_compat_endpoint(registry):
    r = registry
    r.register("s", V1)
    msg = err(r.register("s", V3_BAD), 409, 409)
    assert "incompatible with an earlier schema" in msg
    assert ok(r.post("/compatibility/subjects/s/versions/latest",
                     {"schema": V2})) == {"is_compatible": True}
    res = ok(r.post("/compatibility/subjects/s/versions/1?verbose=true",
                    {"schema": V3_BAD}))
    assert res["is_compatible"] is False and res["messages"]
    assert ok(r.post("/compatibility/subjects/s/versions",
                     {"schema": V3_BAD})) == {"is_compatible": False}
    # Unknown subject: the registration check passes, a version does not.
    assert ok(r.post("/compatibility/subjects/new/versions",
                     {"schema": V1})) == {"is_compatible": True}
    err(r.post("/compatibility/subjects/new/versions/latest",
               {"schema": V1}), 404, 40401)
    err(r.post("/compatibility/subjects/s/versions/9", {"schema": V1}),
        404, 40402)
    # NONE lets anything in.
    ok(r.put("/config/s", {"compatibility": "NONE"}))
    assert ok(r.register("s", V3_BAD)) == {"id": 2}


def test_transitive(registry):
    r = registry
    a = rec("T", [("a", "int")])
    b = rec("T", [("a", "int"), ("b", "int", {"default": 0})])
    c = rec("T", [("b", "int", {"default": 0})])  # drops a: forward breaks
    ok(r.put("/config/t", {"compatibility": "FORWARD_TRANSITIVE"}))
    r.register("t", a)
    r.register("t", b)
    err(r.register("t", c), 409, 409)


def test_config(registry):
    r = registry
    assert ok(r.get("/config")) == {"compatibilityLevel": "BACKWARD"}
    assert ok(r.put("/config", {"compatibility": "full"})) == \
        {"compatibility": "FULL"}
    assert ok(r.get("/config")) == {"compatibilityLevel": "FULL"}
    msg = err(r.put("/config", {"compatibility": "SIDEWAYS"}), 422, 42203)
    assert "Invalid compatibility level" in msg
    assert err(r.get("/config/s"), 404, 40408) == \
        "Subject 's' does not have subject-level compatibility configured"
    assert ok(r.get("/config/s?defaultToGlobal=true")) == \
        {"compatibilityLevel": "FULL"}
    assert ok(r.put("/config/s", {"compatibility": "NONE"})) == \
        {"compatibility": "NONE"}
    assert ok(r.get("/config/s")) == {"compatibilityLevel": "NONE"}
    assert ok(r.delete("/config/s")) == {"compatibilityLevel": "NONE"}
    err(r.get("/config/s"), 404, 40408)
    err(r.delete("/config/s"), 404, 40401)
    assert ok(r.delete("/config")) == {"compatibilityLevel": "FULL"}
    assert ok(r.get("/config")) == {"compatibilityLevel": "BACKWARD"}


def test_mode(registry):
    r = registry
    assert ok(r.get("/mode")) == {"mode": "READWRITE"}
    err(r.put("/mode", {"mode": "SLEEPY"}), 422, 42204)
    assert err(r.get("/mode/s"), 404, 40409) == \
        "Subject 's' does not have subject-level mode configured"
    assert ok(r.get("/mode/s?defaultToGlobal=true")) == {"mode": "READWRITE"}
    assert ok(r.put("/mode/s", {"mode": "READONLY"})) == {"mode": "READONLY"}
    err(r.register("s", V1), 422, 42205)
    assert ok(r.register("other", V1)) == {"id": 1}
    assert ok(r.delete("/mode/s")) == {"mode": "READONLY"}
    err(r.delete("/mode/s"), 404, 40401)
    ok(r.put("/mode", {"mode": "READONLY"}))
    err(r.register("x", V2), 422, 42205)
    err(r.delete("/subjects/other"), 422, 42205)
    ok(r.put("/mode", {"mode": "READWRITE"}))
    # IMPORT needs an empty registry unless forced.
    err(r.put("/mode", {"mode": "IMPORT"}), 422, 42205)
    assert ok(r.put("/mode?force=true", {"mode": "IMPORT"})) == \
        {"mode": "IMPORT"}
    assert ok(r.register("imp", V2, id=42, version=7)) == {"id": 42}
    assert ok(r.get("/subjects/imp/versions")) == [7]
    assert ok(r.get("/schemas/ids/42"))["schema"]
    # An id bound to another schema cannot be overwritten.
    err(r.register("imp2", V3_BAD, id=42), 422, 42205)
    ok(r.put("/mode", {"mode": "READWRITE"}))
    err(r.register("imp3", V3_BAD, id=100), 422, 42205)
    # Ids continue after the highest ever used.
    assert ok(r.register("after", V3_BAD)) == {"id": 43}


def test_soft_and_permanent_deletes(registry):
    r = registry
    r.register("s", V1)
    r.register("s", V2)
    err(r.delete("/subjects/s/versions/1?permanent=true"), 404, 40407)
    assert ok(r.delete("/subjects/s/versions/1")) == 1
    assert err(r.delete("/subjects/s/versions/1"), 404, 40406).startswith(
        "Subject 's' Version 1 was soft deleted")
    assert ok(r.get("/subjects/s/versions")) == [2]
    assert ok(r.get("/subjects/s/versions?deleted=true")) == [1, 2]
    err(r.get("/subjects/s/versions/1"), 404, 40402)
    assert ok(r.get("/subjects/s/versions/1?deleted=true"))["id"] == 1
    # Deleted schemas stay readable by id.
    assert ok(r.get("/schemas/ids/1"))["schema"]
    assert ok(r.delete("/subjects/s/versions/1?permanent=true")) == 1
    err(r.delete("/subjects/s?permanent=true"), 404, 40405)
    assert ok(r.delete("/subjects/s")) == [2]
    err(r.delete("/subjects/s"), 404, 40404)
    assert ok(r.get("/subjects")) == []
    assert ok(r.get("/subjects?deleted=true")) == ["s"]
    assert ok(r.get("/subjects?deletedOnly=true")) == ["s"]
    err(r.get("/subjects/s/versions"), 404, 40401)
    # New version after deletes: one past the highest still stored (2,
    # soft-deleted; 1 was permanently deleted).  V1's id
    # went with its last version's permanent delete, so it gets a new one.
    assert ok(r.register("s", V1))["id"] == 3
    assert ok(r.get("/subjects/s/versions")) == [3]
    assert ok(r.delete("/subjects/s")) == [3]
    assert ok(r.delete("/subjects/s?permanent=true")) == [2, 3]
    err(r.get("/subjects/s/versions?deleted=true"), 404, 40401)
    err(r.delete("/subjects/s"), 404, 40401)
    # Ids are never reused: the permanently deleted schemas are gone and a
    # new schema gets a fresh id.  With no version left the subject starts
    # again at version 1, as Confluent's does.
    err(r.get("/schemas/ids/2"), 404, 40403)
    err(r.get("/schemas/ids/3"), 404, 40403)
    assert ok(r.register("s", V3_BAD)) == {"id": 4}
    assert ok(r.get("/subjects/s/versions")) == [1]


def test_references_and_referencedby(registry):
    r = registry
    addr = json.dumps({"type": "record", "name": "Address",
                       "namespace": "ns", "fields": [
                           {"name": "city", "type": "string"}]})
    assert ok(r.register("addr", addr)) == {"id": 1}
    user = json.dumps({"type": "record", "name": "U", "fields": [
        {"name": "a", "type": "ns.Address"}]})
    refs = [{"name": "ns.Address", "subject": "addr", "version": 1}]
    assert ok(r.register("user", user, references=refs)) == {"id": 2}
    v = ok(r.get("/subjects/user/versions/1"))
    assert v["references"] == refs
    assert ok(r.get("/schemas/ids/2"))["references"] == refs
    assert ok(r.get("/subjects/addr/versions/1/referencedby")) == [2]
    err(r.delete("/subjects/addr/versions/1"), 422, 42206)
    err(r.delete("/subjects/addr"), 422, 42206)
    err(r.register("user2", user), 422, 42201)  # reference missing
    err(r.register("user3", user, references=[
        {"name": "ns.Address", "subject": "addr", "version": 5}]), 422, 42201)


# ---- subjects with odd names ---------------------------------------------

@pytest.mark.parametrize("subject", ["a/b", "with space", "ünï-cødé-✓",
                                     "dots.and-dashes_", "q?x=1&y", "100%"])
def test_odd_subject_names(registry, subject):
    assert ok(registry.register(subject, V1)) == {"id": 1}
    assert ok(registry.get("/subjects")) == [subject]
    v = ok(registry.get(f"/subjects/{quote(subject)}/versions/latest"))
    assert v["subject"] == subject
    assert ok(registry.delete(f"/subjects/{quote(subject)}")) == [1]


def test_invalid_subject(registry):
    err(registry.register("bad\x01name", V1), 422, 42208)
    err(registry.put("/config/bad%0Aname", {"compatibility": "NONE"}),
        422, 42208)


# ---- HTTP level -------------------------------------------------------------

def test_routes_methods_and_media_types(registry):
    r = registry
    assert err(r.get("/nope"), 404, 404) == "HTTP 404 Not Found"
    err(r.get("/subjects/s/versions/1/nope"), 404, 404)
    assert err(r.request("PATCH", "/subjects"), 405, 405) == \
        "HTTP 405 Method Not Allowed"
    err(r.delete("/schemas/types"), 405, 405)
    err(r.put("/subjects/s/versions", {"schema": V1}), 405, 405)
    err(r.request("POST", "/subjects/s/versions", raw=json.dumps(
        {"schema": V1}), headers={"Content-Type": "text/plain"}), 415, 415)
    for ct in (CT, "application/vnd.schemaregistry+json", "application/json",
               "application/json; charset=utf-8"):
        assert ok(r.request("POST", "/subjects/ct/versions",
                            raw=json.dumps({"schema": V1}),
                            headers={"Content-Type": ct})) == {"id": 1}
    # Java's default Accept and a Content-Type on a GET are fine.
    java = "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"
    assert ok(r.get("/subjects", headers={"Accept": java,
                                          "Content-Type": CT})) == ["ct"]
    err(r.get("/subjects", headers={"Accept": "text/html"}), 406, 406)


def test_malformed_json_and_keeps_serving(registry):
    r = registry
    for raw in ("{", "nul", '{"schema": }', "\x00\x01", "[1,2"):
        err(r.request("POST", "/subjects/s/versions", raw=raw), 400, 400)
    err(r.request("PUT", "/config", raw="{{"), 400, 400)
    err(r.request("POST", "/subjects/s/versions", raw="[1]"), 422, 422)
    err(r.request("PUT", "/config", raw='"x"'), 422, 422)
    deep = "[" * 5000 + "]" * 5000
    err(r.request("POST", "/subjects/s/versions", raw=deep), 400, 400)
    assert ok(r.register("s", V1)) == {"id": 1}


def test_huge_body_and_schema(make_registry):
    r = make_registry(sets={"request.max.bytes": 100000,
                            "schema.max.bytes": 20000})
    big = rec("Big", [(f"f{i}", "string") for i in range(1000)])
    assert len(big) > 20000
    err(r.register("s", big), 422, 42209)
    st, _ = r.request("POST", "/subjects/s/versions",
                      raw=json.dumps({"schema": "x" * 200000}))
    assert st == 413
    assert ok(r.register("s", V1)) == {"id": 1}


def test_huge_header_and_url(registry):
    u = urllib.parse.urlparse(registry.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", "/subjects/" + "a" * 200000)
    assert conn.getresponse().status in (400, 413, 414, 431)
    conn.close()
    assert ok(registry.get("/subjects")) == []


def test_keepalive_chunked_and_expect_continue(registry):
    u = urllib.parse.urlparse(registry.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    body = json.dumps({"schema": V1}).encode()
    # Chunked request body.
    conn.request("POST", "/subjects/c/versions", body=iter([body[:10],
                                                             body[10:]]),
                 headers=dict({"Content-Type": CT},
                              **registry.default_headers),
                 encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read()) == {"id": 1}
    # Same connection, several requests (keep-alive).
    for _ in range(3):
        conn.request("GET", "/subjects/c/versions")
        resp = conn.getresponse()
        assert json.loads(resp.read()) == [1]
    conn.close()
    # Expect: 100-continue, by hand.
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    auth = "".join(f"{k}: {v}\r\n"
                   for k, v in registry.default_headers.items()).encode()
    s.sendall(b"POST /subjects/d/versions HTTP/1.1\r\nHost: x\r\n" + auth +
              b"Content-Type: " + CT.encode() + b"\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\nExpect: 100-continue\r\n\r\n")
    first = s.recv(4096)
    assert b"100 Continue" in first
    s.sendall(body)
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert b" 200 " in data.split(b"\r\n")[0] and b'"id":1' in data


def test_slow_client_is_dropped(make_registry):
    r = make_registry(sets={"request.timeout.ms": 300})
    u = urllib.parse.urlparse(r.url)
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    s.sendall(b"GET /subj")  # never finishes the request line
    s.settimeout(10)
    # The registry closes the connection (possibly after a 408/400).
    data = s.recv(4096)
    while data and data != b"":
        more = s.recv(4096)
        if not more:
            break
        data += more
    s.close()
    assert ok(r.get("/subjects")) == []


def test_health_and_metrics(registry):
    assert ok(registry.get("/healthz")) == {"status": "ok"}
    ok(registry.register("m", V1))
    ok(registry.get("/nope"), 404)
    st, text = registry.get("/metrics")
    assert st == 200
    assert 'mesh_registry_requests_total{route="subject_versions",' \
           'code="2xx"} 1' in text
    assert "mesh_registry_request_duration_seconds" in text
    assert "mesh_registry_schemas 1" in text
    assert "mesh_registry_subjects 1" in text


def test_restart_keeps_everything(make_registry, tmp_path):
    work = tmp_path / "restart"
    r = make_registry(workdir=work)
    ok(r.register("s", V1))
    ok(r.register("s", V2))
    ok(r.delete("/subjects/s/versions/1"))
    ok(r.put("/config/s", {"compatibility": "NONE"}))
    ok(r.put("/mode/s", {"mode": "READONLY"}))
    assert r.stop() == 0
    r2 = make_registry(workdir=work)
    assert ok(r2.get("/subjects/s/versions?deleted=true")) == [1, 2]
    assert ok(r2.get("/subjects/s/versions")) == [2]
    assert ok(r2.get("/config/s")) == {"compatibilityLevel": "NONE"}
    assert ok(r2.get("/mode/s")) == {"mode": "READONLY"}


def test_sigterm_exits_zero(registry):
    assert ok(registry.register("s", V1)) == {"id": 1}
    assert registry.stop() == 0
