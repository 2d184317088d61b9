"""Interoperability of av_serde (through tests/tools/av_serde_tool) with
independent Avro implementations: fastavro, and Confluent's Python
AvroSerializer/AvroDeserializer against mesh-registry.

- every tests/data/serde case: fastavro writes the expected bytes and the
  resolved reader values (so the data the C unit test uses is checked by a
  third party), our tool decodes fastavro's framed bytes to value.json, and
  fastavro decodes our encoding back to the same value;
- random records of a 10-field schema both ways;
- a fuzz run: 2000 random and mutated messages through one decode process
  must each give a value or a clean error line, never a crash;
- with the `registry` fixture: Confluent's AvroSerializer output decodes
  with our registry-backed decode (sr_client fetches the schema by id), and
  our registry-backed encode decodes with AvroDeserializer.
"""

import io
import json
import os
import random
import struct
import subprocess

import pytest

# fastavro and confluent-kafka are pinned in tests/requirements.txt (make
# deps): plain imports, so a broken venv fails instead of skipping.
import confluent_kafka.schema_registry as sr  # noqa: E402
import confluent_kafka.schema_registry.avro as sr_avro  # noqa: E402
import fastavro  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "serde")
GOOD = sorted(d for d in os.listdir(DATA) if not d.startswith("bad_"))

# --- Avro JSON encoding <-> Python objects as fastavro reads/writes them
PRIM = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}

def _named(schema, names, ns=""):
    if isinstance(schema, str):
        return
    if isinstance(schema, list):
        for b in schema:
            _named(b, names, ns)
        return
    t = schema["type"]
    if t in ("record", "enum", "fixed", "error"):
        n = schema["name"]
        space = schema.get("namespace", ns) if "." not in n else n.rsplit(".", 1)[0]
        full = n if "." in n else (f"{space}.{n}" if space else n)
        names[full] = (schema, space)
        if t in ("record", "error"):
            for f in schema["fields"]:
                _named(f["type"], names, space)
    elif t == "array":
        _named(schema["items"], names, ns)
    elif t == "map":
        _named(schema["values"], names, ns)

class Conv:
    def __init__(self, schema):
        self.names = {}
        _named(schema, self.names)
        self.schema = schema

    def resolve(self, s, ns):
        if isinstance(s, str) and s not in PRIM:
            full = s if "." in s else (f"{ns}.{s}" if ns and f"{ns}.{s}" in self.names else s)
            return self.names[full]
        if isinstance(s, dict) and s.get("type") in ("record", "enum", "fixed", "error"):
            n = s["name"]
            for full, (sch, space) in self.names.items():
                if sch is s:
                    return sch, space
        return s, ns

    def bname(self, s, ns):
        s, ns2 = self.resolve(s, ns)
        if isinstance(s, str):
            return s
        if isinstance(s, list):
            return "union"
        t = s["type"]
        if t in ("record", "enum", "fixed", "error"):
            for full, (sch, _) in self.names.items():
                if sch is s:
                    return full
        return t

    def to_py(self, s, v, ns=""):
        s, ns = self.resolve(s, ns)
        if isinstance(s, list):
            if v is None:
                return None
            (k, inner), = v.items()
            for b in s:
                if self.bname(b, ns) == k:
                    return self.to_py(b, inner, ns)
            raise ValueError(k)
        t = s if isinstance(s, str) else s["type"]
        if isinstance(s, dict) and t in PRIM:
            s = t
        if t in ("bytes", "fixed"):
            return v.encode("latin-1")
        if t in ("record", "error"):
            return {f["name"]: self.to_py(f["type"], v[f["name"]], ns) for f in s["fields"]}
        if t == "array":
            return [self.to_py(s["items"], x, ns) for x in v]
        if t == "map":
            return {k: self.to_py(s["values"], x, ns) for k, x in v.items()}
        if t in ("float", "double"):
            return float(v)
        return v

    def to_json(self, s, v, ns=""):
        s, ns = self.resolve(s, ns)
        if isinstance(s, list):
            if v is None:
                return None
            b = self.pick(s, v, ns)
            return {self.bname(b, ns): self.to_json(b, v, ns)}
        t = s if isinstance(s, str) else s["type"]
        if t in ("bytes", "fixed"):
            return v.decode("latin-1") if isinstance(v, (bytes, bytearray)) else v
        if t in ("record", "error"):
            return {f["name"]: self.to_json(f["type"], v[f["name"]], ns) for f in s["fields"]}
        if t == "array":
            return [self.to_json(s["items"], x, ns) for x in v]
        if t == "map":
            return {k: self.to_json(s["values"], x, ns) for k, x in v.items()}
        if t in ("float", "double"):
            return float(v)
        return v

    def pick(self, branches, v, ns):
        for b in branches:
            bs, _ = self.resolve(b, ns)
            t = bs if isinstance(bs, str) else bs["type"]
            if v is None and t == "null":
                return b
            if isinstance(v, bool) and t == "boolean":
                return b
            if isinstance(v, int) and not isinstance(v, bool) and t in ("int", "long"):
                return b
            if isinstance(v, float) and t in ("float", "double"):
                return b
            if isinstance(v, str) and t in ("string", "enum"):
                if t == "enum" and v not in bs["symbols"]:
                    continue
                return b
            if isinstance(v, (bytes, bytearray)) and t in ("bytes", "fixed"):
                return b
            if isinstance(v, dict) and t in ("record", "map"):
                return b
            if isinstance(v, list) and t == "array":
                return b
        raise ValueError(f"no branch for {v!r}")


