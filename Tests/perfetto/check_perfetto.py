#!/usr/bin/env python3
"""Checks a foliotrace Perfetto trace with Perfetto's official protos (the `perfetto` PyPI
package's perfetto_trace_pb2) against the JSON report of the same trace.

usage: check_perfetto.py TRACE.pftrace REPORT.json [--all-folios] [--trace-processor PATH]

Prints one JSON object of counts on success; exits 1 with the failed checks otherwise.
"""
import json
import sys
from collections import defaultdict

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

TYPE_BEGIN, TYPE_END, TYPE_INSTANT, TYPE_COUNTER = 1, 2, 3, 4
CLEARED, NEEDS = 1, 2


def main(argv):
    path, report_path = argv[1], argv[2]
    all_folios = "--all-folios" in argv
    tp_shell = argv[argv.index("--trace-processor") + 1] if "--trace-processor" in argv else None
    report = json.load(open(report_path))
    trace = pb.Trace()
    data = open(path, "rb").read()
    trace.ParseFromString(data)
    problems = []

    def fail(msg):
        if len(problems) < 30:
            problems.append(msg)

    tracks = {}
    # Per sequence: interned names, whether state was cleared, the last timestamp.
    seq_names = defaultdict(dict)
    seq_ann = defaultdict(dict)
    seq_cleared = set()
    seq_last = {}
    events = []  # (ts, TrackEvent, names resolved)
    ftrace = 0
    ftrace_kinds = defaultdict(int)
    for i, p in enumerate(trace.packet):
        seq = p.trusted_packet_sequence_id
        if not seq:
            fail(f"packet {i}: no trusted_packet_sequence_id")
        if p.sequence_flags & CLEARED:
            if seq in seq_cleared:
                fail(f"packet {i}: sequence {seq} cleared twice")
            seq_cleared.add(seq)
            seq_names[seq].clear()
            seq_ann[seq].clear()
        if p.HasField("interned_data"):
            if seq not in seq_cleared:
                fail(f"packet {i}: interned data before SEQ_INCREMENTAL_STATE_CLEARED on {seq}")
            for n in p.interned_data.event_names:
                seq_names[seq][n.iid] = n.name
            for n in p.interned_data.debug_annotation_names:
                seq_ann[seq][n.iid] = n.name
        if p.HasField("timestamp"):
            if p.timestamp < seq_last.get(seq, 0):
                fail(f"packet {i}: timestamp {p.timestamp} before {seq_last[seq]} on sequence {seq}")
            seq_last[seq] = p.timestamp
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            if d.uuid in tracks:
                fail(f"track {d.uuid} described twice")
            if d.HasField("parent_uuid") and d.parent_uuid not in tracks:
                fail(f"track {d.uuid}: parent {d.parent_uuid} not described before it")
            tracks[d.uuid] = d
        if p.HasField("track_event"):
            e = p.track_event
            if not (p.sequence_flags & NEEDS):
                fail(f"packet {i}: track event without SEQ_NEEDS_INCREMENTAL_STATE")
            if seq not in seq_cleared:
                fail(f"packet {i}: track event before the sequence's state was cleared")
            if e.track_uuid not in tracks:
                fail(f"packet {i}: track {e.track_uuid} not described before its event")
            name = None
            if e.HasField("name_iid"):
                name = seq_names[seq].get(e.name_iid)
                if name is None:
                    fail(f"packet {i}: name iid {e.name_iid} not interned on sequence {seq}")
            args = {}
            for a in e.debug_annotations:
                key = seq_ann[seq].get(a.name_iid)
                if key is None:
                    fail(f"packet {i}: annotation iid {a.name_iid} not interned")
                args[key] = getattr(a, a.WhichOneof("value")) if a.WhichOneof("value") else None
            events.append((p.timestamp, e, name, args))
        if p.HasField("ftrace_events"):
            b = p.ftrace_events
            if not b.HasField("cpu"):
                fail(f"packet {i}: bundle without cpu")
            last = seq_last.get(("ftrace", b.cpu), 0)
            for ev in b.event:
                if ev.timestamp < last:
                    fail(f"ftrace cpu {b.cpu}: {ev.timestamp} before {last}")
                last = ev.timestamp
                kind = ev.WhichOneof("event")
                if kind is None:
                    fail(f"ftrace event at {ev.timestamp} of no known type")
                ftrace_kinds[kind] += 1
                ftrace += 1
            seq_last[("ftrace", b.cpu)] = last

    # Slices balanced per track; flows with both ends.
    depth = defaultdict(int)
    flow_out = defaultdict(int)
    flow_in = defaultdict(int)
    instants = defaultdict(list)
    counters_per_track = defaultdict(int)
    for ts, e, name, args in events:
        if e.type == TYPE_BEGIN:
            depth[e.track_uuid] += 1
            if name is None:
                fail(f"slice begin at {ts} without a name")
        elif e.type == TYPE_END:
            depth[e.track_uuid] -= 1
            if depth[e.track_uuid] < 0:
                fail(f"slice end at {ts} on track {e.track_uuid} ({tracks[e.track_uuid].name}) without a begin")
                depth[e.track_uuid] = 0
        elif e.type == TYPE_INSTANT:
            instants[name].append((ts, e, args))
        elif e.type == TYPE_COUNTER:
            if not tracks[e.track_uuid].HasField("counter"):
                fail(f"counter value on non-counter track {e.track_uuid}")
            counters_per_track[e.track_uuid] += 1
        for f in e.flow_ids:
            flow_out[f] += 1
        for f in e.terminating_flow_ids:
            flow_in[f] += 1
    for t, d in depth.items():
        if d != 0:
            fail(f"track {t} ({tracks[t].name}): {d} slices left open")
    for f in set(flow_out) | set(flow_in):
        if flow_out[f] != 1 or flow_in[f] != 1:
            fail(f"flow {f}: {flow_out[f]} starts, {flow_in[f]} ends")

    # Against the report.
    rule_ids = {c["rule"] for c in report["coverage"]}
    findings = report["findings"]
    finding_instants = [(ts, e, a) for name, xs in instants.items() if name in rule_ids for ts, e, a in xs]
    if len(finding_instants) != len(findings):
        fail(f"{len(finding_instants)} finding instants, {len(findings)} findings in the report")
    want = sorted((f["rule"], f["pfn"], f["generation"], f["ts"] if isinstance(f["ts"], int) else None) for f in findings)
    for ts, e, a in finding_instants:
        for key in ("severity", "pfn", "generation", "order", "message"):
            if key not in a:
                fail(f"finding instant at {ts}: no {key}")
        track = tracks[e.track_uuid]
        if not track.name.startswith("finding: "):
            fail(f"finding instant on track {track.name}")
    got = sorted((tracks[e.track_uuid].name[len("finding: "):], a.get("pfn"), a.get("generation")) for ts, e, a in finding_instants)
    if got != sorted(w[:3] for w in want):
        fail("finding instants differ from the report's findings (rule, pfn, generation)")
    evidence = sum(len(f["evidence"]) for f in findings)
    evidence_flows = sum(len(e.terminating_flow_ids) + len(e.flow_ids) for ts, e, a in finding_instants)
    if evidence_flows != evidence:
        fail(f"{evidence_flows} flows at finding instants, {evidence} evidence events in the report")

    memcg_ids = set()
    for d in tracks.values():
        if d.name.startswith("memcg ") and "(id " in d.name and not d.HasField("counter"):
            memcg_ids.add(int(d.name.rsplit("(id ", 1)[1].rstrip(")")))
    report_memcgs = {m["id"] for m in report["memcgs"]}
    if memcg_ids != report_memcgs:
        fail(f"memcg counter groups {sorted(memcg_ids)} != report memcgs {sorted(report_memcgs)}")
    counter_tracks = [u for u, d in tracks.items() if d.HasField("counter")]
    # Each memcg's counters end where the report's totals are.
    last_value = {}
    for ts, e, name, args in events:
        if e.type == TYPE_COUNTER:
            last_value[tracks[e.track_uuid].name] = e.counter_value
    for m in report["memcgs"]:
        label = next((d.name for d in tracks.values() if d.name.endswith(f"(id {m['id']})")), None)
        if label is None:
            continue
        for counter, key in (("page cache", "page_cache_pages_at_end"), ("refaulted", "pages_refaulted"),
                             ("reclaimed", "pages_reclaimed")):
            got = last_value.get(f"{label}: {counter}")
            if got != m[key]:
                fail(f"{label}: {counter} ends at {got}, the report's {key} is {m[key]}")
    for u in counter_tracks:
        if counters_per_track[u] == 0:
            fail(f"counter track {tracks[u].name} has no value")

    migration_flows = sum(len(e.flow_ids) for name, xs in instants.items() if name and name.startswith("migrated to ") for ts, e, a in xs)
    joined = report["summary"]["migrations"]["joined"]
    if all_folios and migration_flows != joined:
        fail(f"{migration_flows} migration flows, {joined} joined migrations in the report")
    if migration_flows > joined:
        fail(f"{migration_flows} migration flows, more than the {joined} joined migrations")

    # Reclaim passes and migrate_pages() calls as the report counts them.
    summary = report["summary"]
    begins = defaultdict(int)
    migrate_ends = 0
    for ts, e, name, args in events:
        if e.type == TYPE_BEGIN:
            begins[name] += 1
        elif e.type == TYPE_END and "succeeded" in args and "mode" in args:
            migrate_ends += 1
    reclaim = begins["memcg reclaim"] + begins["memcg soft-limit reclaim"] + begins["direct reclaim"]
    passes = summary["reclaim"]["memcg_reclaim_passes"] + summary["reclaim"]["direct_reclaim_passes"]
    if reclaim != passes:
        fail(f"{reclaim} reclaim slices, {passes} memcg and direct reclaim passes in the report")
    if begins["kswapd reclaim"] != summary["reclaim"]["kswapd_wakes"]:
        fail(f"{begins['kswapd reclaim']} kswapd slices, {summary['reclaim']['kswapd_wakes']} wakes in the report")
    calls = migrate_ends + sum(len(xs) for name, xs in instants.items() if name and name.startswith("migrate_pages ("))
    if calls != summary["migrations"]["calls"]:
        fail(f"{calls} migrate_pages() slices and instants, {summary['migrations']['calls']} calls in the report")
    # Each finding's folio has its track.
    names = {d.name for d in tracks.values()}
    for f in findings:
        prefix = "pfn 0x%x gen %d " % (f["pfn"], f["generation"])
        if not any(n.startswith(prefix) for n in names):
            fail(f"no folio track for the finding of {f['rule']} at pfn 0x{f['pfn']:x} gen {f['generation']}")

    counts = {
        "reclaim_slices": reclaim,
        "migrate_calls": calls,
        "packets": len(trace.packet),
        "tracks": len(tracks),
        "counter_tracks": len(counter_tracks),
        "memcgs": len(memcg_ids),
        "findings": len(finding_instants),
        "evidence_flows": evidence_flows,
        "migration_flows": migration_flows,
        "joined": joined,
        "folio_tracks": sum(1 for d in tracks.values() if d.name.startswith("pfn 0x")),
        "slices": sum(1 for ts, e, n, a in events if e.type == TYPE_BEGIN),
        "ftrace_events": ftrace,
        "ftrace_kinds": dict(ftrace_kinds),
    }
    if tp_shell:
        counts["trace_processor"] = check_trace_processor(tp_shell, path, counts, fail)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(json.dumps(counts, sort_keys=True))
    return 0


