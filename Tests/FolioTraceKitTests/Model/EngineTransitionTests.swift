import Testing

@testable import FolioTraceKit

/// Each transition of the lifecycle state machine, on hand-made event sequences.
@Suite struct EngineTransitionTests {
    /// Builds records whose payload holds just the common fields (type, pid).
    final class Records {
        private var buffers: [UnsafeMutableRawBufferPointer] = []
        deinit {
            for b in buffers { b.deallocate() }
            for l in layouts { l.deallocate() }
            for o in others { o() }
        }

        func record(_ ts: UInt64, cpu: Int32 = 0, pid: Int32 = 7, missed: Int64 = 0) -> RawRecord {
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
            b.storeBytes(of: UInt16(0), toByteOffset: 0, as: UInt16.self)
            b.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
            b.storeBytes(of: pid, toByteOffset: 4, as: Int32.self)
            buffers.append(b)
            return RawRecord(timestamp: ts, cpu: cpu, missedEvents: missed, payload: UnsafeRawBufferPointer(b))
        }

        /// A cgroup_attach_task event laid out as the 6.18 format has it (strings as
        /// __data_loc words pointing after the fixed fields).
        func attach(pid: Int32, cgroup: UInt64, path: String) -> MMEvent {
            let strings = Array(path.utf8) + [0] + Array("task".utf8) + [0]
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 36 + strings.count, alignment: 8)
            b.storeBytes(of: Int32(1), toByteOffset: 8, as: Int32.self)
            b.storeBytes(of: Int32(1), toByteOffset: 12, as: Int32.self)
            b.storeBytes(of: cgroup, toByteOffset: 16, as: UInt64.self)
            b.storeBytes(of: pid, toByteOffset: 24, as: Int32.self)
            let pathLength = UInt32(path.utf8.count + 1)
            b.storeBytes(of: pathLength << 16 | 36, toByteOffset: 28, as: UInt32.self)
            b.storeBytes(of: UInt32(5) << 16 | (36 + pathLength), toByteOffset: 32, as: UInt32.self)
            for (i, c) in strings.enumerated() { b[36 + i] = c }
            buffers.append(b)
            let layout = UnsafeMutablePointer<CgroupLayout>.allocate(capacity: 1)
            layout.initialize(
                to: CgroupLayout(
                    root: FieldSlot(offset: 8, size: 4)!,
                    level: FieldSlot(offset: 12, size: 4)!,
                    id: FieldSlot(offset: 16, size: 8)!,
                    path: FieldSlot(offset: 28, size: 4)!,
                    pid: FieldSlot(offset: 24, size: 4)!,
                    comm: FieldSlot(offset: 32, size: 4)!
                )
            )
            layouts.append(layout)
            return .cgroupAttachTask(CgroupAttachTask(layout: layout, payload: UnsafeRawBufferPointer(b)))
        }

        private var layouts: [UnsafeMutablePointer<CgroupLayout>] = []
        private var others: [() -> Void] = []

