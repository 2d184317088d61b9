"""`meshctl schema ...` and `meshctl subject ...`: the schema admin CLI.

- On every case of tests/data/compat, the offline `schema check` (NEW
  against OLD files) and `schema diff` give the verdict mesh-registry gives
  for the same pair (the writer registered, the reader checked under
  BACKWARD), with the same verbose reasons; `schema check --subject` asks
  the registry and agrees too.
- `schema diff` names field-level changes; register/get/list/delete and
  subject list/versions/config/mode round-trip through the registry;
  usage errors exit 2, incompatible verdicts 1.
"""

import json
import pathlib
import subprocess

import pytest

from registry import quote

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "tests" / "data" / "compat"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())


def meshctl(bins, reg, *args, timeout=60):
    cmd = [str(bins / "meshctl")]
    if reg is not None:
        cmd += ["--registry", reg.url]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)


def reasons(messages):
    """The incompatibilities of a verbose answer (the registry adds the old
    schema's version and text, which the offline check does not know)."""
    return [m for m in messages if not m.startswith(("{oldSchema",
                                                     "{oldSchemaVersion"))]


def test_check_and_diff_agree_with_the_registry(bins, registry):
    disagree = []
    for i, case in enumerate(CASES):
        d = CASES_DIR / case
        subject = f"compat-{case}"
        status, body = registry.register(subject, (d / "writer.avsc")
                                         .read_text())
        assert status == 200, (case, body)
        status, want = registry.post(
            f"/compatibility/subjects/{quote(subject)}/versions?verbose=true",
            {"schema": (d / "reader.avsc").read_text()})
        assert status == 200, (case, want)

        check = meshctl(bins, None, "--json", "schema", "check",
                        d / "reader.avsc", "--against", d / "writer.avsc")
        diff = meshctl(bins, None, "--json", "schema", "diff",
                       d / "writer.avsc", d / "reader.avsc")
        for name, res in (("check", check), ("diff", diff)):
            assert res.returncode in (0, 1), (case, name, res.stderr)
            got = json.loads(res.stdout)
            if (got["is_compatible"] != want["is_compatible"] or
                    res.returncode != (0 if want["is_compatible"] else 1) or
                    reasons(got["messages"]) !=
                    reasons(want.get("messages", []))):
                disagree.append((case, name, got, want))
        # A few cases through the registry from meshctl as well.
        if i % 40 == 0:
            online = meshctl(bins, registry, "--json", "schema", "check",
                             d / "reader.avsc", "--subject", subject)
            got = json.loads(online.stdout)
            assert got["is_compatible"] == want["is_compatible"], case
    assert not disagree, "\n".join(map(str, disagree[:5]))
    assert len(CASES) > 100


def write(tmp_path, name, schema):
    p = tmp_path / name
    p.write_text(json.dumps(schema))
    return p


V1 = {"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "long"},
    {"name": "note", "type": "string"},
    {"name": "status", "type": {"type": "enum", "name": "S",
                                "symbols": ["NEW", "PAID"]}}]}
V2 = {"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "long"},
    {"name": "status", "type": {"type": "enum", "name": "S",
                                "symbols": ["NEW", "PAID", "SHIPPED"]}},
    {"name": "email", "type": "string", "default": ""}]}
V3 = {"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "string"}]}


def test_diff_names_field_changes(bins, tmp_path):
    v1, v2, v3 = (write(tmp_path, f"v{i}.avsc", s)
                  for i, s in ((1, V1), (2, V2), (3, V3)))
    res = meshctl(bins, None, "schema", "diff", v1, v2)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "- note: field (type string)",
        "+ status: symbol SHIPPED",
        "+ email: field (type string, default \"\")",
        "compatible (BACKWARD)"]
    res = meshctl(bins, None, "schema", "diff", v2, v3)
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert "~ id: type long -> string" in lines
    assert "incompatible (BACKWARD)" in lines
    assert any("TYPE_MISMATCH" in line for line in lines)
    # FORWARD: the old schema must read the new one.
    res = meshctl(bins, None, "schema", "check", v2, "--against", v1,
                  "--level", "FORWARD")
    assert res.returncode == 1 and "incompatible (FORWARD)" in res.stdout
    res = meshctl(bins, None, "schema", "check", v2, "--against", v1,
                  "--level", "SIDEWAYS")
    assert res.returncode == 2
    assert meshctl(bins, None, "schema", "check", v2).returncode == 2


def test_schema_and_subject_commands(bins, registry, tmp_path):
    v1, v2 = write(tmp_path, "v1.avsc", V1), write(tmp_path, "v2.avsc", V2)
    res = meshctl(bins, registry, "--json", "schema", "register", "orders",
                  v1)
    assert res.returncode == 0, res.stderr
    sid = json.loads(res.stdout)["id"]
    assert meshctl(bins, registry, "schema", "register", "orders",
                   v2).returncode == 0
    got = meshctl(bins, registry, "schema", "get", "orders", "--version", "1")
    assert json.loads(got.stdout)["fields"][1]["name"] == "note"
    by_id = meshctl(bins, registry, "schema", "get", "--id", str(sid))
    assert json.loads(by_id.stdout) == json.loads(got.stdout)
    table = meshctl(bins, registry, "schema", "list").stdout.splitlines()
    assert table[0].split() == ["SUBJECT", "VERSION", "ID"]
    assert [l.split()[:2] for l in table[1:]] == [["orders", "1"],
                                                 ["orders", "2"]]
    assert meshctl(bins, registry, "subject", "list").stdout == "orders\n"
    assert meshctl(bins, registry, "subject", "versions",
                   "orders").stdout == "1\n2\n"

    assert meshctl(bins, registry, "subject", "config").stdout == \
        "BACKWARD\n"
    assert meshctl(bins, registry, "subject", "config", "orders", "--set",
                   "FULL").returncode == 0
    assert meshctl(bins, registry, "subject", "config",
                   "orders").stdout == "FULL\n"
    assert meshctl(bins, registry, "subject", "mode", "orders", "--set",
                   "READONLY").returncode == 0
    assert meshctl(bins, registry, "subject", "mode",
                   "orders").stdout == "READONLY\n"
    refused = meshctl(bins, registry, "schema", "register", "orders",
                      write(tmp_path, "v3.avsc", V3))
    assert refused.returncode == 1 and "42205" in refused.stderr
    assert meshctl(bins, registry, "subject", "mode", "orders", "--set",
                   "READWRITE").returncode == 0

    # Against the registry the verdict is the subject's level (FULL now):
    # dropping 'note' breaks the forward direction.
    online = meshctl(bins, registry, "schema", "diff", v2, "--subject",
                     "orders", "--version", "1")
    assert online.returncode == 1, online.stderr
    assert "+ email: field (type string, default \"\")" in online.stdout
    assert "compatibility: 'FULL'" in online.stdout

    assert meshctl(bins, registry, "schema", "delete", "orders", "--version",
                   "1", "--permanent").returncode == 0
    assert meshctl(bins, registry, "subject", "versions",
                   "orders").stdout == "2\n"
    assert meshctl(bins, registry, "schema", "bogus").returncode == 2
    missing = meshctl(bins, registry, "subject", "versions", "nope")
    assert missing.returncode == 1 and "40401" in missing.stderr
