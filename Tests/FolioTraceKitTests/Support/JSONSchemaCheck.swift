/// JSON output checked against its schema by a real JSON Schema validator (python3-jsonschema,
/// Draft 2020-12), not by our own reading of the schema: the one checker of the report, JSON
/// lines, `events` and `tail` tests.
enum JSONSchemaCheck {
    /// Prints `PATH: /pointer: message` (`PATH:LINE: ...` for JSON lines) per violation and
    /// exits 1 when there is one; the schema itself is checked first.
    static let script = """
        import json, sys
        import jsonschema
        lines = sys.argv[1] == "lines"
        schema = json.load(open(sys.argv[2]))
        jsonschema.Draft202012Validator.check_schema(schema)
        v = jsonschema.Draft202012Validator(schema)
        bad = 0
        for path in sys.argv[3:]:
            documents = [(f"{path}:{n}", json.loads(l)) for n, l in enumerate(open(path), 1)] \\
                if lines else [(path, json.load(open(path)))]
            for where, document in documents:
                for e in v.iter_errors(document):
                    bad += 1
                    print(where + ": /" + "/".join(map(str, e.absolute_path)) + ": " + e.message[:200])
        sys.exit(1 if bad else 0)
        """

    /// Validates `files` against `schema`: each file one JSON document, or with `lines` one
    /// document a line. A few files per validator process, each with the usual time limit:
    /// the reports of every fixture (with lifecycles, hundreds of MB) outgrow one process's
    /// limit on a loaded machine as fixtures are added. The status is the first failing one's.
    static func run(schema: String, _ files: [String], lines: Bool = false) throws -> CommandLineTests.Run {
        var all = CommandLineTests.Run(status: 0, stdout: "", stderr: "")
        for start in stride(from: 0, to: max(files.count, 1), by: 8) {
            let chunk = Array(files[start..<min(start + 8, files.count)])
            let r = try CommandLineTests.execute(
                "/usr/bin/env",
                ["python3", "-c", script, lines ? "lines" : "whole", schema] + chunk
            )
            if all.status == 0 { all.status = r.status }
            all.stdout += r.stdout
            all.stderr += r.stderr
        }
        return all
    }
}
