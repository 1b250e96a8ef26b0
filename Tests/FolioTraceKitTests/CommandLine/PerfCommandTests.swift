import Foundation
import Testing

/// `events`, `analyze` and `folio` on perf.data files, run as a user would: the file is
/// recognised by its magic, nothing on the command line says it is perf's.
@Suite struct PerfCommandTests {
    private func json(_ arguments: [String]) throws -> [String: Any] {
        let r = try CommandLineTests.run(arguments)
        #expect(r.status == 0, "\(arguments): \(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    /// The samples `perf script` counted at capture time.
    private func truthTotal(_ fixture: String) throws -> Int {
        Int(try PerfFixtures.truthCounts(fixture).values.reduce(0, +))
    }

    @Test(arguments: PerfFixtures.traces)
    func eventsJSON(_ fixture: String) throws {
        let object = try json(["events", "--format", "json", Fixtures.path(fixture)])
        #expect(object["total"] as? Int == (try truthTotal(fixture)))
        #expect(object["format"] as? String == (fixture.contains("-pipe") ? "perf.data (pipe mode)" : "perf.data"))
        #expect(object["compression"] as? String == (fixture.contains("-z.") ? "zstd" : "none"))
        #expect(object["cpus"] as? Int == 2)
        // the CMDLINE feature: the perf record command that made the file
        #expect((object["recorder"] as? String)?.hasPrefix("perf 6.1") == true)
        #expect((object["recorder"] as? String)?.contains(" record ") == true)
        #expect((object["kernel"] as? String)?.hasPrefix(PerfFixtures.kernelVersion(fixture) + ".") == true)
        #expect(
            (object["lost_events"] as? Int).map(UInt64.init)
                == (try PerfFixtures.lostPerCPU(fixture)).values.reduce(0, +)
        )
    }

    /// analyze: every sample counted, memcgs A and B named by path, and the workload's
    /// foreign refaults found (memcg A's reclaim evicts the file B maps; B refaults it).
    @Test(arguments: PerfFixtures.memcgReclaim)
    func analyzeJSON(_ fixture: String) throws {
        let object = try json(["analyze", "--format", "json", Fixtures.path(fixture)])
        let summary = try #require(object["summary"] as? [String: Any])
        #expect(summary["events"] as? Int == (try truthTotal(fixture)))
        let truth = try PerfFixtures.truth(fixture)
        let line = try #require(truth.line("memcg A:"))
        let a = try #require(Truth.number(after: "id", in: line))
        let b = try #require(Truth.number(after: "id", in: line[line.range(of: "memcg B:")!.upperBound...]))
        let memcgs = try #require(object["memcgs"] as? [[String: Any]])
        for (id, name) in [(a, "A"), (b, "B")] {
            let m = try #require(memcgs.first { ($0["id"] as? Int).map(UInt64.init) == id }, "memcg \(name) \(id)")
            #expect((m["path"] as? String)?.hasSuffix("/foliotrace-perf-\(name)") == true)
        }
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect(findings.contains { $0["rule"] as? String == "foreign-refault-after-memcg-reclaim" })
        for f in findings where f["rule"] as? String == "foreign-refault-after-memcg-reclaim" {
            #expect((f["memcg"] as? Int).map(UInt64.init) == a && (f["other_memcg"] as? Int).map(UInt64.init) == b)
        }
    }

    /// folio: the story of a refaulted folio, with task names from perf's COMM records.
    @Test func folioStory() throws {
        let path = Fixtures.path(PerfFixtures.bothWaysPerf)
        let object = try json(["analyze", "--format", "json", path])
        let finding = try #require((object["findings"] as? [[String: Any]])?.first)
        let pfn = try #require(finding["pfn"] as? Int)
        let story = try json(["folio", "--format", "json", "0x" + String(pfn, radix: 16), path])
        let generations = try #require(story["generations"] as? [[String: Any]])
        let steps = generations.flatMap { $0["steps"] as? [[String: Any]] ?? [] }
        #expect(!steps.isEmpty)
        #expect(steps.contains { ["ftload", "bash"].contains($0["comm"] as? String) })
    }

    /// A perf.data without tracepoint events is read, not refused (perf script reads it):
    /// `events` counts its samples (none here), `analyze` exits 0.
    @Test func noTracepointsIsRead() throws {
        let path = Fixtures.path(PerfFixtures.noTracepoints)
        let object = try json(["events", "--format", "json", path])
        #expect(object["total"] as? Int == 0)
        #expect((object["events"] as? [String: Any])?.isEmpty == true)
        let r = try CommandLineTests.run(["analyze", path])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func truncatedIsOneLineError() throws {
        let fixture = PerfFixtures.bothWaysPerf
        let size = try #require(FileManager.default.attributesOfItem(atPath: Fixtures.path(fixture))[.size] as? Int)
        let path = try CorruptCopies.truncated(fixture, at: size / 2, in: try Fixtures.scratch("cli-perf-cut"))
        try CommandLineTests.expectOneLineError(path, containing: "truncated")
    }
}

/// `foliotrace export` of a perf.data, queried with the sqlite3 shell.
@Suite struct PerfExportTests {
    /// Every sample is an event of the export, and the page cache each memcg holds at the end
    /// is what its memory.stat said at the end of the workload.
    @Test(Prerequisite.executable(SQLiteExportTests.sqlite3, package: "sqlite3"), arguments: PerfFixtures.memcgReclaim)
    func exportMatchesTheKernel(_ fixture: String) throws {
        let truth = try PerfFixtures.truth(fixture)
        let (dir, query) = try SQLiteExportTests.export(fixture)
        defer { try? FileManager.default.removeItem(at: dir) }
        let total = try PerfFixtures.truthCounts(fixture).values.reduce(0, +)
        #expect(try query("SELECT events, lost_events FROM trace") == [["\(total)", "0"]])
        let line = try #require(truth.line("memcg A:"))
        let a = try #require(Truth.number(after: "id", in: line))
        let b = try #require(Truth.number(after: "id", in: line[line.range(of: "memcg B:")!.upperBound...]))
        let cache = try query(
            """
            SELECT memcg, SUM(pages) FROM generations WHERE freed_ts IS NULL
              AND page_cache_added_ts IS NOT NULL AND page_cache_deleted_ts IS NULL GROUP BY memcg
            """
        )
        for (name, m) in [("A", a), ("B", b)] {
            let stat = try #require(truth.memoryStat("-- \(name) memory.stat at the end")["cache"])
            #expect(cache.contains(["\(m)", "\(stat / 4096)"]), "\(fixture) memcg \(name): \(cache)")
        }
    }
}
