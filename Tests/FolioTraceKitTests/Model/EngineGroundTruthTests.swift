import FolioTraceKit
import Testing

/// The lifecycle engine against what the kernel itself reported at capture time.
@Suite struct EngineGroundTruthTests {
    /// Host 6.18, memcg A reclaims a file that B maps; B refaults it. At the end of the
    /// capture each memcg's page cache (memory.stat `cache`) and refault count
    /// (`workingset_refault_file`) must be what the engine rebuilt, for the same capture in
    /// each file version.
    @Test(arguments: [
        "linux-6.18/memcg-reclaim-foreign.dat", "linux-6.18/memcg-reclaim-foreign-v6.dat",
        "linux-6.18/memcg-reclaim-foreign-v7-zstd.dat",
    ])
    func pageCacheAndRefaultsPerMemcg(_ fixture: String) throws {
        let truth = try Truth("linux-6.18/memcg-reclaim-foreign.dat")
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        for name in ["A", "B"] {
            let id = try #require(truth.line("memcg \(name):").map(Truth.numbers)?.last)
            let stat = truth.memoryStat("-- \(name) memory.stat after")
            let cache = try #require(stat["cache"])
            let refaults = try #require(stat["workingset_refault_file"])
            let m = try #require(analysis.report.memcgs.first { $0.id == id }, "memcg \(name) (\(id))")
            #expect(m.pageCachePagesAtEnd == cache / 4096, "\(name): page cache at end")
            #expect(m.pagesRefaulted == refaults, "\(name): refaults")
            #expect(m.path?.hasSuffix("foliotrace-\(name)") == true)
        }
        // Every eviction happened in A's memcg reclaim: the kernel's pgsteal_file delta.
        let steal = try #require(truth.line("pgsteal_file").map(Truth.numbers)?.first)
        let idA = try #require(truth.line("memcg A:").map(Truth.numbers)?.last)
        #expect(analysis.report.memcgs.first { $0.id == idA }?.pagesReclaimed == steal)
    }

    /// Debian 6.1, cgroup-v1 charge moving: the pages moved into B are what B's memory.stat
    /// holds after the move (cache + rss), all moved out of A.
    @Test func chargeMovesMatchMemoryStat() throws {
        let fixture = "linux-6.1/charge-move.dat"
        let truth = try Truth(fixture)
        let after = truth.memoryStat("-- B memory.stat after move")
        let before = truth.memoryStat("-- B memory.stat before move")
        let moved = try #require(after["cache"]) + after["rss"]! - before["cache"]! - before["rss"]!
        let ids = try #require(truth.line("memcg A: path").map(Truth.numbers))
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        let a = try #require(analysis.report.memcgs.first { $0.id == ids[0] })
        let b = try #require(analysis.report.memcgs.first { $0.id == ids[1] })
        #expect(b.pagesMovedIn == moved / 4096)
        #expect(a.pagesMovedOut == moved / 4096)
        let hits = try #require(truth.line("-- mem_cgroup_move_account in the trace:").map(Truth.numbers)?.first)
        #expect(analysis.report.summary.chargeMoves == hits)
    }

    /// Host 6.18 compaction: the engine's old -> new joins are exactly the pairs decoded
    /// here, independently, from the raw PTE values of set/remove_migration_pte at the same
    /// address in the same task (x86-64: swap entry offset = (~pte << 5) >> 14, pfn its low 34
    /// bits; present pfn = pte bits 12..51).
    @Test func migrationPairsMatchPTEs() throws {
        let fixture = "linux-6.18/compaction-mlock-anon.dat"
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let catalog = try EventCatalog(file: file)
        let set = try #require(catalog.type(named: "migrate:set_migration_pte"))
        let remove = try #require(catalog.type(named: "migrate:remove_migration_pte"))
        let addrOffset = try #require(set.field("addr")?.offset)
        let pteOffset = try #require(set.field("pte")?.offset)
        var pending: [[UInt64]: UInt64] = [:]
        var pairs = Set<[UInt64]>()
        var restored = 0
        var merged = try file.mergedRecords()
        while let r = try merged.next() {
            guard r.eventID == set.id || r.eventID == remove.id else { continue }
            let addr = r.payload.loadUnaligned(fromByteOffset: addrOffset, as: UInt64.self)
            let pte = r.payload.loadUnaligned(fromByteOffset: pteOffset, as: UInt64.self)
            let key = [UInt64(UInt32(bitPattern: r.pid)), addr]
            if r.eventID == set.id {
                pending[key] = ((~pte << 5) >> 14) & ((1 << 34) - 1)
            } else if let old = pending.removeValue(forKey: key) {
                let new = (pte & 0x000f_ffff_ffff_f000) >> 12
                if new == old { restored += 1 } else { pairs.insert([old, new]) }
            }
        }
        #expect(pairs.count > 1000)

        let analysis = try TraceAnalysis(path: path, options: .init(keepLifecycles: true))
        var joined = Set<[UInt64]>()
        for g in analysis.report.generations + analysis.report.live {
            if let to = g.migratedTo { joined.insert([g.pfn, to]) }
        }
        #expect(joined == pairs)
        #expect(analysis.report.summary.migration.joined == UInt64(pairs.count))
        #expect(analysis.report.summary.migration.restored == UInt64(restored))
        // The kernel counted every page it migrated; PTE-mapped ones are a subset.
        let success = try #require(Truth(fixture).line("pgmigrate_success").map(Truth.numbers)?.first)
        #expect(UInt64(pairs.count) <= success)
    }
}

