"""Corners of Confluent Schema Registry's behaviour in mesh-registry:
version numbers after soft and permanent deletes (journal across a restart,
and storage=kafka), the "deleted" flag of soft-deleted versions, and data
contracts (metadata and ruleSet: registration, identity, lookup,
GET /subjects/{s}/metadata, and the Confluent Python serializer's
use.latest.with.metadata), checked with Confluent's Python client where it
exercises them and with plain HTTP otherwise.
"""

import json
import time

import pytest
from confluent_kafka.schema_registry import (Metadata, MetadataProperties,
                                             Rule, RuleKind,
                                             RuleMode, RuleParams, RuleSet,
                                             Schema, SchemaRegistryClient)
from confluent_kafka.schema_registry.avro import (AvroDeserializer,
                                                  AvroSerializer)
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from daemon import TIMEOUT_MULT
from registry import quote


def rec(name, n):
    return json.dumps({"type": "record", "name": name, "fields": [
        {"name": f"f{i}", "type": "string", "default": ""}
        for i in range(n)]})


def ok(resp, status=200):
    st, body = resp
    assert st == status, (st, body)
    return body


def err(resp, status, code):
    st, body = resp
    assert st == status, (st, body)
    assert body["error_code"] == code, body
    return body["message"]


# ---- version numbers after deletes ------------------------------------

def delete_and_reregister(r, subject):
    """v1..v3, v3 soft- then permanently deleted, v2 soft-deleted: the next
    registration is max(stored versions, soft-deleted included) + 1 = 3,
    Confluent's rule.  Then every version permanently deleted: version 1."""
    s = quote(subject)
    for n in (1, 2, 3):
        ok(r.register(subject, rec("A", n)))
    ok(r.delete(f"/subjects/{s}/versions/3"))
    ok(r.delete(f"/subjects/{s}/versions/3?permanent=true"))
    ok(r.delete(f"/subjects/{s}/versions/2"))
    assert ok(r.get(f"/subjects/{s}/versions?deleted=true")) == [1, 2]
    ok(r.register(subject, rec("A", 4)))
    assert ok(r.get(f"/subjects/{s}/versions?deleted=true")) == [1, 2, 3]
    assert ok(r.get(f"/subjects/{s}/versions/latest"))["version"] == 3


def delete_all_and_reregister(r, subject):
    s = quote(subject)
    ok(r.delete(f"/subjects/{s}"))
    ok(r.delete(f"/subjects/{s}?permanent=true"))
    err(r.get(f"/subjects/{s}/versions?deleted=true"), 404, 40401)
    ok(r.register(subject, rec("A", 5)))
    assert ok(r.get(f"/subjects/{s}/versions")) == [1]


def test_versions_after_deletes_journal_and_restart(make_registry):
    reg = make_registry()
    delete_and_reregister(reg, "v")
    # A restart replays the journal to the same numbering.
    workdir = reg.workdir
    assert reg.stop() == 0
    reg = make_registry(workdir=workdir)
    assert ok(reg.get("/subjects/v/versions?deleted=true")) == [1, 2, 3]
    ok(reg.delete("/subjects/v/versions/3"))
    ok(reg.delete("/subjects/v/versions/3?permanent=true"))
    ok(reg.register("v", rec("A", 6)))
    assert ok(reg.get("/subjects/v/versions/latest"))["version"] == 3
    delete_all_and_reregister(reg, "v")
    assert reg.stop() == 0
    reg = make_registry(workdir=workdir)
    assert ok(reg.get("/subjects/v/versions")) == [1]
    ok(reg.register("v", rec("A", 7)))
    assert ok(reg.get("/subjects/v/versions")) == [1, 2]


def test_versions_after_deletes_kafka(make_registry, mesh_broker,
                                      unique_topic):
    sets = {"storage": "kafka",
            "kafka.bootstrap.servers": mesh_broker.bootstrap,
            "kafkastore.topic": unique_topic}
    reg = make_registry(sets=sets)
    delete_and_reregister(reg, "k")
    delete_all_and_reregister(reg, "k")
    # A second instance reading the topic agrees.
    other = make_registry(sets=sets)
    assert ok(other.get("/subjects/k/versions?deleted=true")) == [1]


# ---- "deleted": true --------------------------------------------------

