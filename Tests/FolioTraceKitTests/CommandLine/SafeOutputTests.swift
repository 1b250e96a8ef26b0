import FolioTraceKit
import Foundation
import Testing

/// Outputs that cannot eat inputs, devices or earlier results (issue 21): the built binary,
/// run on a copy of a real fixture.
@Suite struct SafeOutputTests {
    static let fixture = "linux-6.18/lost-events.dat"

    /// A scratch directory with a copy of the fixture as `trace.dat`.
    static func scratch(_ name: String) throws -> (dir: URL, trace: String, bytes: Data) {
        let dir = try Fixtures.scratch(name)
        let trace = dir.appendingPathComponent("trace.dat").path
        try FileManager.default.copyItem(atPath: Fixtures.path(fixture), toPath: trace)
        return (dir, trace, try Data(contentsOf: URL(fileURLWithPath: trace)))
    }

    static func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// Exit 2 and exactly one line on stderr, naming `path` and saying `phrase`.
    static func expectRefusal(_ r: CommandLineTests.Run, _ path: String, _ phrase: String) {
        #expect(r.status == 2, "exit \(r.status), stderr: \(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(r.stderr)")
        // The path as given (a long one shortened in its middle), then the reason.
        let name = (path as NSString).lastPathComponent
        #expect(lines.first?.hasPrefix("foliotrace: \(path.prefix(60))") == true, "stderr: \(r.stderr)")
        #expect(lines.first?.contains("/\(name): ") == true, "stderr: \(r.stderr)")
        #expect(r.stderr.contains(phrase), "stderr: \(r.stderr)")
    }

