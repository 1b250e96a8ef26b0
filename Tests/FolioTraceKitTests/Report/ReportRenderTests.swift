import FolioTraceKit
import Foundation
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// Each renderer on real fixtures: golden files catch unintended changes to what users and CI
/// systems parse (re-record with FOLIOTRACE_RECORD_GOLDEN=1 and review the diff), and the
/// numbers that matter are checked against the kernel's own truth files.
@Suite struct ReportRenderTests {
    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden")
    static let recording = ProcessInfo.processInfo.environment["FOLIOTRACE_RECORD_GOLDEN"] == "1"

    /// The fixtures with findings (6.1 charge moves, 6.18 foreign refaults) and one without.
    static let fixtures = [
        "linux-6.1/charge-move.dat", "linux-6.18/memcg-reclaim-foreign.dat", "linux-6.12/folio-rmap-compaction.dat",
    ]

    /// A report with the machine-specific fixture directory replaced, so goldens hold in any clone.
    static func render(_ fixture: String, _ format: ReportFormat, failOn: Severity? = .warning) throws -> String {
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let verdict = Verdict(analysis, failOn: failOn)
        return format.render(analysis, verdict: verdict)
            .replacingOccurrences(of: Fixtures.directory.path + "/", with: "fixtures/")
    }

    /// Every renderer on every one of `fixtures`, less the 6.18 JSON (1.5 MB: its 2048
    /// findings are checked by the detector tests).
    static let goldens: [(String, ReportFormat)] = fixtures.flatMap { f in
        ReportFormat.allCases.map { (f, $0) }
    }
    .filter { !($0.0.hasPrefix("linux-6.18") && ($0.1 == .json || $0.1 == .html)) }

    @Test(arguments: goldens)
    func matchesGolden(_ fixture: String, _ format: ReportFormat) throws {
        let name = fixture.replacingOccurrences(of: "/", with: "_") + "." + format.rawValue
        let url = Self.goldenDirectory.appendingPathComponent(name)
        let report = try Self.render(fixture, format)
        if Self.recording {
            try report.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let golden = try String(contentsOf: url, encoding: .utf8)
        if report != golden {
            let a = report.split(separator: "\n", omittingEmptySubsequences: false)
            let b = golden.split(separator: "\n", omittingEmptySubsequences: false)
            let line = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
            Issue.record(
                """
                \(name) differs from its golden file at line \(line + 1) \
                (FOLIOTRACE_RECORD_GOLDEN=1 re-records):
                  now:    \(line < a.count ? a[line] : "(end)")
                  golden: \(line < b.count ? b[line] : "(end)")
                """
            )
        }
    }

    /// The Markdown summary's rule table carries the kernel's own count: the 6.1 hist
    /// trigger's unmapped moves (mapcount -1, not compound) fail the warning gate.
    @Test func markdownCountsComeFromTheKernel() throws {
        let fixture = "linux-6.1/charge-move.dat"
        let histogram = KprobeTests.kernelHistogram(try Truth(fixture).lines.joined(separator: "\n"))
        let unmapped = try #require(histogram["-1/0"])
        let md = try Self.render(fixture, .markdown)
        #expect(md.hasPrefix("## foliotrace: ❌ FAIL: charge-move-unmapped"))
        #expect(md.contains("| `charge-move-unmapped` | warning | \(unmapped) | ❌"))
        // No line a reviewer must scroll sideways, except table rows (rendered, they wrap).
        for line in md.split(separator: "\n") where !line.hasPrefix("|") {
            #expect(line.count <= 120, "long line: \(line)")
        }
    }

    /// JUnit: one test case per rule; the 6.18 foreign refaults (B's workingset_refault_file)
    /// fail an info gate, and the result parses as XML with the counts CI systems read.
    @Test func junitFailsTheRuleWithFindings() throws {
        let fixture = "linux-6.18/memcg-reclaim-foreign.dat"
        let truth = try Truth(fixture)
        let refaults = try #require(truth.memoryStat("-- B memory.stat after")["workingset_refault_file"])
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let xml = ReportFormat.junit.render(analysis, verdict: Verdict(analysis, failOn: .info))
        let doc = try XMLDocument(data: Data(xml.utf8))
        let cases = try doc.nodes(forXPath: "//testcase")
        #expect(cases.count == Rule.all.count)
        let failed = try doc.nodes(forXPath: "//testcase[failure]/@name").compactMap(\.stringValue)
        #expect(failed == [RuleID.foreignRefault.rawValue])
        let message = try doc.nodes(forXPath: "//failure/@message").first?.stringValue
        #expect(message == "\(refaults) finding(s) at severity info")
        let skipped = try doc.nodes(forXPath: "//testcase[skipped]/@name").compactMap(\.stringValue)
        // The 6.18 capture defined no kprobe: the rules that need one are skipped, not passed.
        #expect(skipped == analysis.coverage.filter { !$0.runnable }.map(\.rule.id.rawValue))
        #expect(
            skipped.contains(RuleID.chargeMoveUnmapped.rawValue)
                && skipped.contains(RuleID.mlockRestoredByReclaim.rawValue)
        )
        let suite = try #require(try doc.nodes(forXPath: "//testsuite").first as? XMLElement)
        #expect(suite.attribute(forName: "failures")?.stringValue == "1")
        #expect(suite.attribute(forName: "tests")?.stringValue == "\(Rule.all.count)")
    }

    /// The timeline's last sample is the engine's state at the end, so its page cache per
    /// memcg is the kernel's memory.stat `cache` at the end of the 6.18 capture.
    @Test func timelineEndsAtTheKernelsPageCache() throws {
        let fixture = "linux-6.18/memcg-reclaim-foreign.dat"
        let truth = try Truth(fixture)
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let samples = analysis.timeline.samples
        #expect(samples.count > 16 && samples.count <= analysis.timeline.capacity + 1)
        #expect(zip(samples, samples.dropFirst()).allSatisfy { $0.timestamp <= $1.timestamp })
        #expect(samples.first?.timestamp == analysis.span.first && samples.last?.timestamp == analysis.span.last)
        for name in ["A", "B"] {
            let id = try #require(truth.line("memcg \(name):").map(Truth.numbers)?.last)
            let cache = try #require(truth.memoryStat("-- \(name) memory.stat after")["cache"])
            #expect(samples.last?.memcgs[id]?.pageCachePages == cache / 4096, "memcg \(name)")
        }
        // The compaction capture's migrations, cumulative at the end = the kernel's pgmigrate_success.
        let compaction = "linux-6.18/compaction-mlock-anon.dat"
        let success = try #require(try Truth(compaction).line("pgmigrate_success").map(Truth.numbers)?.first)
        let migrated = try TraceAnalysis(path: Fixtures.path(compaction)).timeline.samples.last?.migrated
        #expect(migrated?.values.reduce(0, +) == success)
    }
}