def test_soft_deleted_versions_say_so(registry):
    r = registry
    sid = ok(r.register("d", rec("D", 1)))["id"]
    ok(r.register("d", rec("D", 2)))
    live = ok(r.get("/subjects/d/versions/1"))
    assert "deleted" not in live
    ok(r.delete("/subjects/d/versions/1"))
    got = ok(r.get("/subjects/d/versions/1?deleted=true"))
    assert got["deleted"] is True and got["id"] == sid
    assert "deleted" not in ok(r.get("/subjects/d/versions/2?deleted=true"))
    found = ok(r.post("/subjects/d?deleted=true", {"schema": rec("D", 1)}))
    assert found["version"] == 1 and found["deleted"] is True
    uses = ok(r.get(f"/schemas/ids/{sid}/versions?deleted=true"))
    assert uses == [{"subject": "d", "version": 1, "deleted": True}]
    listed = ok(r.get("/schemas?deleted=true&subjectPrefix=d"))
    assert [(x["version"], x.get("deleted")) for x in listed] == \
        [(1, True), (2, None)]


# ---- data contracts ---------------------------------------------------

def metadata(owner, level="1"):
    # No tags here: the client's MetadataTags cannot be hashed (its values
    # are lists), and its cache hashes every Schema; tags go through plain
    # HTTP in test_contract_survives_restart_and_kafka_record.
    return Metadata(
        tags=None,
        properties=MetadataProperties({"owner": owner, "level": level}),
        sensitive=["f0"])


def rule_set():
    return RuleSet(
        migration_rules=[Rule(name="up", doc=None, kind=RuleKind.TRANSFORM,
                              mode=RuleMode.UPGRADE, type="JSONATA",
                              tags=None, params=None, expr="$", on_success=None,
                              on_failure=None, disabled=True)],
        domain_rules=[Rule(name="check", doc="f0 set",
                           kind=RuleKind.CONDITION, mode=RuleMode.WRITE,
                           type="CEL", tags=["PII"],
                           params=RuleParams({"k": "v"}),
                           expr="message.f0 != ''", on_success=None,
                           on_failure="ERROR", disabled=True)],
        encoding_rules=[])


@pytest.fixture
def client(registry):
    return SchemaRegistryClient({"url": registry.url})


def test_contract_roundtrip_with_confluent_client(registry, client):
    md, rs = metadata("team-a"), rule_set()
    schema = Schema(rec("C", 1), "AVRO", metadata=md, rule_set=rs)
    sid = client.register_schema("c-value", schema)
    # A fresh client: nothing cached, everything read back.
    fresh = SchemaRegistryClient({"url": registry.url})
    got = fresh.get_schema(sid)
    assert got.metadata == md and got.rule_set == rs
    latest = fresh.get_latest_version("c-value")
    assert latest.schema.metadata == md and latest.schema.rule_set == rs
    assert fresh.lookup_schema("c-value", schema).schema_id == sid
    # Same schema and contract: same version.  Another contract: a new
    # version and a new id, as Confluent (the contract is part of the
    # schema's identity).
    assert fresh.register_schema("c-value", schema) == sid
    other = Schema(rec("C", 1), "AVRO", metadata=metadata("team-b"),
                   rule_set=rs)
    sid2 = fresh.register_schema("c-value", other)
    assert sid2 != sid
    assert fresh.get_versions("c-value") == [1, 2]
    # Without metadata and ruleSet the latest's are inherited: the same
    # as version 2, so nothing new.
    plain = Schema(rec("C", 1), "AVRO")
    assert fresh.register_schema("c-value", plain) == sid2
    assert fresh.get_versions("c-value") == [1, 2]
    # Latest with metadata.
    found = fresh.get_latest_with_metadata("c-value", {"owner": "team-a"})
    assert (found.version, found.schema_id) == (1, sid)
    found = fresh.get_latest_with_metadata("c-value", {"level": "1"})
    assert found.version == 2
    with pytest.raises(SchemaRegistryError) as e:
        fresh.get_latest_with_metadata("c-value", {"owner": "nobody"})
    assert e.value.error_code == 40403
    with pytest.raises(SchemaRegistryError) as e:
        fresh.get_latest_with_metadata("missing", {"owner": "x"})
    assert e.value.error_code == 40401


