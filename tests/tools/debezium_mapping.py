#!/usr/bin/env python3
"""tests/tools/debezium_mapping.py [DIR]: writes DIR/MAPPING.md (default
tests/data/pg/debezium) from DIR/stream.jsonl and DIR/changes.jsonl, the
change events that tests/tools/debezium_capture.sh captured: per column of
public.alltypes, the Connect schema Debezium gave it and the JSON value of
each of the three rows, with decimals decoded.  Run by
debezium_capture.sh after every capture; standard library only."""

import base64
import json
import pathlib
import sys

DIR = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                   pathlib.Path(__file__).resolve().parents[2]
                   / "tests" / "data" / "pg" / "debezium")

PG_TYPE = {
    "id": "bigint PRIMARY KEY", "c_int2": "smallint",
    "c_int4": "integer NOT NULL", "c_int8": "bigint",
    "c_num": "numeric(12, 3)", "c_num_free": "numeric",
    "c_float4": "real", "c_float8": "double precision",
    "c_bool": "boolean", "c_text": "text", "c_varchar": "varchar(40)",
    "c_char": "char(4)", "c_bytea": "bytea", "c_date": "date",
    "c_time": "time", "c_timetz": "timetz", "c_ts": "timestamp",
    "c_tstz": "timestamptz", "c_interval": "interval", "c_uuid": "uuid",
    "c_json": "json", "c_jsonb": "jsonb", "c_enum": "mood (enum)",
    "c_int_arr": "integer[]", "c_text_arr": "text[]",
    "c_domain": "posint (domain over integer)",
}


def raw_values(path):
    """The after values as the JSON text Debezium wrote (so 1.5E38 stays
    as written), column by column, for every event with an after."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        ev = json.loads(line)
        if ev["value"] is None or ev["value"]["payload"]["after"] is None:
            continue
        # Re-find each value's source text: parse with a hook that keeps
        # floats as their literal text.
        after = json.loads(line, parse_float=lambda s: _Lit(s))
        rows.append((ev, after["value"]["payload"]["after"]))
    return rows


class _Lit(str):
    pass


def js(v):
    if isinstance(v, _Lit):
        return str(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f'"{k}": {js(x)}' for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(js(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def unscaled(b64):
    return int.from_bytes(base64.b64decode(b64), "big", signed=True)


def decoded(field, v):
    """A reading aid for the encoded values."""
    if v is None:
        return None
    name = field.get("name", "")
    if name == "org.apache.kafka.connect.data.Decimal":
        scale = int(field["parameters"]["scale"])
        return f"unscaled {unscaled(v)}, scale {scale}"
    if name == "io.debezium.data.VariableScaleDecimal":
        return f"unscaled {unscaled(v['value'])}, scale {v['scale']}"
    if field["type"] == "bytes":
        return "0x" + base64.b64decode(v).hex()
    return None


def cell(s):
    return s.replace("|", "\\|").replace("\n", "\\n")


def schema_text(f):
    t = f["type"]
    if t == "array":
        t = f"array of {f['items']['type']}" + (
            "" if f["items"].get("optional") else " (items required)")
    parts = [f"`{t}`"]
    if "name" in f:
        parts.append(f"`{f['name']}` v{f.get('version', '-')}")
    if "parameters" in f:
        parts.append(", ".join(f"`{k}={v}`"
                               for k, v in f["parameters"].items()))
    if "fields" in f:
        parts.append("fields " + ", ".join(
            f"`{x['field']}` {x['type']}" for x in f["fields"]))
    parts.append("optional" if f.get("optional") else "**required**")
    return "; ".join(parts)


def main():
    rows = raw_values(DIR / "stream.jsonl")
    ev0 = rows[0][0]
    value_schema = ev0["value"]["schema"]
    after_schema = next(f for f in value_schema["fields"]
                        if f["field"] == "after")
    out = []
    out.append(HEAD)
    out.append("| column | PostgreSQL | Connect schema (type; name version; "
               "parameters; optional) | row 1 | row 2 | row 3 |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    for f in after_schema["fields"]:
        col = f["field"]
        vals = []
        for _, after in rows:
            v = after[col]
            s = f"`{cell(js(v))}`"
            d = decoded(f, v)
            if d:
                s += f" ({d})"
            vals.append(s)
        out.append(f"| `{col}` | {PG_TYPE.get(col, '?')} | "
                   f"{schema_text(f)} | " + " | ".join(vals) + " |")
    out.append("")
    out.append(ENVELOPE_HEAD)
    for f in value_schema["fields"]:
        if f["field"] in ("before", "after"):
            out.append(f"| `{f['field']}` | `struct` "
                       f"`{f.get('name')}`; optional |")
            continue
        out.append(f"| `{f['field']}` | {schema_text(f)} |")
    out.append("")
    out.append("Envelope: `" + value_schema.get("name", "") + "` version "
               f"{value_schema.get('version')}; key: `"
               + ev0["key"]["schema"]["name"] + "` with fields "
               + ", ".join(f"`{x['field']}` {x['type']}"
                           for x in ev0["key"]["schema"]["fields"]) + ".")
    out.append("")
    src = next(f for f in value_schema["fields"] if f["field"] == "source")
    out.append("`source` (`" + src["name"] + "`): "
               + "; ".join(f"`{x['field']}` {x['type']}"
                           + (f" `{x['name']}`" if "name" in x else "")
                           + ("" if x.get("optional") else " required")
                           for x in src["fields"]) + ".")
    out.append("")
    out.append(NOTES)
    (DIR / "MAPPING.md").write_text("\n".join(out), encoding="utf-8")


HEAD = """# Debezium 3.6.1.Final: how it maps public.alltypes

