"""Governance end to end (docs/GOVERNANCE.md): policies stored in
mesh-registry and enforced by it, `meshctl policy check` offline, product
apply refused through the validation hook, `meshctl mesh check` and
/governance/report after a policy tightens, policies surviving a restart
and shared by two instances on Kafka storage.

- a registration that breaks an error-level rule is refused with HTTP 422,
  error_code 42280, the rule's name and the JSON path, through plain HTTP
  and through Confluent's SchemaRegistryClient (which shows the message as
  it is); warnings are returned in "warnings" and do not block; each
  violation is counted per rule in /metrics;
- without policies the registry answers as before (no "warnings");
- a domain policy that weakens the mesh's is refused naming both rules;
- `meshctl policy check` exits 0 (conformant, warnings only), 1
  (violations, printed with FILE:LINE:COL) or 2 (a bad policy file).
"""

import json
import pathlib
import shutil
import subprocess
import uuid

import pytest

from confluent_kafka.schema_registry import (  # noqa: E402
    Schema, SchemaRegistryClient, SchemaRegistryError)
from registry import MeshRegistry, quote, yescrypt

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

MESH = """level: mesh
rules:
  subject-naming: error
  doc-required: error
  field-naming: {severity: error, style: snake_case}
  record-naming: warn
"""

DOCUMENTED = json.dumps({
    "type": "record", "name": "Order", "doc": "An order.",
    "fields": [{"name": "order_id", "type": "long", "doc": "Its id."}]})
UNDOCUMENTED = json.dumps({
    "type": "record", "name": "Order", "doc": "An order.",
    "fields": [{"name": "order_id", "type": "long", "doc": "Its id."},
               {"name": "amount", "type": "double"}]})
LOWER_RECORD = json.dumps({
    "type": "record", "name": "order", "doc": "An order.",
    "fields": [{"name": "order_id", "type": "long", "doc": "Its id."}]})


@pytest.fixture
def products(tmp_path):
    d = tmp_path / "products"
    shutil.copytree(EXAMPLES / "products", d)
    return d


def meshctl(bins, reg, broker, *args, timeout=120):
    cmd = [str(bins / "meshctl")]
    if broker is not None:
        cmd += ["--bootstrap", broker.bootstrap]
    if reg is not None:
        cmd += ["--registry", reg.url]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)


def put_policy(reg, text, scope="mesh"):
    path = ("/governance/policies/mesh" if scope == "mesh"
            else f"/governance/policies/domains/{scope}")
    return reg.put(path, {"policy": text})


def must_put(reg, text, scope="mesh"):
    status, body = put_policy(reg, text, scope)
    assert status == 200, (status, body)
    return body


def metric(reg, name, labels):
    status, text = reg.get("/metrics")
    assert status == 200
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.split()[-1])
    return 0.0


# ------------------------------------------------------------ the registry


def test_registration_refused_with_rule_and_path(registry):
    must_put(registry, MESH)
    status, body = registry.register("orders.events.v1-value", UNDOCUMENTED)
    assert status == 422, (status, body)
    assert body["error_code"] == 42280
    assert "policy rule 'doc-required' (error) at $.fields[1]" in \
        body["message"], body
    assert "field 'amount' has no doc" in body["message"]
    assert registry.get("/subjects")[1] == []
    # The same schema with its doc passes.
    status, body = registry.register("orders.events.v1-value", DOCUMENTED)
    assert status == 200 and body["id"] == 1, body
    assert "warnings" not in body
    # A subject outside the naming rule is refused by its own rule.
    status, body = registry.register("Orders", DOCUMENTED)
    assert status == 422
    assert "policy rule 'subject-naming' (error) at $" in body["message"]


