"""foliotrace fleet on Apache Spark: every trace under the paths analyzed by the foliotrace
binary on the executors, the results as Parquet datasets and a fleet summary.

    spark-submit spark/foliotrace_fleet.py --foliotrace BIN --output DIR PATH...

PATHs are files or directories on any file system Hadoop reads (local, hdfs://, s3a://).
Directories are searched recursively for trace.dat and perf.data files, told apart by their
first bytes; a file given by name is always taken. Traces are numbered 1...N in that order
(each directory's files sorted by path), as `foliotrace fleet` numbers them. Each executor
runs `BIN analyze --format jsonl --trace-id N` on its traces (BIN: a path on every worker, or
a file shipped with --files, named by its base name) and reads the JSON lines
(docs/jsonl.schema.json). Written: DIR/traces, DIR/findings, DIR/memcgs (and with
--keep-lifecycles DIR/generations), partitioned by kernel release, and DIR/summary.json. A
trace that cannot be analyzed is a row of DIR/traces with status "unreadable" and its error,
never a failed job. docs/fleet.md has the details.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, BooleanType, LongType, StringType, StructField, StructType)

TRACE_MAGIC = b"\x17\x08Dtracing"
PERF_MAGICS = (b"PERFILE2", b"PERFFILE", b"2ELIFREP")


def _s(name):
    return StructField(name, StringType())


def _l(name):
    return StructField(name, LongType())


# Fixed schemas: the fields of docs/jsonl.schema.json, with kernel (the trace's) on every
# row so that each dataset is partitioned by it.
TRACES = StructType([
    _l("trace_id"), _s("file"), _s("format"), _s("host"), _s("kernel"), _s("recorder"), _l("cpus"),
    _l("events"), _l("memory_events"), _l("lost_events"), _l("first_ts"), _l("last_ts"), _s("status"),
    _s("error"), StructField("damage", ArrayType(StringType())), _l("findings"),
    StructField("rules", ArrayType(StructType([
        _s("rule"), _s("severity"), StructField("runnable", BooleanType()),
        StructField("missing", ArrayType(StringType())), _s("lacking"), _l("findings")]))),
])
FINDINGS = StructType([
    _l("trace_id"), _s("kernel"), _s("rule"), _s("severity"), _l("pfn"), _l("generation"), _l("order"),
    _l("inode"), _l("index"), _l("memcg"), _l("other_memcg"), _l("ts"), _s("message"),
    StructField("evidence", ArrayType(StructType([_s("event"), _l("cpu"), _l("ts"), _l("pid")]))),
])
MEMCGS = StructType([
    _l("trace_id"), _s("kernel"), _l("id"), _s("path"), _l("generations"), _l("pages_charged"),
    _l("pages_reclaimed"), _l("pages_refaulted"), _l("pages_moved_in"), _l("pages_moved_out"),
    _l("pages_live_at_end"), _l("page_cache_pages_at_end"),
])
GENERATIONS = StructType([
    _l("trace_id"), _s("kernel"), _l("pfn"), _l("generation"), _l("start_ts"), _l("first_seen_ts"),
    _l("end_ts"), _l("order"), _l("memcg"), _s("memcg_path"), _s("attribution"), _l("migrated_from"),
    _l("migrated_to"), _s("migration_reason"), _l("inode"), _l("index"), _s("lru"),
    StructField("evicted", BooleanType()), _s("free_context"), StructField("crosses_lost_events", BooleanType()),
])
SCHEMAS = {"trace": TRACES, "finding": FINDINGS, "memcg": MEMCGS, "generation": GENERATIONS}


def row(schema, obj):
    """A tuple in the schema's field order (nested structs as tuples too)."""
    def value(field_type, v):
        if v is None:
            return None
        if isinstance(field_type, StructType):
            return tuple(value(f.dataType, v.get(f.name)) for f in field_type.fields)
        if isinstance(field_type, ArrayType):
            return [value(field_type.elementType, x) for x in v]
        return v
    return tuple(value(f.dataType, obj.get(f.name)) for f in schema.fields)