def load(case, name):
    with open(os.path.join(DATA, case, name)) as f:
        return json.load(f)


def frame(schema_id, body):
    return b"\x00" + struct.pack(">I", schema_id) + body


def fa_write(schema, obj):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), obj)
    return buf.getvalue()


def fa_read(writer, data, reader=None):
    return fastavro.schemaless_reader(
        io.BytesIO(data), fastavro.parse_schema(writer),
        fastavro.parse_schema(reader) if reader else None)


@pytest.fixture(scope="module")
def tool(tools):
    path = tools / "av_serde_tool"
    if not path.exists():
        pytest.fail(f"{path} not built (make test-build BUILD=build/asan SAN=1)")
    return str(path)


def run(tool, args, data, timeout=60):
    return subprocess.run([tool] + args, input=data, capture_output=True,
                          timeout=timeout)


def decode_many(tool, schema_path, messages, reader_path=None):
    args = ["decode-hex", schema_path] + ([reader_path] if reader_path else [])
    lines = "".join(m.hex() + "\n" for m in messages).encode()
    res = run(tool, args, lines, timeout=300)
    assert res.returncode == 0, res.stderr.decode()
    # split on \n only: U+0085 and U+2028 may appear raw inside the JSON
    out = res.stdout.decode().split("\n")[:-1]
    assert len(out) == len(messages)
    return [l if l.startswith("error: ") else json.loads(l) for l in out]


@pytest.mark.parametrize("case", GOOD)
def test_case_data_agrees_with_fastavro(case):
    schema = load(case, "schema.avsc")
    value = load(case, "value.json")
    expected = open(os.path.join(DATA, case, "expected.hex")).read().strip()
    body = fa_write(schema, Conv(schema).to_py(schema, value))
    assert body.hex() == expected
    if os.path.exists(os.path.join(DATA, case, "reader.avsc")):
        reader = load(case, "reader.avsc")
        got = fa_read(schema, body, reader)
        assert Conv(reader).to_json(reader, got) == load(case, "reader_value.json")


@pytest.mark.parametrize("case", GOOD)
def test_fastavro_bytes_decode_with_our_tool(tool, case):
    d = os.path.join(DATA, case)
    schema = load(case, "schema.avsc")
    value = load(case, "value.json")
    msg = frame(7, fa_write(schema, Conv(schema).to_py(schema, value)))
    res = run(tool, ["decode", f"{d}/schema.avsc"], msg)
    assert res.returncode == 0, res.stderr.decode()
    assert json.loads(res.stdout) == value
    if os.path.exists(f"{d}/reader.avsc"):
        res = run(tool, ["decode", f"{d}/schema.avsc", f"{d}/reader.avsc"], msg)
        assert res.returncode == 0, res.stderr.decode()
        assert json.loads(res.stdout) == load(case, "reader_value.json")


@pytest.mark.parametrize("case", GOOD)
def test_our_encoding_decodes_with_fastavro(tool, case):
    d = os.path.join(DATA, case)
    schema = load(case, "schema.avsc")
    value = load(case, "value.json")
    with open(f"{d}/value.json", "rb") as f:
        res = run(tool, ["encode", f"{d}/schema.avsc", "305419896"], f.read())
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout[:5] == b"\x00\x12\x34\x56\x78"
    # compared through fastavro's reader on both sides, so logical types
    # (decimal, dates, uuid) come out as the same Python objects
    got = fa_read(schema, res.stdout[5:])
    assert got == fa_read(schema, fa_write(schema, Conv(schema).to_py(schema, value)))