        func keep(_ b: UnsafeMutableRawBufferPointer) { buffers.append(b) }
        func keep<T>(_ p: UnsafeMutablePointer<T>) {
            others.append {
                p.deinitialize(count: 1)
                p.deallocate()
            }
        }
    }

    static let catalog: EventCatalog = {
        let file = try! TraceFile(path: Fixtures.path("linux-6.18/memcg-reclaim-foreign.dat"))
        return try! EventCatalog(file: file)
    }()

    func engine(watch: Set<UInt64> = [], keep: Bool = true) -> LifecycleEngine {
        LifecycleEngine(
            catalog: Self.catalog,
            savedCommands: [7: "task", 9: "kswapd0"],
            options: .init(keepLifecycles: keep, watch: watch)
        )
    }

    /// A migration entry for `pfn` as x86-64 writes it (swap type 29, inverted offset).
    func migrationEntry(_ pfn: UInt64) -> UInt64 {
        (~((pfn << 9) | 0x1ff) & ((1 << 59) - 1)) | (29 << 59)
    }

    func all(_ report: LifecycleReport) -> [FolioGeneration] {
        (report.generations + report.live).sorted { ($0.pfn, $0.generation) < ($1.pfn, $1.generation) }
    }

    @Test func allocationThenFree() {
        let rs = Records()
        var e = engine()
        e.handle(rs.record(1000), .pageAlloc(PageAlloc(pfn: 100, order: 0, gfpFlags: 0, migratetype: 0)))
        e.handle(rs.record(5000), .pageFree(PageFree(pfn: 100, order: 0)))
        let report = e.finish()
        #expect(report.summary.generations == 1)
        #expect(report.summary.freed == 1 && report.summary.liveAtEnd == 0 && report.summary.beganBeforeTrace == 0)
        #expect(report.summary.lifetimeHistogram[11] == 1)  // 4000 ns is in [2^11, 2^12)
        let g = all(report)
        #expect(g.count == 1 && g[0].allocatedAt == 1000 && g[0].freedAt == 5000 && g[0].freeContext == .other)
    }

    @Test func freeOfAFolioBornBeforeTheTrace() {
        let rs = Records()
        var e = engine()
        e.handle(rs.record(10), .pageFree(PageFree(pfn: 200, order: 2)))
        let g = all(e.finish())
        #expect(g.count == 1)
        #expect(g[0].beganBeforeTrace && g[0].freedAt == 10 && g[0].order == 2)
    }

    @Test func reuseOfAPfnStartsTheNextGeneration() {
        let rs = Records()
        var e = engine()
        for (i, t) in [UInt64(10), 30].enumerated() {
            e.handle(rs.record(t), .pageAlloc(PageAlloc(pfn: 300, order: 0, gfpFlags: 0, migratetype: 0)))
            e.handle(rs.record(t + 10), .pageFree(PageFree(pfn: 300, order: 0)))
            _ = i
        }
        let g = all(e.finish())
        #expect(g.map(\.generation) == [0, 1])
        #expect(g.allSatisfy { !$0.beganBeforeTrace })
    }

    @Test func allocationOverALiveFolioEndsItUnseen() {
        let rs = Records()
        var e = engine()
        e.handle(rs.record(10), .pageAlloc(PageAlloc(pfn: 400, order: 0, gfpFlags: 0, migratetype: 0)))
        e.handle(rs.record(20), .pageAlloc(PageAlloc(pfn: 400, order: 0, gfpFlags: 0, migratetype: 0)))
        let report = e.finish()
        #expect(report.summary.endedUnseen == 1)
        #expect(all(report).first?.freedAt == nil)
    }

    @Test func tailPfnsBelongToTheirHead() {
        let rs = Records()
        var e = engine()
        e.handle(rs.record(10), .pageAlloc(PageAlloc(pfn: 512, order: 9, gfpFlags: 0, migratetype: 0)))
        e.handle(rs.record(20), .vmscan(.writeFolio(pfn: 700, reclaimFlags: 0)))
        e.handle(rs.record(30), .pageFree(PageFree(pfn: 512, order: 9)))
        let g = all(e.finish())
        #expect(g.count == 1)
        #expect(g[0].pfn == 512 && g[0].writtenBackByReclaim)
    }

    @Test func lostEventsMarkLiveGenerations() {
        let rs = Records()
        var e = engine()
        e.handle(rs.record(10), .pageAlloc(PageAlloc(pfn: 1, order: 0, gfpFlags: 0, migratetype: 0)))
        e.handle(rs.record(20, cpu: 1, missed: 5), .other)
        e.handle(rs.record(30), .pageAlloc(PageAlloc(pfn: 2, order: 0, gfpFlags: 0, migratetype: 0)))
        let report = e.finish()
        let g = all(report)
        #expect(g.first { $0.pfn == 1 }?.crossesLoss == true)
        #expect(g.first { $0.pfn == 2 }?.crossesLoss == false)
        #expect(report.summary.lostEvents[1] == 5)
    }

    @Test func migrationJoinsOldAndNew() {
        #expect(X86PTE.pfn(migrationEntry(0x1234)) == 0x1234)
        let rs = Records()
        var e = engine()
        e.handle(rs.record(5), rs.attach(pid: 7, cgroup: 42, path: "/A"))
        e.handle(rs.record(10), .pageAlloc(PageAlloc(pfn: 0x1234, order: 0, gfpFlags: 0, migratetype: 0)))
        e.handle(rs.record(20, pid: 11), .migratePagesStart(MigratePagesStart(mode: 2, reason: 0)))
        e.handle(
            rs.record(21, pid: 11),
            .setMigrationPTE(MigrationPTE(address: 0x7000, pte: migrationEntry(0x1234), order: 0))
        )
        e.handle(
            rs.record(22, pid: 11),
            .removeMigrationPTE(MigrationPTE(address: 0x7000, pte: 0x8000_0000_0567_8067, order: 0))
        )
        e.handle(rs.record(23, pid: 11), .pageFree(PageFree(pfn: 0x1234, order: 0)))
        let report = e.finish()
        #expect(report.tasks.cgroupPaths[42] == "/A" && report.tasks.comm(7) == "task")
        let g = all(report)
        let old = g.first { $0.pfn == 0x1234 }
        let new = g.first { $0.pfn == 0x5678 }
        #expect(old?.migratedTo == 0x5678 && old?.freeContext == .migration)
        #expect(new?.migratedFrom == 0x1234 && new?.memcg == 42)
        #expect(new?.beganBeforeTrace == true)  // no allocation event: born as a migration target
        #expect(report.summary.migration.joined == 1 && report.summary.beganBeforeTrace == 0)
    }

    @Test func failedMigrationRestoresTheOldPfn() {
        let rs = Records()
        var e = engine()
        e.handle(rs.record(10), .setMigrationPTE(MigrationPTE(address: 0x7000, pte: migrationEntry(0x99), order: 0)))
        e.handle(
            rs.record(11),
            .removeMigrationPTE(MigrationPTE(address: 0x7000, pte: 0x8000_0000_0009_9067, order: 0))
        )
        let report = e.finish()
        #expect(report.summary.migration.restored == 1 && report.summary.migration.joined == 0)
        #expect(all(report).first?.migrationEntries == 0)
    }

    @Test func evictionInReclaimThenRefault() {
        let rs = Records()
        var e = engine()
        let page = PageCacheFolio(pfn: 30, inode: 5, index: 8, dev: 1, order: 2)
        e.handle(rs.record(10), .pageCacheAdd(page))
        e.handle(rs.record(20), .vmscan(.reclaimBegin(.memcg, ReclaimBegin(order: 0, gfpFlags: 0, nid: nil))))
        e.handle(rs.record(21), .pageCacheDelete(page))
        e.handle(rs.record(22), .pageFree(PageFree(pfn: 30, order: 2)))
        e.handle(rs.record(23), .vmscan(.reclaimEnd(.memcg, nrReclaimed: 4)))
        // Truncation outside reclaim is not an eviction.
        let other = PageCacheFolio(pfn: 60, inode: 6, index: 0, dev: 1, order: 0)
        e.handle(rs.record(24), .pageCacheAdd(other))
        e.handle(rs.record(25), .pageCacheDelete(other))
        // An order-0 page of the evicted order-2 folio comes back: a refault.
        e.handle(rs.record(30), .pageCacheAdd(PageCacheFolio(pfn: 40, inode: 5, index: 10, dev: 1, order: 0)))
        // The same index of a file with nothing evicted is none; the evicted folio's other
        // pages are, until all four have come back, and then its record (and its inode's
        // count, which lets adds of other files skip the lookups) is gone.
        e.handle(rs.record(31), .pageCacheAdd(PageCacheFolio(pfn: 41, inode: 7, index: 8, dev: 1, order: 0)))
        for (i, index) in [8, 9, 11].enumerated() {
            let pfn = 42 + UInt64(i)
            e.handle(
                rs.record(32 + UInt64(i)),
                .pageCacheAdd(PageCacheFolio(pfn: pfn, inode: 5, index: UInt64(index), dev: 1, order: 0))
            )
        }
        #expect(e.evicted.isEmpty && e.evictedInodes.count == 0)
        e.handle(rs.record(40), .pageCacheAdd(PageCacheFolio(pfn: 50, inode: 5, index: 9, dev: 1, order: 0)))
        let report = e.finish()
        #expect(report.summary.evictions == 1 && report.summary.refaults == 4)
        let g = all(report)
        #expect(g.first { $0.pfn == 30 }?.freeContext == .memcgReclaim)
        #expect(g.first { $0.pfn == 60 }?.freeContext == nil)
        #expect(g.first { $0.pfn == 30 }?.evicted == true && g.first { $0.pfn == 60 }?.evicted == false)
    }

    @Test func exactAttributionNeedsTheAdjacentStatEvent() {
        let rs = Records()
        var e = engine()
        let stat = MemcgStat(kind: .lruvecState, memcgID: 99, item: 6, value: 1)
        e.handle(rs.record(10), .memcgStat(stat))
        e.handle(rs.record(11), .pageCacheAdd(PageCacheFolio(pfn: 70, inode: 1, index: 0, dev: 1, order: 0)))
        e.handle(rs.record(12), .memcgStat(stat))
        e.handle(rs.record(13), .other)  // another record in between on the same CPU
        e.handle(rs.record(14), .pageCacheAdd(PageCacheFolio(pfn: 71, inode: 1, index: 1, dev: 1, order: 0)))
        e.handle(rs.record(15), .memcgStat(stat))
        e.handle(rs.record(16, pid: 8), .pageCacheAdd(PageCacheFolio(pfn: 72, inode: 1, index: 2, dev: 1, order: 0)))
        let g = all(e.finish())
        #expect(g.first { $0.pfn == 70 }?.attribution == .exact && g.first { $0.pfn == 70 }?.memcg == 99)
        #expect(g.first { $0.pfn == 71 }?.attribution == .unknown)
        #expect(g.first { $0.pfn == 72 }?.attribution == .unknown)  // another task
    }

    @Test func watchedPfnsRecordSteps() {
        let rs = Records()
        var e = engine(watch: [0x101], keep: false)
        e.handle(rs.record(10), .pageAlloc(PageAlloc(pfn: 0x100, order: 1, gfpFlags: 0, migratetype: 0)))
        e.handle(rs.record(20), .pageAlloc(PageAlloc(pfn: 0x300, order: 0, gfpFlags: 0, migratetype: 0)))
        e.handle(rs.record(30), .pageFree(PageFree(pfn: 0x100, order: 1)))
        let report = e.finish()
        #expect(report.generations.map(\.pfn) == [0x100])
        #expect(report.steps[FolioStepKey(pfn: 0x100, generation: 0)]?.count == 2)
        #expect(report.steps[FolioStepKey(pfn: 0x300, generation: 0)] == nil)
    }
}