extension EngineGroundTruthTests {
    /// Debian 6.1 after the charge move: each memcg's page cache as the engine rebuilt it
    /// (moved pages now in B, the read-but-never-mapped pages still in A) equals memory.stat
    /// `cache` less `shmem` (shmem pages do not pass through the filemap events).
    @Test func pageCacheAfterChargeMove() throws {
        let fixture = "linux-6.1/charge-move.dat"
        let truth = try Truth(fixture)
        let ids = try #require(truth.line("memcg A: path").map(Truth.numbers))
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        for (name, id) in [("A", ids[0]), ("B", ids[1])] {
            let stat = truth.memoryStat("-- \(name) memory.stat after move")
            let expected = (try #require(stat["cache"]) - (stat["shmem"] ?? 0)) / 4096
            let m = try #require(analysis.report.memcgs.first { $0.id == id })
            #expect(m.pageCachePagesAtEnd == expected, "memcg \(name)")
        }
    }

    /// A trace read from its middle (as if capture started mid-life) invents nothing: the
    /// generations with an allocation are exactly the allocations in the part read, and
    /// everything else began before it.
    @Test(arguments: ["linux-6.18/compaction-mlock-anon.dat", "linux-6.1/charge-move.dat"])
    func startingMidLifeInventsNoAllocation(_ fixture: String) throws {
        let fixtureData = try DecodedFixture(fixture)
        let (file, catalog, decoder, total) = (
            fixtureData.file, fixtureData.catalog, fixtureData.decoder, fixtureData.records
        )
        var merged: MergedStream
        var engine = LifecycleEngine(
            catalog: catalog,
            savedCommands: file.savedCommands(),
            options: .init(keepLifecycles: true)
        )
        var allocations = 0
        var index = 0
        merged = try file.mergedRecords()
        while let r = try merged.next() {
            defer { index += 1 }
            guard index >= total / 2 else { continue }
            let event = decoder.decode(r)
            if case .pageAlloc(let a) = event, a.pfn != nil { allocations += 1 }
            engine.handle(r, event)
        }
        let report = engine.finish()
        let generations = report.generations + report.live
        #expect(generations.count == Int(report.summary.generations))
        #expect(generations.filter { $0.allocatedAt != nil }.count == allocations)
        #expect(report.summary.beganBeforeTrace > 0)
        #expect(
            generations.allSatisfy { $0.allocatedAt == nil || $0.allocatedAt! >= generations.map(\.firstSeen).min()! }
        )
    }
}

extension EngineGroundTruthTests {
    /// The per-memcg tallies the engine keeps as folios change (what the timeline plots) are
    /// at every moment what a walk over every live folio counts: checked every 500 records
    /// and at the end of each fixture, memcg by memcg.
    @Test(arguments: Fixtures.traces)
    func runningCensusMatchesARecount(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let catalog = try EventCatalog(file: file)
        let decoder = try EventDecoder(catalog: catalog, path: path)
        var engine = LifecycleEngine(catalog: catalog, savedCommands: file.savedCommands())
        var records = try file.mergedRecords()
        var n = 0
        var mismatches = 0
        var nonEmpty = 0
        while let r = try records.next() {
            engine.handle(r, decoder.decode(r))
            n += 1
            guard n % 500 == 0 else { continue }
            let census = engine.census()
            if census != engine.recount() { mismatches += 1 }
            if !census.isEmpty { nonEmpty += 1 }
        }
        #expect(mismatches == 0 && engine.census() == engine.recount(), "\(fixture): \(mismatches) checks differed")
        #expect(nonEmpty > 0, "\(fixture): the census counted something")
    }
}
