import FolioTraceKit
import Foundation
import Testing

/// Fields of real perf.data files overwritten with hostile values (issue 21): each case once
/// trapped, or sized an allocation by a file number. Each must end in a clean error or a
/// damage report, within bounded time and memory. The copies are made at test time.
@Suite(.timeLimit(.minutes(2))) struct PerfHostileInputTests {
    private func copy(_ fixture: String, _ name: String, edit: (inout Data) throws -> Void) throws -> String {
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        try edit(&data)
        let url = try Fixtures.scratch("perf-hostile").appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    /// Reads every record as `events` does; the error, if any.
    private func read(_ path: String) -> (TraceInventory?, TraceFileError?) {
        do {
            let source = try TraceSource(path: path)
            let decoder = try EventDecoder(catalog: try source.catalog(), path: path)
            return (try TraceInventory(source: source, decoder: decoder), nil)
        } catch {
            return (nil, error)
        }
    }

    /// `foliotrace events` on `path` under /usr/bin/time: exit status and peak RSS in MB.
    private func peakMemory(_ path: String) throws -> (status: Int32, megabytes: Int, stderr: String) {
        let r = try CommandLineTests.execute(
            "/usr/bin/time",
            ["-f", "maxrss %M", CommandLineTests.binary, "events", "--format", "json", path],
            timeout: 60
        )
        let line = try #require(r.stderr.split(separator: "\n").last { $0.hasPrefix("maxrss ") })
        return (r.status, Int(Truth.numbers(line).last ?? 0) / 1024, r.stderr)
    }

    private static let timeInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/time")

    // MARK: file layout helpers (perf's util/header.c)

    private static func u64(_ d: Data, _ o: Int) -> UInt64 {
        d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt64.self) }
    }
    private static func u32(_ d: Data, _ o: Int) -> UInt32 {
        d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
    }
    private static func u16(_ d: Data, _ o: Int) -> UInt16 {
        d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt16.self) }
    }
    private static func put<T: FixedWidthInteger>(_ d: inout Data, _ o: Int, _ v: T) {
        d.withUnsafeMutableBytes { $0.storeBytes(of: v, toByteOffset: o, as: T.self) }
    }

    /// A file-mode feature section: `(offset, size)` of feature `bit`.
    private static func feature(_ d: Data, _ bit: Int) -> (Int, Int)? {
        let dataEnd = Int(u64(d, 40) + u64(d, 48))
        var index = 0
        for b in 0..<256 where u64(d, 72 + b / 64 * 8) & (1 << UInt64(b % 64)) != 0 {
            if b == bit { return (Int(u64(d, dataEnd + 16 * index)), Int(u64(d, dataEnd + 16 * index + 8))) }
            index += 1
        }
        return nil
    }

    /// Offsets of the top-level records of a file-mode file's data section, with their types.
    private static func records(_ d: Data) -> [(offset: Int, type: UInt32)] {
        var out: [(Int, UInt32)] = []
        var o = Int(u64(d, 40))
        let end = o + Int(u64(d, 48))
        while o + 8 <= end {
            out.append((o, u32(d, o)))
            o += Int(u16(d, o + 6))
        }
        return out
    }

    /// Pipe-mode records (the tracing data follows its record).
    private static func pipeRecords(_ d: Data) -> [(offset: Int, type: UInt32)] {
        var out: [(Int, UInt32)] = []
        var o = 16
        while o + 8 <= d.count {
            let type = u32(d, o)
            out.append((o, type))
            var next = o + Int(u16(d, o + 6))
            if type == 66 { next += (Int(u32(d, o + 8)) + 7) & ~7 }
            o = next
        }
        return out
    }

    /// Where PERF_SAMPLE_CPU is in a sample of `sampleType` (the field order of perf_event.h).
    private static func cpuOffset(_ sampleType: UInt64) -> Int {
        var o = 8
        for bit: UInt64 in [16, 0, 1, 2, 3, 6, 9] where sampleType & (1 << bit) != 0 { o += 8 }
        return o
    }

    // MARK: cases

    /// A sample's CPU negative or beyond any machine (it indexed the per-CPU loss table and
    /// trapped): the sample is left out and counted as malformed; the rest is read.
    @Test(arguments: [Int32(-1), Int32.min, Int32.max, 8192])
    func sampleCPUOutOfRange(_ cpu: Int32) throws {
        let fixture = "linux-6.18/perf/callchain.perf.data"
        let expected = try PerfFixtures.truthCounts(fixture).values.reduce(0, +)
        let path = try copy(fixture, "cpu\(cpu).perf.data") { d in
            let sampleType = Self.u64(d, Int(Self.u64(d, 24)) + 24)
            let sample = try #require(Self.records(d).filter { $0.type == 9 }.dropFirst(10).first)
            Self.put(&d, sample.offset + Self.cpuOffset(sampleType), cpu)
        }
        let (inventory, error) = read(path)
        #expect(error == nil, "\(String(describing: error))")
        #expect(inventory?.total == expected - 1)
        #expect(inventory?.perfDamage?.malformedSamples == 1)
        #expect(inventory?.countsByCPU.count == 2)
    }

    /// NRCPUS saying 4 billion CPUs (it sized per-CPU arrays): ignored as damage, the CPUs
    /// come from the samples, and memory stays small.
    @Test(.enabled(if: timeInstalled, "/usr/bin/time is not installed"))
    func hugeNRCPUS() throws {
        let fixture = "linux-6.18/perf/callchain.perf.data"
        let path = try copy(fixture, "nrcpus.perf.data") { d in
            let (offset, size) = try #require(Self.feature(d, 7))
            #expect(size == 8)
            Self.put(&d, offset, UInt32.max)
            Self.put(&d, offset + 4, UInt32.max)
        }
        let file = try PerfFile(path: path)
        #expect(file.damage.notes.contains { $0.contains("NRCPUS") })
        var records = file.orderedRecords()
        var highest: Int32 = -1
        while let r = try records.next() { highest = max(highest, r.cpu) }
        let perfHighest = try PerfScript.samples(path).map(\.cpu).max() ?? -1
        #expect(highest == perfHighest)
        #expect(file.cpuCount == Int(perfHighest) + 1)
        let run = try peakMemory(path)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.megabytes < 200)
    }

    /// A pipe-mode file without NRCPUS (its feature record renumbered to one no reader
    /// knows): `cpus` is the highest sampled CPU + 1, as many as `records_per_cpu` has.
    @Test(.enabled(if: PerfScript.isInstalled, "perf (Debian package linux-perf) is not installed"))
    func pipeWithoutNRCPUS() throws {
        let fixture = "linux-6.18/perf/memcg-reclaim-pipe.perf.data"
        let path = try copy(fixture, "no-nrcpus.perf.data") { d in
            let feature = try #require(Self.pipeRecords(d).first { $0.type == 80 && Self.u64(d, $0.offset + 8) == 7 })
            Self.put(&d, feature.offset + 8, UInt64(250))
        }
        let r = try CommandLineTests.run(["events", "--format", "json", path])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let perCPU = try #require(object["records_per_cpu"] as? [Int])
        let perfHighest = try #require(try PerfScript.samples(path).map(\.cpu).max())
        #expect(object["cpus"] as? Int == perCPU.count)
        #expect(perCPU.count == Int(perfHighest) + 1)
    }

    /// The COMPRESSED feature's mmap length at 4 GiB (it sized the decompression buffer's
    /// steps: one flipped byte took a run from 23 MB to 967 MB): same counts, small memory.
    @Test(.enabled(if: timeInstalled, "/usr/bin/time is not installed"))
    func hugeCompressedMmapLength() throws {
        let fixture = "linux-6.18/perf/memcg-reclaim-z.perf.data"
        let expected = try PerfFixtures.truthCounts(fixture).values.reduce(0, +)
        let path = try copy(fixture, "mmaplen.perf.data") { d in
            let (offset, size) = try #require(Self.feature(d, 27))
            #expect(size >= 20)
            Self.put(&d, offset + 16, UInt32.max)
        }
        let (inventory, error) = read(path)
        #expect(error == nil, "\(String(describing: error))")
        #expect(inventory?.total == expected)
        let run = try peakMemory(path)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.megabytes < 200)
    }

    /// Every attribute's id section pointed at the whole file (each attribute then listed
    /// the file's bytes as ids again: quadratic memory): a clean one-line error.
    @Test(.enabled(if: timeInstalled, "/usr/bin/time is not installed"))
    func overlappingAttrIDSections() throws {
        let fixture = "linux-6.18/perf/memcg-reclaim.perf.data"
        let path = try copy(fixture, "ids.perf.data") { d in
            let attrSize = Int(Self.u64(d, 16))
            let start = Int(Self.u64(d, 24))
            let count = Int(Self.u64(d, 32)) / attrSize
            #expect(count > 10)
            for i in 0..<count {
                Self.put(&d, start + i * attrSize + attrSize - 16, UInt64(0))
                Self.put(&d, start + i * attrSize + attrSize - 8, UInt64(d.count))
            }
        }
        let (_, error) = read(path)
        guard case .corrupt(let what)? = error?.problem else {
            Issue.record("expected a corrupt-file error, got \(String(describing: error))")
            return
        }
        #expect(what.contains("id"))
        let run = try peakMemory(path)
        #expect(run.status == 2)
        #expect(run.megabytes < 200)
    }

    /// A record turned into PERF_RECORD_AUXTRACE with a trace size near 2^63 (adding it to
    /// the offset overflowed): in pipe mode the records end there, reported as a cut.
    @Test func hugeAuxtraceSizeInPipeMode() throws {
        let fixture = "linux-6.18/perf/memcg-reclaim-pipe.perf.data"
        var at = 0
        var before = 0
        let path = try copy(fixture, "auxtrace.perf.data") { d in
            let records = Self.pipeRecords(d)
            let samples = records.filter { $0.type == 9 }
            let victim = samples[samples.count / 2]
            at = victim.offset
            before = samples.count / 2
            Self.put(&d, victim.offset, UInt32(71))
            Self.put(&d, victim.offset + 8, UInt64(Int64.max))
        }
        let file = try PerfFile(path: path)
        var records = file.orderedRecords()
        var n = 0
        while try records.next() != nil { n += 1 }
        #expect(records.damage.cutAt == at)
        #expect(n == before)
    }

    /// A pipe-mode feature record shorter than its own header (its body's range was
    /// inverted): a clean error naming the record.
    @Test func shortFeatureRecord() throws {
        let fixture = "linux-6.18/perf/memcg-reclaim-pipe.perf.data"
        let path = try copy(fixture, "feature8.perf.data") { d in
            let feature = try #require(Self.pipeRecords(d).first { $0.type == 80 })
            Self.put(&d, feature.offset + 6, UInt16(8))
        }
        let (_, error) = read(path)
        guard case .corrupt(let what)? = error?.problem else {
            Issue.record("expected a corrupt-file error, got \(String(describing: error))")
            return
        }
        #expect(what.contains("feature record"))
        #expect(error?.path == path)
    }

    /// Text from the file in an error (here the tracing data's version string, made of a
    /// newline and binary bytes) is escaped: one printable line of bounded length.
    @Test func errorMessagesAreOneEscapedLine() throws {
        let fixture = "linux-6.18/perf/callchain.perf.data"
        let path = try copy(fixture, "version.perf.data") { d in
            let magic = Data([0x17, 0x08, 0x44] + Array("tracing0.6".utf8))
            let r = try #require(d.range(of: magic))
            d.replaceSubrange((r.upperBound - 3)..<r.upperBound, with: [0x0a, 0x01, 0xff])
        }
        let (_, error) = read(path)
        let message = try #require(error?.description)
        // 0xff is not UTF-8: the version string holds U+FFFD for it, escaped as its bytes.
        #expect(message.contains("version \\x0a\\x01\\xef\\xbf\\xbd"))
        #expect(message.utf8.allSatisfy { (0x20..<0x7f).contains($0) })
        #expect(message.count < 300)
    }
}
