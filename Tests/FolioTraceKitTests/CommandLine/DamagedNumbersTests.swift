import FolioTraceKit
import Foundation
import Testing

/// Numbers from a damaged file that reach the command line's own arithmetic (issue 21:
/// `events` trapped on a time span whose end came before its start).
@Suite struct DamagedNumbersTests {
    /// A copy of a version 6 fixture whose ring-buffer pages after each CPU's first say
    /// their records happened at time 0: the last record read is then earlier than the first.
    static func timeRunsBackwards(in dir: URL) throws -> String? {
        guard let fixture = CorruptCopies.version6Fixture else { return nil }
        let file = try TraceFile(path: Fixtures.path(fixture))
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        var zeroed = 0
        for cpu in file.cpuBuffers where !cpu.compressed {
            var page = Int(cpu.offset) + cpu.pageSize
            while page + 8 <= Int(cpu.offset + cpu.size) {
                data.replaceSubrange(page..<page + 8, with: [UInt8](repeating: 0, count: 8))
                zeroed += 1
                page += cpu.pageSize
            }
        }
        guard zeroed > 0 else { return nil }
        let url = dir.appendingPathComponent("backwards.dat")
        try data.write(to: url)
        return url.path
    }

    @Test func timeSpanOfABackwardsTrace() throws {
        let dir = try Fixtures.scratch("backwards")
        guard let path = try Self.timeRunsBackwards(in: dir) else {
            Issue.record("no version 6 fixture with more than one page a CPU")
            return
        }
        // Before: SIGILL (status 132) computing last - first.
        let text = try CommandLineTests.run(["events", path])
        #expect(text.status == 0, "exit \(text.status): \(text.stderr.prefix(300))")
        #expect(text.stdout.contains("(out of order: the file is damaged)"))
        let json = try CommandLineTests.run(["events", "--format", "json", path])
        #expect(json.status == 0 && json.stdout.contains("\"last_ts\"") && !json.stdout.contains("\"duration_ns\""))
        let analyze = try CommandLineTests.run(["analyze", "-f", "json", path])
        #expect(analyze.status < 128, "killed by signal \(analyze.status - 128)")
    }
}
