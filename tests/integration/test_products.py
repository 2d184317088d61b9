"""Data products end to end: `meshctl product validate|plan|apply|list|show`
and `meshctl mesh lineage` against mesh-broker and mesh-registry, and the
registry's catalog (/catalog/...).

- apply creates the topic with its partitions and configs, registers the
  schemas and records the catalog entry with owners and ports; re-apply and
  plan say there is nothing to change and change nothing;
- a breaking schema change is refused with the registry's reasons and the
  way forward (a new major version), and nothing changes;
- a failure half-way (the registry refusing the second schema) reports
  exactly what was done, what was not, and how to finish or undo; fixing
  the cause and applying again finishes;
- the catalog survives a restart (journal) and is the same on two
  instances sharing Kafka storage, whose `_schemas` topic still holds only
  records a Confluent reader knows;
- the lineage of three products renders as DOT that Graphviz accepts and
  as Mermaid, and offline lineage equals the registry's;
- materializers' port status (live facts) over plain HTTP;
- bad descriptors exit 1 with FILE:LINE:COL.

The descriptors are examples/products/*.yaml (docs/PRODUCTS.md's example).
"""

import json
import pathlib
import shutil
import subprocess
import time
import uuid

import pytest

from registry import MeshRegistry, quote

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "products"
CONFLUENT_KEYTYPES = {"SCHEMA", "CONFIG", "MODE", "DELETE_SUBJECT", "NOOP"}


@pytest.fixture
def products(tmp_path):
    """A private copy of the example descriptors (tests edit them)."""
    d = tmp_path / "products"
    shutil.copytree(EXAMPLES, d)
    return d


def meshctl(bins, reg, broker, *args, timeout=120):
    cmd = [str(bins / "meshctl")]
    if broker is not None:
        cmd += ["--bootstrap", broker.bootstrap]
    if reg is not None:
        cmd += ["--registry", reg.url]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)


def ok(res):
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    return res


def versions(reg, subject):
    status, body = reg.get(f"/subjects/{quote(subject)}/versions")
    return body if status == 200 else []


def entry(reg, ref="orders/events"):
    status, body = reg.get(f"/catalog/products/{ref}")
    assert status == 200, (status, body)
    return body


