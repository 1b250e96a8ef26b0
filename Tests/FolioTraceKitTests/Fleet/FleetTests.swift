import FolioTraceKit
import Foundation
import Testing

/// `foliotrace fleet` and spark/foliotrace_fleet.py over the fixtures plus a truncated copy:
/// the same findings per rule per trace as `analyze --format json` of each trace, and the
/// broken file listed as unreadable, nothing else failing.
@Suite(.serialized) struct FleetTests {
    /// The fixture directories of this project's captures (not the corpus).
    static let directories: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.directory.path)) ?? []
        return names.filter { $0.hasPrefix("linux-") || $0 == "trace-cmd-2.x" }.sorted().map(Fixtures.path)
    }()

    /// A scratch directory with a copy of a fixture cut inside its header: unreadable.
    static func brokenCopy() throws -> (URL, String) {
        let dir = try Fixtures.scratch("fleet")
        let cut = dir.appendingPathComponent("cut.dat")
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("linux-6.1/charge-move.dat")))
        try data.prefix(4096).write(to: cut)
        return (dir, cut.path)
    }

    /// Per trace: rule -> findings, from `analyze --format json` of that trace alone.
    static func expected(_ traces: [String]) throws -> [String: [String: Int]] {
        var out: [String: [String: Int]] = [:]
        for t in traces {
            let r = try CommandLineTests.run(["analyze", "--quiet", "--format", "json", t])
            guard r.status == 0 || r.status == 1 else { continue }
            let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            var rules: [String: Int] = [:]
            for c in report["coverage"] as? [[String: Any]] ?? [] {
                if let n = c["findings"] as? Int, n > 0, let rule = c["rule"] as? String { rules[rule] = n }
            }
            out[t] = rules
        }
        return out
    }

    /// The fixture directories and a cut copy, the traces found under them, and per trace
    /// the findings per rule of `analyze` alone.
    struct Setup {
        var dir: URL
        var cut: String
        var paths: [String]
        var traces: [String]
        var expected: [String: [String: Int]]

        init() throws {
            (dir, cut) = try FleetTests.brokenCopy()
            paths = FleetTests.directories + [cut]
            traces = FleetRun.findTraces(paths).traces
            #expect(traces.count > 30 && traces.last == cut)
            expected = try FleetTests.expected(traces)
            #expect(expected.count == traces.count - 1, "only the cut copy is unreadable")
            #expect(expected.values.contains { !$0.isEmpty })
        }
    }

    /// foliotrace fleet, its database queried with sqlite3.
    @Test(Prerequisite.executable(SQLiteExportTests.sqlite3, package: "sqlite3"))
    func localRunAgreesWithPerTraceAnalysis() throws {
        let setup = try Setup()
        let (dir, cut, paths, traces, expected) = (setup.dir, setup.cut, setup.paths, setup.traces, setup.expected)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("fleet.sqlite").path
        let r = try CommandLineTests.run(["fleet", "--jobs", "2", "--format", "json", "-o", db] + paths)
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(summary["unreadable"] as? Int == 1 && summary["traces"] as? Int == traces.count)
        let query = { (sql: String) throws -> [[String]] in
            let q = try CommandLineTests.execute(SQLiteExportTests.sqlite3, ["-batch", "-separator", "|", db, sql])
            #expect(q.status == 0, "\(sql): \(q.stderr)")
            return q.stdout.split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        }
        var local: [String: [String: Int]] = [:]
        for row in try query("SELECT path FROM traces WHERE status != 'unreadable'") { local[row[0]] = [:] }
        for row in try query(
            "SELECT t.path, f.rule, COUNT(*) FROM findings f JOIN traces t USING (trace_id) GROUP BY t.path, f.rule"
        ) {
            local[row[0], default: [:]][row[1]] = Int(row[2])
        }
        #expect(local == expected)
        #expect(try query("SELECT path, status FROM traces WHERE status = 'unreadable'") == [[cut, "unreadable"]])
        #expect(try query("SELECT COUNT(DISTINCT trace_id) FROM rules") == [["\(traces.count - 1)"]])
        #expect(try query("SELECT MIN(trace_id), MAX(trace_id) FROM traces") == [["1", "\(traces.count)"]])
    }

    /// The Spark job, local[2], its Parquet read back with pyarrow (PySpark and pyarrow from
    /// `make spark-deps`). The first directory is given as a file: URI, so that its traces go
    /// through Hadoop (binaryFiles) as remote ones do; an empty earlier summary is its baseline
    /// (every rule "grew": within 100 points).
    @Test(
        Prerequisite.condition(
            ProcessInfo.processInfo.environment["FOLIOTRACE_SKIP_SPARK"] == "1"
                ? "the Spark run is skipped (FOLIOTRACE_SKIP_SPARK=1)" : nil
        )
    )
    func sparkRunAgreesWithPerTraceAnalysis() throws {
        let setup = try Setup()
        let (dir, cut, paths, traces, expected) = (setup.dir, setup.cut, setup.paths, setup.traces, setup.expected)
        defer { try? FileManager.default.removeItem(at: dir) }
        let spark = try SparkSetup.find()
        let out = dir.appendingPathComponent("spark").path
        let old = dir.appendingPathComponent("old")
        try FileManager.default.createDirectory(at: old, withIntermediateDirectories: true)
        try Data(#"{"rules": []}"#.utf8).write(to: old.appendingPathComponent("summary.json"))
        let sparkPaths = ["file://" + paths[0]] + paths.dropFirst()
        let job = try Subprocess.run(
            spark.submit,
            [
                "--master", "local[2]", "--driver-memory", "512m", "--conf", "spark.ui.enabled=false",
                Fixtures.packageRoot.appendingPathComponent("spark/foliotrace_fleet.py").path,
                "--foliotrace", CommandLineTests.binary, "--output", out, "--format", "json",
                "--baseline", old.path, "--tolerance", "100",
            ] + sparkPaths,
            environment: spark.environment,
            timeout: 900
        )
        #expect(job.status == 0, "\(job.stderr.suffix(3000))")
        let sparkSummary = try JSONSerialization.jsonObject(with: Data(job.stdout.utf8)) as? [String: Any]
        #expect(sparkSummary?["unreadable"] as? Int == 1 && sparkSummary?["traces"] as? Int == traces.count)
        #expect((sparkSummary?["against_baseline"] as? [Any])?.count == 6)
        let reader = """
            import json, sys
            import pyarrow.dataset as ds
            out = sys.argv[1]
            traces = ds.dataset(out + "/traces", format="parquet", partitioning="hive").to_table().to_pylist()
            findings = ds.dataset(out + "/findings", format="parquet", partitioning="hive").to_table(
                columns=["trace_id", "rule"]).to_pylist()
            for t in traces:
                t["file"] = t["file"][len("file://"):] if t["file"].startswith("file://") else t["file"]
            paths = {t["trace_id"]: t["file"] for t in traces}
            counts = {t["file"]: {} for t in traces if t["status"] != "unreadable"}
            for f in findings:
                rules = counts[paths[f["trace_id"]]]
                rules[f["rule"]] = rules.get(f["rule"], 0) + 1
            print(json.dumps({"counts": counts, "unreadable": sorted(t["file"] for t in traces
                if t["status"] == "unreadable"), "ids": sorted(paths)}))
            """
        let read = try Subprocess.run(spark.python, ["-c", reader, out], environment: spark.environment, timeout: 300)
        #expect(read.status == 0, "\(read.stderr)")
        let parquet = try #require(try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [String: Any])
        #expect(parquet["counts"] as? [String: [String: Int]] == expected)
        #expect(parquet["unreadable"] as? [String] == [cut])
        #expect(parquet["ids"] as? [Int] == Array(1...traces.count))
    }
}

