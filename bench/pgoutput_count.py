#!/usr/bin/env python3
"""bench/pgoutput_count.py FILE: counts the changes in what pg_recvlogical
wrote with the pgoutput plugin (protocol version 1): each message's bytes
followed by one newline.  Prints "insert=N update=N delete=N truncate=N
total=N" (total: inserts + updates + deletes) and exits 1 when the stream
does not parse.  Used by bench/pg_cdc_bench.sh to check that
pg_recvlogical received every change.  Standard library only."""

import struct
import sys


def main(path):
    data = open(path, "rb").read()
    n = len(data)
    pos = 0
    counts = {"I": 0, "U": 0, "D": 0, "T": 0}

    def cstr(p):
        end = data.index(b"\0", p)
        return end + 1

    def tuple_data(p):
        (ncols,) = struct.unpack_from(">h", data, p)
        p += 2
        for _ in range(ncols):
            kind = data[p:p + 1]
            p += 1
            if kind in (b"t", b"b"):
                (ln,) = struct.unpack_from(">i", data, p)
                p += 4 + ln
            elif kind not in (b"n", b"u"):
                raise ValueError(f"column kind {kind!r}")
        return p

    while pos < n:
        t = data[pos:pos + 1].decode("latin-1")
        p = pos + 1
        if t == "B":
            p += 20
        elif t == "C":
            p += 25
        elif t == "O":
            p = cstr(p + 8)
        elif t == "R":
            p = cstr(cstr(p + 4)) + 1
            (ncols,) = struct.unpack_from(">h", data, p)
            p += 2
            for _ in range(ncols):
                p = cstr(p + 1) + 8
        elif t == "Y":
            p = cstr(cstr(p + 4))
        elif t == "I":
            if data[p + 4:p + 5] != b"N":
                raise ValueError("insert without N")
            p = tuple_data(p + 5)
        elif t == "U":
            p += 4
            if data[p:p + 1] in (b"K", b"O"):
                p = tuple_data(p + 1)
            if data[p:p + 1] != b"N":
                raise ValueError("update without N")
            p = tuple_data(p + 1)
        elif t == "D":
            if data[p + 4:p + 5] not in (b"K", b"O"):
                raise ValueError("delete without K/O")
            p = tuple_data(p + 5)
        elif t == "T":
            (nrel,) = struct.unpack_from(">i", data, p)
            p += 5 + 4 * nrel
        else:
            raise ValueError(f"message type {t!r} at offset {pos}")
        if t in counts:
            counts[t] += 1
        if data[p:p + 1] != b"\n":
            raise ValueError(f"no newline after {t!r} message at {pos}")
        pos = p + 1
    total = counts["I"] + counts["U"] + counts["D"]
    print(f"insert={counts['I']} update={counts['U']} delete={counts['D']} "
          f"truncate={counts['T']} total={total}")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except (ValueError, struct.error, IndexError, OSError) as e:
        print(f"pgoutput_count: {e}", file=sys.stderr)
        sys.exit(1)
