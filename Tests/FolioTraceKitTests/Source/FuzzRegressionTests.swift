import Foundation
import Testing

/// Every input the fuzzers crashed on (Tests/FolioTraceKitTests/Regressions/, docs/fuzzing.md)
/// run through `foliotrace events` and `foliotrace analyze` as a user would: each must end
/// by itself within seconds and 2 GiB of address space with 0, 1 or 2, never a signal, and a
/// refusal (2) is one short line on stderr with no raw bytes of the file in it.
@Suite struct FuzzRegressionTests {
    static let directory = Fixtures.packageRoot.appendingPathComponent("Tests/FolioTraceKitTests/Regressions")

    /// The regression inputs by name (everything but notes).
    static let inputs: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasSuffix(".md") && !$0.hasPrefix(".") }.sorted()
    }()

    /// The deadline of one run: the inputs are a few KiB, so this is a hang, not slowness.
    static let seconds = 10.0
    /// The longest error line accepted (the file name is part of it).
    static let maxLine = 400
    /// The address space a run may have, in KiB (`ulimit -v`): an input of a few KiB that needs
    /// more breaks "memory stays proportional to the file", and one that asks for 4 GiB per
    /// CPU id would otherwise take the machine's memory before the deadline. ASan reserves
    /// terabytes of shadow, so `make sanitize` sets `FOLIOTRACE_TEST_MEMORY_KB=0` (no limit).
    static let memoryKB =
        ProcessInfo.processInfo.environment["FOLIOTRACE_TEST_MEMORY_KB"].flatMap { Int($0) }
        ?? 2 << 20

    @Test(arguments: inputs)
    func events(_ name: String) throws {
        try check(["events"], name)
    }

    @Test(arguments: inputs)
    func analyze(_ name: String) throws {
        try check(["analyze", "--quiet"], name)
    }

    private func check(_ command: [String], _ name: String) throws {
        let path = Self.directory.appendingPathComponent(name).path
        let started = ContinuousClock.now
        let arguments = command + [path]
        let r =
            Self.memoryKB > 0
            ? try Subprocess.run(
                "/bin/sh",
                ["-c", "ulimit -v \(Self.memoryKB) && exec \"$0\" \"$@\"", CommandLineTests.binary] + arguments,
                timeout: Self.seconds
            )
            : try Subprocess.run(CommandLineTests.binary, arguments, timeout: Self.seconds)
        let took = ContinuousClock.now - started
        let what = "\(command[0]) \(name)"
        #expect(!r.timedOut, "\(what): still running after \(Self.seconds) s")
        #expect(
            [0, 1, 2].contains(r.status),
            "\(what): exit \(r.status)\(r.status > 128 ? " (signal \(r.status - 128))" : ""); stderr: \(r.stderr.prefix(500))"
        )
        #expect(took < .seconds(Self.seconds), "\(what): took \(took)")
        guard r.status == 2 else { return }
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(
            lines.count == 1 && r.stderr.hasSuffix("\n"),
            "\(what): stderr is not one line: \(r.stderr.prefix(500))"
        )
        for line in lines {
            #expect(line.utf8.count <= Self.maxLine, "\(what): a \(line.utf8.count)-byte error line")
            let raw = line.unicodeScalars.filter { s in
                s.value < 0x20 || (0x7f...0x9f).contains(s.value) || s == "\u{FFFD}"
            }
            #expect(raw.isEmpty, "\(what): raw bytes in the error: \(line.prefix(200).debugDescription)")
        }
    }
}
