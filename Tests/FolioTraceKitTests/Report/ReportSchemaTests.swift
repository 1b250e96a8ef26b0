import Foundation
import Testing

/// The JSON reports of every fixture against docs/report.schema.json, checked by a real JSON
/// Schema validator (python3-jsonschema, Draft 2020-12), not by our own reading of it.
@Suite struct ReportSchemaTests {
    static let schema = Fixtures.packageRoot.appendingPathComponent("docs/report.schema.json").path

    static func validate(_ reports: [String]) throws -> CommandLineTests.Run {
        try JSONSchemaCheck.run(schema: schema, reports)
    }

    @Test(Prerequisite.pythonModule("jsonschema", package: "python3-jsonschema"))
    func everyFixturesReportIsValid() throws {
        let dir = try Fixtures.scratch("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        var reports: [String] = []
        for (i, fixture) in Fixtures.traces.enumerated() {
            let out = dir.appendingPathComponent("\(i).json").path
            let r = try CommandLineTests.run(["analyze", "--keep-lifecycles", "-o", out, Fixtures.path(fixture)])
            #expect(r.status == 0, "\(fixture): \(r.stderr)")
            reports.append(out)
        }
        // A narrowed report carries its scope.
        let scoped = dir.appendingPathComponent("scoped.json").path
        let r = try CommandLineTests.run([
            "analyze", "--since", "+0.1", "--until", "+10s", "--memcg", "/B", "--pid", "1", "-o", scoped,
            Fixtures.path("linux-6.1/charge-move.dat"),
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let scope =
            try (JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scoped))) as? [String: Any])?[
                "scope"
            ] as? [String: Any]
        #expect(
            scope?["memcg"] as? String == "/B" && scope?["pid"] as? Int == 1 && scope?["since_ts"] is Int,
            "\(scope ?? [:])"
        )
        reports.append(scoped)
        let result = try Self.validate(reports)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")

        // The check can fail: a report whose finding lost its evidence and whose summary
        // gained a field is rejected on both counts.
        let text = try String(contentsOfFile: reports[0], encoding: .utf8)
        var object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        var summary = try #require(object["summary"] as? [String: Any])
        summary["surprise"] = 1
        object["summary"] = summary
        object["schema_version"] = 99
        let broken = dir.appendingPathComponent("broken.json")
        try JSONSerialization.data(withJSONObject: object).write(to: broken)
        let rejected = try Self.validate([broken.path])
        #expect(rejected.status == 1)
        #expect(rejected.stdout.contains("surprise") && rejected.stdout.contains("schema_version"))
    }
}
