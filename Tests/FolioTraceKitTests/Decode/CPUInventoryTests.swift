import Foundation
import Testing

@testable import FolioTraceKit

/// The per-CPU count (`CPUInventory`) against the merged pass, in process: every field of
/// `TraceInventory` alike, with CPUs cut into parts of one page (so every page boundary is a
/// part boundary) and as `events` cuts them; on every fixture and corpus trace.dat, and on
/// copies whose pages are shuffled within each CPU, so that the CPUs' records run out of
/// order and the merged pass's last time stamp is not the latest one.
@Suite struct CPUInventoryTests {
    static let files: [String] =
        (Fixtures.traces + CorpusTests.entries.filter { $0.format == "trace.dat" }.map { "corpus/" + $0.file })
        .map(Fixtures.path)

    static func inventory(_ path: String, _ pass: TraceInventory.Pass) throws -> TraceInventory {
        let source = TraceSource.traceDat(try TraceFile(path: path))
        let decoder = try EventDecoder(catalog: try source.catalog(), path: path)
        return try TraceInventory(source: source, decoder: decoder, pass: pass)
    }

    static func expectSame(_ a: TraceInventory, _ b: TraceInventory, _ what: String) {
        #expect(a.countsByID == b.countsByID, "\(what): counts by id")
        #expect(a.countsByCPU == b.countsByCPU, "\(what): counts by CPU")
        #expect(a.lostByCPU == b.lostByCPU, "\(what): losses")
        #expect(a.total == b.total, "\(what): total")
        #expect(a.typedRecords == b.typedRecords, "\(what): typed")
        #expect(a.malformedRecords == b.malformedRecords, "\(what): malformed")
        #expect(a.unknownRecords == b.unknownRecords, "\(what): unknown")
        #expect(a.outOfOrder == b.outOfOrder, "\(what): out of order")
        #expect(a.firstTimestamp == b.firstTimestamp, "\(what): first")
        #expect(a.lastTimestamp == b.lastTimestamp, "\(what): last")
        #expect(a.damagedPages == b.damagedPages, "\(what): damaged pages")
        #expect(a.damage == b.damage, "\(what): damage")
    }

    @Test(arguments: files)
    func sameAsMerged(_ path: String) throws {
        let merged = try Self.inventory(path, .merged)
        #expect(merged.total > 0)
        // One worker (a one-core machine, a small file: no cutting), three, and parts of one
        // page; `.standard` as `events` runs it.
        for pass in [
            TraceInventory.Pass.perCPU(workers: 2, pagesEach: 1), .perCPU(workers: 3, pagesEach: nil),
            .perCPU(workers: 1, pagesEach: nil), .perCPU(workers: nil, pagesEach: nil),
        ] {
            Self.expectSame(try Self.inventory(path, pass), merged, "\(path) \(pass)")
        }
    }

    /// Copies of uncompressed files with each CPU's whole pages in a shuffled order.
    static let uncompressed = files.filter { path in
        (try? TraceFile(path: path).cpuBuffers.contains { !$0.compressed && $0.size > 0 }) == true
    }