extension FleetTests {
    /// --baseline: a run with more traces with foreign refaults than the 6.1 run it is
    /// compared with fails (exit 1, naming the rule) unless within --tolerance.
    @Test func baselineComparesRuleRates() throws {
        let dir = try Fixtures.scratch("fleet-baseline")
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = dir.appendingPathComponent("old.sqlite").path
        let first = try CommandLineTests.run(["fleet", "--jobs", "2", "-o", old, Fixtures.path("linux-6.1")])
        #expect(first.status == 0, "\(first.stderr)")
        let paths = [Fixtures.path("linux-6.1"), Fixtures.path("linux-6.18/perf")]
        let now = dir.appendingPathComponent("now.sqlite").path
        let grown = try CommandLineTests.run(["fleet", "--jobs", "2", "-o", now, "--baseline", old] + paths)
        #expect(grown.status == 1)
        #expect(
            grown.stderr.contains("foreign-refault-after-memcg-reclaim: more traces with findings than in \(old)"),
            "\(grown.stderr)"
        )
        #expect(grown.stdout.contains("against \(old)"))
        let within = try CommandLineTests.run(
            ["fleet", "--jobs", "2", "-o", now, "--baseline", old, "--tolerance", "100"] + paths
        )
        #expect(within.status == 0, "\(within.stderr)")
        let same = try CommandLineTests.run(["fleet", "-o", now, "--baseline", old, Fixtures.path("linux-6.1")])
        #expect(same.status == 0, "\(same.stderr)")
        let bad = try CommandLineTests.run([
            "fleet", "-o", now, "--baseline", Fixtures.path("linux-6.1/charge-move.dat"), Fixtures.path("linux-6.1"),
        ])
        #expect(bad.status == 2 && bad.stderr.contains("not a foliotrace fleet database"), "\(bad.stderr)")
        // A directory without traces is an error, not an empty database.
        let empty = try CommandLineTests.run(["fleet", "-o", now, dir.path])
        #expect(empty.status == 2 && empty.stderr.hasPrefix("foliotrace: no trace.dat or perf.data under"))
    }
}

/// Where `make spark-deps` put PySpark (.build/venv-spark) and Java. Missing: the test fails,
/// in CI or not, unless FOLIOTRACE_SKIP_SPARK=1 skips the Spark run (docs/fleet.md).
enum SparkSetup {
    struct Found {
        var submit: String
        var python: String
        var environment: [String: String]
    }

    static func find() throws -> Found {
        let env = ProcessInfo.processInfo.environment
        let venv =
            ProcessInfo.processInfo.environment["FOLIOTRACE_SPARK_VENV"]
            ?? Fixtures.packageRoot.appendingPathComponent(".build/venv-spark").path
        let submit = venv + "/bin/spark-submit"
        try #require(
            FileManager.default.isExecutableFile(atPath: submit),
            "no PySpark at \(venv): run `make spark-deps` (or set FOLIOTRACE_SKIP_SPARK=1 to skip the Spark run)"
        )
        var environment = env
        environment["PATH"] = venv + "/bin:" + (env["PATH"] ?? "/usr/bin:/bin")
        environment["PYSPARK_PYTHON"] = venv + "/bin/python"
        environment["PYSPARK_DRIVER_PYTHON"] = venv + "/bin/python"
        environment["SPARK_LOCAL_IP"] = "127.0.0.1"
        if env["JAVA_HOME"] == nil {
            let jvm = "/usr/lib/jvm/default-java"
            if FileManager.default.fileExists(atPath: jvm) { environment["JAVA_HOME"] = jvm }
        }
        return Found(submit: submit, python: venv + "/bin/python", environment: environment)
    }
}
