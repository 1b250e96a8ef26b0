import Foundation
import Testing

/// Compressed chunks inflated on another core while the one before is read
/// (`InflatingChunk`) give the single-threaded pass's results byte for byte: the same
/// command on the same file with `FOLIOTRACE_SERIAL=1` (every chunk inflated in line)
/// prints the same, on every fixture, on the corpus's v7 file and on copies whose chunks are
/// damaged or cut (the damage named in the same words, at the same place).
@Suite struct InflateAheadTests {
    static func both(_ arguments: [String]) throws -> (ahead: Subprocess.Result, serial: Subprocess.Result) {
        let binary = CommandLineTests.binary
        var serial = ProcessInfo.processInfo.environment
        serial["FOLIOTRACE_SERIAL"] = "1"
        var ahead = ProcessInfo.processInfo.environment
        ahead["FOLIOTRACE_SERIAL"] = nil
        return (
            try Subprocess.run(binary, arguments, environment: ahead),
            try Subprocess.run(binary, arguments, environment: serial)
        )
    }

    static func expectSame(_ arguments: [String]) throws {
        let r = try both(arguments)
        #expect(r.ahead.status == r.serial.status, "\(arguments)")
        #expect(r.ahead.stdout == r.serial.stdout, "\(arguments): stdout differs")
        #expect(r.ahead.stderr == r.serial.stderr, "\(arguments): stderr differs")
        #expect(!r.ahead.stdout.isEmpty || !r.ahead.stderr.isEmpty, "\(arguments): no output at all")
    }

    static let corpusV7 = "corpus/tracedat/langraph-2022-v7-zstd-stacktrace-x86_64.dat"

    @Test(arguments: Fixtures.traces + [corpusV7])
    func eventsAsInLine(_ fixture: String) throws {
        try Self.expectSame(["events", "--format", "json", Fixtures.path(fixture)])
    }

    /// The whole analysis on the fixtures with the most chunks of each kind of workload.
    @Test(arguments: [
        "linux-6.12/healthy-mix-record.dat", "linux-6.12/freed-while-isolated.dat",
        "linux-6.18/memcg-reclaim-foreign-v7-zstd.dat", "linux-6.12-arm64/thp-mlock-counted.dat", corpusV7,
    ])
    func analyzeAsInLine(_ fixture: String) throws {
        try Self.expectSame(["analyze", "--format", "json", Fixtures.path(fixture)])
    }

    /// Copies with bytes flipped at several places in the CPU data (chunks that do not
    /// inflate are skipped and named) and cut there (the chunk table or a chunk ends early).
    @Test func damagedChunksAsInLine() throws {
        let fixture = "linux-6.12/healthy-mix-record.dat"
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        let dir = try Fixtures.scratch("inflate-ahead")
        defer { try? FileManager.default.removeItem(at: dir) }
        var damaged = 0
        for percent in [55, 70, 85, 95] {
            let at = data.count * percent / 100
            var flipped = data
            for i in at..<(at + 64) { flipped[i] ^= 0x5a }
            let url = dir.appendingPathComponent("flip-\(percent).dat")
            try flipped.write(to: url)
            let r = try Self.both(["events", url.path])
            if r.ahead.stdout.contains("skipped") || r.ahead.stderr.contains("skipped") { damaged += 1 }
            try Self.expectSame(["events", "--format", "json", url.path])
            try Self.expectSame(["analyze", "--format", "json", url.path])
            let cut = dir.appendingPathComponent("cut-\(percent).dat")
            try data.prefix(at).write(to: cut)
            try Self.expectSame(["events", "--format", "json", cut.path])
        }
        #expect(damaged > 0, "no copy had a chunk that failed to inflate: the test proves nothing")
    }
}