extension EngineTransitionTests {
    @Test func kswapdFreesAndEvictsAsReclaim() {
        let rs = Records()
        var e = engine()
        let page = PageCacheFolio(pfn: 80, inode: 2, index: 0, dev: 1, order: 0)
        e.handle(rs.record(10), .pageCacheAdd(page))
        e.handle(rs.record(20, pid: 9), .pageCacheDelete(page))
        e.handle(rs.record(21, pid: 9), .pageFree(PageFree(pfn: 80, order: 0)))
        let report = e.finish()
        #expect(report.summary.evictions == 1)
        #expect(all(report).first?.freeContext == .kswapd)
    }
}

extension EngineTransitionTests {
    @Test func lruInsertionAndActivation() {
        let rs = Records()
        var e = engine()
        let flags: LRUFolioFlags = [.mapped, .file]
        e.handle(rs.record(10), .lruInsertion(LRUInsertion(folio: nil, pfn: 90, lru: .inactiveFile, flags: flags)))
        e.handle(rs.record(20), .lruActivate(LRUActivate(folio: nil, pfn: 90)))
        e.handle(rs.record(30), .lruInsertion(LRUInsertion(folio: nil, pfn: 91, lru: .unevictable, flags: [])))
        let report = e.finish()
        let g = all(report)
        #expect(g.first { $0.pfn == 90 }?.lru == .activeFile)
        #expect(g.first { $0.pfn == 90 }?.lruFlags == flags && g.first { $0.pfn == 90 }?.activations == 1)
        #expect(g.first { $0.pfn == 91 }?.lru == .unevictable)
        #expect(report.summary.lruInsertions == [0, 0, 1, 0, 1] && report.summary.activations == 1)
    }

