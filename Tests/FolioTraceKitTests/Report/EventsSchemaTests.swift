import Foundation
import Testing

/// `foliotrace events --format json` of every fixture (trace.dat and perf.data) against
/// docs/events.schema.json, by python3-jsonschema as for the analysis reports.
@Suite struct EventsSchemaTests {
    static let schema = Fixtures.packageRoot.appendingPathComponent("docs/events.schema.json").path

    @Test(Prerequisite.pythonModule("jsonschema", package: "python3-jsonschema"))
    func everyFixturesEventsJSONIsValid() throws {
        let dir = try Fixtures.scratch("events-schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        var outputs: [String] = []
        for (i, fixture) in (Fixtures.traces + PerfFixtures.traces).enumerated() {
            let r = try CommandLineTests.run(["events", "--format", "json", Fixtures.path(fixture)])
            #expect(r.status == 0, "\(fixture): \(r.stderr)")
            let out = dir.appendingPathComponent("\(i).json")
            try Data(r.stdout.utf8).write(to: out)
            outputs.append(out.path)
        }
        #expect(outputs.count > 20)
        let r = try JSONSchemaCheck.run(schema: Self.schema, outputs)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")

        // The schema can reject: a count that is not a count, and a key it does not know.
        var broken = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: outputs[0]))) as? [String: Any]
        )
        broken["total"] = -1
        broken["surprise"] = true
        let bad = dir.appendingPathComponent("broken.json")
        try JSONSerialization.data(withJSONObject: broken).write(to: bad)
        let rejected = try JSONSchemaCheck.run(schema: Self.schema, [bad.path])
        #expect(rejected.status == 1 && rejected.stdout.contains("/total") && rejected.stdout.contains("surprise"))
    }
}