def test_warnings_do_not_block_and_are_counted(registry):
    must_put(registry, MESH)
    before = metric(registry, "mesh_registry_governance_violations_total",
                    'rule="record-naming",severity="warn"')
    status, body = registry.register("orders.events.v1-value", LOWER_RECORD)
    assert status == 200, body
    assert body["id"] == 1
    assert body["warnings"] == [
        "policy rule 'record-naming' (warn) at $: record name 'order' is "
        "not PascalCase"]
    assert metric(registry, "mesh_registry_governance_violations_total",
                  'rule="record-naming",severity="warn"') == before + 1
    registry.register("orders.events.v2-value", UNDOCUMENTED)
    assert metric(registry, "mesh_registry_governance_violations_total",
                  'rule="doc-required",severity="error"') >= 1
    assert "write refused by policy" in registry.log()


def test_confluent_client_surfaces_the_message(registry):
    must_put(registry, MESH)
    client = SchemaRegistryClient({"url": registry.url})
    with pytest.raises(SchemaRegistryError) as exc:
        client.register_schema("orders.events.v1-value",
                               Schema(UNDOCUMENTED, "AVRO"))
    assert exc.value.http_status_code == 422
    assert exc.value.error_code == 42280
    assert "doc-required" in exc.value.error_message
    assert "$.fields[1]" in exc.value.error_message
    # Warnings are a field the client ignores: registration still works.
    assert client.register_schema("orders.events.v1-value",
                                  Schema(LOWER_RECORD, "AVRO")) == 1


def test_governance_is_off_without_policies(registry):
    status, body = registry.register("anything", UNDOCUMENTED)
    assert status == 200 and body == {"id": 1}
    assert registry.get("/governance/policies") == (200, {"policies": []})
    status, body = registry.get("/governance/report")
    assert status == 200 and body["conformant"] is True


def test_policy_writes_are_checked(registry):
    must_put(registry, "level: mesh\nrules:\n  partitions: {max: 64}\n")
    # A domain policy that weakens the mesh's: refused, naming both rules.
    status, body = put_policy(
        registry, "level: domain\ndomain: orders\nrules:\n"
        "  partitions: {max: 128}\n", "orders")
    assert status == 422, body
    assert "rule 'partitions' of domain orders weakens mesh rule " \
        "'partitions'" in body["message"], body
    assert "max 128 is above 64" in body["message"]
    # A policy for another scope than its path, and a bad document.
    status, body = put_policy(registry, "level: mesh\n", "orders")
    assert status == 422 and "not for domain orders" in body["message"]
    status, body = put_policy(registry, "level: mesh\nrules: {x: error}\n")
    assert status == 422 and "unknown rule 'x'" in body["message"]
    # Tightening is fine, and versions count up.
    assert must_put(registry, "level: domain\ndomain: orders\nrules:\n"
                    "  partitions: {max: 8}\n", "orders") == \
        {"scope": "orders", "version": 1}
    assert must_put(registry, "level: mesh\nrules:\n"
                    "  partitions: {max: 32}\n")["version"] == 2
    status, body = registry.get("/governance/policies")
    assert [(p["scope"], p["version"]) for p in body["policies"]] == \
        [("mesh", 2), ("orders", 1)]


def test_catalog_entry_refused_by_policy(registry):
    must_put(registry, "level: mesh\nrules:\n  partitions: {max: 2}\n"
             "  descriptor-required: {keys: [description]}\n")
    entry = {"domain": "shop", "name": "carts", "version": 1,
             "owner": {"team": "t"},
             "output_ports": [{"name": "carts", "type": "topic",
                               "topic": "shop.carts.v1", "partitions": 6}]}
    status, body = registry.put("/catalog/products/shop/carts", entry)
    assert status == 422, body
    assert body["error_code"] == 42280
    assert "policy rule 'descriptor-required' (error) at $.description" in \
        body["message"]
    assert "policy rule 'partitions' (error) at " \
        "$.output_ports[0].partitions" in body["message"]
    assert registry.get("/catalog/products")[1] == []


# ------------------------------------------------------------ meshctl


