import Foundation
import Testing

/// What the command line says: one bounded, escaped line per error, and help texts that
/// name both input formats.
@Suite struct MessageTests {
    /// A path with control bytes and a terminal escape: shown as \xNN on one line.
    @Test func rawBytesInAPathAreEscaped() throws {
        let path = "/nonexistent/a\u{1B}[31mred\nline.dat"
        let r = try CommandLineTests.run(["events", path])
        #expect(r.status == 2)
        #expect(
            r.stderr == "foliotrace: /nonexistent/a\\x1b[31mred\\x0aline.dat: cannot open: No such file or directory\n"
        )
    }

    /// A very long path: one line of at most 300 characters that still says why.
    @Test func longMessagesAreBounded() throws {
        let path = "/nonexistent/" + String(repeating: "d/", count: 600) + "trace.dat"
        let db = try Fixtures.scratch("long-message").appendingPathComponent("x.db").path
        for command in [["events", path], ["analyze", path], ["export", path, "--sqlite", db]] {
            let r = try CommandLineTests.run(command)
            #expect(r.status == 2)
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].count <= 300, "\(command[0]): \(r.stderr.count) chars")
            #expect(r.stderr.hasPrefix("foliotrace: /nonexistent/d/") && r.stderr.contains(": cannot "))
        }
    }

    /// Usage errors are one line too.
    @Test func usageErrorsAreOneLine() throws {
        let r = try CommandLineTests.run(["folio", "not-a-pfn\u{7}", "x.dat"])
        #expect(r.status == 2)
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("\\x07"), "\(r.stderr)")
    }

    /// issue 13: every command that reads a trace says it may be a perf.data.
    @Test(arguments: ["analyze", "events", "folio", "export"])
    func helpNamesBothFormats(_ command: String) throws {
        let r = try CommandLineTests.run([command, "--help"])
        let text = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("A trace.dat (version 6 or 7) or perf.data file"), "\(r.stdout)")
        #expect(!text.contains("A trace.dat file (version 6 or 7)."))
    }

    /// --baseline with a report of another schema version: exit 2, one line saying what it wants.
    @Test func baselineOfAnotherVersion() throws {
        let dir = try Fixtures.scratch("cli-baseline")
        let old = dir.appendingPathComponent("old.json").path
        try #"{"schema_version": "one", "findings": []}"#.write(toFile: old, atomically: false, encoding: .utf8)
        let r = try CommandLineTests.run(["analyze", "--baseline", old, Fixtures.path("linux-6.18/lost-events.dat")])
        #expect(r.status == 2 && r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("foliotrace: \(old): \"schema_version\" is the string \"one\", not a number"))
        #expect(r.stderr.contains("\"schema_version\": 1") && r.stderr.split(separator: "\n").count == 1)
    }
}
