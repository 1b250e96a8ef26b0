#!/usr/bin/env python3
"""Writes a small perf.data seed: the first records of IN, up to about LIMIT bytes of data.

usage: shrink-perf.py IN OUT LIMIT

A file-mode perf.data keeps its header, attributes and feature sections (whose offsets move
with the end of the data); a pipe-mode one is a stream, cut at a record boundary.
"""
import struct
import sys

src, dst, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, "rb").read()
if data[:8] != b"PERFILE2":
    sys.exit(f"{src}: not a little-endian perf.data version 2")
size = struct.unpack_from("<Q", data, 8)[0]


def cut(start, end):
    """The last record boundary in data[start:end] at or before start + limit."""
    at = start
    while at + 8 <= end:
        length = struct.unpack_from("<H", data, at + 6)[0]
        if length == 0 or at + length > end or at + length - start > limit:
            break
        at += length
    return at


if size == 16:  # pipe mode: a 16-byte header then records
    open(dst, "wb").write(data[: cut(16, len(data))])
    sys.exit(0)

data_off, data_size = struct.unpack_from("<QQ", data, 40)
features = struct.unpack_from("<4Q", data, 72)
count = sum(bin(word).count("1") for word in features)
end = cut(data_off, data_off + data_size)
delta = data_off + data_size - end
table = data_off + data_size
out = bytearray(data[:end])
struct.pack_into("<Q", out, 48, end - data_off)
for i in range(count):
    off, length = struct.unpack_from("<QQ", data, table + 16 * i)
    out += struct.pack("<QQ", off - delta, length)
out += data[table + 16 * count :]
open(dst, "wb").write(out)