def list_traces(spark, paths):
    """The traces under `paths` through Hadoop's FileSystem, in the order `foliotrace fleet`
    takes them, each as (name, qualified URI): the name as given (a directory's files: the
    directory as given plus their relative paths), the URI as Hadoop spells it (what
    binaryFiles reports); and how many files under the directories are not traces."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    traces, seen, skipped = [], set(), 0

    def magic(fs, p):
        try:
            stream = fs.open(p)
            try:
                buf = bytearray()
                while len(buf) < 10:
                    b = stream.read()
                    if b < 0:
                        break
                    buf.append(b)
            finally:
                stream.close()
        except Exception:  # noqa: BLE001 - unreadable: not a trace
            return False
        return bytes(buf[:10]) == TRACE_MAGIC or bytes(buf[:8]) in PERF_MAGICS

    for given in paths:
        p = jvm.org.apache.hadoop.fs.Path(given)
        fs = p.getFileSystem(conf)
        if not fs.exists(p) or not fs.getFileStatus(p).isDirectory():
            if given not in seen:
                seen.add(given)
                # None: not there (a row saying so, without asking binaryFiles for it).
                traces.append((given, fs.makeQualified(p).toString() if fs.exists(p) else None))
            continue
        found = []
        it = fs.listFiles(p, True)
        while it.hasNext():
            found.append(it.next().getPath().toString())
        base = fs.getFileStatus(p).getPath().toString().rstrip("/")
        prefix = given.rstrip("/")
        for qualified in sorted(found):
            name = prefix + qualified[len(base):]
            if not magic(fs, jvm.org.apache.hadoop.fs.Path(qualified)):
                skipped += 1
                continue
            if name not in seen:
                seen.add(name)
                traces.append((name, qualified))
    return traces, skipped


def is_local(uri):
    """A plain path, run on directly; any URI (file:, hdfs:, s3a:) is read through Hadoop."""
    return "://" not in uri and not uri.startswith("file:")


def analyze(binary, trace_id, uri, path, keep, timeout):
    """Runs foliotrace on one trace; yields (type, row dict). Never raises: a failure is an
    unreadable trace row."""
    command = [binary, "analyze", "--quiet", "--format", "jsonl", "--trace-id", str(trace_id), path]
    if keep:
        command.insert(2, "--keep-lifecycles")
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        lines = done.stdout.decode("utf-8", "replace").splitlines()
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        status = done.returncode
    except subprocess.TimeoutExpired:
        lines, error, status = [], [f"analysis ran past {timeout} s and was stopped"], -1
    except OSError as e:
        lines, error, status = [], [f"cannot run {binary}: {e}"], -1
    objects = []
    try:
        objects = [json.loads(line) for line in lines if line]
    except ValueError as e:
        objects, error = [], [f"unreadable JSON lines from foliotrace: {e}"]
    if status not in (0, 1) or not objects or objects[0].get("type") != "trace":
        message = error[-1] if error else f"foliotrace exited with status {status}"
        # "foliotrace: PATH: reason" -> reason, as foliotrace fleet records it.
        for prefix in (f"foliotrace: {path}: ", "foliotrace: "):
            if message.startswith(prefix):
                message = message[len(prefix):]
                break
        yield "trace", {"type": "trace", "trace_id": trace_id, "file": uri, "status": "unreadable",
                        "error": message, "damage": [], "rules": []}
        return
    kernel = objects[0].get("kernel")
    objects[0]["file"] = uri
    for o in objects:
        if o.get("type") != "trace":
            o["kernel"] = kernel
        yield o.get("type"), o


def run_partition(binary, keep, timeout):
    def run(items):
        for trace_id, uri, data in items:
            if data is None and not is_local(uri):
                yield "trace", {"type": "trace", "trace_id": trace_id, "file": uri, "status": "unreadable",
                                "error": "cannot open: No such file or directory", "damage": [], "rules": []}
                continue
            if data is None:
                yield from analyze(binary, trace_id, uri, uri, keep, timeout)
                continue
            # A remote trace's bytes (binaryFiles) in a local temporary file for the binary.
            with tempfile.NamedTemporaryFile(prefix="foliotrace-", suffix=".trace") as f:
                f.write(data)
                f.flush()
                yield from analyze(binary, trace_id, uri, f.name, keep, timeout)
    return run


def summary(spark, traces, findings, skipped):
    """The fleet summary: findings per rule by kernel and by host, traces with findings, rules
    that could not run and why, unreadable files."""
    rules = traces.select("trace_id", "kernel", "host", F.explode("rules").alias("r"))
    ran = rules.where("r.runnable")
    per_rule = {r["rule"]: r.asDict() for r in ran.groupBy(F.col("r.rule").alias("rule")).agg(
        F.sum("r.findings").alias("findings"), F.count("*").alias("runnable_traces"),
        F.sum(F.when(F.col("r.findings") > 0, 1).otherwise(0)).alias("traces_with_findings")).collect()}
    by = {}
    for column in ("kernel", "host"):
        for r in ran.where("r.findings > 0").groupBy(F.col("r.rule").alias("rule"), F.coalesce(
                F.col(column), F.lit("(unknown)")).alias("k")).agg(F.sum("r.findings").alias("n")).collect():
            by.setdefault((r["rule"], column), {})[r["k"]] = r["n"]
    missing = {}
    for r in rules.where("NOT r.runnable").groupBy(F.col("r.rule").alias("rule"), F.col("r.lacking").alias(
            "why")).count().collect():
        missing.setdefault(r["rule"], {})[r["why"]] = r["count"]
    names = [r["rule"] for r in rules.select(F.col("r.rule").alias("rule")).distinct().collect()]
    counts = traces.groupBy("status").count().collect()
    status = {r["status"]: r["count"] for r in counts}
    with_findings = traces.where("findings > 0").orderBy("trace_id").limit(50).collect()
    unreadable = traces.where("status = 'unreadable'").orderBy("trace_id").collect()
    out = {
        "traces": sum(status.values()), "analyzed": sum(status.values()) - status.get("unreadable", 0),
        "damaged": status.get("damaged", 0), "unreadable": status.get("unreadable", 0), "skipped": skipped,
        "events": traces.agg(F.sum("events")).collect()[0][0] or 0,
        "rules": [{
            "rule": name, "findings": per_rule.get(name, {}).get("findings", 0),
            "runnable_traces": per_rule.get(name, {}).get("runnable_traces", 0),
            "traces_with_findings": per_rule.get(name, {}).get("traces_with_findings", 0),
            "by_kernel": by.get((name, "kernel"), {}), "by_host": by.get((name, "host"), {}),
            "not_runnable": missing.get(name, {})} for name in sorted(names)],
        "traces_with_findings": [{"trace_id": r["trace_id"], "file": r["file"], "kernel": r["kernel"],
                                  "host": r["host"], "findings": r["findings"]} for r in with_findings],
        "unreadable_files": [{"trace_id": r["trace_id"], "file": r["file"], "error": r["error"]} for r in unreadable],
    }
    return out


def share(r):
    return r["traces_with_findings"] / r["runnable_traces"] if r and r["runnable_traces"] else 0.0


def compare(s, old, path, tolerance):
    """Each rule's share of traces with findings (and findings per trace) now against an
    earlier run's summary.json; true when one grew by more than `tolerance` points."""
    before = {r["rule"]: r for r in old.get("rules", [])}
    s["baseline"] = path
    s["against_baseline"] = []
    for r in s["rules"]:
        b = before.get(r["rule"])
        grown = (share(r) - share(b)) * 100
        s["against_baseline"].append({"rule": r["rule"], "share": share(r), "baseline_share": share(b) if b else None,
                                      "failed": r["runnable_traces"] > 0 and grown > tolerance})
    return any(c["failed"] for c in s["against_baseline"])


