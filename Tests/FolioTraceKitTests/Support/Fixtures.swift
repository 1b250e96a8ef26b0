import FolioTraceKit
import Foundation

/// The real captures under fixtures/, found from this file's path (no bundles).
enum Fixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = packageRoot.appendingPathComponent("fixtures")

    /// Every trace.dat this project captured (with a truth file), as paths relative to
    /// fixtures/ (stable test argument names). Other projects' files are `Corpus`'s.
    static let traces: [String] = {
        guard let e = FileManager.default.enumerator(atPath: directory.path) else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.hasSuffix(".dat") && isCapture($0) }.sorted()
    }()

    /// Whether a path under fixtures/ is one of this project's captures (not a capture
    /// script, not the corpus of other projects' files).
    static func isCapture(_ relative: String) -> Bool {
        !relative.hasPrefix("capture/") && !relative.hasPrefix("corpus/")
    }

    static func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }

    /// A new scratch directory for derived (corrupt, truncated) copies of fixtures: unique
    /// per call, because parameterized tests run in parallel and a shared directory removed by
    /// one case would pull files from under another case's memory map.
    static func scratch(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("foliotrace-tests-\(getpid())-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A fixture opened for decoding, with its record count: the setup of the tests that feed
/// the engine only part of a trace.
struct DecodedFixture {
    let file: TraceFile
    let catalog: EventCatalog
    let decoder: EventDecoder
    let records: Int

    init(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        file = try TraceFile(path: path)
        catalog = try EventCatalog(file: file)
        decoder = try EventDecoder(catalog: catalog, path: path)
        var count = 0
        var merged = try file.mergedRecords()
        while try merged.next() != nil { count += 1 }
        records = count
    }
}

/// The perf.data fixtures (fixtures/**/*.perf.data), relative to fixtures/.
enum PerfFixtures {
    /// Every perf.data with tracepoint samples, from capture/host-perf.sh (its naming: `-z.`
    /// for `perf record -z`, `-pipe` for pipe mode; its truth files: perf script's counts).
    /// Not the healthy corpus' guest captures (`healthy-mix-perf-record.perf.data`, checked by
    /// HealthyCaptureTests): perf itself reports out of order events in them (samples
    /// older than some perf had already delivered at a round's end), which this reader, like
    /// perf script, delivers in perf's order.
    static let traces: [String] = {
        guard let e = FileManager.default.enumerator(atPath: Fixtures.directory.path) else { return [] }
        return e.compactMap { $0 as? String }
            .filter {
                $0.hasSuffix(".perf.data") && !$0.contains("no-tracepoints") && Fixtures.isCapture($0)
                    && !$0.contains("perf-other/") && !$0.contains("/healthy-")
            }
            .sorted()
    }()

    /// The perf.data files of other events (software, uprobe, none sampled), from
    /// capture/host-perf-other.sh.
    static let others: [String] = {
        guard let e = FileManager.default.enumerator(atPath: Fixtures.directory.path) else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.hasSuffix(".perf.data") && $0.contains("perf-other/") }
            .sorted()
    }()

    /// The memcg-reclaim workload (plain, -z, pipe mode).
    static var memcgReclaim: [String] { traces.filter { $0.contains("memcg-reclaim") } }

    /// Samples per event name ("system:name" for tracepoints, "cpu-clock"...) that `perf
    /// script` counted at capture time.
    static func truthCounts(_ fixture: String) throws -> [String: UInt64] {
        let lines = try truth(fixture).lines
        guard let start = lines.firstIndex(where: { $0.hasPrefix("-- samples per event") }) else { return [:] }
        var out: [String: UInt64] = [:]
        for line in lines[(start + 1)...] {
            let words = line.split(separator: " ")
            guard words.count == 2, let n = UInt64(words[1]) else { break }
            if words[0] != "ALL" { out[String(words[0])] = n }
        }
        return out
    }

    /// Samples lost per CPU as the truth file says (PERF_RECORD_LOST records, by perf script).
    static func lostPerCPU(_ fixture: String) throws -> [Int: UInt64] {
        var out: [Int: UInt64] = [:]
        for line in try truth(fixture).lines where line.hasPrefix("lost cpu ") {
            let n = Truth.numbers(line)
            out[Int(n[0])] = n[2]
        }
        return out
    }

    /// `perf record -e cpu-clock -- true`: no tracepoint event at all.
    static let noTracepoints = "linux-6.18/perf/no-tracepoints.perf.data"
    /// The run recorded by perf and by trace-cmd at the same time.
    static let bothWaysPerf = "linux-6.18/perf/memcg-reclaim.perf.data"
    static let bothWaysTraceDat = "linux-6.18/perf/memcg-reclaim.dat"

    /// The kernel version a perf.data fixture was captured on, from its directory
    /// ("linux-6.18/perf/..." -> "6.18", "linux-6.1-arm64/perf/..." -> "6.1").
    static func kernelVersion(_ fixture: String) -> String {
        String(fixture.prefix { $0 != "/" }.dropFirst("linux-".count).prefix { $0 != "-" })
    }

    /// The truth file of a perf.data fixture.
    static func truth(_ fixture: String) throws -> Truth {
        try Truth(fixture.replacingOccurrences(of: ".perf.data", with: ".dat"))
    }
}