def check_trace_processor(shell, path, counts, fail):
    """Loads the file into trace_processor and checks its tables against the counts above."""
    from perfetto.trace_processor import TraceProcessor, TraceProcessorConfig

    tp = TraceProcessor(trace=path, config=TraceProcessorConfig(bin_path=shell))
    q = lambda sql: list(tp.query(sql))
    out = {}
    out["slices"] = q("select count(*) as n from slice where dur >= 0 and name not like 'migrated %'")[0].n
    out["flows"] = q("select count(*) as n from flow")[0].n
    out["counter_tracks"] = q("select count(distinct track_id) as n from counter")[0].n
    out["ftrace"] = q("select count(*) as n from ftrace_event")[0].n
    stats = q("select name, idx, value from stats where severity in ('error', 'data_loss') and value > 0")
    for s in stats:
        fail(f"trace_processor stat {s.name}[{s.idx}] = {s.value}")
    if out["flows"] != counts["evidence_flows"] + counts["migration_flows"]:
        fail(f"trace_processor: {out['flows']} flows, expected {counts['evidence_flows'] + counts['migration_flows']}")
    if out["counter_tracks"] != counts["counter_tracks"]:
        fail(f"trace_processor: {out['counter_tracks']} counter tracks, expected {counts['counter_tracks']}")
    tp.close()
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv))
