import FolioTraceKit
import Foundation
import Testing

/// arm64 captures (fixtures/capture/guest-compat.sh arm64 / arm64-6.12 / arm64-16k /
/// arm64-perf): Debian's arm64 kernels (4K and 16K pages) under qemu-system-aarch64,
/// compacting a workload's mapped anonymous, tmpfs and ext4 pages. The kernel's own (old, new)
/// pairs are in the trace as kprobes on its migration path: `move_to_new_folio(dst, src, mode)`
/// and its return value (0 = MIGRATEPAGE_SUCCESS), and `try_to_migrate(folio, flags)`, which
/// mm/migrate.c calls only for a mapped source.
@Suite struct Arm64GroundTruthTests {
    static let fixtures = [
        "linux-6.1-arm64/pagecache-memcg-compaction.dat",
        "linux-6.12-arm64/pagecache-memcg-compaction.dat",
        "linux-6.12-arm64-16k/pagecache-memcg-compaction.dat",
    ].filter { FileManager.default.fileExists(atPath: Fixtures.path($0)) }
    /// The same captures recorded by perf (its ARCH and OSRELEASE features name the machine).
    static let perfFixtures = ["linux-6.1-arm64/perf/compaction-system-wide-z.perf.data"]
        .filter { FileManager.default.fileExists(atPath: Fixtures.path($0)) }

    static func truth(_ fixture: String) throws -> Truth {
        try fixture.hasSuffix(".perf.data") ? PerfFixtures.truth(fixture) : Truth(fixture)
    }

    /// What the kernel's probes and tracepoints say, read from the raw records (no decoder,
    /// no engine): pfn = (struct page pointer - vmemmap) / sizeof(struct page), both learned
    /// from the kernel's own mm_lru_insertion records, which carry a folio pointer and its
    /// pfn (`folio_pfn()`).
    struct Kernel {
        /// (old pfn, new pfn) of every successful move of a mapped source.
        var pairs = Set<[UInt64]>()
        /// pfns of the mapped sources (try_to_migrate) and of their destinations.
        var sources = Set<UInt64>()
        var destinations = Set<UInt64>()
        /// Successful moves of any source, mapped or not.
        var moved = 0
        var vmemmap: UInt64 = 0
        var pageStruct: UInt64 = 0

        init(_ fixture: String) throws {
            let source = try TraceSource(path: Fixtures.path(fixture))
            let catalog = try source.catalog()
            func offset(_ event: String, _ field: String) throws -> Int {
                let t = try #require(catalog.type(named: event), "\(event)")
                return try #require(t.field(field)?.offset, "\(event).\(field)")
            }
            let insertion = try #require(catalog.type(named: "pagemap:mm_lru_insertion")).id
            let move = try #require(catalog.type(named: "truth:move_to_new_folio")).id
            let moveReturn = try #require(catalog.type(named: "truth:move_to_new_folio_ret")).id
            let unmap = try #require(catalog.type(named: "truth:try_to_migrate")).id
            let (iFolio, iPFN) = (
                try offset("pagemap:mm_lru_insertion", "folio"), try offset("pagemap:mm_lru_insertion", "pfn")
            )
            let (dstAt, srcAt) = (
                try offset("truth:move_to_new_folio", "dst"), try offset("truth:move_to_new_folio", "src")
            )
            // A return probe's record (struct kretprobe_trace_entry_head, kernel/trace/
            // trace_probe.h) is the common fields, __probe_func and __probe_ret_ip, then the
            // fetched values: `ret` at 24 (the file's format says so; foliotrace's catalog
            // parses entry probes only).
            let retAt = 24
            let unmapAt = try offset("truth:try_to_migrate", "folio")

            var known: (folio: UInt64, pfn: UInt64)?
            var pending: [Int32: (dst: UInt64, src: UInt64)] = [:]
            var mapped: [Int32: Set<UInt64>] = [:]
            var moves: [(dst: UInt64, src: UInt64)] = []
            var pageStruct: UInt64 = 0
            var vmemmap: UInt64 = 0
            var moved = 0
            func scan<S: RecordStream>(_ stream: inout S) throws {
                while let r = try stream.next() {
                    let p = r.payload
                    switch r.eventID {
                    case insertion:
                        let folio = p.loadUnaligned(fromByteOffset: iFolio, as: UInt64.self)
                        let pfn = p.loadUnaligned(fromByteOffset: iPFN, as: UInt64.self)
                        if let k = known, k.pfn != pfn, pageStruct == 0 {
                            pageStruct = (folio &- k.folio) / (pfn &- k.pfn)
                            vmemmap = folio &- pfn &* pageStruct
                        }
                        if known == nil { known = (folio, pfn) }
                        if pageStruct != 0 {
                            #expect(folio == vmemmap &+ pfn &* pageStruct, "one vmemmap for every insertion")
                        }
                    case unmap:
                        mapped[r.pid, default: []].insert(p.loadUnaligned(fromByteOffset: unmapAt, as: UInt64.self))
                    case move:
                        pending[r.pid] = (
                            p.loadUnaligned(fromByteOffset: dstAt, as: UInt64.self),
                            p.loadUnaligned(fromByteOffset: srcAt, as: UInt64.self)
                        )
                    case moveReturn:
                        guard let m = pending.removeValue(forKey: r.pid) else { continue }
                        let wasMapped = mapped[r.pid]?.remove(m.src) != nil
                        guard p.loadUnaligned(fromByteOffset: retAt, as: Int32.self) == 0 else { continue }
                        moved += 1
                        if wasMapped { moves.append(m) }
                    default: break
                    }
                }
            }
            switch source {
            case .traceDat(let f):
                var s = try f.mergedRecords()
                try scan(&s)
            case .perfData(let p):
                var s = p.orderedRecords()
                try scan(&s)
            }
            (self.pageStruct, self.vmemmap, self.moved) = (pageStruct, vmemmap, moved)
            #expect(pageStruct == 64, "sizeof(struct page)")
            for m in moves {
                let old = (m.src &- vmemmap) / pageStruct
                let new = (m.dst &- vmemmap) / pageStruct
                pairs.insert([old, new])
                sources.insert(old)
                destinations.insert(new)
            }
        }
    }