def text(s, output):
    t = (f"foliotrace fleet (Spark): {s['traces']} traces ({s['analyzed']} analyzed, {s['damaged']} damaged, "
         f"{s['unreadable']} unreadable), {s['events']} events, {len(s['traces_with_findings'])} with findings"
         + (f"; {s['skipped']} other files skipped" if s["skipped"] else "") + f"\noutput: {output}\n\nfindings per rule\n")
    def breakdown(d):
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))
    for r in s["rules"]:
        t += (f"  {r['rule']}: {r['findings']} findings in {r['traces_with_findings']} of {r['runnable_traces']} "
              "traces that could run it\n")
        if r["by_kernel"]:
            t += f"    by kernel: {breakdown(r['by_kernel'])}\n"
        if r["by_host"]:
            t += f"    by host: {breakdown(r['by_host'])}\n"
        for why, n in sorted(r["not_runnable"].items(), key=lambda kv: (-kv[1], kv[0])):
            t += f"    could not run on {n} traces: lacks {why}\n"
    if s["traces_with_findings"]:
        t += "\ntraces with findings\n"
        for e in s["traces_with_findings"]:
            t += f"  {e['file']} ({e['kernel'] or '(unknown)'}, {e['host'] or '(unknown)'}): {e['findings']}\n"
    if s["unreadable_files"]:
        t += "\nunreadable files\n"
        for e in s["unreadable_files"]:
            t += f"  {e['file']}: {e['error']}\n"
    if s.get("baseline"):
        t += f"\nagainst {s['baseline']} (share of the traces that could run the rule with findings)\n"
        for c in s["against_baseline"]:
            was = "-" if c["baseline_share"] is None else f"{c['baseline_share'] * 100:.1f}%"
            t += f"  {c['rule']}: {c['share'] * 100:.1f}% (was {was})" + ("  FAILED: grew\n" if c["failed"] else "\n")
    return t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--foliotrace", required=True,
                        help="the foliotrace binary on the workers (a path, or the base name of a --files file)")
    parser.add_argument("--output", required=True, help="directory for the Parquet datasets (replaced)")
    parser.add_argument("--keep-lifecycles", action="store_true", help="also write DIR/generations")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="summary format")
    parser.add_argument("--partitions", type=int, default=0, help="tasks (default: one per trace, at most 10000)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one trace may take")
    parser.add_argument("--baseline", help="an earlier run's DIR: compare each rule's share of traces with findings")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="with --baseline: percentage points a rule's share may grow (exit status 1 beyond)")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)

    spark = SparkSession.builder.appName("foliotrace-fleet").getOrCreate()
    sc = spark.sparkContext
    traces, skipped = list_traces(spark, args.paths)
    binary = args.foliotrace
    # A bare name: a file shipped with --files, found in each executor's SparkFiles directory.
    shipped = binary if "/" not in binary else None
    local = [(i + 1, name, None) for i, (name, qualified) in enumerate(traces)
             if is_local(name) or qualified is None]
    remote = {qualified: (i + 1, name) for i, (name, qualified) in enumerate(traces)
              if not is_local(name) and qualified is not None}
    parts = args.partitions or max(1, min(len(traces), 10000))
    items = sc.parallelize(local, max(1, min(parts, len(local) or 1)))
    if remote:
        ids = sc.broadcast(remote)
        blobs = sc.binaryFiles(",".join(remote), minPartitions=max(1, min(parts, len(remote))))
        items = items.union(blobs.map(lambda kv: ids.value.get(kv[0], (0, kv[0])) + (kv[1],)))

    def resolve(it):
        path = binary
        if shipped:
            from pyspark import SparkFiles
            candidate = SparkFiles.get(shipped)
            if os.path.exists(candidate):
                path = candidate
                try:
                    os.chmod(path, 0o755)
                except OSError:
                    pass  # already executable, or the job says it cannot run it
        return run_partition(path, args.keep_lifecycles, args.timeout)(it)

    lines = items.mapPartitions(resolve).persist(StorageLevel.MEMORY_AND_DISK)
    out = args.output.rstrip("/")
    wanted = ["trace", "finding", "memcg"] + (["generation"] if args.keep_lifecycles else [])
    frames = {}
    for kind in wanted:
        schema = SCHEMAS[kind]
        rows = lines.filter(lambda tv, k=kind: tv[0] == k).map(lambda tv, s=schema: row(s, tv[1]))
        frames[kind] = spark.createDataFrame(rows, schema)
        name = {"trace": "traces", "finding": "findings", "memcg": "memcgs", "generation": "generations"}[kind]
        frames[kind].write.mode("overwrite").partitionBy("kernel").parquet(f"{out}/{name}")
    traces_df = spark.read.parquet(f"{out}/traces")
    s = summary(spark, traces_df, frames["finding"], skipped)
    s["output"] = out
    failed = False
    if args.baseline:
        old = json.loads(spark.read.text(args.baseline.rstrip("/") + "/summary.json", wholetext=True).collect()[0][0])
        failed = compare(s, old, args.baseline, args.tolerance)
    jvm = sc._jvm
    target = jvm.org.apache.hadoop.fs.Path(f"{out}/summary.json")
    stream = target.getFileSystem(sc._jsc.hadoopConfiguration()).create(target, True)
    stream.write(bytearray(json.dumps(s, indent=2).encode()))
    stream.close()
    sys.stdout.write(json.dumps(s, indent=2) + "\n" if args.format == "json" else text(s, out))
    lines.unpersist()
    spark.stop()
    if failed:
        for c in s["against_baseline"]:
            if c["failed"]:
                sys.stderr.write(f"foliotrace: {c['rule']}: more traces with findings than in {args.baseline}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
