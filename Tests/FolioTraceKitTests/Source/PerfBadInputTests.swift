import FolioTraceKit
import Foundation
import Testing

/// Bad perf.data input gives a `TraceFileError` naming the file and the problem, never a
/// crash; the copies are made from the real fixtures at test time.
@Suite struct PerfBadInputTests {
    /// Opens and reads a whole perf.data the way `foliotrace events` does.
    private func problem(_ path: String) -> TraceFileError? {
        do {
            let source = try TraceSource(path: path)
            let decoder = try EventDecoder(catalog: try source.catalog(), path: path)
            _ = try TraceInventory(source: source, decoder: decoder)
            return nil
        } catch {
            return error
        }
    }

    private func copy(_ fixture: String, _ name: String, edit: (inout Data) -> Void) throws -> String {
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        edit(&data)
        let url = try Fixtures.scratch("perf").appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    /// A file-mode perf.data keeps its feature sections at the end: any cut loses them or
    /// the data, and is reported at open.
    @Test(arguments: PerfFixtures.traces.filter { !$0.contains("-pipe") })
    func truncatedFilesFail(_ fixture: String) throws {
        let size = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture))).count
        for length in [12, 60, 103, 200, 4_000, size / 3, size / 2, size - 200, size - 1] {
            let path = try copy(fixture, "cut-\(length).perf.data") { $0 = $0.prefix(length) }
            let e = problem(path)
            #expect(e != nil, "\(fixture) cut at \(length) was read without an error")
            #expect(e?.path == path)
        }
    }

    /// A pipe-mode file is a bare stream of records with no end marker: a cut inside a record
    /// ends the stream there, with what came before read as `perf script` reads it (it
    /// prints "unexpected end of event stream" and exits 0), and the cut in `damage`.
    @Test(.enabled(if: PerfScript.isInstalled, "perf (Debian package linux-perf) is not installed"))
    func truncatedPipeIsReadToTheCut() throws {
        let fixture = try #require(PerfFixtures.traces.first { $0.contains("-pipe") })
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        // Record starts, walking the stream as perf writes it (tracing data follows its record).
        var starts: [Int] = []
        var offset = 16
        while offset + 8 <= data.count {
            starts.append(offset)
            let type = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
            let size = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self) })
            var next = offset + size
            if type == 66 {
                let length = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self) })
                next += (length + 7) & ~7
            }
            offset = next
        }
        #expect(offset == data.count)
        let picks = [60, starts.count / 3, starts.count - 2].filter { $0 < starts.count }
        for k in picks {
            let length = starts[k] + 5
            let path = try copy(fixture, "cut-\(length).perf.data") { $0 = $0.prefix(length) }
            let expected = try PerfScript.samples(path).count
            let file = try PerfFile(path: path)
            var records = file.orderedRecords()
            var n = 0
            while try records.next() != nil { n += 1 }
            #expect(n == expected, "\(fixture) cut at \(length): \(n) samples, perf script \(expected)")
            #expect(records.damage.cutAt == starts[k], "\(records.damage)")
            #expect(records.damage.bytesAfterCut == 5, "\(records.damage)")
            #expect(!file.completenessVerifiable)
        }
    }

    /// A pipe's stream with other output after its last record (a third-party file that
    /// ends with perf record's own stderr): the records are read, and the damage names the
    /// bytes after them, which are that text, without calling the file cut.
    @Test func bytesAfterTheLastRecordAreNamed() throws {
        let path = Fixtures.path("corpus/perf/lpd-sleep-compressed2-pipe-perf6.16.perf.data")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        // (Its samples are cycles, which the ordered stream of tracepoint records skips.)
        var records = try PerfFile(path: path).orderedRecords()
        while try records.next() != nil {}
        let at = try #require(records.damage.cutAt)
        #expect(records.damage.bytesAfterCut == data.count - at)
        #expect(String(decoding: data[at...], as: UTF8.self).hasPrefix("[ perf record: Woken up"))
        let events = try CommandLineTests.run(["events", "--format", "json", path])
        #expect(events.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(events.stdout.utf8)) as? [String: Any])
        #expect(object["total"] as? Int == 7)
        let damage = object["damage"] as? [String] ?? []
        #expect(damage.contains { $0.contains("the last \(data.count - at) bytes, from offset \(at)") }, "\(damage)")
    }

    /// perf still reads the version-1 header ("PERFFILE", same layout, feature bits taken as
    /// build ids): every sample is counted; without the tracing-data feature the tracepoints
    /// are counted by id, not decoded.
    @Test func versionOneHeader() throws {
        let fixture = try #require(PerfFixtures.traces.first { !$0.contains("-pipe") })
        let path = try copy(fixture, "v1.perf.data") { $0.replaceSubrange(0..<8, with: Data("PERFFILE".utf8)) }
        #expect(problem(path) == nil)
        func total(_ p: String) throws -> UInt64 {
            let source = try TraceSource(path: p)
            return try TraceInventory(source: source, decoder: try EventDecoder(catalog: try source.catalog(), path: p))
                .total
        }
        #expect(try total(path) == (try total(Fixtures.path(fixture))))
        #expect(try total(path) > 0)
    }

    @Test func unsupportedTracingDataVersion() throws {
        let fixture = try #require(PerfFixtures.traces.first { !$0.contains("-pipe") })
        let path = try copy(fixture, "tdv.perf.data") { data in
            let magic = Data([0x17, 0x08, 0x44] + Array("tracing0.6".utf8))
            let r = data.range(of: magic)!
            data[r.upperBound - 1] = UInt8(ascii: "9")
        }
        #expect(problem(path)?.problem == .unsupportedPerf("tracing data version 0.9"))
    }

    /// A file whose samples are all gone (each turned into a record type readers skip) is
    /// a file with no samples, not an error: zero records, the events still listed as on.
    @Test func noSamplesLeftIsZeroRecords() throws {
        let fixture = try #require(PerfFixtures.traces.first { !$0.contains("-pipe") && !$0.contains("-z.") })
        let path = try copy(fixture, "nosamples.perf.data") { data in
            // Turn every PERF_RECORD_SAMPLE (type 9) into an unknown type perf readers skip.
            data.withUnsafeMutableBytes { b in
                let dataOffset = Int(b.loadUnaligned(fromByteOffset: 40, as: UInt64.self))
                let dataSize = Int(b.loadUnaligned(fromByteOffset: 48, as: UInt64.self))
                var o = dataOffset
                while o + 8 <= dataOffset + dataSize {
                    if b.loadUnaligned(fromByteOffset: o, as: UInt32.self) == 9 {
                        b.storeBytes(of: UInt32(1000), toByteOffset: o, as: UInt32.self)
                    }
                    o += Int(b.loadUnaligned(fromByteOffset: o + 6, as: UInt16.self))
                }
            }
        }
        #expect(problem(path) == nil)
        let source = try TraceSource(path: path)
        let inventory = try TraceInventory(
            source: source,
            decoder: try EventDecoder(catalog: try source.catalog(), path: path)
        )
        #expect(inventory.total == 0)
        #expect(try source.enabledEvents(source.catalog())?.isEmpty == false)
    }

    @Test func corruptRecordSize() throws {
        let fixture = try #require(PerfFixtures.traces.first { !$0.contains("-pipe") && !$0.contains("-z.") })
        let path = try copy(fixture, "size0.perf.data") { data in
            data.withUnsafeMutableBytes { b in
                let dataOffset = Int(b.loadUnaligned(fromByteOffset: 40, as: UInt64.self))
                b.storeBytes(of: UInt16(0), toByteOffset: dataOffset + 6, as: UInt16.self)
            }
        }
        guard case .corrupt? = problem(path)?.problem else {
            Issue.record("expected a corrupt-record error")
            return
        }
    }
}