    /// Files in `dir` other than those named: a temporary file left behind.
    static func leftovers(_ dir: URL, besides names: Set<String>) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { !names.contains($0) }
    }

    enum Alias: String, CaseIterable { case samePath, hardLink, symlink, relativeDots }

    /// `analyze X -o X` and `export X --sqlite X`, also through a hard link, a symlink or
    /// another spelling of the path: refused, the trace byte for byte as it was.
    @Test(arguments: Alias.allCases)
    func neverOverwritesTheInput(_ alias: Alias) throws {
        let (dir, trace, before) = try Self.scratch("over-input-\(alias)")
        let target: String
        switch alias {
        case .samePath: target = trace
        case .hardLink:
            target = dir.appendingPathComponent("link.json").path
            try FileManager.default.linkItem(atPath: trace, toPath: target)
        case .symlink:
            target = dir.appendingPathComponent("sym.json").path
            try FileManager.default.createSymbolicLink(atPath: target, withDestinationPath: "trace.dat")
        case .relativeDots: target = dir.path + "/./../\(dir.lastPathComponent)/trace.dat"
        }
        let analyze = try CommandLineTests.run(["analyze", "--format", "json", "-o", target, trace])
        Self.expectRefusal(analyze, target, "is an input")
        let export = try CommandLineTests.run(["export", trace, "--sqlite", target])
        Self.expectRefusal(export, target, "is an input")
        #expect(Self.contents(trace) == before, "the trace was changed")
        #expect(Self.leftovers(dir, besides: ["trace.dat", "link.json", "sym.json"]).isEmpty)
    }

    /// The baseline is an input too.
    @Test func neverOverwritesTheBaseline() throws {
        let (dir, trace, _) = try Self.scratch("over-baseline")
        let base = dir.appendingPathComponent("base.json").path
        #expect(try CommandLineTests.run(["analyze", "-f", "json", "-o", base, trace]).status == 0)
        let before = try #require(Self.contents(base))
        let r = try CommandLineTests.run(["analyze", "--baseline", base, "-f", "json", "-o", base, trace])
        Self.expectRefusal(r, base, "is an input")
        #expect(Self.contents(base) == before)
    }

    /// A character device (a node with /dev/full's numbers, made here), a directory and a
    /// FIFO as the target: refused at once, left as they were (never unlinked, never opened
    /// for writing: the FIFO would block a writer).
    @Test func refusesTargetsThatAreNotRegularFiles() throws {
        let (dir, trace, _) = try Self.scratch("special-targets")
        var full = stat()
        try #require(stat("/dev/full", &full) == 0)
        let device = dir.appendingPathComponent("full").path
        let fifo = dir.appendingPathComponent("fifo").path
        let directory = dir.appendingPathComponent("dir").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        #expect(mkfifo(fifo, 0o600) == 0)
        var targets = [(fifo, "a FIFO", S_IFIFO), (directory, "a directory", S_IFDIR)]
        if mknod(device, S_IFCHR | 0o666, full.st_rdev) == 0 {
            targets.append((device, "a character device", S_IFCHR))
        } else {
            print("skipped the device node: mknod needs CAP_MKNOD (\(String(cString: strerror(errno))))")
        }
        for (target, kind, mode) in targets {
            let export = try CommandLineTests.execute(
                CommandLineTests.binary,
                ["export", trace, "--sqlite", target],
                timeout: 60
            )
            Self.expectRefusal(export, target, "exists and is \(kind), not a regular file")
            let analyze = try CommandLineTests.execute(
                CommandLineTests.binary,
                ["analyze", "-f", "json", "-o", target, trace],
                timeout: 60
            )
            Self.expectRefusal(analyze, target, "exists and is \(kind)")
            var after = stat()
            #expect(lstat(target, &after) == 0 && after.st_mode & S_IFMT == mode, "\(target) is no longer \(kind)")
            if mode == S_IFCHR { #expect(after.st_rdev == full.st_rdev) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        #expect(Self.leftovers(dir, besides: ["trace.dat", "full", "fifo", "dir"]).isEmpty)
    }

    /// A write that fails part way (the file size limit, as a full disk would) leaves the
    /// earlier report or database whole, removes its temporary file, and exits 2 saying why.
    @Test(arguments: ["analyze", "export"])
    func failedWriteKeepsWhatWasThere(_ command: String) throws {
        let (dir, trace, _) = try Self.scratch("failed-write-\(command)")
        let target = dir.appendingPathComponent(command == "analyze" ? "report.json" : "db.sqlite").path
        let old = Data("an earlier result that must survive\n".utf8)
        try old.write(to: URL(fileURLWithPath: target))
        let run =
            command == "analyze"
            ? "analyze --keep-lifecycles -f json -o '\(target)' '\(trace)'"
            : "export --steps '\(trace)' --sqlite '\(target)'"
        // 8 blocks (4 or 8 KiB): the report and the database are far larger.
        let r = try CommandLineTests.execute(
            "/bin/sh",
            ["-c", "ulimit -f 8; exec '\(CommandLineTests.binary)' \(run)"]
        )
        Self.expectRefusal(r, target, "File too large")
        #expect(Self.contents(target) == old, "the earlier file was changed")
        #expect(Self.leftovers(dir, besides: ["trace.dat", (target as NSString).lastPathComponent]).isEmpty)
    }

    /// A successful write replaces the file whole and keeps its permissions; through a
    /// symlink, the file it names is replaced and the link stays.
    @Test func replacesWholeThroughASymlink() throws {
        let (dir, trace, _) = try Self.scratch("replace")
        let real = dir.appendingPathComponent("real.json").path
        let link = dir.appendingPathComponent("link.json").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: real))
        #expect(chmod(real, 0o640) == 0)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real.json")
        let r = try CommandLineTests.run(["analyze", "-f", "json", "-o", link, trace])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let stdout = try CommandLineTests.run(["analyze", "-f", "json", trace]).stdout
        #expect(String(decoding: Self.contents(real) ?? Data(), as: UTF8.self) == stdout)
        var info = stat()
        #expect(lstat(link, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK, "the link was replaced")
        #expect(stat(real, &info) == 0 && info.st_mode & 0o777 == 0o640)
        #expect(Self.leftovers(dir, besides: ["trace.dat", "real.json", "link.json"]).isEmpty)
    }

    /// `-o -` is standard output; two -o naming one file are refused before any work.
    @Test func dashAndDuplicateTargets() throws {
        let (dir, trace, _) = try Self.scratch("dash")
        let toDash = try CommandLineTests.run(["analyze", "-f", "json", "-o", "-", trace])
        let plain = try CommandLineTests.run(["analyze", "-f", "json", trace])
        #expect(toDash.status == 0 && toDash.stdout == plain.stdout && !plain.stdout.isEmpty)
        let a = dir.appendingPathComponent("a.json").path
        let r = try CommandLineTests.run(["analyze", "-o", a, "-o", dir.appendingPathComponent("./a.json").path, trace])
        #expect(r.status == 2 && r.stderr.contains("is given twice"), "stderr: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: a))
    }

    /// Standard output on /dev/full or closed: exit 2 with a message, for every command that
    /// prints (today's bug: `events` exited 0 having written nothing).
    @Test(arguments: [">/dev/full", ">&-"])
    func standardOutputWriteErrors(_ redirect: String) throws {
        let trace = Fixtures.path(Self.fixture)
        for command in [
            "events '\(trace)'", "events --format json '\(trace)'", "analyze '\(trace)'", "folio 0x1 '\(trace)'",
        ] {
            let r = try CommandLineTests.execute(
                "/bin/sh",
                ["-c", "exec '\(CommandLineTests.binary)' \(command) \(redirect)"],
                timeout: 120
            )
            #expect(r.status == 2, "\(command) \(redirect): exit \(r.status)")
            let reason = redirect == ">/dev/full" ? "No space left on device" : "Bad file descriptor"
            #expect(
                r.stderr == "foliotrace: standard output: cannot write: \(reason)\n",
                "\(command) \(redirect): \(r.stderr)"
            )
        }
    }

    /// Two exports to one database at once: each either writes a whole database or says
    /// that the other did and exits 2; never both 0 with one result silently gone.
    @Test func concurrentExportsNeitherLoseSilently() throws {
        let (dir, trace, _) = try Self.scratch("concurrent")
        let db = dir.appendingPathComponent("db.sqlite").path
        let binary = CommandLineTests.binary
        let runs = try (0..<2).map { _ in try Subprocess(binary, ["export", "--steps", trace, "--sqlite", db]) }
        let results = runs.map { $0.wait(timeout: 300) }
        let ok = results.filter { $0.status == 0 }
        #expect(ok.count >= 1, "\(results.map(\.stderr))")
        for r in results where r.status != 0 {
            #expect(r.status == 2 && r.stderr.contains("by another process"), "\(r.stderr)")
        }
        let header = Self.contents(db)?.prefix(16)
        #expect(header == Data("SQLite format 3\0".utf8))
        #expect(Self.leftovers(dir, besides: ["trace.dat", "db.sqlite"]).isEmpty)
    }
}
