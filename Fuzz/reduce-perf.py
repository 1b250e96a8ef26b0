#!/usr/bin/env python3
"""Shrinks a crashing file-mode perf.data record by record and format by format.

usage: reduce-perf.py IN OUT SIGNATURE -- COMMAND...

COMMAND (with the candidate's path appended) must print SIGNATURE (a line of the crash's
stack, e.g. "PerfRecords.swift:239") for a candidate to count as still crashing. Drops data
records, then the event formats of the tracing-data feature (and its kallsyms and printk
formats), in halving chunks (ddmin), keeping the header, the attributes and the other features.
libFuzzer's -minimize_crash cannot do this: the sections point at each other by offset.
"""
import os
import struct
import subprocess
import sys
import tempfile

src, dst, signature = sys.argv[1:4]
command = sys.argv[sys.argv.index("--") + 1 :]
d = open(src, "rb").read()
if d[:8] != b"PERFILE2" or struct.unpack_from("<Q", d, 8)[0] == 16:
    sys.exit(f"{src}: not a file-mode little-endian perf.data")
data_off, data_size = struct.unpack_from("<QQ", d, 40)
words = struct.unpack_from("<4Q", d, 72)
bits = [i for i in range(256) if words[i // 64] >> (i % 64) & 1]
table = data_off + data_size
features = [struct.unpack_from("<QQ", d, table + 16 * i) for i in range(len(bits))]
records = []
at = data_off
while at + 8 <= table:
    n = struct.unpack_from("<H", d, at + 6)[0]
    if n == 0 or at + n > table:
        break
    records.append(d[at : at + n])
    at += n
tail = d[at:table]  # bytes after the last whole record


def parse_tracing(t):
    """The tracing-data feature as (prefix, [(system, text)], suffix)."""
    o = 10
    o = t.index(b"\0", o) + 1 + 2 + 4
    for name in (b"header_page\0", b"header_event\0"):
        o += len(name) + 8 + struct.unpack_from("<Q", t, o + len(name))[0]
    n = struct.unpack_from("<I", t, o)[0]
    o += 4
    for _ in range(n):
        o += 8 + struct.unpack_from("<Q", t, o)[0]
    prefix = t[:o]
    systems = struct.unpack_from("<I", t, o)[0]
    o += 4
    formats = []
    for _ in range(systems):
        end = t.index(b"\0", o)
        name = t[o:end]
        o = end + 1
        count = struct.unpack_from("<I", t, o)[0]
        o += 4
        for _ in range(count):
            size = struct.unpack_from("<Q", t, o)[0]
            formats.append((name, t[o + 8 : o + 8 + size]))
            o += 8 + size
    return prefix, formats, t[o:]


tracing = None
if 1 in bits:
    off, size = features[bits.index(1)]
    tracing = parse_tracing(d[off : off + size])


def build(recs, formats, empty_tail):
    out = bytearray(d[:data_off])
    body = b"".join(recs) + tail
    struct.pack_into("<Q", out, 48, len(body))
    out += body
    blobs = []
    for i, b in enumerate(bits):
        off, size = features[i]
        blob = d[off : off + size]
        if b == 1 and tracing is not None:
            prefix, _, suffix = tracing
            systems = {}
            for name, text in formats:
                systems.setdefault(name, []).append(text)
            blob = bytearray(prefix) + struct.pack("<I", len(systems))
            for name, texts in systems.items():
                blob += name + b"\0" + struct.pack("<I", len(texts))
                for text in texts:
                    blob += struct.pack("<Q", len(text)) + text
            blob += struct.pack("<II", 0, 0) + struct.pack("<Q", 0) if empty_tail else suffix
        blobs.append(bytes(blob))
    at = len(out) + 16 * len(bits)
    for blob in blobs:
        out += struct.pack("<QQ", at, len(blob))
        at += len(blob)
    for blob in blobs:
        out += blob
    return bytes(out)


def crashes(blob):
    with tempfile.NamedTemporaryFile(delete=False, suffix=".perf.data") as f:
        f.write(blob)
    try:
        r = subprocess.run(command + [f.name], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        return signature in (r.stdout + r.stderr).decode(errors="replace")
    except subprocess.TimeoutExpired:
        return signature == "timeout"
    finally:
        os.unlink(f.name)


def ddmin(items, test):
    n = 2
    while len(items) >= 2:
        chunk = max(1, len(items) // n)
        for start in range(0, len(items), chunk):
            rest = items[:start] + items[start + chunk :]
            if test(rest):
                items = rest
                n = max(n - 1, 2)
                break
        else:
            if chunk == 1:
                break
            n = min(len(items), n * 2)
    return items


formats = tracing[1] if tracing else []
empty = bool(tracing) and crashes(build(records, formats, True))
if not crashes(build(records, formats, empty)):
    sys.exit(f"{src}: does not crash with {signature!r} as rebuilt")
records = ddmin(records, lambda r: crashes(build(r, formats, empty)))
formats = ddmin(formats, lambda f: crashes(build(records, f, empty)))
open(dst, "wb").write(build(records, formats, empty))
print(f"{dst}: {len(records)} records, {len(formats)} formats, {os.path.getsize(dst)} bytes")
