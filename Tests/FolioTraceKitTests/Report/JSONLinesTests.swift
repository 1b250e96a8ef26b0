import FolioTraceKit
import Foundation
import Testing

/// `analyze --format jsonl` on every fixture: each line valid against docs/jsonl.schema.json
/// (python3-jsonschema, Draft 2020-12, as the JSON report's test), and the same findings,
/// memcgs and rule counts as the JSON report of the same pass.
@Suite struct JSONLinesTests {
    static let schema = Fixtures.packageRoot.appendingPathComponent("docs/jsonl.schema.json").path

    /// Runs the validator on JSON-lines files.
    static func validate(_ files: [String]) throws -> CommandLineTests.Run {
        try JSONSchemaCheck.run(schema: schema, files, lines: true)
    }

    static func objects(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// Without its `type` and `trace_id`, compared as JSON text with sorted keys.
    static func canonical(_ o: [String: Any], dropping: [String] = ["type", "trace_id"]) throws -> String {
        var o = o
        for k in dropping { o[k] = nil }
        return String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test(Prerequisite.pythonModule("jsonschema", package: "python3-jsonschema"))
    func everyFixturesLinesAreValidAndMatchTheJSONReport() throws {
        let dir = try Fixtures.scratch("jsonl")
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [String] = []
        for (i, fixture) in (Fixtures.traces + PerfFixtures.traces).enumerated() {
            let lines = dir.appendingPathComponent("\(i).jsonl").path
            let json = dir.appendingPathComponent("\(i).json").path
            let path = Fixtures.path(fixture)
            // Generations (hundreds of thousands of lines) on the three fixtures of the goldens.
            let keep = ReportRenderTests.fixtures.contains(fixture) ? ["--keep-lifecycles"] : []
            let r = try CommandLineTests.run(
                ["analyze"] + keep + ["--format", "jsonl", "-o", lines, "--format", "json", "-o", json, path]
            )
            #expect(r.status == 0, "\(fixture): \(r.stderr)")
            files.append(lines)
            let objects = try Self.objects(lines)
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
            )
            let trace = try #require(objects.first)
            #expect(trace["type"] as? String == "trace" && trace["file"] as? String == path)
            let id = TraceID.of(path: path)
            #expect(objects.allSatisfy { ($0["trace_id"] as? NSNumber)?.int64Value == id }, "\(fixture)")
            let damaged = !((report["input"] as? [String: Any])?["damage"] as? [Any] ?? []).isEmpty
            #expect(trace["status"] as? String == (damaged ? "damaged" : "ok"))
            #expect(trace["kernel"] as? String == report["kernel"] as? String)
            let of = { (type: String) in objects.filter { $0["type"] as? String == type } }
            #expect(
                try of("finding").map { try Self.canonical($0) }
                    == (report["findings"] as? [[String: Any]] ?? []).map { try Self.canonical($0, dropping: []) },
                "\(fixture): findings"
            )
            #expect(
                try of("memcg").map { try Self.canonical($0) }
                    == (report["memcgs"] as? [[String: Any]] ?? []).map { try Self.canonical($0, dropping: []) },
                "\(fixture): memcgs"
            )
            #expect(
                of("generation").count == (report["generations"] as? [Any])?.count ?? 0,
                "\(fixture): generations"
            )
            let rules = (trace["rules"] as? [[String: Any]] ?? []).map {
                "\($0["rule"] ?? "") \($0["runnable"] ?? "") \($0["findings"] ?? "")"
            }
            let coverage = (report["coverage"] as? [[String: Any]] ?? []).map {
                "\($0["rule"] ?? "") \($0["runnable"] ?? "") \($0["findings"] ?? "")"
            }
            #expect(rules == coverage, "\(fixture): rules")
        }
        // --trace-id sets every line's id; an unreadable file's line has its error.
        let given = dir.appendingPathComponent("given.jsonl").path
        let r = try CommandLineTests.run([
            "analyze", "--format", "jsonl", "--trace-id", "7", "-o", given, Fixtures.path("linux-6.1/charge-move.dat"),
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.objects(given).allSatisfy { ($0["trace_id"] as? NSNumber)?.intValue == 7 })
        let unreadable = dir.appendingPathComponent("unreadable.jsonl")
        try (JSONLinesReport.unreadableLine(path: "x.dat", traceID: 3, error: "foliotrace: x.dat: cut").compact + "\n")
            .write(to: unreadable, atomically: true, encoding: .utf8)
        files += [given, unreadable.path]

        let result = try Self.validate(files)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        // The check can fail: a finding line without its trace id is rejected.
        let broken = dir.appendingPathComponent("broken.jsonl")
        let finding = try #require(
            try String(contentsOfFile: given, encoding: .utf8).split(separator: "\n").dropFirst().first
        )
        try finding.replacingOccurrences(of: "\"trace_id\":", with: "\"trace\":").appending("\n")
            .write(to: broken, atomically: true, encoding: .utf8)
        let rejected = try Self.validate([broken.path])
        #expect(rejected.status == 1, "\(rejected.stdout)")
    }
}