Written by `tests/tools/debezium_mapping.py` from `stream.jsonl` (the
three rows of `tests/data/pg/alltypes.sql`, streamed as `c` events; the
`r` events of `snapshot.jsonl` carry the same values and schemas).  The
settings are Debezium's defaults (README.md beside this file):
`decimal.handling.mode=precise`, `time.precision.mode=adaptive`,
`binary.handling.mode=bytes`, `interval.handling.mode=numeric`, and Kafka
Connect's JsonConverter with its default `decimal.format=BASE64`.

Values are the JSON text of `payload.after` as Debezium wrote it.  Bytes
(`bytes` schemas, decimals included) are base64; the bracket after a
decimal gives its big-endian two's-complement unscaled integer, decoded.
"""

ENVELOPE_HEAD = """## The envelope (value schema, top level)

| field | Connect schema |
| --- | --- |"""

NOTES = """## What to match, column by column

- **Integers**: `int16`/`int32`/`int64`, no logical name.  The domain
  `posint` is its base type, `int32`, with no trace of the domain (and
  `c_int4 NOT NULL` is the only column that is not optional: NOT NULL
  decides `optional`, also in `before`).
- **numeric(p, s)**: `org.apache.kafka.connect.data.Decimal`, parameters
  `scale` and `connect.decimal.precision` (strings), value the unscaled
  integer as minimal big-endian two's-complement bytes, base64 in JSON.
- **numeric** without a typmod: `io.debezium.data.VariableScaleDecimal`,
  a struct `{scale int32, value bytes}`: the scale is the value's own
  (3.14159265358979323846 has scale 20, 0 has scale 0, and
  -12345678901234567890.5 scale 1).
