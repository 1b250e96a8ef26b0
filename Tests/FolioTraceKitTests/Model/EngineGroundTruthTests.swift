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
    /// holds after the move (cache + rss), all moved out of A. On x86-64 and arm64.
    @Test(arguments: ["linux-6.1/charge-move.dat", "linux-6.1-arm64/charge-move.dat"])
    func chargeMovesMatchMemoryStat(_ fixture: String) throws {
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
    /// `cache` less `shmem` (shmem pages do not pass through the filemap events). On x86-64
    /// and arm64.
    @Test(arguments: ["linux-6.1/charge-move.dat", "linux-6.1-arm64/charge-move.dat"])
    func pageCacheAfterChargeMove(_ fixture: String) throws {
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
    @Test(arguments: [
        "linux-6.18/compaction-mlock-anon.dat", "linux-6.1/charge-move.dat", "linux-6.1-arm64/charge-move.dat",
    ])
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

extension EngineGroundTruthTests {
    /// x86-64 6.12 compaction with rmap kprobes: the joins are the pairs the kernel's own rmap
    /// calls name. try_to_migrate_one() installs a migration entry (set_migration_pte, addr)
    /// and then drops the old folio's rmap in that VMA (folio_remove_rmap_ptes(folio, page, nr,
    /// vma)); remove_migration_pte() adds the new folio's rmap in the VMA
    /// (folio_add_{anon,file}_rmap_ptes(folio, ..., vma, ...)) and then reports the restored PTE
    /// at addr. (VMA, address) names one mapping of one mm, which the address alone does not;
    /// pfns from the kernel's (folio, pfn) pairs of mm_lru_insertion.
    @Test func migrationPairsMatchTheRmapCalls() throws {
        let fixture = "linux-6.12/folio-rmap-compaction.dat"
        let file = try TraceFile(path: Fixtures.path(fixture))
        let catalog = try EventCatalog(file: file)
        func type(_ name: String) throws -> EventType { try #require(catalog.type(named: name), "\(name)") }
        func at(_ t: EventType, _ field: String) throws -> Int { try #require(t.field(field)?.offset) }
        let insertion = try type("pagemap:mm_lru_insertion")
        let set = try type("migrate:set_migration_pte")
        let remove = try type("migrate:remove_migration_pte")
        let drops = Set(catalog.types.filter { $0.name.hasPrefix("folio_remove_rmap_") }.map(\.id))
        let adds = Set(
            catalog.types.filter { $0.name.hasPrefix("folio_add_") && $0.name.contains("rmap") }.map(\.id)
        )
        var folioAt: [UInt16: (folio: Int, vma: Int)] = [:]
        for t in catalog.types where drops.contains(t.id) || adds.contains(t.id) {
            folioAt[t.id] = (try at(t, "folio"), try at(t, "vma"))
        }
        let (iFolio, iPFN) = (try at(insertion, "folio"), try at(insertion, "pfn"))
        let (setAddr, removeAddr) = (try at(set, "addr"), try at(remove, "addr"))
        var vmemmap: UInt64?
        var unmapping: [Int32: UInt64] = [:]  // task -> address of its last migration entry
        var restoring: [Int32: (folio: UInt64, vma: UInt64)] = [:]
        var old: [[UInt64]: UInt64] = [:]  // [vma, address] -> old folio
        var pairs = Set<[UInt64]>()
        var merged = try file.mergedRecords()
        while let r = try merged.next() {
            let p = r.payload
            func u64(_ o: Int) -> UInt64 { p.loadUnaligned(fromByteOffset: o, as: UInt64.self) }
            switch r.eventID {
            case insertion.id where vmemmap == nil:
                vmemmap = u64(iFolio) &- u64(iPFN) &* 64
            case set.id:
                unmapping[r.pid] = u64(setAddr)
            case let id where drops.contains(id):
                guard let address = unmapping.removeValue(forKey: r.pid), let f = folioAt[id] else { continue }
                old[[u64(f.vma), address]] = u64(f.folio)
            case let id where adds.contains(id):
                if let f = folioAt[id] { restoring[r.pid] = (u64(f.folio), u64(f.vma)) }
            case remove.id:
                guard let new = restoring.removeValue(forKey: r.pid),
                    let from = old.removeValue(forKey: [new.vma, u64(removeAddr)]), let base = vmemmap
                else { continue }
                if from != new.folio { pairs.insert([(from &- base) / 64, (new.folio &- base) / 64]) }
            default: break
            }
        }
        #expect(pairs.count > 400)
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture), options: .init(keepLifecycles: true))
        var joined = Set<[UInt64]>()
        for g in analysis.report.generations + analysis.report.live {
            if let to = g.migratedTo { joined.insert([g.pfn, to]) }
        }
        #expect(joined == pairs, "not joined: \(pairs.subtracting(joined)), extra: \(joined.subtracting(pairs))")
    }
}
