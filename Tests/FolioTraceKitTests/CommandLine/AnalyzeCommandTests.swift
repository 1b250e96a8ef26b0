import Foundation
import Testing

/// `foliotrace analyze` and `foliotrace folio`, run as a user would.
@Suite struct AnalyzeCommandTests {
    private func json(_ arguments: [String]) throws -> [String: Any] {
        let r = try CommandLineTests.run(arguments)
        #expect(r.status == 0, "\(arguments): \(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    @Test(arguments: Fixtures.traces)
    func analyzeJSONShape(_ fixture: String) throws {
        let object = try json(["analyze", "--format", "json", Fixtures.path(fixture)])
        let summary = try #require(object["summary"] as? [String: Any])
        for key in ["events", "folios", "generations", "migrations"] { #expect(summary[key] != nil, "summary.\(key)") }
        let memcgs = try #require(object["memcgs"] as? [[String: Any]])
        for m in memcgs { #expect(m["id"] is Int && m.keys.contains("path")) }
        #expect(object["findings"] is [Any] && object["coverage"] is [Any])
        // The events analyze counted are the records libtracecmd reads.
        #expect(summary["events"] as? Int == (try FolioTraceKitTestsReference.recordCount(Fixtures.path(fixture))))
    }

    /// The memcg reclaim capture names its memcgs by path, from the trace's cgroup events.
    @Test func analyzeNamesMemcgs() throws {
        let fixture = "linux-6.18/memcg-reclaim-foreign.dat"
        let truth = try Truth(fixture)
        let object = try json(["analyze", "--format", "json", Fixtures.path(fixture)])
        let memcgs = try #require(object["memcgs"] as? [[String: Any]])
        for name in ["A", "B"] {
            let id = try #require(truth.line("memcg \(name):").map(Truth.numbers)?.last)
            let m = try #require(memcgs.first { ($0["id"] as? Int).map(UInt64.init) == id })
            #expect((m["path"] as? String)?.hasSuffix("/foliotrace-\(name)") == true)
        }
        let text = try CommandLineTests.run(["analyze", Fixtures.path(fixture)])
        #expect(text.status == 0 && text.stdout.contains("foliotrace-A") && text.stdout.contains("page cache"))
    }

    /// `folio` on a migration target of the compaction capture: the JSON names the pfn it
    /// migrated from, which the raw set/remove_migration_pte pair at one address says.
    @Test func folioStoryOfAMigrationTarget() throws {
        let fixture = "linux-6.18/compaction-mlock-anon.dat"
        // From `trace-cmd report`: set_migration_pte addr=7fc2b1e3d000 pte=f7ffe7ffdfbc8000
        // (old pfn 0x102437... decoded below), remove_migration_pte same addr pte=80000001f5873067.
        let old = ((~UInt64(0xf7ff_e7ff_dfbc_8000) << 5) >> 14) & ((1 << 34) - 1)
        let object = try json(["folio", "--format", "json", "0x1f5873", Fixtures.path(fixture)])
        #expect(object["pfn"] as? Int == 0x1f5873)
        let generations = try #require(object["generations"] as? [[String: Any]])
        let target = try #require(generations.first { $0["migrated_from"] is Int })
        #expect((target["migrated_from"] as? Int).map(UInt64.init) == old)
        for key in ["start_ts", "end_ts", "order", "memcg", "attribution", "migrated_to", "steps"] {
            #expect(target.keys.contains(key), "generation.\(key)")
        }
        let steps = try #require(target["steps"] as? [[String: Any]])
        #expect(steps.contains { $0["event"] as? String == "migrate:remove_migration_pte" })
        for s in steps { #expect(s["ts"] is Int && s["cpu"] is Int && s["pid"] is Int && s["comm"] is String) }
    }

    @Test func usageErrorsExitTwo() throws {
        let bad = try CommandLineTests.run(["folio", "not-a-pfn", Fixtures.path("linux-6.1/charge-move.dat")])
        #expect(bad.status == 2 && bad.stderr.contains("not a pfn"))
        #expect(try CommandLineTests.run(["analyze"]).status == 2)
        #expect(try CommandLineTests.run(["--help"]).status == 0)
        let trace = Fixtures.path("linux-6.1/charge-move.dat")
        for (args, phrase) in [
            (["--since", "3s5"], "--since"), (["--since", "5", "--until", "4"], "empty"),
            (["--pid", "x"], "--pid"),
        ] {
            let r = try CommandLineTests.run(["analyze", trace] + args)
            #expect(r.status == 2 && r.stderr.contains(phrase), "\(args): \(r.stderr)")
        }
        // A memcg the trace does not have: one line naming the file and the memcgs it has.
        let r = try CommandLineTests.run(["analyze", trace, "--memcg", "/C"])
        #expect(r.status == 2 && r.stdout.isEmpty, "\(r.stderr)")
        #expect(r.stderr == "foliotrace: \(trace): --memcg /C: no such memcg in this trace; it has /A (35), /B (67)\n")
    }

    /// A scoped text report says what it covers, and the gate judges only what is in scope:
    /// A's charge moves fail `--fail-on warning`, and nothing of the trace's first 100 ms does.
    @Test func scopeIsShownAndGated() throws {
        let trace = Fixtures.path("linux-6.1/charge-move.dat")
        let a = try CommandLineTests.run([
            "analyze", trace, "--memcg", "/sys/fs/cgroup/memory/A", "--fail-on", "warning",
        ])
        #expect(a.status == 1 && a.stdout.contains("scope: findings and memcg rows of memcg /A (35)"), "\(a.stderr)")
        let early = try CommandLineTests.run(["analyze", trace, "--until", "+100ms", "--fail-on", "warning"])
        #expect(early.status == 0 && early.stdout.contains("scope: events from the start to "), "\(early.stdout)")
    }
}

extension AnalyzeCommandTests {
    /// `--keep-lifecycles` lists every generation the summary counted, with the shape of
    /// `folio`'s generations (less the steps).
    @Test func keepLifecyclesListsEveryGeneration() throws {
        let r = try CommandLineTests.run(
            ["analyze", "--keep-lifecycles", "--format", "json", Fixtures.path("linux-6.1/charge-move.dat")])
        #expect(r.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let summary = try #require(object["summary"] as? [String: Any])
        let generations = try #require(object["generations"] as? [[String: Any]])
        #expect(generations.count == summary["generations"] as? Int)
        #expect(generations.allSatisfy { $0["pfn"] is Int && $0.keys.contains("memcg") && $0["steps"] == nil })
        // Charge moving left the pages read but never mapped (file indexes 384...511) in A.
        let a = generations.filter { ($0["memcg_path"] as? String) == "/A" && $0["inode"] is Int }
        #expect(a.contains { ($0["index"] as? Int ?? 0) >= 384 })
        #expect(
            !a.contains { ($0["index"] as? Int ?? 999) < 384 && $0["end_ts"] is NSNull && ($0["inode"] as? Int) == 12 }
        )
    }
}

extension AnalyzeCommandTests {
    /// Findings and coverage in the JSON shape the detectors issue fixes.
    @Test func findingsAndCoverageJSON() throws {
        let r = try CommandLineTests.run(["analyze", "--format", "json", Fixtures.path("linux-6.1/charge-move.dat")])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect(!findings.isEmpty)
        for f in findings.prefix(20) {
            for key in [
                "rule", "severity", "pfn", "generation", "order", "inode", "index", "memcg", "other_memcg", "ts",
            ] {
                #expect(f.keys.contains(key), "finding.\(key)")
            }
            let evidence = try #require(f["evidence"] as? [[String: Any]])
            #expect(evidence.allSatisfy { $0["event"] is String && $0["cpu"] is Int && $0["ts"] is Int })
        }
        let coverage = try #require(object["coverage"] as? [[String: Any]])
        #expect(
            coverage.contains { $0["rule"] as? String == "charge-move-unmapped" && $0["runnable"] as? Bool == true }
        )
        #expect(coverage.allSatisfy { $0["missing"] is [String] })
    }
}

extension AnalyzeCommandTests {
    /// The CI gate: 1 when a finding reaches --fail-on, 0 when none does, 2 for bad input.
    @Test func failOnGate() throws {
        let moves = Fixtures.path("linux-6.1/charge-move.dat")  // charge-move-unmapped: warnings
        #expect(try CommandLineTests.run(["analyze", "--fail-on", "warning", moves]).status == 1)
        #expect(try CommandLineTests.run(["analyze", "--fail-on", "info", moves]).status == 1)
        #expect(try CommandLineTests.run(["analyze", "--fail-on", "error", moves]).status == 0)
        #expect(try CommandLineTests.run(["analyze", moves]).status == 0)
        let clean = Fixtures.path("linux-6.12/folio-rmap-compaction.dat")  // no finding
        #expect(try CommandLineTests.run(["analyze", "--fail-on", "info", clean]).status == 0)
        let gated = try CommandLineTests.run(["analyze", "--fail-on", "warning", moves])
        #expect(
            gated.stderr.hasPrefix("foliotrace: charge-move-unmapped: ") && gated.stderr.contains("at severity warning")
        )
        #expect(try CommandLineTests.run(["analyze", "--fail-on", "fatal", moves]).status == 2)
        #expect(try CommandLineTests.run(["analyze", "--fail-on", "info", "/nonexistent.dat"]).status == 2)
    }

    /// -o writes the report that would have gone to standard output.
    @Test func outputFile() throws {
        let trace = Fixtures.path("linux-6.1/charge-move.dat")
        let dir = try Fixtures.scratch("output")
        let file = dir.appendingPathComponent("report.json").path
        let toFile = try CommandLineTests.run(["analyze", "--format", "json", "-o", file, trace])
        #expect(toFile.status == 0 && toFile.stdout.isEmpty)
        let toStdout = try CommandLineTests.run(["analyze", "--format", "json", trace])
        #expect(try String(contentsOfFile: file, encoding: .utf8) == toStdout.stdout)
        #expect(try CommandLineTests.run(["analyze", "-o", "/nonexistent/dir/r.txt", trace]).status == 2)
    }
}