TEN = {"type": "record", "name": "Order", "namespace": "bench", "fields": [
    {"name": "id", "type": "long"},
    {"name": "customer", "type": "string"},
    {"name": "amount", "type": "double"},
    {"name": "qty", "type": "int"},
    {"name": "paid", "type": "boolean"},
    {"name": "note", "type": ["null", "string"]},
    {"name": "status", "type": {"type": "enum", "name": "Status",
                                "symbols": ["NEW", "PAID", "SHIPPED"]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "attrs", "type": {"type": "map", "values": "long"}},
    {"name": "digest", "type": "bytes"},
]}


def random_order(rng):
    def text():
        return "".join(rng.choice("abcé中 \"\\\n") for _ in range(rng.randint(0, 12)))
    return {
        "id": rng.randint(-2**63, 2**63 - 1),
        "customer": text(),
        "amount": rng.uniform(-1e9, 1e9),
        "qty": rng.randint(-2**31, 2**31 - 1),
        "paid": rng.random() < 0.5,
        "note": None if rng.random() < 0.3 else text(),
        "status": rng.choice(["NEW", "PAID", "SHIPPED"]),
        "tags": [text() for _ in range(rng.randint(0, 4))],
        "attrs": {text(): rng.randint(-2**40, 2**40) for _ in range(rng.randint(0, 3))},
        "digest": bytes(rng.randrange(256) for _ in range(rng.randint(0, 20))),
    }


def test_random_records_both_ways(tool, tmp_path):
    rng = random.Random(1234)
    schema_path = tmp_path / "order.avsc"
    schema_path.write_text(json.dumps(TEN))
    conv = Conv(TEN)
    records = [random_order(rng) for _ in range(300)]
    msgs = [frame(1, fa_write(TEN, r)) for r in records]
    decoded = decode_many(tool, str(schema_path), msgs)
    for rec, got in zip(records, decoded):
        assert got == conv.to_json(TEN, rec)
    for rec in records[:40]:
        res = run(tool, ["encode", str(schema_path), "1"],
                  json.dumps(conv.to_json(TEN, rec)).encode())
        assert res.returncode == 0, res.stderr.decode()
        assert fa_read(TEN, res.stdout[5:]) == rec


def test_fuzz_decode_never_crashes(tool, tmp_path):
    """2000 inputs: random bytes, and valid messages with bytes flipped,
    truncated or extended.  Every input gives a value or an error line."""
    rng = random.Random(99)
    schema_path = tmp_path / "order.avsc"
    schema_path.write_text(json.dumps(TEN))
    valid = [frame(1, fa_write(TEN, random_order(rng))) for _ in range(50)]
    inputs = []
    for i in range(2000):
        kind = i % 4
        if kind == 0:
            inputs.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 80))))
            continue
        m = bytearray(rng.choice(valid))
        if kind == 1:
            for _ in range(rng.randint(1, 4)):
                m[rng.randrange(len(m))] = rng.randrange(256)
        elif kind == 2:
            m = m[:rng.randrange(len(m))]
        else:
            m += bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
        inputs.append(bytes(m))
    out = decode_many(tool, str(schema_path), inputs)
    errors = [o for o in out if isinstance(o, str)]
    assert len(errors) > 1000
    for e in errors:
        assert e.startswith("error: ") and len(e) > 10
    # every extended message must be rejected for its trailing bytes
    for i in range(3, 2000, 4):
        assert isinstance(out[i], str)


# --- Confluent's serializer against mesh-registry

@pytest.fixture
def registry_url(registry):
    return registry.url


def test_confluent_serializer_interop(tool, registry_url, tmp_path):
    avro = sr_avro
    from confluent_kafka.serialization import MessageField, SerializationContext

    client = sr.SchemaRegistryClient({"url": registry_url})
    schema_str = json.dumps(TEN)
    ser = avro.AvroSerializer(client, schema_str)
    de = avro.AvroDeserializer(client)
    ctx = SerializationContext("serde-interop", MessageField.VALUE)
    conv = Conv(TEN)
    rng = random.Random(7)
    schema_path = tmp_path / "order.avsc"
    schema_path.write_text(schema_str)
    for _ in range(20):
        rec = random_order(rng)
        # Confluent -> us (sr_client fetches the writer schema by id)
        msg = ser(rec, ctx)
        res = run(tool, ["decode-registry", registry_url], msg)
        assert res.returncode == 0, res.stderr.decode()
        assert json.loads(res.stdout) == conv.to_json(TEN, rec)
        # us -> Confluent (sr_client registers under the subject)
        res = run(tool, ["encode-registry", registry_url,
                         "serde-interop-value", str(schema_path)],
                  json.dumps(conv.to_json(TEN, rec)).encode())
        assert res.returncode == 0, res.stderr.decode()
        assert res.stdout[1:5] == msg[1:5]  # same subject+schema, same id
        assert de(res.stdout, ctx) == rec


