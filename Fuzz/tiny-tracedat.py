#!/usr/bin/env python3
"""Cuts a version-6 trace.dat down to the metadata that matters, for a regression file.

usage: tiny-tracedat.py IN OUT SYSTEM:INDEX... [--pages N]

Keeps IN's header page and header event formats and only the listed event formats (SYSTEM's
INDEXth format, 0-based, in file order), empties kallsyms, printk formats, saved command lines
and options, and keeps the first N ring-buffer pages (default 0) of CPU 0. Meant for crashers
whose cause is in a format (Fuzz/, docs/fuzzing.md): libFuzzer's minimizer cannot shrink a
file whose sections point at each other by offset.
"""
import struct
import sys

src, dst, *rest = sys.argv[1:]
pages = 0
if "--pages" in rest:
    i = rest.index("--pages")
    pages = int(rest[i + 1])
    del rest[i : i + 2]
wanted = [(s.split(":")[0].encode(), int(s.split(":")[1])) for s in rest]
d = open(src, "rb").read()
if d[:10] != b"\x17\x08Dtracing" or d[10:12] != b"6\0":
    sys.exit(f"{src}: not a trace.dat version 6")
o = 12 + 2
page_size = struct.unpack_from("<I", d, o)[0]
o += 4
head = d[:o]
for name in (b"header_page\0", b"header_event\0"):
    assert d[o : o + len(name)] == name, name
    n = struct.unpack_from("<Q", d, o + len(name))[0]
    o += len(name) + 8 + n
head = d[:o]
count = struct.unpack_from("<I", d, o)[0]
o += 4
for _ in range(count):
    o += 8 + struct.unpack_from("<Q", d, o)[0]
systems = struct.unpack_from("<I", d, o)[0]
o += 4
kept = {}
for _ in range(systems):
    end = d.index(b"\0", o)
    name = d[o:end]
    o = end + 1
    n = struct.unpack_from("<I", d, o)[0]
    o += 4
    for i in range(n):
        size = struct.unpack_from("<Q", d, o)[0]
        if (name, i) in wanted:
            kept.setdefault(name, []).append(d[o + 8 : o + 8 + size])
        o += 8 + size
o += 4 + struct.unpack_from("<I", d, o)[0]  # kallsyms
o += 4 + struct.unpack_from("<I", d, o)[0]  # printk
o += 8 + struct.unpack_from("<Q", d, o)[0]  # cmdlines
cpus = struct.unpack_from("<I", d, o)[0]
o += 4
cpu0 = None
while True:
    if d[o : o + 10] == b"options  \0":
        o += 10
        while struct.unpack_from("<H", d, o)[0] != 0:
            o += 6 + struct.unpack_from("<I", d, o + 2)[0]
        o += 2
    elif d[o : o + 10] == b"flyrecord\0":
        cpu0 = struct.unpack_from("<QQ", d, o + 10)
        break
    else:
        sys.exit(f"{src}: no flyrecord section")

out = bytearray(head)
out += struct.pack("<I", 0)  # ftrace formats
out += struct.pack("<I", len(kept))
for name, texts in kept.items():
    out += name + b"\0" + struct.pack("<I", len(texts))
    for t in texts:
        out += struct.pack("<Q", len(t)) + t
out += struct.pack("<I", 0) + struct.pack("<I", 0) + struct.pack("<Q", 0)
out += struct.pack("<I", 1) + b"options  \0" + struct.pack("<H", 0) + b"flyrecord\0"
data = d[cpu0[0] : cpu0[0] + min(cpu0[1], pages * page_size)]
at = len(out) + 16
at += -at % page_size
out += struct.pack("<QQ", at, len(data))
out += b"\0" * (at - len(out)) + data
open(dst, "wb").write(out)
