import Foundation
import Testing

/// `foliotrace events` counting each CPU on its own, on every core (`CPUInventory`), prints
/// what the single-threaded merged pass prints (`FOLIOTRACE_SERIAL=1`) byte for byte, text and
/// JSON, exit status and standard error too: on every fixture, every corpus file, and copies
/// cut short or with bytes flipped in their CPU data (damaged pages, time stamps out of order).
@Suite struct SerialPassTests {
    static func expectSame(_ file: String) throws {
        for format in ["text", "json"] {
            try InflateAheadTests.expectSame(["events", "--format", format, file])
        }
    }

    static let corpus: [String] = CorpusTests.entries.map { "corpus/" + $0.file }

    @Test(arguments: Fixtures.traces + corpus)
    func eventsAsSerial(_ fixture: String) throws {
        try Self.expectSame(Fixtures.path(fixture))
    }

    /// A v6 file (pages read from the map) and a v7 one (chunks), each cut and flipped at
    /// several places of its CPU data; the v6 copies must have been read as damaged or out
    /// of order at least once, or the test would prove nothing about those paths.
    @Test(arguments: [
        "linux-6.18/memcg-reclaim-foreign-v6.dat", "linux-6.12/healthy-mix-record.dat",
        "corpus/tracedat/trappy-2014-tc2-hmp-arm32.dat",
    ])
    func damagedCopiesAsSerial(_ fixture: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        let dir = try Fixtures.scratch("serial-pass")
        defer { try? FileManager.default.removeItem(at: dir) }
        var damaged = 0
        for percent in [40, 55, 70, 85, 95] {
            let at = data.count * percent / 100
            var flipped = data
            for i in stride(from: at, to: min(at + 4096, data.count), by: 61) { flipped[i] ^= 0x5a }
            let url = dir.appendingPathComponent("flip-\(percent).dat")
            try flipped.write(to: url)
            try Self.expectSame(url.path)
            let r = try CommandLineTests.run(["events", url.path])
            if r.stdout.contains("damage:") || r.stdout.contains("out of order") || r.stdout.contains("malformed") {
                damaged += 1
            }
            let cut = dir.appendingPathComponent("cut-\(percent).dat")
            try data.prefix(at).write(to: cut)
            try Self.expectSame(cut.path)
        }
        #expect(damaged > 0, "no flipped copy of \(fixture) read as damaged: the test proves nothing")
    }
}