    @Test(arguments: uncompressed)
    func shuffledPagesAsMerged(_ path: String) throws {
        let file = try TraceFile(path: path)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let dir = try Fixtures.scratch("shuffled-pages")
        defer { try? FileManager.default.removeItem(at: dir) }
        var generator = CorruptionTests.SplitMix(state: 19)
        var outOfOrder = false
        var lastNotLatest = false
        for round in 0..<6 {
            var copy = original
            for b in file.cpuBuffers where !b.compressed {
                let pages = Int(b.size) / b.pageSize
                guard pages > 1 else { continue }
                var order = Array(0..<pages)
                if round == 0 { order.reverse() } else { order.shuffle(using: &generator) }
                for (to, from) in order.enumerated() {
                    let src = Int(b.offset) + from * b.pageSize
                    let dst = Int(b.offset) + to * b.pageSize
                    copy.replaceSubrange(dst..<(dst + b.pageSize), with: original[src..<(src + b.pageSize)])
                }
            }
            let url = dir.appendingPathComponent("shuffled-\(round).dat")
            try copy.write(to: url)
            let merged = try Self.inventory(url.path, .merged)
            if merged.outOfOrder > 0 { outOfOrder = true }
            let all = try TraceFile(path: url.path).cpuStreams()
            var latest: UInt64 = 0
            for var s in all {
                while let r = try s.next() { latest = max(latest, r.timestamp) }
            }
            if merged.lastTimestamp.map({ $0 < latest }) == true { lastNotLatest = true }
            for pass in [TraceInventory.Pass.perCPU(workers: 2, pagesEach: 1), .perCPU(workers: 2, pagesEach: 3)] {
                Self.expectSame(try Self.inventory(url.path, pass), merged, "\(url.lastPathComponent) \(pass)")
            }
        }
        #expect(outOfOrder, "\(path): no shuffled copy ran out of order")
        // Files with two CPUs of many pages each: some shuffle leaves a CPU's latest record
        // in the middle of its pages and another CPU's latest above the first's last.
        if ["memcg-reclaim-foreign-v6.dat", "trappy-2014-tc2-hmp-arm32.dat", "labsisop-2019-sched-4cpu-i686.dat"]
            .contains(where: path.hasSuffix)
        {
            #expect(lastNotLatest, "\(path): the merged pass's last time stamp was always the latest")
        }
    }

    /// `RecordClasses` says of every record what `EventDecoder.decode` says.
    @Test(arguments: files)
    func classesAsDecoded(_ path: String) throws {
        let file = try TraceFile(path: path)
        let decoder = try EventDecoder(catalog: try TraceSource.traceDat(file).catalog(), path: path)
        let classes = RecordClasses(decoder: decoder)
        var stream = try file.mergedRecords()
        var seen: [RecordClasses.Class: Int] = [:]
        while let r = try stream.next() {
            let id = Int(r.eventID)
            let expected: RecordClasses.Class
            if id >= decoder.catalog.idLimit || decoder.catalog.type(id: r.eventID) == nil {
                expected = .unknown
            } else {
                switch decoder.decode(r) {
                case .other: expected = .other
                case .malformed: expected = .malformed
                default: expected = .typed
                }
            }
            let code = id < classes.codes.count ? classes.codes[id] : RecordClasses.unknown
            let got = RecordClasses.classify(code: code, length: r.payload.count)
            seen[got, default: 0] += 1
            if got != expected {
                Issue.record("\(path): record of id \(id), \(r.payload.count) bytes: \(got), decoded \(expected)")
                return
            }
        }
        #expect(!seen.isEmpty)
    }

    /// Every length around a modelled event's minimum, and the other codes.
    @Test func classesAtTheEdges() {
        #expect(RecordClasses.classify(code: RecordClasses.unknown, length: 100) == .unknown)
        #expect(RecordClasses.classify(code: 24, length: 23) == .malformed)
        #expect(RecordClasses.classify(code: 24, length: 24) == .typed)
        #expect(RecordClasses.classify(code: 0, length: 0) == .typed)
        #expect(RecordClasses.classify(code: -1, length: 0) == .other)
        #expect(RecordClasses.classify(code: -1 - 16, length: 15) == .malformed)
        #expect(RecordClasses.classify(code: -1 - 16, length: 16) == .other)
    }

    /// The merged pass's last record, worked by hand: a CPU whose latest record is not its
    /// last, ties between CPUs.
    @Test func timeSpanByHand() {
        func tally(_ stamps: [UInt64]) -> StreamTally {
            var t = StreamTally()
            for s in stamps {
                t.append(PartTally(records: 1, first: s, last: s, highest: s))
            }
            return t
        }
        #expect(CPUInventory.timeSpan([tally([5, 1]), tally([3])]) == (3, 1))
        #expect(CPUInventory.timeSpan([tally([10, 3]), tally([10])]) == (10, 10))
        #expect(CPUInventory.timeSpan([tally([10]), tally([10, 3])]) == (10, 3))
        #expect(CPUInventory.timeSpan([tally([2, 4]), tally([]), tally([3])]) == (2, 4))
        #expect(CPUInventory.timeSpan([tally([]), tally([])]) == (nil, nil))
        #expect(tally([5, 1, 7, 2]).outOfOrder == 2)
    }
}
