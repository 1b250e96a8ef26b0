import Foundation
import Testing

/// Traces that are not regular files: `-` from a pipe, a FIFO, process substitution. Each
/// is read once and gives what the file gives; nothing hangs (every run has a deadline).
@Suite struct InputStreamTests {
    static let fixture = Fixtures.path("linux-6.18/lost-events.dat")
    static let binary = CommandLineTests.binary

    /// `events` output without its first line (the file name differs).
    static func body(_ s: String) -> Substring { s.drop { $0 != "\n" } }

    @Test func dashReadsAPipe() throws {
        let file = try CommandLineTests.run(["events", Self.fixture])
        let piped = try CommandLineTests.execute(
            "/bin/sh",
            ["-c", "cat '\(Self.fixture)' | '\(Self.binary)' events -"],
            timeout: 60
        )
        #expect(piped.status == 0, "stderr: \(piped.stderr)")
        #expect(piped.stdout.hasPrefix("file:      /dev/stdin (trace.dat"))
        #expect(Self.body(piped.stdout) == Self.body(file.stdout) && !Self.body(file.stdout).isEmpty)
        // A redirected regular file is read in place.
        let redirected = try CommandLineTests.execute(
            "/bin/sh",
            ["-c", "'\(Self.binary)' events - < '\(Self.fixture)'"],
            timeout: 60
        )
        #expect(redirected.status == 0 && Self.body(redirected.stdout) == Self.body(file.stdout))
    }

    /// A named FIFO, fed by another process: analyze with an HTML report (which reads the
    /// trace twice: the stories of the findings' folios) gives the file's report.
    @Test func namedFIFOIsReadOnce() throws {
        let dir = try Fixtures.scratch("fifo-input")
        let fifo = dir.appendingPathComponent("trace.fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let feed = { try Subprocess("/bin/sh", ["-c", "cat '\(Self.fixture)' > '\(fifo)'"]) }
        var writer = try feed()
        let events = try CommandLineTests.execute(Self.binary, ["events", fifo], timeout: 60)
        _ = writer.wait(timeout: 10)
        #expect(events.status == 0, "stderr: \(events.stderr)")
        #expect(events.stdout.hasPrefix("file:      \(fifo) (trace.dat"))
        let file = try CommandLineTests.run(["events", Self.fixture])
        #expect(Self.body(events.stdout) == Self.body(file.stdout))

        writer = try feed()
        let html = dir.appendingPathComponent("r.html").path
        let analyze = try CommandLineTests.execute(
            Self.binary,
            ["analyze", "-f", "html", "-o", html, fifo],
            timeout: 120
        )
        _ = writer.wait(timeout: 10)
        #expect(analyze.status == 0, "stderr: \(analyze.stderr)")
        #expect((try? String(contentsOfFile: html, encoding: .utf8))?.hasPrefix("<!DOCTYPE html>") == true)
    }

    /// Process substitution (`<(cat x.dat)`: /dev/fd/N, a pipe): the path stays the one given.
    @Test func processSubstitution() throws {
        guard FileManager.default.isExecutableFile(atPath: "/bin/bash") else { return }
        let r = try CommandLineTests.execute(
            "/bin/bash",
            ["-c", "'\(Self.binary)' events <(cat '\(Self.fixture)')"],
            timeout: 60
        )
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.hasPrefix("file:      /dev/fd/"))
    }

    /// Damage in piped input is named as standard input, not as a temporary copy; a device
    /// or an empty pipe is one line and exit 2.
    @Test func errorsNameTheInputAsGiven() throws {
        let cut = try CommandLineTests.execute(
            "/bin/sh",
            ["-c", "head -c 30000 '\(Self.fixture)' | '\(Self.binary)' events -"],
            timeout: 60
        )
        #expect(cut.status == 2)
        #expect(
            cut.stderr.hasPrefix("foliotrace: standard input: ") && cut.stderr.split(separator: "\n").count == 1,
            "\(cut.stderr)"
        )
        // The tests' standard input is /dev/null: a character device.
        let device = try CommandLineTests.run(["events", "-"])
        #expect(
            device.status == 2
                && device.stderr == "foliotrace: standard input: is a character device, not a trace file\n"
        )
        let empty = try CommandLineTests.execute(
            "/bin/sh",
            ["-c", "printf '' | '\(Self.binary)' events -"],
            timeout: 60
        )
        #expect(empty.status == 2 && empty.stderr.hasPrefix("foliotrace: standard input: "), "\(empty.stderr)")
    }
}