- **real / double**: `float` / `double`; JSON text `-3.4E38`,
  `1.7976931348623157E308`, `0.0` (Java's spelling, capital E).  Row 3's
  `-0.0` is the numeric literal `-0.0` cast, which PostgreSQL stores as
  +0: Debezium gets 0.
- **text, varchar(n), char(n)**: plain `string` with no parameters (no
  length, no `__debezium.source.column.type`, which only appears with
  `column.propagate.source.type`).  `char(4)` keeps its padding:
  `"ab  "`, `"    "`.  Column comments are not carried.
- **bytea**: `bytes`, base64 in JSON (`AP8Q` = 00 ff 10, `""` empty).
- **date**: `int32` `io.debezium.time.Date`, days since 1970-01-01
  (0001-01-01 = -719162, proleptic Gregorian).
- **time**: `int64` `io.debezium.time.MicroTime`, microseconds since
  midnight (adaptive mode: `time` has microsecond precision).
- **timetz**: `string` `io.debezium.time.ZonedTime`, **converted to UTC**
  and written with a `Z`: `13:45:56.5+02` becomes `"11:45:56.5Z"`, and
  `00:00:00+00` becomes `"00:00:00Z"` (fraction digits only when nonzero).
- **timestamp**: `int64` `io.debezium.time.MicroTimestamp`, microseconds
  since the epoch, the wall-clock value read as UTC
  (`1899-12-31 23:59:59.5` = -2208988800500000).
- **timestamptz**: `string` `io.debezium.time.ZonedTimestamp`, ISO 8601 in
  UTC with **always six** fraction digits: `"2024-02-29T11:45:56.123456Z"`,
  `"1970-01-01T00:00:00.000000Z"`.  (Unlike timetz: fixed width.)
- **interval**: `int64` `io.debezium.time.MicroDuration`, microseconds,
  with a year counted as 365.25 days and a month as 30.4375 days
  (365.25 / 12): `1 year 2 mons 3 days 04:05:06.789` = 37091106789000,
  `-1 days -00:00:01` = -86401000000.  Lossy: months are not kept apart.
- **uuid**: `string` `io.debezium.data.Uuid`, lower case with dashes.
- **json, jsonb**: `string` `io.debezium.data.Json`; the text as
  PostgreSQL outputs it (jsonb is normalized by the server:
  `{"b": {"c": null}}`).
- **enum**: `string` `io.debezium.data.Enum`, parameter `allowed` = the
  labels in sort order joined by commas (`sad,ok,happy`).
- **arrays**: Connect `array` of the element type with optional items
  (`[1, null, 3]`, `["x", "y z", null]`, `[]`); no logical name.
- **NULL**: JSON `null` for every optional column.

## Envelope fields

- `op`: `c` insert, `u` update, `d` delete, `r` snapshot read (`t`
  truncate is skipped by default: `skipped.operations=t`).
- `before`: null for `c` and `r`.  With `REPLICA IDENTITY FULL`
  (alltypes) `u` and `d` have the complete old row; with the default
  identity (toasty in changes.jsonl) `u` has `before: null` and `d` has
  only the key columns, every other column null.
- After every `d`, a **tombstone**: same key, value `null`
  (`tombstones.on.delete=true`).
- `source.snapshot`: `"false"` when streaming; in a snapshot `"first"`,
  `"true"` ..., `"last"` (the enum parameter lists
  `true,first,first_in_data_collection,last_in_data_collection,last,false,incremental`).
  In a snapshot every event has the same `lsn` and `txId`.
- `source.sequence`: a string holding a JSON array of two strings or
  nulls, `[last committed LSN, this LSN]`: `[null,"26401384"]`.
- `source.lsn` is the LSN as a plain integer, `source.txId` the xid,
  `source.xmin`, `origin`, `origin_lsn` null.  `source.ts_ms`/`ts_us`/
  `ts_ns` are the transaction's commit time (in a snapshot: when it was
  read); the top-level `ts_ms`/`ts_us`/`ts_ns` are
  when Debezium processed the event.  `source.name` is `topic.prefix`
  (`mesh`), the topic `mesh.public.alltypes`.
- `transaction`: null (`provide.transaction.metadata=false`).

## Unchanged TOASTed values

See `changes.jsonl`: with the default replica identity an `UPDATE` that
leaves a TOASTed (out-of-line) column alone gives that column the string
`"__debezium_unavailable_value"` in `after` (public.toasty, `big`: the
default `unavailable.value.placeholder`).  With `REPLICA IDENTITY FULL`
(alltypes, `c_text` of 16 KiB, then `UPDATE ... SET c_int2 = 11`) the
`after` of that update has the real 16 KiB text, and so does `before`.
"""

if __name__ == "__main__":
    main()