def test_policy_check_offline_exit_codes(bins, products, tmp_path):
    pol = EXAMPLES / "policies"
    res = meshctl(bins, None, None, "policy", "check", "--policy",
                  pol / "mesh.yaml", "--policy", pol / "orders.yaml",
                  products / "orders.yaml")
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert (f"{products}/orders.yaml:27:7: policy rule 'doc-required' "
            "(error) at $.output_ports[0].value_schema.fields[1]: field "
            "'customer_email' has no doc") in res.stdout, res.stdout
    assert "1 file checked: 4 errors, 0 warnings" in res.stdout
    # Warnings alone: exit 0.
    warn = tmp_path / "warn.yaml"
    warn.write_text("level: mesh\nrules:\n  doc-required: warn\n")
    res = meshctl(bins, None, None, "policy", "check", "--policy", warn,
                  products / "orders.yaml")
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert "(warn) at $.output_ports[0].value_schema" in res.stdout
    # Conformant.
    loose = tmp_path / "loose.yaml"
    loose.write_text("level: mesh\nrules:\n  partitions: {max: 64}\n")
    res = meshctl(bins, None, None, "policy", "check", "--policy", loose,
                  products / "orders.yaml", products / "users.yaml")
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert "2 files checked: 0 errors, 0 warnings" in res.stdout
    # A policy file that cannot be used: exit 2 with its position.
    bad = tmp_path / "bad.yaml"
    bad.write_text("level: mesh\nrules:\n  partitions: {max: lots}\n")
    res = meshctl(bins, None, None, "policy", "check", "--policy", bad,
                  products / "orders.yaml")
    assert res.returncode == 2
    assert f"{bad}:3:21: rules.partitions.max: expected an integer" in \
        res.stderr
    # A domain that weakens the mesh: exit 2 naming both rules.
    weak = tmp_path / "weak.yaml"
    weak.write_text("level: domain\ndomain: orders\nrules:\n"
                    "  partitions: {max: 100}\n")
    res = meshctl(bins, None, None, "policy", "check", "--policy",
                  pol / "orders.yaml", "--policy", weak,
                  products / "orders.yaml")
    assert res.returncode == 2
    assert "a second policy for orders" in res.stderr
    res = meshctl(bins, None, None, "policy", "check", "--policy",
                  pol / "mesh.yaml", "--policy", weak,
                  products / "orders.yaml")
    assert res.returncode == 2
    assert (f"{weak}:4:3: rule 'partitions' of domain orders weakens "
            f"mesh rule 'partitions' at {pol / 'mesh.yaml'}:17:3: max 100 is "
            "above 64") in res.stderr, res.stderr
    # A schema file is checked as a registration under its name's subject.
    good = tmp_path / "orders.events.v1-value.avsc"
    good.write_text(DOCUMENTED)
    bad_schema = tmp_path / "Orders.avsc"
    bad_schema.write_text(UNDOCUMENTED)
    strict = tmp_path / "strict.yaml"
    strict.write_text(MESH)
    res = meshctl(bins, None, None, "policy", "check", "--policy", strict,
                  good)
    assert res.returncode == 0, (res.stdout, res.stderr)
    res = meshctl(bins, None, None, "policy", "check", "--policy", strict,
                  good, bad_schema)
    assert res.returncode == 1
    assert (f"{bad_schema}: subject Orders: policy rule 'subject-naming' "
            "(error) at $") in res.stdout, res.stdout
    assert (f"{bad_schema}: subject Orders: policy rule 'doc-required' "
            "(error) at $.fields[1]: field 'amount' has no doc") in res.stdout
    assert "2 files checked: 2 errors, 0 warnings" in res.stdout
    # Usage.
    assert meshctl(bins, None, None, "policy", "check",
                   products / "orders.yaml").returncode == 2