def test_contract_survives_restart_and_kafka_record(make_registry,
                                                    mesh_broker,
                                                    unique_topic):
    sets = {"storage": "kafka",
            "kafka.bootstrap.servers": mesh_broker.bootstrap,
            "kafkastore.topic": unique_topic}
    reg = make_registry(sets=sets)
    body = {"schema": rec("K", 1),
            "metadata": {"properties": {"owner": "x"},
                         "tags": {"f0": ["PII"]}, "ignored": 1},
            "ruleSet": {"domainRules": [{"name": "r", "kind": "CONDITION",
                                         "mode": "WRITE", "type": "CEL",
                                         "expr": "true"}]}}
    sid = ok(reg.post("/subjects/k/versions", body))["id"]
    want_md = {"properties": {"owner": "x"}, "tags": {"f0": ["PII"]}}
    want_rs = {"domainRules": [{"name": "r", "kind": "CONDITION",
                                "mode": "WRITE", "type": "CEL",
                                "expr": "true"}]}
    # Another instance builds its state from the topic's records alone.
    other = make_registry(sets=sets)
    got = ok(other.get(f"/schemas/ids/{sid}"))
    assert got["metadata"] == want_md and got["ruleSet"] == want_rs
    # Soft delete keeps the contract (the record is rewritten whole).  The
    # other instance follows the topic: it sees the delete a moment later.
    ok(reg.delete("/subjects/k/versions/1"))
    deadline = time.monotonic() + 10 * TIMEOUT_MULT
    while True:
        got = ok(other.get("/subjects/k/versions/1?deleted=true"))
        if "deleted" in got or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert got["metadata"] == want_md and got.get("deleted") is True, got


def test_contract_journal_restart(make_registry):
    reg = make_registry()
    body = {"schema": rec("J", 1),
            "metadata": {"properties": {"owner": "j"}, "sensitive": ["f0"]}}
    sid = ok(reg.post("/subjects/j/versions", body))["id"]
    workdir = reg.workdir
    assert reg.stop() == 0
    reg = make_registry(workdir=workdir)
    got = ok(reg.get("/subjects/j/versions/1"))
    assert got["metadata"] == body["metadata"] and got["id"] == sid
    assert ok(reg.post("/subjects/j/versions", body))["id"] == sid
    assert ok(reg.get("/subjects/j/versions")) == [1]


@pytest.mark.parametrize("field,value,path", [
    ("metadata", [], "metadata"),
    ("metadata", {"properties": {"a": 1}}, "metadata.properties"),
    ("metadata", {"tags": {"f": "PII"}}, "metadata.tags"),
    ("metadata", {"sensitive": "f0"}, "metadata.sensitive"),
    ("ruleSet", "x", "ruleSet"),
    ("ruleSet", {"domainRules": {}}, "ruleSet.domainRules"),
    ("ruleSet", {"domainRules": [{"kind": "CONDITION"}]},
     "ruleSet.domainRules[0].name"),
    ("ruleSet", {"migrationRules": [{"name": "a", "mode": "SIDEWAYS"}]},
     "ruleSet.migrationRules[0].mode"),
    ("ruleSet", {"domainRules": [{"name": "a", "disabled": "yes"}]},
     "ruleSet.domainRules[0].disabled"),
])
def test_contract_bad_shapes(registry, field, value, path):
    msg = err(registry.post("/subjects/bad/versions",
                            {"schema": rec("B", 1), field: value}), 422, 422)
    assert path in msg, msg
    msg = err(registry.post("/subjects/bad/versions", {
        "schema": rec("B", 1),
        "ruleSet": {"domainRules": [{"name": "a"}, {"name": "a"}]}}), 422, 422)
    assert "used twice" in msg
    # Nothing was written, and the registry keeps serving.
    err(registry.get("/subjects/bad/versions"), 404, 40401)


def test_serializer_use_latest_with_metadata(registry, client):
    v1 = Schema(rec("S", 1), "AVRO",
                metadata=Metadata(None, MetadataProperties({"app": "v1"}),
                                  None))
    v2 = Schema(rec("S", 2), "AVRO",
                metadata=Metadata(None, MetadataProperties({"app": "v2"}),
                                  None))
    id1 = client.register_schema("s-value", v1)
    client.register_schema("s-value", v2)
    ser = AvroSerializer(client, rec("S", 1), conf={
        "auto.register.schemas": False,
        "use.latest.with.metadata": {"app": "v1"}})
    ctx = SerializationContext("s", MessageField.VALUE)
    data = ser({"f0": "hello"}, ctx)
    assert int.from_bytes(data[1:5], "big") == id1
    de = AvroDeserializer(SchemaRegistryClient({"url": registry.url}))
    assert de(data, ctx) == {"f0": "hello"}
