import Foundation
import Testing

/// The built `foliotrace` binary, run as a user would.
@Suite struct CommandLineTests {
    /// `.build/debug/foliotrace`, or `$FOLIOTRACE_TEST_BINARY` (`make sanitize` runs the
    /// sanitized build's binary).
    static let binary =
        ProcessInfo.processInfo.environment["FOLIOTRACE_TEST_BINARY"]
        ?? Fixtures.packageRoot.appendingPathComponent(".build/debug/foliotrace").path

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String]) throws -> Run { try execute(binary, arguments) }

    /// Runs any program to completion (killed, and the test failed, past `timeout` seconds),
    /// capturing both streams.
    static func execute(_ program: String, _ arguments: [String], timeout: Double = 300) throws -> Run {
        let r = try Subprocess.run(program, arguments, timeout: timeout)
        return Run(status: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    /// One line on stderr that names the file, exit status 2, nothing on stdout.
    static func expectOneLineError(_ path: String, containing phrase: String) throws {
        let r = try run(["events", path])
        #expect(r.status == 2, "\(path): exit \(r.status)")
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(r.stderr)")
        #expect(lines.first?.hasPrefix("foliotrace: \(path): ") == true, "stderr: \(r.stderr)")
        #expect(r.stderr.contains(phrase), "stderr: \(r.stderr)")
    }

    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "run `swift build` first")
    }

    @Test func missingFile() throws {
        try Self.expectOneLineError("/nonexistent/trace.dat", containing: "No such file")
    }

    @Test func notATrace() throws {
        try Self.expectOneLineError(
            Fixtures.packageRoot.appendingPathComponent("README.md").path,
            containing: "not a trace-cmd"
        )
    }

    @Test func truncated() throws {
        let fixture = try #require(Fixtures.traces.first)
        let size = try #require(FileManager.default.attributesOfItem(atPath: Fixtures.path(fixture))[.size] as? Int)
        let path = try CorruptCopies.truncated(fixture, at: size / 2, in: try Fixtures.scratch("cli-cut"))
        try Self.expectOneLineError(path, containing: "truncated")
    }

    @Test func unknownVersion() throws {
        let fixture = try #require(Fixtures.traces.first)
        let path = try CorruptCopies.withVersion(fixture, UInt8(ascii: "8"), in: try Fixtures.scratch("cli-version"))
        try Self.expectOneLineError(path, containing: "unsupported trace.dat version 8")
    }

    @Test func formatLackingAField() throws {
        let fixture = try #require(CorruptCopies.version6Fixture)
        let path = try #require(
            try CorruptCopies.withoutField(
                fixture,
                event: "mm_page_alloc",
                field: "order",
                in: try Fixtures.scratch("cli-field")
            )
        )
        // Degrade, never refuse: the event is counted and named, the rest analyzed.
        let events = try Self.run(["events", path])
        #expect(events.status == 0, "\(events.stderr)")
        #expect(
            events.stdout.contains(
                "note: kmem:mm_page_alloc is counted, not modelled: its format lacks the field 'order'"
            ),
            "\(events.stdout)"
        )
        let analyze = try Self.run(["analyze", "--format", "json", path])
        #expect(analyze.status == 0, "\(analyze.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(analyze.stdout.utf8)) as? [String: Any])
        let input = try #require(report["input"] as? [String: Any])
        let unmodelled = try #require(input["unmodelled"] as? [[String: Any]])
        #expect(unmodelled.map { $0["event"] as? String } == ["kmem:mm_page_alloc"])
        #expect((unmodelled.first?["analyses"] as? [String])?.contains("lifecycle") == true)
        // A gate that needs every rule fails on it, with the reason on stderr.
        let gated = try Self.run(["analyze", "--require-rules", path])
        #expect(gated.status == 1)
        #expect(gated.stderr.contains("not checked (--require-rules)"), "\(gated.stderr)")
    }

    /// `events --format json` agrees with libtracecmd's record count on every fixture.
    @Test(arguments: Fixtures.traces)
    func eventsJSON(_ fixture: String) throws {
        let r = try Self.run(["events", "--format", "json", Fixtures.path(fixture)])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let total = try #require(object["total"] as? Int)
        let events = try #require(object["events"] as? [String: Int])
        #expect(events.values.reduce(0, +) + (object["unknown_id"] as? Int ?? 0) == total)
        #expect(object["cpus"] as? Int ?? 0 >= 1)
        #expect(object["lost_events"] is Int)
        let path = Fixtures.path(fixture)
        let file = try FolioTraceKitTestsReference.recordCount(path)
        #expect(total == file, "\(fixture): events says \(total), libtracecmd reads \(file)")
    }
}
