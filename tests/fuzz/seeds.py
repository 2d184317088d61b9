#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target (tests/fuzz/fz_<name>.c)
into OUT/<name>/, derived from the repository's test data and examples, so
that nothing is copied by hand and a new test case is a new seed.

    tests/fuzz/seeds.py OUT [NAME...]

Each target's input format is the one its fz_<name>.c describes (parts
separated by a NUL byte where a target takes several).  A file is named
after the content's hash: rerunning rewrites the same files.  Exits 1 when
a target has no seed at all (its sources moved: the corpus would be
empty)."""

import hashlib
import json
import pathlib
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "examples"


def rd(path):
    return path.read_bytes()


def avsc_files():
    for base in (DATA, EXAMPLES):
        yield from sorted(base.rglob("*.avsc"))


def seeds_schema():
    for p in avsc_files():
        yield rd(p)


def serde_cases():
    """(case dir, writer schema, reader schema or b'', body bytes)."""
    for case in sorted((DATA / "serde").iterdir()):
        schema = case / "schema.avsc"
        if not schema.is_file():
            continue
        reader = case / "reader.avsc"
        body = b""
        if (case / "expected.hex").is_file():
            body = bytes.fromhex((case / "expected.hex").read_text().strip())
        elif (case / "framed.hex").is_file():
            framed = bytes.fromhex((case / "framed.hex").read_text().strip())
            body = framed[5:]  # magic byte and schema id
        yield case, rd(schema), rd(reader) if reader.is_file() else b"", body


def seeds_serde():
    for _, writer, reader, body in serde_cases():
        yield writer + b"\0\0" + body
        if reader:
            yield writer + b"\0" + reader + b"\0" + body


def seeds_jtext():
    for case, writer, _, _ in serde_cases():
        for name in ("value.json", "reader_value.json"):
            if (case / name).is_file():
                yield writer + b"\0" + rd(case / name)


def seeds_envelope():
    # Debezium's lines as they are, then every serde case's value inside
    # the producer's envelope.
    for p in sorted((DATA / "pg" / "debezium").glob("*.jsonl")):
        for line in rd(p).splitlines()[:20]:
            yield line
    tp = b'"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"'
    for case, _, _, _ in serde_cases():
        if (case / "value.json").is_file():
            v = rd(case / "value.json").strip()
            yield b'{"key":' + v + b',"value":' + v + b',"traceparent":' + tp + b'}'
            yield b'{"id": 1, "value": ' + v + b'}'


def seeds_restbody():
    # The REST Proxy v2 produce call: each serde case's schema and value as
    # an inline-schema body, and the shapes of the reference's examples.
    paths = [b"/topics/orders", b"/topics/orders/partitions/1", b"/topics",
             b"/topics/a%2Fb/partitions/0"]
    for i, (case, writer, _, _) in enumerate(serde_cases()):
        if not (case / "value.json").is_file():
            continue
        value = json.loads(rd(case / "value.json"))
        doc = {"value_schema": writer.decode(),
               "records": [{"value": value}, {"value": value,
                                             "partition": 2}]}
        yield paths[i % len(paths)] + b"\0" + json.dumps(doc).encode()
    yield (b"/topics/t\0" + json.dumps({
        "key_schema_id": 1, "value_schema_id": 2,
        "records": [{"key": "k", "value": {"a": 1}}]}).encode())
    yield b"/topics/t\0{\"records\": []}"


def seeds_registry():
    # Requests of the Confluent API: the route table's paths with their
    # methods, schema bodies from the serde and compatibility cases.
    ct = b"application/vnd.schemaregistry.v1+json"
    heads = [
        (b"GET", b"/subjects?deleted=true"), (b"GET", b"/schemas/ids/1"),
        (b"GET", b"/schemas/ids/1/schema"), (b"GET", b"/schemas/types"),
        (b"GET", b"/subjects/a%2Fb-value/versions/latest"),
        (b"DELETE", b"/subjects/orders-value?permanent=true"),
        (b"GET", b"/config/orders-value?defaultToGlobal=true"),
        (b"PUT", b"/config"), (b"PUT", b"/mode/orders-value"),
        (b"GET", b"/catalog/products"), (b"GET", b"/ui/index.html"),
        (b"GET", b"/governance/policies"), (b"GET", b"/healthz"),
    ]
    for method, target in heads:
        body = b'{"compatibility": "FULL"}' if method == b"PUT" else b""
        yield b"\0".join([method, target, ct, ct, body])
    posts = [b"/subjects/orders-value/versions", b"/subjects/orders-value",
             b"/compatibility/subjects/orders-value/versions/latest"]
    for i, (_, writer, _, _) in enumerate(serde_cases()):
        body = json.dumps({"schema": writer.decode()}).encode()
        accept = [ct, b"application/json", b"*/*; q=0.2", b""][i % 4]
        yield b"\0".join([b"POST", posts[i % len(posts)], accept,
                          b"application/json", body])


def seeds_props():
    # The syntax of Java properties files, one feature per seed, with the
    # keys of fz_props.c's table.
    yield (b"# comment\n! also a comment\nname = one\ncount: 7\n"
           b"flag true\ncolour=green\nlistener = 127.0.0.1:9092\n")
    yield b"kafka.a\\=b\\:c = 1\nkafka.long = one, \\\n    two, \\\n three\n"
    yield b"kafka.esc = t\\tn\\nb\\\\ \\u00e9\\ud83d\\ude00 \\# \\q\n"
    yield b"kafka.crlf = v\r\nname=x\r\n  \\\n\n"
    yield b"count = 1001\nnope = 1\n"
    yield b"password = s3cret\nkafka.empty =\nkafka.last = no newline"


# pgoutput (protocol version 1): the messages a replication connection
# carries, with the column types of tests/data/pg/alltypes.sql and values
# in PostgreSQL's text output under the session settings the pg source
# uses.
PG_COLS = [  # (name, type oid, typmod, text value)
    ("id", 20, -1, "1"), ("c_int2", 21, -1, "-32768"),
    ("c_int4", 23, -1, "2147483647"), ("c_num", 1700, (12 << 16 | 3) + 4,
                                       "123456789.125"),
    ("c_num_free", 1700, -1, "3.14159265358979323846"),
    ("c_float4", 700, -1, "-3.4e+38"), ("c_float8", 701, -1, "NaN"),
    ("c_bool", 16, -1, "t"), ("c_text", 25, -1, "hello"),
    ("c_varchar", 1043, 44, "varchar"), ("c_char", 1042, 8, "ab  "),
    ("c_bytea", 17, -1, "\\x00ff10"), ("c_date", 1082, -1, "2024-02-29"),
    ("c_time", 1083, -1, "13:45:56.123456"),
    ("c_timetz", 1266, -1, "13:45:56.5+02"),
    ("c_ts", 1114, 3, "2024-02-29 13:45:56.123"),
    ("c_tstz", 1184, -1, "2024-02-29 11:45:56.123456+00"),
    ("c_interval", 1186, -1, "P1Y2M3DT4H5M6.789S"),
    ("c_uuid", 2950, -1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ("c_json", 114, -1, '{"a": [1, 2]}'), ("c_jsonb", 3802, -1, '{"b": 1}'),
    ("c_int_arr", 1007, -1, "{1,NULL,3}"),
    ("c_text_arr", 1009, -1, '{"x","y z",NULL}'),
]


def cstr(s):
    return s.encode() + b"\0"


def pg_relation(relid, cols):
    out = b"R" + struct.pack(">I", relid) + cstr("public") + cstr("alltypes")
    out += b"d" + struct.pack(">H", len(cols))
    for i, (name, oid, typmod, _) in enumerate(cols):
        out += bytes([1 if i == 0 else 0]) + cstr(name)
        out += struct.pack(">Ii", oid, typmod)
    return out


def pg_tuple(values):
    out = struct.pack(">H", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is Ellipsis:
            out += b"u"
        else:
            out += b"t" + struct.pack(">I", len(v.encode())) + v.encode()
    return out


def pg_frame(msgs):
    """fz_pgout's input: each message after its 16-bit length."""
    return b"".join(struct.pack(">H", len(m)) + m for m in msgs)