def test_product_apply_refused_by_policy(bins, registry, mesh_broker,
                                         products, tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text("level: mesh\nrules:\n  partitions: {max: 2}\n")
    ok = meshctl(bins, registry, None, "policy", "set", strict)
    assert ok.returncode == 0, ok.stderr
    assert "policy mesh version 1 stored" in ok.stdout
    res = meshctl(bins, registry, mesh_broker, "product", "apply",
                  products / "orders.yaml")
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert (f"{products}/orders.yaml:20:5: policy rule 'partitions' (error) "
            "at $.output_ports[0].partitions: 3 partitions, outside 1..2") \
        in res.stderr, res.stderr
    # Nothing changed: no subject, no catalog entry.
    assert registry.get("/subjects")[1] == []
    assert registry.get("/catalog/products")[1] == []
    # validate --catalog runs the registry's policies too.
    res = meshctl(bins, registry, None, "product", "validate", "--catalog",
                  products / "orders.yaml")
    assert res.returncode == 1 and "partitions" in res.stderr


def test_mesh_check_after_policy_tightens(bins, registry, mesh_broker,
                                          products, tmp_path):
    loose = tmp_path / "loose.yaml"
    loose.write_text("level: mesh\nrules:\n  partitions: {max: 64}\n"
                     "  doc-required: warn\n")
    assert meshctl(bins, registry, None, "policy", "set",
                   loose).returncode == 0
    res = meshctl(bins, registry, mesh_broker, "product", "apply",
                  products / "orders.yaml")
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert "meshctl: warning: " in res.stderr
    res = meshctl(bins, registry, None, "mesh", "check")
    assert res.returncode == 0, (res.stdout, res.stderr)
    assert "orders/events@1 conformant" in res.stdout
    # The federation tightens: the published product no longer conforms.
    tight = tmp_path / "tight.yaml"
    tight.write_text("level: mesh\nrules:\n  partitions: {max: 2}\n"
                     "  doc-required: warn\n")
    assert meshctl(bins, registry, None, "policy", "set",
                   tight).returncode == 0
    res = meshctl(bins, registry, None, "mesh", "check")
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "orders/events@1 NOT CONFORMANT" in res.stdout
    assert ("  error partitions at $.output_ports[0].partitions: 3 "
            "partitions, outside 1..2") in res.stdout
    status, rep = registry.get("/governance/report")
    assert status == 200 and rep["conformant"] is False
    assert rep["failing"] == 1
    assert rep["rules"]["partitions"] == {"errors": 1, "warnings": 0}
    assert rep["products"][0]["product"] == "orders/events@1"


# ------------------------------------------------------------ storage


def test_policies_survive_restart(bins, tmp_path):
    workdir = tmp_path / "reg"
    reg = MeshRegistry(bins / "mesh-registry", workdir)
    try:
        must_put(reg, MESH)
        must_put(reg, MESH + "  schema-size: {max: 4096}\n")
        before = reg.get("/governance/policies")
    finally:
        assert reg.stop() == 0
    reg = MeshRegistry(bins / "mesh-registry", workdir)
    try:
        assert reg.get("/governance/policies") == before
        assert before[1]["policies"][0]["version"] == 2
        status, body = reg.register("orders.events.v1-value", UNDOCUMENTED)
        assert status == 422 and body["error_code"] == 42280
    finally:
        assert reg.stop() == 0


def test_two_kafka_instances_share_policies(bins, tmp_path, mesh_broker,
                                            timeout):
    tag = uuid.uuid4().hex[:8]
    sets = {"storage": "kafka",
            "kafka.bootstrap.servers": mesh_broker.bootstrap,
            "kafkastore.topic": f"_schemas-{tag}",
            "kafkastore.catalog.topic": f"_catalog-{tag}"}
    a = MeshRegistry(bins / "mesh-registry", tmp_path / "a", sets=sets)
    b = MeshRegistry(bins / "mesh-registry", tmp_path / "b", sets=sets)
    try:
        must_put(a, MESH)
        want = a.get("/governance/policies")
        from test_products import wait_for
        wait_for(lambda: b.get("/governance/policies") == want,
                 timeout(30), "the policies on the second instance")
        status, body = b.register("orders.events.v1-value", UNDOCUMENTED)
        assert status == 422 and "doc-required" in body["message"]
    finally:
        assert a.stop() == 0
        assert b.stop() == 0


# ------------------------------------------------------------ principals


def basic(user_info):
    import base64
    return {"Authorization": "Basic " +
            base64.b64encode(user_info.encode()).decode()}


FED, OLGA = "fed:fed-secret", "olga:olga-secret"


@pytest.fixture
def creds(tmp_path):
    f = tmp_path / "principals"
    f.write_text("# name:hash:role\n"
                 f"fed:{yescrypt('fed-secret')}:admin\n"
                 f"olga:{yescrypt('olga-secret')}:orders,shop\n")
    return f


def test_basic_auth_roles(make_registry, creds):
    reg = make_registry(sets={"auth.credentials.file": str(creds)})
    subj = "orders.events.v1-value"
    # Unauthenticated, wrong password, unknown user, malformed headers:
    # 401 each, and the registry keeps serving.
    for hdrs in ({}, basic("olga:nope"), basic("nobody:x"),
                 {"Authorization": "Basic !!!"},
                 {"Authorization": "Bearer abc"},
                 basic("no-colon"), {"Authorization": "Basic"}):
        status, body = reg.post(f"/subjects/{quote(subj)}/versions",
                                {"schema": DOCUMENTED}, headers=hdrs)
        assert status == 401, (hdrs, status, body)
        assert body["error_code"] == 401
    # Reads stay open.
    assert reg.get("/subjects") == (200, [])
    # A domain principal writes its domain, not another's.
    status, body = reg.post(f"/subjects/{quote(subj)}/versions",
                            {"schema": DOCUMENTED}, headers=basic(OLGA))
    assert status == 200, body
    other = "billing.invoices.v1-value"
    status, body = reg.post(f"/subjects/{quote(other)}/versions",
                            {"schema": DOCUMENTED}, headers=basic(OLGA))
    assert status == 403, body
    assert body == {"error_code": 403, "message":
                    "Forbidden: principal olga may not write what belongs "
                    "to domain billing"}
    status, body = reg.put("/catalog/products/billing/invoices",
                           {"domain": "billing", "name": "invoices",
                            "version": 1, "output_ports": []},
                           headers=basic(OLGA))
    assert status == 403 and "domain billing" in body["message"]
    status, body = reg.post("/subjects/nodomain/versions",
                            {"schema": DOCUMENTED}, headers=basic(OLGA))
    assert status == 403 and "belongs to no domain" in body["message"]
    # Admin-only operations.
    for method, path, payload in (
            ("PUT", "/config", {"compatibility": "NONE"}),
            ("PUT", "/mode", {"mode": "READONLY"}),
            ("PUT", f"/mode/{quote(subj)}", {"mode": "IMPORT"}),
            ("PUT", "/governance/policies/mesh", {"policy": MESH}),
            ("DELETE", f"/subjects/{quote(subj)}?permanent=true", None)):
        status, body = reg.request(method, path, body=payload,
                                   headers=basic(OLGA))
        assert status == 403, (method, path, body)
        assert "only an admin" in body["message"]
    assert reg.put("/config", {"compatibility": "FULL"},
                   headers=basic(FED))[0] == 200
    assert reg.put("/governance/policies/mesh", {"policy": MESH},
                   headers=basic(FED))[0] == 200
    # Its own subject's config is a domain write.
    assert reg.put(f"/config/{quote(subj)}", {"compatibility": "FULL"},
                   headers=basic(OLGA))[0] == 200
    # Lookups and compatibility checks are reads.
    assert reg.post(f"/subjects/{quote(subj)}", {"schema": DOCUMENTED})[0] \
        == 200
    # Every refused write was logged with its principal and counted.
    assert 'principal=olga route=subject_versions status=403' in reg.log()
    assert metric(reg, "mesh_registry_auth_refused_total",
                  'route="subject_versions"') == 9
    assert metric(reg, "mesh_registry_auth_refused_total",
                  'route="config"') == 1
    assert metric(reg, "mesh_registry_auth_refused_total",
                  'route="mode_subject"') == 1


def test_reads_closed_by_config(make_registry, creds):
    reg = make_registry(sets={"auth.credentials.file": str(creds),
                              "auth.reads": "authenticated"})
    status, body = reg.get("/subjects")
    assert status == 401 and body["error_code"] == 401
    assert reg.get("/subjects", headers=basic(OLGA)) == (200, [])
    assert reg.get("/healthz")[0] == 200


def test_credentials_file_refuses_plain_passwords(bins, tmp_path):
    f = tmp_path / "principals"
    f.write_text("fed:plain-password:admin\n")
    res = subprocess.run([str(bins / "mesh-registry"), "--set",
                          f"auth.credentials.file={f}", "--set",
                          f"data.dir={tmp_path / 'd'}", "--set",
                          "listeners=http://127.0.0.1:0"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert f"{f}:1: the password of 'fed' is not a crypt(3) hash" in \
        res.stderr + res.stdout


def test_confluent_client_with_basic_auth(make_registry, creds):
    reg = make_registry(sets={"auth.credentials.file": str(creds)})
    # The Python client takes USER_INFO as given by basic.auth.user.info
    # (it refuses basic.auth.credentials.source, which the Java one reads).
    client = SchemaRegistryClient({"url": reg.url,
                                   "basic.auth.user.info": OLGA})
    assert client.register_schema("orders.events.v1-value",
                                  Schema(DOCUMENTED, "AVRO")) == 1
    with pytest.raises(SchemaRegistryError) as exc:
        client.register_schema("billing.invoices.v1-value",
                               Schema(DOCUMENTED, "AVRO"))
    assert exc.value.http_status_code == 403
    assert "domain billing" in exc.value.error_message
    wrong = SchemaRegistryClient({"url": reg.url,
                                  "basic.auth.user.info": "olga:wrong"})
    with pytest.raises(SchemaRegistryError) as exc:
        wrong.register_schema("orders.events.v1-value",
                              Schema(LOWER_RECORD, "AVRO"))
    assert exc.value.http_status_code == 401


def test_meshctl_passes_credentials(bins, make_registry, creds, tmp_path):
    reg = make_registry(sets={"auth.credentials.file": str(creds)})
    pol = tmp_path / "mesh.yaml"
    pol.write_text(MESH)
    res = meshctl(bins, reg, None, "policy", "set", pol)
    assert res.returncode == 1 and "401" in res.stderr, res.stderr
    res = meshctl(bins, reg, None, "--user", OLGA, "policy", "set", pol)
    assert res.returncode == 1 and "403" in res.stderr, res.stderr
    res = meshctl(bins, reg, None, "--user", FED, "policy", "set", pol)
    assert res.returncode == 0, res.stderr
    res = meshctl(bins, None, None, "--registry", reg.url, "--set",
                  f"registry.basic.auth.user.info={OLGA}", "policy", "list")
    assert res.returncode == 0 and "mesh version 1" in res.stdout


# ------------------------------------------------------------ TLS


def openssl(*args):
    res = subprocess.run(["openssl", *map(str, args)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def make_ca(d, name):
    key, crt = d / f"{name}.key", d / f"{name}.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", key, "-out", crt)
    return key, crt


def make_cert(d, ca, name, server=False):
    key, csr, crt = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
    ext = d / f"{name}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server
                   else "extendedKeyUsage=clientAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", key, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0],
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt)
    return key, crt


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    ca = make_ca(d, "mesh-ca")
    rogue = make_ca(d, "rogue-ca")
    return {"ca": ca[1], "server": make_cert(d, ca, "registry", True),
            "olga": make_cert(d, ca, "olga"),
            "stranger": make_cert(d, ca, "stranger"),
            "rogue": make_cert(d, rogue, "olga-rogue")}


def test_tls_basic_auth_and_client_certificates(make_registry, creds, pki):
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import (MessageField,
                                               SerializationContext)
    import ssl
    import urllib.request

    key, crt = pki["server"]
    reg = make_registry(sets={"auth.credentials.file": str(creds),
                              "tls.cert.file": str(crt),
                              "tls.key.file": str(key),
                              "tls.client.ca.file": str(pki["ca"])})
    assert reg.url.startswith("https://127.0.0.1:"), reg.url
    # Confluent's client with Basic auth registers and serializes over TLS.
    client = SchemaRegistryClient({"url": reg.url,
                                   "ssl.ca.location": str(pki["ca"]),
                                   "basic.auth.user.info": OLGA})
    ser = AvroSerializer(client, DOCUMENTED)
    framed = ser({"order_id": 7}, SerializationContext(
        "orders.events.v1", MessageField.VALUE))
    assert framed[0] == 0 and int.from_bytes(framed[1:5], "big") == 1
    # A client certificate names the principal, without Basic credentials.
    mtls = SchemaRegistryClient({"url": reg.url,
                                 "ssl.ca.location": str(pki["ca"]),
                                 "ssl.certificate.location":
                                 str(pki["olga"][1]),
                                 "ssl.key.location": str(pki["olga"][0])})
    assert mtls.register_schema("orders.events.v2-value",
                                Schema(DOCUMENTED, "AVRO")) == 1
    with pytest.raises(SchemaRegistryError) as exc:
        mtls.register_schema("billing.invoices.v1-value",
                             Schema(DOCUMENTED, "AVRO"))
    assert exc.value.http_status_code == 403
    # A verified certificate of nobody in the credentials file: 401.
    stranger = SchemaRegistryClient({"url": reg.url,
                                     "ssl.ca.location": str(pki["ca"]),
                                     "ssl.certificate.location":
                                     str(pki["stranger"][1]),
                                     "ssl.key.location":
                                     str(pki["stranger"][0])})
    with pytest.raises(SchemaRegistryError) as exc:
        stranger.register_schema("orders.events.v3-value",
                                 Schema(DOCUMENTED, "AVRO"))
    assert exc.value.http_status_code == 401
    assert "certificate subject stranger is no principal" in \
        exc.value.error_message
    # A certificate from another CA fails the handshake.
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    ctx.load_cert_chain(str(pki["rogue"][1]), str(pki["rogue"][0]))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        urllib.request.urlopen(reg.url + "/subjects", context=ctx,
                               timeout=10).read()
    # Plain HTTP on the TLS port gets no answer, and the registry lives on.
    plain = reg.url.replace("https://", "http://")
    with pytest.raises(Exception):
        urllib.request.urlopen(plain + "/subjects", timeout=5).read()
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    with urllib.request.urlopen(reg.url + "/subjects", context=ctx,
                                timeout=10) as resp:
        assert json.loads(resp.read()) == ["orders.events.v1-value",
                                           "orders.events.v2-value"]


def test_meshctl_over_tls(bins, make_registry, creds, pki, tmp_path):
    key, crt = pki["server"]
    reg = make_registry(sets={"auth.credentials.file": str(creds),
                              "tls.cert.file": str(crt),
                              "tls.key.file": str(key)})
    pol = tmp_path / "mesh.yaml"
    pol.write_text(MESH)
    # Without the CA the server's certificate does not verify.
    res = meshctl(bins, reg, None, "--user", FED, "policy", "set", pol)
    assert res.returncode == 1, (res.stdout, res.stderr)
    res = meshctl(bins, reg, None, "--user", FED, "--set",
                  f"registry.ssl.ca.location={pki['ca']}", "policy", "set",
                  pol)
    assert res.returncode == 0, res.stderr
    schema = tmp_path / "order.avsc"
    schema.write_text(DOCUMENTED)
    res = meshctl(bins, reg, None, "--user", OLGA, "--set",
                  f"registry.ssl.ca.location={pki['ca']}", "schema",
                  "register", "orders.events.v1-value", schema)
    assert res.returncode == 0, res.stderr
    # A host name the certificate does not carry is refused.
    res = meshctl(bins, None, None, "--registry",
                  reg.url.replace("127.0.0.1", "127.0.0.2"), "--user", OLGA,
                  "--set", f"registry.ssl.ca.location={pki['ca']}",
                  "subject", "list")
    assert res.returncode == 1