def wait_for(pred, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_apply_end_to_end_then_reapply_is_a_noop(bins, registry, mesh_broker,
                                                 products):
    f = products / "orders.yaml"
    plan = ok(meshctl(bins, registry, mesh_broker, "product", "plan", f))
    assert "+ topic orders.events.v1 (3 partitions" in plan.stdout
    assert "Plan: 4 changes, 0 unchanged." in plan.stdout
    assert mesh_broker.request("GET", "/topics/orders.events.v1")[0] == 404

    ok(meshctl(bins, registry, mesh_broker, "product", "apply", f))
    topic = json.loads(ok(meshctl(bins, None, mesh_broker, "--json", "topic",
                                  "describe", "orders.events.v1")).stdout)
    assert topic["partitions"] == 3
    assert topic["configs"].get("retention.ms") == str(7 * 86400000)
    assert versions(registry, "orders.events.v1-value") == [1]
    assert versions(registry, "orders.events.v1-key") == [1]
    e = entry(registry)
    assert e["owner"] == {"team": "orders-team",
                          "contact": "orders@example.com"}
    assert [p["name"] for p in e["output_ports"]] == ["events",
                                                     "orders-table"]
    port = e["output_ports"][0]
    assert port["topic"] == "orders.events.v1"
    assert port["value_schema"]["version"] == 1
    assert port["value_schema"]["id"] >= 1
    assert {"name": "customer_email", "classification": "pii"} in \
        port["fields"]
    assert e["input_ports"] == [{"name": "shop-db", "source": "postgres",
                                 "location": "public.orders"}]

    # Re-apply and plan: nothing to change, and nothing changes.
    again = ok(meshctl(bins, registry, mesh_broker, "product", "apply", f))
    assert "No changes: product orders/events@1 is up to date." in \
        again.stdout
    assert "done:" not in again.stderr
    plan = json.loads(ok(meshctl(bins, registry, mesh_broker, "--json",
                                 "product", "plan", f)).stdout)
    assert plan["changes"] == 0
    assert versions(registry, "orders.events.v1-value") == [1]
    assert entry(registry) == e

    # list and show read the catalog.
    listed = ok(meshctl(bins, registry, None, "product", "list", "--tag",
                        "core")).stdout.splitlines()
    assert listed[0].split() == ["PRODUCT", "OWNER", "STATUS", "TAGS",
                                 "DESCRIPTION"]
    assert listed[1].split()[:4] == ["orders/events@1", "orders-team",
                                     "active", "orders,core"]
    none = json.loads(ok(meshctl(bins, registry, None, "--json", "product",
                                 "list", "--owner", "nobody")).stdout)
    assert none == []
    by_field = json.loads(ok(meshctl(bins, registry, None, "--json",
                                     "product", "list", "--field",
                                     "customer_email")).stdout)
    assert [p["name"] for p in by_field] == ["events"]
    show = ok(meshctl(bins, registry, None, "product", "show",
                      "orders/events")).stdout
    assert "owner: orders-team <orders@example.com>" in show


def test_breaking_change_refused_and_nothing_changes(bins, registry,
                                                     mesh_broker, products):
    f = products / "orders.yaml"
    ok(meshctl(bins, registry, mesh_broker, "product", "apply", f))
    before = entry(registry)
    avsc = products / "order.avsc"
    schema = json.loads(avsc.read_text())
    schema["fields"][0]["type"] = "string"  # long -> string: breaks readers
    avsc.write_text(json.dumps(schema))

    res = meshctl(bins, registry, mesh_broker, "product", "apply", f)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "breaking change to subject orders.events.v1-value" in res.stderr
    assert "TYPE_MISMATCH" in res.stderr
    assert "set 'version: 2' in the descriptor, which publishes topic " \
           "orders.events.v2 beside orders.events.v1" in res.stderr
    assert f"{f}:27:7:" in res.stderr  # the value_schema
    assert versions(registry, "orders.events.v1-value") == [1]
    assert entry(registry) == before
    assert "done:" not in res.stderr


def test_readonly_subject_refused_before_anything_changes(
        bins, registry, mesh_broker, products):
    """A subject that takes no registration (READONLY) is found by the
    plan: apply refuses before creating the topic."""
    f = products / "orders.yaml"
    subject = "orders.events.v1-value"
    status, _ = registry.put(f"/mode/{quote(subject)}", {"mode": "READONLY"})
    assert status == 200
    res = meshctl(bins, registry, mesh_broker, "product", "apply", f)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert f"subject {subject} is in mode READONLY" in res.stderr
    assert "done:" not in res.stderr
    assert mesh_broker.request("GET", "/topics/orders.events.v1")[0] == 404
    assert versions(registry, "orders.events.v1-key") == []
    assert registry.get("/catalog/products/orders/events")[0] == 404


def test_half_way_failure_reports_what_was_done(bins, tmp_path, mesh_broker,
                                                products):
    """The registry refuses the catalog entry (larger than its
    request.max.bytes) after the topic and both schemas went through: the
    report lists what was done, what was not, and how to finish or undo;
    with the cause gone, applying again finishes."""
    f = products / "orders.yaml"
    workdir = tmp_path / "reg"
    small = MeshRegistry(bins / "mesh-registry", workdir,
                         sets={"request.max.bytes": 1024})
    try:
        res = meshctl(bins, small, mesh_broker, "product", "apply", f)
    finally:
        assert small.stop() == 0
    assert res.returncode == 1, (res.stdout, res.stderr)
    err = res.stderr
    assert "failed at catalog entry orders/events@1" in err
    done = err[err.index("Done before the failure:"):err.index("Not done:")]
    assert done.splitlines()[1:] == [
        "  + topic orders.events.v1 (3 partitions, retention.ms=604800000, "
        "cleanup.policy=delete)",
        "  + schema orders.events.v1-key version 1 (id 1)",
        "  + schema orders.events.v1-value version 1 (id 2)"]
    not_done = err[err.index("Not done:"):err.index("To finish:")]
    assert not_done.splitlines()[1:] == ["  - catalog entry orders/events@1"]
    undo = err[err.index("To undo what was done:"):].splitlines()[1:]
    assert undo == [
        "  meshctl schema delete orders.events.v1-value --version 1 "
        "--permanent",
        "  meshctl schema delete orders.events.v1-key --version 1 "
        "--permanent",
        "  delete topic orders.events.v1 "
        "(kafka-topics.sh --delete --topic orders.events.v1)"]

    reg = MeshRegistry(bins / "mesh-registry", workdir)
    try:
        assert reg.get("/catalog/products/orders/events")[0] == 404
        fin = ok(meshctl(bins, reg, mesh_broker, "product", "apply", f))
        assert fin.stdout.count("(unchanged)") == 3
        assert "Apply complete: 1 change." in fin.stdout
        assert versions(reg, "orders.events.v1-value") == [1]
        assert entry(reg)["output_ports"][0]["value_schema"]["version"] == 1
    finally:
        assert reg.stop() == 0


def test_existing_topic_that_differs_is_refused(bins, registry, mesh_broker,
                                                  products):
    """A topic that exists with other partitions: refused before anything
    changes."""
    f = products / "orders.yaml"
    # An existing topic the descriptor does not match is refused by plan,
    # before anything changes.
    mesh_broker.create_topic("orders.events.v1", 1)
    res = meshctl(bins, registry, mesh_broker, "product", "apply", f)
    assert res.returncode == 1
    assert "topic orders.events.v1 exists with 1 partitions, the " \
           "descriptor says 3" in res.stderr
    assert versions(registry, "orders.events.v1-key") == []
    assert registry.get("/catalog/products/orders/events")[0] == 404


def test_catalog_survives_restart(bins, tmp_path, mesh_broker, products):
    workdir = tmp_path / "reg"
    reg = MeshRegistry(bins / "mesh-registry", workdir)
    try:
        for name in ("orders", "users", "billing"):
            ok(meshctl(bins, reg, mesh_broker, "product", "apply",
                       products / f"{name}.yaml"))
        status, _ = reg.put("/catalog/products/orders/events/ports/events/"
                            "status", {"materializer": "mat-1", "offset": 42,
                                       "freshness_ms": 1500})
        assert status == 200
        before = [reg.get(p)[1] for p in
                  ("/catalog/products", "/catalog/lineage",
                   "/catalog/products/orders/events")]
    finally:
        assert reg.stop() == 0
    reg = MeshRegistry(bins / "mesh-registry", workdir)
    try:
        after = [reg.get(p)[1] for p in
                 ("/catalog/products", "/catalog/lineage",
                  "/catalog/products/orders/events")]
        assert after == before
        assert after[2]["output_ports"][0]["status"]["offset"] == 42
        assert (workdir / "data" / "catalog.journal").stat().st_size > 0
    finally:
        assert reg.stop() == 0


def read_topic(bootstrap, topic, timeout_s=30):
    """Every (key, value) of topic, read from the start with Confluent's
    Python client (as a Confluent reader of `_schemas` would)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap,
                  "group.id": "t-" + uuid.uuid4().hex,
                  "enable.auto.commit": False})
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0),
                                         timeout=timeout_s)
        c.assign([TopicPartition(topic, 0, lo)])
        out, deadline = [], time.monotonic() + timeout_s
        while len(out) < hi - lo and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append((m.key(), m.value()))
        return out
    finally:
        c.close()


def test_two_kafka_instances_share_the_catalog(bins, tmp_path, mesh_broker,
                                               products, timeout):
    tag = uuid.uuid4().hex[:8]
    sets = {"storage": "kafka",
            "kafka.bootstrap.servers": mesh_broker.bootstrap,
            "kafkastore.topic": f"_schemas-{tag}",
            "kafkastore.catalog.topic": f"_catalog-{tag}"}
    a = MeshRegistry(bins / "mesh-registry", tmp_path / "a", sets=sets)
    b = MeshRegistry(bins / "mesh-registry", tmp_path / "b", sets=sets)
    try:
        for name in ("orders", "users", "billing"):
            ok(meshctl(bins, a, mesh_broker, "product", "apply",
                       products / f"{name}.yaml"))
        want = [a.get(p)[1] for p in ("/catalog/products", "/catalog/lineage",
                                      "/catalog/products/billing/invoices")]
        wait_for(lambda: [b.get(p)[1] for p in
                          ("/catalog/products", "/catalog/lineage",
                           "/catalog/products/billing/invoices")] == want,
                 timeout(30), "the catalog on the second instance")
        # Re-applying through the other instance: nothing to change.
        again = ok(meshctl(bins, b, mesh_broker, "product", "apply",
                           products / "billing.yaml"))
        assert "No changes" in again.stdout

        # The schemas topic holds only what Confluent's and Karapace's
        # readers know; the catalog lives in its own topic.
        records = read_topic(mesh_broker.bootstrap, f"_schemas-{tag}")
        keytypes = {json.loads(k)["keytype"] for k, _ in records}
        assert keytypes <= CONFLUENT_KEYTYPES, keytypes
        subjects = {json.loads(v)["subject"] for k, v in records
                    if v and json.loads(k)["keytype"] == "SCHEMA"}
        assert subjects == {"orders.events.v1-key", "orders.events.v1-value",
                            "users.profiles.v2-value",
                            "billing.invoices.v1-value"}
        catalog = read_topic(mesh_broker.bootstrap, f"_catalog-{tag}")
        assert {json.loads(k)["keytype"] for k, _ in catalog} >= {"PRODUCT"}
    finally:
        assert a.stop() == 0
        assert b.stop() == 0


def test_lineage_renders_as_dot_and_mermaid(bins, registry, mesh_broker,
                                            products):
    files = [products / f"{n}.yaml" for n in ("orders", "users", "billing")]
    ok(meshctl(bins, registry, mesh_broker, "product", "apply", *files))
    # billing's inputs resolve in the catalog now, without their files.
    alone = ok(meshctl(bins, registry, None, "product", "validate",
                       "--catalog", products / "billing.yaml"))
    assert "product billing/invoices@1 is valid" in alone.stdout
    graph = json.loads(ok(meshctl(bins, registry, None, "mesh", "lineage",
                                  "--format", "json")).stdout)
    assert {(e["from"], e["to"]) for e in graph["edges"]} == {
        ("source:postgres:public.orders", "orders/events@1"),
        ("source:http:/topics/signups", "users/profiles@2"),
        ("orders/events@1", "billing/invoices@1"),
        ("users/profiles@2", "billing/invoices@1")}
    offline = json.loads(ok(meshctl(bins, None, None, "mesh", "lineage",
                                    *files)).stdout)
    assert sorted(offline["edges"], key=json.dumps) == \
        sorted(graph["edges"], key=json.dumps)

    dot = ok(meshctl(bins, registry, None, "mesh", "lineage", "--format",
                     "dot")).stdout
    svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True,
                         text=True, timeout=60)
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in svg.stdout and "billing/invoices@1" in svg.stdout
    mmd = ok(meshctl(bins, registry, None, "mesh", "lineage", "--format",
                     "mermaid")).stdout
    lines = mmd.splitlines()
    assert lines[0] == "flowchart LR"
    ids = {l.split("[")[0].strip(): l for l in lines[1:] if "[" in l}
    assert len(ids) == 5
    assert sum("-->|" in l for l in lines) == 4


def test_port_status_over_http(bins, registry, mesh_broker, products):
    """The endpoint a materializer reports its live facts to."""
    ok(meshctl(bins, registry, mesh_broker, "product", "apply",
               products / "orders.yaml"))
    path = "/catalog/products/orders/events/ports/orders-table/status"
    status, body = registry.put(path, {"materializer": "mat-pg", "rows": 10,
                                       "offset": 11, "freshness_ms": 800})
    assert status == 200 and body["rows"] == 10
    assert body["reported_at_ms"] > 0
    port = entry(registry)["output_ports"][1]
    assert port["status"]["materializer"] == "mat-pg"
    assert port["status"]["freshness_ms"] == 800
    e = entry(registry)
    assert e["materializers"] == [{"port": "orders-table",
                                   "materializer": "mat-pg"}]
    # sla.freshness is 5m: 800 ms keeps it, an hour does not.
    assert e["output_ports"][1]["status"]["freshness_kept"] is True
    assert registry.put(path, {"materializer": "mat-pg",
                               "freshness_ms": 3600000})[0] == 200
    assert entry(registry)["output_ports"][1]["status"]["freshness_kept"] \
        is False
    # Live facts are not part of the product: apply still sees no change.
    again = ok(meshctl(bins, registry, mesh_broker, "product", "apply",
                       products / "orders.yaml"))
    assert "No changes" in again.stdout
    assert registry.post(path, {"rows": 12})[0] == 200
    assert entry(registry)["output_ports"][1]["status"]["rows"] == 12
    status, body = registry.put(path, {"rows": -1})
    assert status == 422 and "$.rows" in body["message"]
    status, body = registry.put("/catalog/products/orders/events/ports/nope/"
                                "status", {"rows": 1})
    assert status == 404 and "no output port 'nope'" in body["message"]
    assert registry.put("/catalog/products/x/y/ports/p/status",
                        {"rows": 1})[0] == 404


@pytest.mark.parametrize("edit,where", [
    (("  - name: events\n", "  - name: events\n    colour: red\n"),
     "orders.yaml:21:5: output_ports[0]: unknown key 'colour'"),
    (("partitions: 3", "partitions: three"),
     "orders.yaml:21:17: output_ports[0].partitions: expected an integer, "
     "got 'three'"),
    (("file: order.avsc", "file: missing.avsc"),
     "orders.yaml:27:13: output_ports[0].value_schema.file: cannot read"),
])
def test_validate_names_file_line_col(bins, products, edit, where):
    f = products / "orders.yaml"
    f.write_text(f.read_text().replace(*edit))
    res = meshctl(bins, None, None, "product", "validate", f)
    assert res.returncode == 1
    assert where in res.stderr, res.stderr
    good = ok(meshctl(bins, None, None, "product", "validate",
                      products / "users.yaml"))
    assert "product users/profiles@2 is valid" in good.stdout
    # billing reads the other two: valid with them, dangling without.
    dangling = meshctl(bins, None, None, "product", "validate",
                       products / "billing.yaml")
    assert dangling.returncode == 1
    assert "billing.yaml:11:14: input_ports[0].product: no product " \
           "'orders/events@1' among the descriptors given" in dangling.stderr
    twice = meshctl(bins, None, None, "product", "validate",
                    products / "users.yaml", products / "users.yaml")
    assert twice.returncode == 1
    assert "product users/profiles@2 is described by" in twice.stderr
    assert meshctl(bins, None, None, "product", "bogus").returncode == 2
    assert meshctl(bins, None, None, "product", "--help").returncode == 0


def test_broker_refusing_the_second_topic(bins, registry, mesh_broker,
                                          products):
    """The broker refuses a topic half-way (a replication factor above its
    three brokers): the first topic exists, nothing else was done, and the
    report says exactly that."""
    f = products / "two.yaml"
    f.write_text("""\
domain: shop
name: carts
version: 1
owner: {team: shop}
output_ports:
  - name: carts
    value_schema: {file: order.avsc}
  - name: audit
    topic: shop.carts-audit.v1
    replication: 5
    value_schema: {file: order.avsc}
""")
    res = meshctl(bins, registry, mesh_broker, "product", "apply", f)
    assert res.returncode == 1, (res.stdout, res.stderr)
    err = res.stderr
    assert "failed at topic shop.carts-audit.v1 (1 partition)" in err
    assert "replication_factor" in err
    done = err[err.index("Done before the failure:"):err.index("Not done:")]
    assert done.splitlines()[1:] == ["  + topic shop.carts.v1 (1 partition)"]
    not_done = err[err.index("Not done:"):err.index("To finish:")]
    assert "- topic shop.carts-audit.v1" in not_done
    assert "- schema shop.carts.v1-value (new version)" in not_done
    assert "- catalog entry shop/carts@1" in not_done
    undo = err[err.index("To undo what was done:"):]
    assert undo.splitlines()[1:] == [
        "  delete topic shop.carts.v1 "
        "(kafka-topics.sh --delete --topic shop.carts.v1)"]
    assert registry.get("/subjects")[1] == []
    assert registry.get("/catalog/products/shop/carts")[0] == 404


def test_catalog_writes_survive_kill9(bins, tmp_path):
    """Every catalog write the registry answered is there after a SIGKILL
    in the middle of a burst of writes (the journal is fsynced before the
    answer)."""
    import concurrent.futures

    workdir = tmp_path / "reg"
    reg = MeshRegistry(bins / "mesh-registry", workdir)
    acked = []

    def put(i):
        body = {"domain": "load", "name": f"p{i}", "version": 1,
                "owner": {"team": "t"}, "output_ports": [{"name": "o"}]}
        try:
            status, _ = reg.put(f"/catalog/products/load/p{i}", body,
                                timeout=5)
        except OSError:
            return None
        return i if status == 200 else None

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(put, i) for i in range(400)]
        # Let part of the burst be answered, then kill: a fixed pause on
        # purpose, the point is a kill while writes are in flight.
        time.sleep(0.3)
        reg.kill()
        acked = [f.result() for f in futures]
    acked = [i for i in acked if i is not None]
    assert acked, "no write was answered before the kill"
    reg = MeshRegistry(bins / "mesh-registry", workdir)
    try:
        status, listed = reg.get("/catalog/products?domain=load")
        assert status == 200
        names = {p["name"] for p in listed}
        missing = [i for i in acked if f"p{i}" not in names]
        assert not missing, f"acknowledged but lost: {missing[:10]}"
    finally:
        assert reg.stop() == 0