def test_client_calls_and_error_codes(tool, registry_url, tmp_path):
    """sr_client through `av_serde_tool client`: one client, one connection,
    the registry's error_code carried on every failure."""
    v1 = {"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "int"}]}
    v2 = {"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "int"},
        {"name": "email", "type": ["null", "string"], "default": None}]}
    bad = {"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "string"}]}
    files = {}
    for name, schema in (("v1", v1), ("v2", v2), ("bad", bad)):
        files[name] = tmp_path / f"{name}.avsc"
        files[name].write_text(json.dumps(schema, indent=2))
    invalid = tmp_path / "invalid.avsc"
    invalid.write_text('{"type": "record", "name": "X", "fields": [{"name": "a"}]}')
    subj_word = "users/é-value"  # '/' and unicode travel URL-encoded
    script = "\n".join([
        f"register {subj_word} {files['v1']}",
        f"register {subj_word} {files['v1']}",
        f"register other {files['v1']}",
        f"lookup {subj_word} {files['v1']}",
        f"register {subj_word} {files['v2']}",
        f"latest {subj_word}",
        f"version {subj_word} 1",
        f"version {subj_word} 9",
        "latest no-such-subject",
        "id 99999",
        f"compat {subj_word} -1 {files['bad']}",
        f"compat {subj_word} -1 {files['v2']}",
        f"register {subj_word} {files['bad']}",
        f"register {subj_word} {invalid}",
        f"lookup {subj_word} {files['bad']}",
    ]) + "\n"
    res = run(tool, ["client", registry_url], script.encode())
    assert res.returncode == 0, res.stderr.decode()
    out = res.stdout.decode().split("\n")[:-1]
    assert len(out) == 15, out
    id1 = out[0].split()[1]
    assert out[1] == f"ok {id1}"
    assert out[2] == f"ok {id1}"          # same schema, same global id
    assert out[3] == f"ok {id1} 1"
    id2 = out[4].split()[1]
    assert id2 != id1
    assert out[5].startswith(f"ok 2 {id2} ")
    assert out[6].startswith(f"ok 1 {id1} ")
    assert out[7].startswith("error 40402 MW_ERR_NOT_FOUND")
    assert out[8].startswith("error 40401 MW_ERR_NOT_FOUND")
    assert out[9].startswith("error 40403 MW_ERR_NOT_FOUND")
    assert out[10] == "ok false"
    assert out[11] == "ok true"
    assert out[12].startswith("error 409 MW_ERR_INVALID")
    assert out[13].startswith("error 42201 MW_ERR_INVALID")
    assert out[14].startswith("error 40403 MW_ERR_NOT_FOUND")


def test_consumer_reads_old_messages_with_new_schema(tool, registry_url, tmp_path):
    """The evolution avro-c 1.11.1 cannot resolve: Confluent's serializer
    writes with v1, we read with v2 which adds a defaulted field."""
    avro = sr_avro
    from confluent_kafka.serialization import MessageField, SerializationContext

    v1 = {"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "int"}, {"name": "name", "type": "string"}]}
    v2 = {"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "long"}, {"name": "name", "type": "string"},
        {"name": "country", "type": "string", "default": "FR"},
        {"name": "email", "type": ["null", "string"], "default": None}]}
    client = sr.SchemaRegistryClient({"url": registry_url})
    ser = avro.AvroSerializer(client, json.dumps(v1))
    msg = ser({"id": 5, "name": "ann"},
              SerializationContext("evolve", MessageField.VALUE))
    reader = tmp_path / "v2.avsc"
    reader.write_text(json.dumps(v2))
    res = run(tool, ["decode-registry", registry_url, str(reader)], msg)
    assert res.returncode == 0, res.stderr.decode()
    assert json.loads(res.stdout) == {"id": 5, "name": "ann", "country": "FR",
                                      "email": None}