    /// A kprobe view over a payload laid out like the capture catalog's probes.
    func kprobe(_ fields: [(String, Int)], values: [UInt64], rs: Records) -> KprobeView {
        let type = EventType(
            id: 1,
            system: "foliotrace",
            name: "probe",
            fields: [
                EventField(
                    name: "__probe_ip",
                    type: "unsigned long",
                    offset: 8,
                    size: 8,
                    isSigned: false,
                    isDynamic: false,
                    isRelative: false
                )
            ]
                + fields.enumerated().map { i, f in
                    EventField(
                        name: f.0,
                        type: "u64",
                        offset: 16 + 8 * i,
                        size: f.1,
                        isSigned: f.1 == 4,
                        isDynamic: false,
                        isRelative: false
                    )
                }
        )
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 + 8 * values.count, alignment: 8)
        b.initializeMemory(as: UInt8.self, repeating: 0)
        for (i, v) in values.enumerated() { b.storeBytes(of: v, toByteOffset: 16 + 8 * i, as: UInt64.self) }
        rs.keep(b)
        let args = UnsafeMutablePointer<KprobeArgs>.allocate(capacity: 1)
        args.initialize(to: KprobeArgs(FieldResolver(type)))
        rs.keep(args)
        return KprobeView(args: args, payload: UnsafeRawBufferPointer(b))
    }

    /// rmap and charge probes name pages by struct page pointer; the engine maps them to pfns
    /// through the vmemmap base learned from a pagemap event's (folio, pfn) pair.
    @Test func rmapAndChargeMoveThroughStructPagePointers() {
        let rs = Records()
        var e = engine()
        let base: UInt64 = 0xffff_ea00_0000_0000
        e.handle(
            rs.record(10),
            .lruInsertion(LRUInsertion(folio: base + 0x50 * 64, pfn: 0x50, lru: .inactiveFile, flags: []))
        )
        let page = base + 0x60 * 64
        e.handle(
            rs.record(20),
            .rmap(
                RmapCall(
                    function: .pageAddFileRmap,
                    arguments: kprobe([("page", 8)], values: [page], rs: rs)
                )
            )
        )
        e.handle(
            rs.record(21),
            .rmap(
                RmapCall(
                    function: .pageAddFileRmap,
                    arguments: kprobe([("page", 8)], values: [page], rs: rs)
                )
            )
        )
        e.handle(
            rs.record(22),
            .rmap(
                RmapCall(
                    function: .pageRemoveRmap,
                    arguments: kprobe([("page", 8)], values: [page], rs: rs)
                )
            )
        )
        let move = kprobe(
            [("page", 8), ("from_cgid", 8), ("to_cgid", 8), ("mapcount", 4)],
            values: [page, 35, 67, UInt64(UInt32(bitPattern: -1))],
            rs: rs
        )
        #expect(move.mapcount == -1 && move.fromMemcgID == 35)
        e.handle(rs.record(30), .charge(ChargeCall(function: .memCgroupMoveAccount, arguments: move)))
        let report = e.finish()
        let g = all(report).first { $0.pfn == 0x60 }
        #expect(g?.rmapBalance == 1)
        #expect(g?.memcg == 67 && g?.attribution == .exact && g?.chargeMoves == 1)
        #expect(report.memcgs.first { $0.id == 67 }?.pagesMovedIn == 1)
        #expect(report.memcgs.first { $0.id == 35 }?.pagesMovedOut == 1)
    }
}