def seeds_pgout():
    relid = 16384
    vals = [c[3] for c in PG_COLS]
    begin = b"B" + struct.pack(">QqI", 0x16B3748, 760000000000000, 734)
    commit = b"C\0" + struct.pack(">QQq", 0x16B3748, 0x16B3778, 7600000000)
    rel = pg_relation(relid, PG_COLS)
    ins = b"I" + struct.pack(">I", relid) + b"N" + pg_tuple(vals)
    nulls = [vals[0]] + [None] * (len(vals) - 2) + [Ellipsis]
    upd = (b"U" + struct.pack(">I", relid) + b"K" + pg_tuple(["1"]) + b"N"
           + pg_tuple(nulls))
    dele = b"D" + struct.pack(">I", relid) + b"O" + pg_tuple(vals)
    trunc = b"T" + struct.pack(">IB", 2, 1) + struct.pack(">II", relid, 7)
    origin = b"O" + struct.pack(">Q", 0x1000) + cstr("upstream")
    typ = b"Y" + struct.pack(">I", 90001) + cstr("public") + cstr("mood")
    msg = (b"M\1" + struct.pack(">Q", 0x2000) + cstr("mesh")
           + struct.pack(">I", 5) + b"hello")
    yield pg_frame([begin, rel, ins, commit])
    yield pg_frame([begin, rel, upd, dele, commit])
    yield pg_frame([origin, typ, trunc, msg])
    # One seed per column type, so each value parser starts from a value.
    for col in PG_COLS:
        one = pg_relation(relid, [col])
        yield pg_frame([one, b"I" + struct.pack(">I", relid) + b"N"
                        + pg_tuple([col[3]])])


def yaml_files(*dirs):
    for d in dirs:
        yield from sorted((EXAMPLES / d).rglob("*.yaml"))


def policy_files():
    return [p for p in yaml_files("policies", "ecommerce/policies")]


def seeds_product():
    pols = set(policy_files())
    for p in yaml_files("ecommerce", "products"):
        if p not in pols:
            yield rd(p)


def seeds_policy():
    pols = policy_files()
    for p in pols:
        yield rd(p)
    # The mesh policy first, then each domain policy against it.
    mesh = [p for p in pols if p.name == "mesh.yaml"]
    for m in mesh:
        for p in pols:
            if p.name != "mesh.yaml":
                yield rd(m) + b"\0" + rd(p)


TARGETS = {name[len("seeds_"):]: fn for name, fn in globals().items()
           if name.startswith("seeds_")}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    names = sys.argv[2:] or sorted(TARGETS)
    status = 0
    for name in names:
        if name not in TARGETS:
            print(f"seeds: no seeds for target '{name}' (known: "
                  f"{', '.join(sorted(TARGETS))})", file=sys.stderr)
            status = 1
            continue
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        cnt = 0
        for blob in TARGETS[name]():
            (d / hashlib.sha1(blob).hexdigest()).write_bytes(blob)
            cnt += 1
        if cnt == 0:
            print(f"seeds: target '{name}' has no seed", file=sys.stderr)
            status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
