import FolioTraceKit
import Testing

/// Decoded events against what the kernel and trace-cmd recorded at capture time (the
/// fixtures' truth files), for the host captures.
@Suite struct GroundTruthTests {
    /// Every decoded event of a fixture, in time order.
    private func forEachEvent(_ fixture: String, _ body: (RawRecord, MMEvent) throws -> Void) throws {
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let decoder = try EventDecoder(catalog: try EventCatalog(file: file), path: path)
        var merged = try file.mergedRecords()
        while let r = try merged.next() { try body(r, decoder.decode(r)) }
    }

    /// The ring buffer's drop markers, per CPU, as `trace-cmd report` printed them.
    @Test func lostEventsPerCPU() throws {
        let fixture = "linux-6.18/lost-events.dat"
        let truth = try Truth(fixture)
        var expected: [Int32: UInt64] = [:]
        for line in truth.lines
        where line.contains("EVENTS DROPPED]") && line.contains("CPU:") && !line.contains("[...") {
            let n = Truth.numbers(line[line.firstRange(of: "CPU:")!.lowerBound...])
            expected[Int32(n[0]), default: 0] += n[1]
        }
        #expect(!expected.isEmpty)
        var streams = try TraceFile(path: Fixtures.path(fixture)).cpuStreams()
        for i in streams.indices {
            while try streams[i].next() != nil {}
            #expect(streams[i].lost.counted == expected[streams[i].cpu] ?? 0, "cpu \(streams[i].cpu)")
        }
    }

    /// migrate_pages counts against the kernel's pgmigrate_success/fail deltas (which the
    /// truth file shows equal to trace-cmd's sums), and LRU insertions per list against
    /// `trace-cmd report`.
    @Test func compactionCounts() throws {
        let fixture = "linux-6.18/compaction-mlock-anon.dat"
        let truth = try Truth(fixture)
        let success = try #require(truth.line("pgmigrate_success").map(Truth.numbers)?.first)
        let fail = try #require(truth.line("pgmigrate_fail").map(Truth.numbers)?.first)
        var byList: [UInt64: UInt64] = [:]
        // The truth file's `trace-cmd report | ... | uniq -c` lines: "  19746 lru=0".
        for line in truth.lines {
            guard let m = line.wholeMatch(of: /\s*([0-9]+) lru=([0-9]+)/) else { continue }
            byList[UInt64(m.2)!] = UInt64(m.1)!
        }
        #expect(byList.count >= 3)

        var succeeded: UInt64 = 0
        var failed: UInt64 = 0
        var calls = 0
        var inserted: [UInt64: UInt64] = [:]
        try forEachEvent(fixture) { _, event in
            switch event {
            case .migratePages(let m):
                succeeded += m.succeeded
                failed += m.failed
                calls += 1
            case .lruInsertion(let l): inserted[UInt64(l.lru.rawValue), default: 0] += 1
            default: break
            }
        }
        #expect(succeeded == success)
        #expect(failed == fail)
        #expect(calls > 0)
        #expect(inserted == byList)
    }

    /// The memcgs' cgroup ids are the inode numbers of their directories (`stat -c %i`), and
    /// the page-cache events name the shared file by its inode and s_dev.
    @Test func memcgAndFileIdentities() throws {
        let fixture = "linux-6.18/memcg-reclaim-foreign.dat"
        let truth = try Truth(fixture)
        let a = try #require(truth.line("memcg A:"))
        let b = try #require(truth.line("memcg B:"))
        let idA = try #require(Truth.numbers(a).last)
        let idB = try #require(Truth.numbers(b).last)
        let shared = try #require(truth.line("shared:"))
        let inode = try #require(Truth.number(after: "ino", in: shared))
        let dev = try #require(Truth.number(after: "s_dev", in: shared))

        var mkdirs: [UInt64: String] = [:]
        var statIDs = Set<UInt64>()
        var sharedAdds = 0
        try forEachEvent(fixture) { _, event in
            switch event {
            case .cgroupMkdir(let d): mkdirs[d.cgroupID] = d.path
            case .memcgStat(let m): statIDs.insert(m.memcgID)
            case .pageCacheAdd(let p) where p.inode == inode:
                #expect(UInt64(p.dev) == dev)
                sharedAdds += 1
            default: break
            }
        }
        #expect(mkdirs[idA].map { a.contains($0) } == true, "mkdir of A: \(mkdirs)")
        #expect(mkdirs[idB].map { b.contains($0) } == true, "mkdir of B: \(mkdirs)")
        #expect(statIDs.isSuperset(of: [idA, idB]))
        #expect(sharedAdds > 0)
    }
}