extension EngineTransitionTests {
    /// A THP split where the trace cannot see it, then its pages freed one by one: the THP's
    /// generation ends unseen, each page is a folio of its own.
    @Test func freeOfATailPfnMeansAnUnseenSplit() {
        let rs = Records()
        var e = engine()
        e.handle(rs.record(10), .pageAlloc(PageAlloc(pfn: 1024, order: 9, gfpFlags: 0, migratetype: 0)))
        e.handle(rs.record(20), .pageFree(PageFree(pfn: 1030, order: 0)))
        e.handle(rs.record(30), .pageFree(PageFree(pfn: 1024, order: 0)))
        let report = e.finish()
        let g = all(report)
        #expect(g.first { $0.pfn == 1024 && $0.order == 9 }?.freedAt == nil)
        #expect(g.first { $0.pfn == 1030 }?.freedAt == 20)
        #expect(g.first { $0.pfn == 1024 && $0.order == 0 }?.freedAt == 30)
        #expect(report.summary.endedUnseen == 1 && report.summary.freed == 2)
    }

    /// A free of order 2 ends the generations the trace knew only in part, at its pfns.
    @Test func largerFreeEndsThePartsItCovers() {
        let rs = Records()
        var e = engine()
        e.handle(rs.record(10), .lruInsertion(LRUInsertion(folio: nil, pfn: 2048, lru: .inactiveFile, flags: [])))
        e.handle(rs.record(11), .lruInsertion(LRUInsertion(folio: nil, pfn: 2050, lru: .inactiveFile, flags: [])))
        e.handle(rs.record(20), .pageFree(PageFree(pfn: 2048, order: 2)))
        let report = e.finish()
        #expect(report.summary.liveAtEnd == 0 && report.summary.freed == 2)
        #expect(all(report).allSatisfy { $0.freedAt == 20 })
    }

