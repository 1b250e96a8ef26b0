/// The state of one live folio generation, packed for the engine's hot table.
///
/// The public `FolioGeneration` has an optional for everything the trace may not show; kept
/// live for every folio, that costs ~290 bytes. Here "not seen" is a sentinel (0 for
/// timestamps, inodes and cgroup ids, which the kernel never uses as valid values for these;
/// `UInt64.max` for pfns) and the small flags share one byte, so a live folio costs 96 bytes
/// plus its table slot. Swift lays fields out in declaration order: widest first, no padding.
/// What only a few folios need at a time (where a migrated folio went) lives in the engine's
/// side tables instead.
struct LiveFolio {
    static let noPfn = UInt64.max

    var firstSeen: UInt64
    var pageCacheAdded: UInt64 = 0
    var pageCacheDeleted: UInt64 = 0
    /// 0 when the folio is not (known to be) file-backed.
    var inode: UInt64 = 0
    var index: UInt64 = 0
    /// cgroup id of the owning memcg, 0 when unknown (cgroup ids start at 1).
    var memcg: UInt64 = 0
    var migratedFrom = noPfn
    var generation: UInt32
    var dev: UInt32 = 0
    /// gfp_t is 32 bits.
    var gfpFlags: UInt32 = 0
    var allocPid: Int32 = 0
    var rmapBalance: Int32 = 0
    /// The task and CPU of the page-cache add (valid when `pageCacheAdded` is not 0), for
    /// evidence.
    var pageCacheAddPid: Int32 = 0
    var lruInsertions: UInt16 = 0
    var activations: UInt16 = 0
    var migrationEntries: Int16 = 0
    var pageCacheAddCPU: UInt16 = 0
    /// Saturates at 255 (a folio moved more often is still "moved").
    var chargeMoves: UInt8 = 0
    var order: UInt8
    /// LRUList raw value, 255 before any insertion.
    var lru: UInt8 = LRUList.unknown.rawValue
    /// LRUFolioFlags of the last insertion (7 bits), valid with `.sawLRUFlags`.
    var lruFlags: UInt8 = 0
    var attribution: Attribution = .unknown
    var bits: Bits = []
    /// `enum migrate_reason` of the migration that moved it away (or failed to), 255 if none.
    var migrateReason: UInt8 = 255
    /// The allocation's migratetype, -1 when not allocated in the trace.
    var migratetype: Int8 = -1

    struct Bits: OptionSet {
        let rawValue: UInt8
        static let allocated = Bits(rawValue: 1 << 0)
        static let evicted = Bits(rawValue: 1 << 1)
        static let writtenBack = Bits(rawValue: 1 << 2)
        static let crossesLoss = Bits(rawValue: 1 << 3)
        static let sawRmap = Bits(rawValue: 1 << 4)
        static let sawLRUFlags = Bits(rawValue: 1 << 5)
    }

    init(generation: UInt32, order: UInt8, firstSeen: UInt64) {
        self.generation = generation
        self.order = order
        self.firstSeen = firstSeen
    }

    var pages: UInt64 { 1 << UInt64(order) }
    var isFile: Bool { inode != 0 }
    var inPageCache: Bool { pageCacheAdded != 0 && pageCacheDeleted == 0 }
    var owner: UInt64? { memcg == 0 ? nil : memcg }

    /// The public form, for reports.
    func generation(
        pfn: UInt64,
        freedAt: UInt64?,
        freedBy: Int32?,
        context: FreeContext?,
        migratedTo: UInt64?
    ) -> FolioGeneration {
        var g = FolioGeneration(pfn: pfn, generation: generation, order: order, firstSeen: firstSeen)
        if bits.contains(.allocated) {
            g.allocatedAt = firstSeen
            g.allocPid = allocPid
            g.gfpFlags = UInt64(gfpFlags)
            g.migratetype = Int32(migratetype)
        }
        if migrateReason != 255 { g.migrationReason = migrateReasonName(Int32(migrateReason)) }
        g.freedAt = freedAt
        g.freedBy = freedBy
        g.freeContext = context
        if isFile { g.filePage = FilePage(dev: dev, inode: inode, index: index) }
        g.addedToPageCacheAt = pageCacheAdded == 0 ? nil : pageCacheAdded
        g.deletedFromPageCacheAt = pageCacheDeleted == 0 ? nil : pageCacheDeleted
        g.evicted = bits.contains(.evicted)
        g.lru = lru == LRUList.unknown.rawValue ? nil : LRUList(rawValue: lru)
        g.lruFlags = bits.contains(.sawLRUFlags) ? LRUFolioFlags(rawValue: UInt64(lruFlags)) : nil
        g.lruInsertions = lruInsertions
        g.activations = activations
        g.rmapBalance = bits.contains(.sawRmap) ? rmapBalance : nil
        g.writtenBackByReclaim = bits.contains(.writtenBack)
        g.memcg = owner
        g.attribution = attribution
        g.chargeMoves = UInt16(chargeMoves)
        g.migratedFrom = migratedFrom == LiveFolio.noPfn ? nil : migratedFrom
        g.migratedTo = migratedTo
        g.migrationEntries = Int32(migrationEntries)
        g.crossesLoss = bits.contains(.crossesLoss)
        return g
    }
}
