import Foundation
import Testing

@testable import FolioTraceKit

/// `--perfetto` outputs read back with Perfetto's own protos (the `perfetto` PyPI package's
/// perfetto_trace_pb2, in the virtual environment `make perfetto-venv` makes) and checked
/// against the JSON report of the same trace by Tests/perfetto/check_perfetto.py: one instant
/// per finding with flows to each evidence event, one counter group per memcg of the report,
/// every flow with both ends, each sequence in time order, every slice ended, interned names
/// defined on their sequence after its state was cleared.
///
/// Without the environment the tests that need it fail, with the command that makes it; only
/// FOLIOTRACE_SKIP_PERFETTO=1 outside CI skips them (listed as skipped, with the reason), for a
/// machine without PyPI (docs/perfetto.md).
@Suite struct PerfettoExportTests {
    static let python = Fixtures.packageRoot.appendingPathComponent(".build/venv-perfetto/bin/python").path
    static let checker = Fixtures.packageRoot.appendingPathComponent("Tests/perfetto/check_perfetto.py").path

    static let needsProtos = ConditionTrait.enabled(
        if: Prerequisite.inCI || FileManager.default.isExecutableFile(atPath: python)
            || ProcessInfo.processInfo.environment["FOLIOTRACE_SKIP_PERFETTO"] != "1",
        Comment(rawValue: "no \(python) and FOLIOTRACE_SKIP_PERFETTO=1 (make perfetto-venv makes it)")
    )

    /// Records a failure, saying how to make it, when the checker's Python is missing.
    static func checkerReady() -> Bool {
        if FileManager.default.isExecutableFile(atPath: python) { return true }
        Issue.record(
            "no \(python): run `make perfetto-venv` (make test does), or set FOLIOTRACE_SKIP_PERFETTO=1 to skip these tests"
        )
        return false
    }

    /// Runs the checker; returns its counts.
    static func check(_ trace: String, report: String, _ extra: [String] = []) throws -> [String: Any] {
        // A trace_processor_shell (the perfetto package downloads one at run time, from a host
        // not every machine reaches) also loads the file and is queried, when given.
        let shell = ProcessInfo.processInfo.environment["FOLIOTRACE_TRACE_PROCESSOR"].map { ["--trace-processor", $0] }
        let r = try CommandLineTests.execute(python, [checker, trace, report] + extra + (shell ?? []))
        #expect(r.status == 0, "\(trace): \(r.stderr)")
        return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    @Test(needsProtos, arguments: Fixtures.traces + PerfFixtures.traces)
    func everyFixtureExports(_ fixture: String) throws {
        guard Self.checkerReady() else { return }
        let dir = try Fixtures.scratch("perfetto")
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = dir.appendingPathComponent("r.json").path
        let trace = dir.appendingPathComponent("t.pftrace").path
        let r = try CommandLineTests.run([
            "analyze", "--quiet", "--format", "json", "-o", report, "--perfetto", trace, Fixtures.path(fixture),
        ])
        #expect(r.status == 0, "\(fixture): \(r.stderr)")
        let counts = try Self.check(trace, report: report)
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any]
        let findings = (json?["findings"] as? [Any])?.count ?? -1
        #expect(counts["findings"] as? Int == findings, "\(fixture): \(counts)")
        // Every trace of memory events fills Perfetto's own ftrace tables too.
        #expect((counts["ftrace_events"] as? Int ?? 0) > 0, "\(fixture): \(counts)")
    }

    /// With --all-folios every joined migration is a flow from the old folio's track to the
    /// new one's.
    @Test(needsProtos) func allFoliosFlowEveryJoinedMigration() throws {
        guard Self.checkerReady() else { return }
        let dir = try Fixtures.scratch("perfetto-all")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fixture = Fixtures.path("linux-6.12/migrated-whole.dat")
        let report = dir.appendingPathComponent("r.json").path
        let trace = dir.appendingPathComponent("t.pftrace").path
        #expect(
            try CommandLineTests.run(["analyze", "--quiet", "--format", "json", "-o", report, fixture]).status == 0
        )
        let r = try CommandLineTests.run([
            "export", "--quiet", fixture, "--perfetto", trace, "--all-folios", "--folio-limit", "1000000",
        ])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
        let counts = try Self.check(trace, report: report, ["--all-folios"])
        let joined = counts["joined"] as? Int ?? 0
        #expect(joined > 1000 && counts["migration_flows"] as? Int == joined, "\(counts)")

        // A low limit leaves folios out and says so; the file is still whole.
        let limited = dir.appendingPathComponent("limited.pftrace").path
        let l = try CommandLineTests.run([
            "export", "--quiet", fixture, "--perfetto", limited, "--all-folios", "--folio-limit", "100",
        ])
        #expect(l.status == 0 && l.stderr.contains("--folio-limit 100"), "\(l.stderr)")
        let few = try Self.check(limited, report: report)
        #expect((few["folio_tracks"] as? Int ?? .max) < 1000, "\(few)")
    }

    /// The output never replaces an input, and the command wants an output.
    @Test func refusesTheTraceAsOutput() throws {
        let dir = try Fixtures.scratch("perfetto-refuse")
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("t.dat").path
        try FileManager.default.copyItem(atPath: Fixtures.path("linux-6.1/charge-move.dat"), toPath: copy)
        let before = try Data(contentsOf: URL(fileURLWithPath: copy))
        let r = try CommandLineTests.run(["export", "--quiet", copy, "--perfetto", copy])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before)
        let none = try CommandLineTests.run(["export", "--quiet", copy])
        #expect(none.status != 0 && none.stderr.contains("--perfetto"), "\(none.stderr)")
    }

    /// The wire format: varints, a nested message's four-byte length.
    @Test func protoWriterEncodes() {
        var w = ProtoWriter()
        w.uint(1, 300)
        #expect(w.bytes == [0x08, 0xAC, 0x02])
        w.bytes.removeAll()
        w.int(2, -1)
        #expect(w.bytes == [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        w.bytes.removeAll()
        let m = w.begin(3)
        w.string(1, "ab")
        w.end(m)
        #expect(w.bytes == [0x1A, 0x84, 0x80, 0x80, 0x00, 0x0A, 0x02, 0x61, 0x62])
        w.bytes.removeAll()
        w.fixed64(47, 1)
        #expect(w.bytes == [0xF9, 0x02, 1, 0, 0, 0, 0, 0, 0, 0])
    }
}
