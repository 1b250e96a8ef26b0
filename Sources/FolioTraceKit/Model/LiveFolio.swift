/// What the engine reads of a live folio generation on any event: 32 bytes, kept in segments
/// aligned to the cache line, so a folio's state is two to a line and never across two.
///
/// The events that come long after a folio's add (its page-cache delete, its free: minutes
/// later, when the folio's line has left every cache) read its order, LRU list, memcg,
/// page-cache state, flags and rmap balance, and nothing else. With everything a folio
/// carries in one 96-byte record those loads straddled two cache lines, and they were a third
/// of the engine's samples on a 20-million-event capture (docs/performance.md). What only
/// reports and findings read (the allocation's task and gfp, the file page, the page-cache
/// add's task and CPU, the generation number, LRU counts) is in `FolioDetails`, at the same
/// slot of a parallel array, written near the allocation and read when a generation is
/// reported.
///
/// "Not seen" is a sentinel (0 for timestamps, which the kernel never uses as valid values for
/// these) and the flags share one byte. Swift lays fields out in declaration order: widest
/// first, no padding (`FolioSlotsTests` checks the size).
struct LiveFolio {
    var firstSeen: UInt64
    var pageCacheDeleted: UInt64 = 0
    /// The owning memcg's row in the engine's tallies (`LifecycleEngine.tallies`, which holds
    /// its cgroup id); row 0 is cgroup id 0, "unknown" (cgroup ids start at 1). A row rather
    /// than the id: each change of a folio moves its pages between its memcg's tallies, and
    /// the row needs no lookup.
    var memcgRow: UInt32 = 0
    var rmapBalance: Int32 = 0
    var migrationEntries: Int16 = 0
    var order: UInt8
    /// LRUList raw value, 255 before any insertion.
    var lru: UInt8 = LRUList.unknown.rawValue
    var bits: Bits = []
    var attribution: Attribution = .unknown
    /// Saturates at 255 (a folio moved more often is still "moved").
    var chargeMoves: UInt8 = 0
    /// `enum migrate_reason` of the migration that moved it away (or failed to), 255 if none.
    var migrateReason: UInt8 = 255

    struct Bits: OptionSet {
        let rawValue: UInt8
        static let allocated = Bits(rawValue: 1 << 0)
        static let evicted = Bits(rawValue: 1 << 1)
        static let writtenBack = Bits(rawValue: 1 << 2)
        static let crossesLoss = Bits(rawValue: 1 << 3)
        static let sawRmap = Bits(rawValue: 1 << 4)
        static let sawLRUFlags = Bits(rawValue: 1 << 5)
        /// `FolioDetails.pageCacheAdded` is not 0: with `pageCacheDeleted`, whether the folio
        /// is in the page cache, without reading its details.
        static let addedToPageCache = Bits(rawValue: 1 << 6)
    }

    init(order: UInt8, firstSeen: UInt64) {
        self.order = order
        self.firstSeen = firstSeen
    }

    var pages: UInt64 { 1 << UInt64(order) }
    var inPageCache: Bool { bits.contains(.addedToPageCache) && pageCacheDeleted == 0 }
}

/// What reports and findings read of a live folio generation, beside its `LiveFolio` (at the
/// same slot of `FolioSlots`): written when the folio is allocated, added to the page cache or
/// put on an LRU list (events close to its allocation), read when its generation is reported
/// or a finding names it. Where a migrated folio came from is in the engine's side table
/// (`LifecycleEngine.migratedFrom`): few folios have one.
struct FolioDetails {
    var pageCacheAdded: UInt64 = 0
    /// 0 when the folio is not (known to be) file-backed.
    var inode: UInt64 = 0
    var index: UInt64 = 0
    var generation: UInt32
    var dev: UInt32 = 0
    /// gfp_t is 32 bits.
    var gfpFlags: UInt32 = 0
    var allocPid: Int32 = 0
    /// The task and CPU of the page-cache add (valid when `pageCacheAdded` is not 0), for
    /// evidence.
    var pageCacheAddPid: Int32 = 0
    var lruInsertions: UInt16 = 0
    var activations: UInt16 = 0
    var pageCacheAddCPU: UInt16 = 0
    /// LRUFolioFlags of the last insertion (7 bits), valid with `LiveFolio.Bits.sawLRUFlags`.
    var lruFlags: UInt8 = 0
    /// The allocation's migratetype, -1 when not allocated in the trace.
    var migratetype: Int8 = -1

    init(generation: UInt32) { self.generation = generation }

    var isFile: Bool { inode != 0 }
    var filePage: FilePage? { isFile ? FilePage(dev: dev, inode: inode, index: index) : nil }
}

extension LiveFolio {
    /// The public form, for reports.
    /// - Parameters:
    ///   - details: the folio's `FolioDetails`.
    ///   - memcg: the cgroup id of its memcg row (0: none).
    func generation(
        pfn: UInt64,
        details d: FolioDetails,
        memcg: UInt64,
        freedAt: UInt64?,
        freedBy: Int32?,
        context: FreeContext?,
        migratedFrom: UInt64?,
        migratedTo: UInt64?
    ) -> FolioGeneration {
        var g = FolioGeneration(pfn: pfn, generation: d.generation, order: order, firstSeen: firstSeen)
        if bits.contains(.allocated) {
            g.allocatedAt = firstSeen
            g.allocPid = d.allocPid
            g.gfpFlags = UInt64(d.gfpFlags)
            g.migratetype = Int32(d.migratetype)
        }
        if migrateReason != 255 { g.migrationReason = migrateReasonName(Int32(migrateReason)) }
        g.freedAt = freedAt
        g.freedBy = freedBy
        g.freeContext = context
        g.filePage = d.filePage
        g.addedToPageCacheAt = d.pageCacheAdded == 0 ? nil : d.pageCacheAdded
        g.deletedFromPageCacheAt = pageCacheDeleted == 0 ? nil : pageCacheDeleted
        g.evicted = bits.contains(.evicted)
        g.lru = lru == LRUList.unknown.rawValue ? nil : LRUList(rawValue: lru)
        g.lruFlags = bits.contains(.sawLRUFlags) ? LRUFolioFlags(rawValue: UInt64(d.lruFlags)) : nil
        g.lruInsertions = d.lruInsertions
        g.activations = d.activations
        g.rmapBalance = bits.contains(.sawRmap) ? rmapBalance : nil
        g.writtenBackByReclaim = bits.contains(.writtenBack)
        g.memcg = memcg == 0 ? nil : memcg
        g.attribution = attribution
        g.chargeMoves = UInt16(chargeMoves)
        g.migratedFrom = migratedFrom
        g.migratedTo = migratedTo
        g.migrationEntries = Int32(migrationEntries)
        g.crossesLoss = bits.contains(.crossesLoss)
        return g
    }
}