    /// set_migration_pte carries the folio order: a tail page's entry names its head.
    @Test func migrationEntryOfATailPage() {
        let rs = Records()
        var e = engine()
        e.handle(rs.record(10), .setMigrationPTE(MigrationPTE(address: 0x9000, pte: migrationEntry(0x205), order: 2)))
        let g = all(e.finish())
        #expect(g.count == 1 && g[0].pfn == 0x204 && g[0].order == 2 && g[0].migrationEntries == 1)
    }
}

extension EngineTransitionTests {
    /// Without the probe's mapcount, the rmap balance of a generation the trace saw from its
    /// allocation can say "mapped", never "unmapped": fork copies mappings inline
    /// (copy_present_pte), so a page mapped once, copied by fork and unmapped by the child
    /// balances to 0 while its parent still maps it (5.10's healthy capture). A folio born
    /// before the trace stays undecided too; each undecided move is counted by its reason.
    @Test func chargeMoveWithoutMapcountUsesOnlyAWholeLifecycle() {
        let rs = Records()
        var e = engine()
        var detectors = DetectorSet()
        let base: UInt64 = 0xffff_ea00_0000_0000
        func feed(_ r: RawRecord, _ event: MMEvent) {
            e.handle(r, event)
            for t in e.transitions { detectors.observe(t) }
        }
        func rmap(_ f: KprobeFunction, _ pfn: UInt64) {
            feed(
                rs.record(3),
                .rmap(RmapCall(function: f, arguments: kprobe([("page", 8)], values: [base + pfn * 64], rs: rs)))
            )
        }
        feed(rs.record(1), .lruInsertion(LRUInsertion(folio: base + 64, pfn: 1, lru: .inactiveFile, flags: [])))
        // pfn 0x10: allocated in the trace, mapped, then an unmap (the child of a fork): balance 0
        feed(rs.record(2), .pageAlloc(PageAlloc(pfn: 0x10, order: 0, gfpFlags: 0, migratetype: 0)))
        rmap(.pageAddNewAnonRmap, 0x10)
        rmap(.pageRemoveRmap, 0x10)
        // pfn 0x30: allocated in the trace and mapped: balance 1, mapped
        feed(rs.record(2), .pageAlloc(PageAlloc(pfn: 0x30, order: 0, gfpFlags: 0, migratetype: 0)))
        rmap(.pageAddFileRmap, 0x30)
        // pfn 0x20: born before the trace, one unmap seen: its mappings before the trace are unknown.
        rmap(.pageRemoveRmap, 0x20)
        for pfn: UInt64 in [0x10, 0x20, 0x30] {
            let move = kprobe(
                [("page", 8), ("from_cgid", 8), ("to_cgid", 8)],
                values: [base + pfn * 64, 35, 67],
                rs: rs
            )
            feed(rs.record(5), .charge(ChargeCall(function: .memCgroupMoveAccount, arguments: move)))
        }
        #expect(detectors.findings.isEmpty)
        let context = detectors.context[RuleID.chargeMoveUnmapped] ?? []
        #expect(context.first { $0.0 == "mapped moves" }?.1 == 1)
        #expect(context.first { $0.0.hasPrefix("moves whose mapping") }?.1 == 2)
        #expect(
            context.first { $0.0.hasPrefix("not judged: ") && $0.0.contains("fork copies mappings inline") }?.1 == 1
        )
        #expect(
            context.first {
                $0.0 == "not judged: no mapcount fetched, and no rmap probe saw this folio from its allocation"
            }?.1 == 1
        )
    }
}