    /// Every migration of a mapped folio the kernel made is joined, to the right old and new
    /// pfns, and nothing else is: the engine's joins come from the arm64 migration entries of
    /// set/remove_migration_pte, the kernel's pairs from its move_to_new_folio calls.
    @Test(arguments: fixtures + perfFixtures)
    func migrationsJoinTheKernelsPairs(_ fixture: String) throws {
        let kernel = try Kernel(fixture)
        #expect(kernel.pairs.count > 100)
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture), options: .init(keepLifecycles: true))
        var joined = Set<[UInt64]>()
        for g in analysis.report.generations + analysis.report.live {
            if let to = g.migratedTo { joined.insert([g.pfn, to]) }
        }
        #expect(
            joined == kernel.pairs,
            "not joined: \(kernel.pairs.subtracting(joined)), joined but not the kernel's: \(joined.subtracting(kernel.pairs))"
        )
        #expect(analysis.report.summary.migration.joined == UInt64(kernel.pairs.count))
        #expect(analysis.unmodelled.isEmpty, "\(analysis.unmodelled)")
        // The kernel's count of successful moves is vmstat's during compact_memory.
        let compaction = try Self.truth(fixture).memoryStat("-- /proc/vmstat delta, phase 3b")
        #expect(UInt64(kernel.moved) == compaction["pgmigrate_success"])
    }

    /// Each set_migration_pte entry, decoded with the layout the file names, is a page the
    /// kernel unmapped for migration; each remove_migration_pte entry is a destination the
    /// kernel moved it to or, after a failed move, the source again.
    @Test(arguments: fixtures)
    func migrationEntriesNameTheKernelsFolios(_ fixture: String) throws {
        let kernel = try Kernel(fixture)
        let fixtureData = try DecodedFixture(fixture)
        let decoder = fixtureData.decoder
        var merged = try fixtureData.file.mergedRecords()
        var (set, removed) = (0, 0)
        while let r = try merged.next() {
            switch decoder.decode(r) {
            case .setMigrationPTE(let e):
                set += 1
                #expect(e.pfn.map(kernel.sources.contains) == true, "set_migration_pte \(String(e.pte, radix: 16))")
            case .removeMigrationPTE(let e):
                removed += 1
                let pfn = try #require(e.pfn)
                #expect(
                    kernel.destinations.contains(pfn) || kernel.sources.contains(pfn),
                    "remove_migration_pte \(String(e.pte, radix: 16))"
                )
            default: break
            }
        }
        #expect(set > 0 && set == removed)
    }

    /// The file names its machine and kernel: arm64, its page size (4K, or 16K for Debian's
    /// arm64-16k kernel), the swap layout of its release.
    @Test(arguments: fixtures + perfFixtures)
    func layoutFollowsTheFile(_ fixture: String) throws {
        let catalog = try TraceSource(path: Fixtures.path(fixture)).catalog()
        #expect(catalog.machine == "aarch64")
        guard case .success(.arm64(let layout)) = catalog.pteLayout else {
            Issue.record("\(catalog.pteLayout)")
            return
        }
        #expect(layout.pageShift == (fixture.contains("-16k/") ? 14 : 12))
        let since610 = fixture.hasPrefix("linux-6.12")
        #expect(layout.swapOffsetShift == (since610 ? 12 : 8))
        #expect(layout.presentInvalidBit == (since610 ? 11 : 58))
    }
}
