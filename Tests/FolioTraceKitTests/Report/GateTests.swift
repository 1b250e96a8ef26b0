import Foundation
import Testing

/// `analyze` as a CI gate: exit codes with --fail-on, --baseline and --tolerance, several
/// reports from one run, and the progress bar only on a terminal.
@Suite struct GateTests {
    static let moves = Fixtures.path("linux-6.1/charge-move.dat")
    static let clean = Fixtures.path("linux-6.12/folio-rmap-compaction.dat")

    /// The 6.1 capture's unmapped charge moves, from the kernel's hist trigger.
    static func unmappedMoves() throws -> Int {
        let histogram = KprobeTests.kernelHistogram(
            try Truth("linux-6.1/charge-move.dat").lines.joined(separator: "\n")
        )
        return try #require(histogram["-1/0"])
    }

    /// A baseline report: the real report of `trace` with the charge-move count set to `count`.
    static func baseline(_ trace: String, count: Int?, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("baseline-\(count ?? -1).json").path
        let r = try CommandLineTests.run(["analyze", "-f", "json", "-o", path, trace])
        #expect(r.status == 0)
        guard let count else { return path }
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        )
        var coverage = try #require(object["coverage"] as? [[String: Any]])
        for i in coverage.indices where coverage[i]["rule"] as? String == "charge-move-unmapped" {
            coverage[i]["findings"] = count
        }
        object["coverage"] = coverage
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func baselineFailsOnlyOnGrowth() throws {
        let dir = try Fixtures.scratch("baseline")
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = try Self.unmappedMoves()
        // The same capture as its own baseline: nothing new, even with the strictest gate.
        let same = try Self.baseline(Self.moves, count: nil, in: dir)
        #expect(try CommandLineTests.run(["analyze", "--baseline", same, "--fail-on", "info", Self.moves]).status == 0)
        // A clean trace's report as the baseline: every finding is new.
        let none = try Self.baseline(Self.clean, count: nil, in: dir)
        let grew = try CommandLineTests.run(["analyze", "--baseline", none, "-f", "markdown", Self.moves])
        #expect(grew.status == 1)
        #expect(grew.stderr.contains("charge-move-unmapped: \(n) new finding(s), none in the baseline"))
        #expect(grew.stdout.contains("| `charge-move-unmapped` | warning | \(n) | 0 (new) | ❌"))
        // Fewer before: within an absolute or relative tolerance it passes, beyond it fails.
        let fewer = try Self.baseline(Self.moves, count: n - 8, in: dir)
        let run = { (t: String) in
            try CommandLineTests.run(["analyze", "--baseline", fewer, "--tolerance", t, Self.moves])
        }
        #expect(try run("7").status == 1)
        #expect(try run("8").status == 0)
        #expect(try run("2%").status == 1, "2% of \(n - 8) rounds up to \(((n - 8) * 2 + 99) / 100)")
        #expect(try run("3%").status == 0)
        // The report says what changed.
        let json = try CommandLineTests.run(["analyze", "--baseline", fewer, "-f", "json", Self.moves])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let rules = try #require((object["verdict"] as? [String: Any])?["rules"] as? [[String: Any]])
        let rule = try #require(rules.first { $0["rule"] as? String == "charge-move-unmapped" })
        #expect(rule["change"] as? String == "grew" && rule["baseline_findings"] as? Int == n - 8)
        // A severity gate above the rule's severity ignores its growth.
        #expect(
            try CommandLineTests.run(["analyze", "--baseline", none, "--fail-on", "error", Self.moves]).status == 0
        )
    }

    @Test func badBaselineOrToleranceExitsTwo() throws {
        let dir = try Fixtures.scratch("baseline-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("nope.json").path
        let r = try CommandLineTests.run(["analyze", "--baseline", missing, Self.moves])
        #expect(r.status == 2 && r.stdout.isEmpty)
        #expect(r.stderr == "foliotrace: \(missing): cannot read the baseline report (missing or unreadable)\n")
        let notReport = dir.appendingPathComponent("x.json")
        try Data("{\"a\": 1}".utf8).write(to: notReport)
        let r2 = try CommandLineTests.run(["analyze", "--baseline", notReport.path, Self.moves])
        #expect(r2.status == 2 && r2.stderr.hasPrefix("foliotrace: \(notReport.path): not a foliotrace JSON report"))
        #expect(try CommandLineTests.run(["analyze", "--tolerance", "lots", Self.moves]).status == 2)
    }

    /// `--report FORMAT[=FILE]`, repeatable: the same reports as the --format/-o pairs, byte
    /// for byte, each naming its own file; one to standard output at most, and not mixed with
    /// --format/-o.
    @Test func reportOptionNamesFormatAndFile() throws {
        let dir = try Fixtures.scratch("report-option")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = { (name: String) in dir.appendingPathComponent(name).path }
        let r = try CommandLineTests.run([
            "analyze", "--report", "junit=" + file("a.xml"), "--report", "markdown=" + file("b.txt"),
            "--report", "json", Self.moves,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let read = { (name: String) in (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? "" }
        let pairs = try CommandLineTests.run([
            "analyze", "--format", "junit", "-o", file("c.xml"), "--format", "markdown", "-o", file("d.txt"),
            "--format", "json", Self.moves,
        ])
        #expect(read("a.xml") == read("c.xml") && read("a.xml").hasPrefix("<?xml"))
        #expect(read("b.txt") == read("d.txt") && read("b.txt").hasPrefix("## foliotrace"))
        #expect(r.stdout == pairs.stdout && r.stdout.hasPrefix("{"))
        let twoToStdout = try CommandLineTests.run(["analyze", "--report", "json", "--report", "text=-", Self.moves])
        #expect(twoToStdout.status == 2 && twoToStdout.stderr.contains("only one report can go to standard output"))
        let mixed = try CommandLineTests.run(["analyze", "--report", "json", "-o", file("e.md"), Self.moves])
        #expect(mixed.status == 2 && mixed.stderr.contains("not both"))
        let unknown = try CommandLineTests.run(["analyze", "--report", "pdf=x.pdf", Self.moves])
        #expect(unknown.status == 2 && !FileManager.default.fileExists(atPath: "x.pdf"))
    }

    /// One pass, several reports: each --format pairs with its -o; an -o alone takes its
    /// format from the extension; one more --format goes to standard output.
    @Test func severalReportsFromOneRun() throws {
        let dir = try Fixtures.scratch("multi")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = { (name: String) in dir.appendingPathComponent(name).path }
        let r = try CommandLineTests.run([
            "analyze", "--format", "junit", "-o", file("a.junit"), "--format", "markdown", "-o", file("b.txt"),
            "-o", file("c.json"), "-o", file("d.html"), "--format", "json", Self.moves,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let read = { (name: String) in (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? "" }
        #expect(read("a.junit").hasPrefix("<?xml"))
        #expect(read("b.txt").hasPrefix("## foliotrace"))
        #expect(read("c.json").hasPrefix("{") && read("d.html").hasPrefix("<!DOCTYPE html>"))
        #expect(r.stdout == read("c.json"), "the same JSON report on standard output")
        let unknown = try CommandLineTests.run(["analyze", "-o", file("e.unknown"), Self.moves])
        #expect(unknown.status == 2 && unknown.stderr.contains("cannot tell the report format"))
        let twoOut = try CommandLineTests.run(["analyze", "--format", "json", "--format", "text", Self.moves])
        #expect(twoOut.status == 2 && twoOut.stderr.contains("only one report can go to standard output"))
    }

    /// A progress bar on a terminal (run under `script`, which gives it a pty), nothing in a pipe.
    @Test func progressBarOnlyOnATerminal() throws {
        let big = Fixtures.path("linux-6.18/compaction-mlock-anon.dat")
        let out = try Fixtures.scratch("progress").appendingPathComponent("r.txt").path
        let piped = try CommandLineTests.run(["analyze", "-f", "text", "-o", out, big])
        #expect(piped.status == 0 && piped.stderr.isEmpty)
        // A device is no report file: refused, and left a device.
        let null = try CommandLineTests.run(["analyze", "-f", "text", "-o", "/dev/null", big])
        #expect(null.status == 2 && null.stderr.contains("is a character device"))
        var info = stat()
        #expect(stat("/dev/null", &info) == 0 && info.st_mode & S_IFMT == S_IFCHR, "-o /dev/null left the device")
        // util-linux's `script` gives the binary a terminal (Essential on Debian).
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "no /usr/bin/script")
        let command = "\(CommandLineTests.binary) analyze -f text -o \(out) \(big)"
        let tty = try CommandLineTests.execute("/usr/bin/script", ["-qec", command, "/dev/null"])
        #expect(tty.status == 0)
        #expect(tty.stdout.contains("compaction-mlock-anon.dat [") && tty.stdout.contains("events"))
        #expect(tty.stdout.hasSuffix("\r\u{1B}[K"), "the bar is cleared at the end")
    }
}