extension EngineTransitionTests {
    /// A charge move whose target cgroup id is 0 (a damaged record: memcg ids start at 1)
    /// after another memcg was named: cgroup 0 is row 0, "no memcg known", and the census has
    /// one entry for it (fuzz crasher tracedat-crash-92ed6aa6 trapped in `census()` on a
    /// second row for id 0).
    @Test func chargeMoveToCgroupZeroIsNoMemcg() {
        let rs = Records()
        var e = engine()
        let base: UInt64 = 0xffff_ea00_0000_0000
        for (pfn, to): (UInt64, UInt64) in [(0x10, 67), (0x20, 0), (0x30, 67), (0x40, 0)] {
            let insertion = LRUInsertion(folio: base + pfn * 64, pfn: pfn, lru: .inactiveFile, flags: [])
            e.handle(rs.record(pfn), .lruInsertion(insertion))
            let move = kprobe(
                [("page", 8), ("from_cgid", 8), ("to_cgid", 8)],
                values: [base + pfn * 64, 35, to],
                rs: rs
            )
            e.handle(rs.record(pfn + 1), .charge(ChargeCall(function: .memCgroupMoveAccount, arguments: move)))
        }
        // A folio no event attributed: it stays in row 0 from the start.
        e.handle(rs.record(0x50), .lruInsertion(LRUInsertion(folio: nil, pfn: 0x50, lru: .activeFile, flags: [])))
        let census = e.census()
        #expect(census == e.recount())
        #expect(census[0]?.lruPages == 3 && census[67]?.lruPages == 2)
        #expect(e.tallies.filter { $0.memcg == 0 }.count == 1)
    }
}
