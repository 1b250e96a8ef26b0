/// A memory-management event, decoded into kernel vocabulary.
///
/// One case per tracepoint (or probe family) that the lifecycle engine and detectors read;
/// everything else is `.other` and only counted. A field that the capturing kernel's format
/// lacks is `nil`, never zero.
public enum MMEvent {
    case pageAlloc(PageAlloc)
    case pageFree(PageFree)
    case pageFreeBatched(PageFreeBatched)
    case pagePcpuDrain(PagePcpuDrain)
    case lruInsertion(LRUInsertion)
    case lruActivate(LRUActivate)
    case pageCacheAdd(PageCacheFolio)
    case pageCacheDelete(PageCacheFolio)
    case vmscan(VmscanEvent)
    case migratePagesStart(MigratePagesStart)
    case migratePages(MigratePages)
    case setMigrationPTE(MigrationPTE)
    case removeMigrationPTE(MigrationPTE)
    case setMigrationPMD(MigrationPMD)
    case removeMigrationPMD(MigrationPMD)
    case memcgStat(MemcgStat)
    case memcgFlushStats(MemcgFlushStats)
    case cgroupAttachTask(CgroupAttachTask)
    case cgroupMkdir(CgroupDir)
    case cgroupRmdir(CgroupDir)
    case pageFaultUser(PageFaultUser)
    case rmap(RmapCall)
    case charge(ChargeCall)
    case mlock(MlockCall)
    case probe(ProbeCall)
    /// An event foliotrace does not model: counted by id only.
    case other
    /// A record shorter than its format's fields (corrupt data): counted, not decoded.
    case malformed
}

// MARK: kmem

/// `kmem:mm_page_alloc`, at the end of `__alloc_pages`.
public struct PageAlloc: Equatable, Sendable {
    /// The first pfn, nil when the allocation failed (the kernel prints -1UL).
    public var pfn: UInt64?
    public var order: UInt32
    public var gfpFlags: UInt64
    public var migratetype: Int32
}

/// `kmem:mm_page_free`, first thing in `free_pages_prepare()`: fires on every free.
public struct PageFree: Equatable, Sendable {
    public var pfn: UInt64
    public var order: UInt32
}

/// `kmem:mm_page_free_batched`: fires in addition to `mm_page_free` on the batched path;
/// not a second free.
public struct PageFreeBatched: Equatable, Sendable {
    public var pfn: UInt64
}

/// `kmem:mm_page_pcpu_drain`: the later return of a page from a per-CPU list to the buddy.
public struct PagePcpuDrain: Equatable, Sendable {
    public var pfn: UInt64
    public var order: UInt32
    public var migratetype: Int32
}

// MARK: pagemap

/// The LRU lists of `enum lru_list` (include/linux/mmzone.h).
public enum LRUList: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case inactiveAnon = 0
    case activeAnon = 1
    case inactiveFile = 2
    case activeFile = 3
    case unevictable = 4
    case unknown = 255

    public var description: String {
        switch self {
        case .inactiveAnon: return "inactive_anon"
        case .activeAnon: return "active_anon"
        case .inactiveFile: return "inactive_file"
        case .activeFile: return "active_file"
        case .unevictable: return "unevictable"
        case .unknown: return "unknown"
        }
    }
}

/// The folio flags `mm_lru_insertion` records (include/trace/events/pagemap.h): the bits are
/// the tracepoint's own PAGEMAP_* encoding, not page flags.
public struct LRUFolioFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// `M`: folio_mapped().
    public static let mapped = LRUFolioFlags(rawValue: 0x0001)
    /// `a`: anonymous (else `f`, file).
    public static let anonymous = LRUFolioFlags(rawValue: 0x0002)
    /// `f`: file-backed.
    public static let file = LRUFolioFlags(rawValue: 0x0004)
    /// `s`: in the swap cache.
    public static let swapCache = LRUFolioFlags(rawValue: 0x0008)
    /// `b`: swap-backed (anon and shmem).
    public static let swapBacked = LRUFolioFlags(rawValue: 0x0010)
    /// `d`: PG_mappedtodisk (PG_anon_exclusive on anon folios).
    public static let mappedToDisk = LRUFolioFlags(rawValue: 0x0020)
    /// `B`: PG_private (buffers).
    public static let buffers = LRUFolioFlags(rawValue: 0x0040)

    /// The flags the way the tracepoint prints them ("M", "a", "f", "s", "b", "d", "B").
    public var letters: String {
        var s = ""
        if contains(.mapped) { s += "M" }
        s += contains(.anonymous) ? "a" : "f"
        if contains(.swapCache) { s += "s" }
        if contains(.swapBacked) { s += "b" }
        if contains(.mappedToDisk) { s += "d" }
        if contains(.buffers) { s += "B" }
        return s
    }
}

/// `pagemap:mm_lru_insertion`, at the end of the LRU-add batch (mm/swap.c `lru_add`).
public struct LRUInsertion: Equatable, Sendable {
    /// The folio pointer (folio form since 5.16; nil before).
    public var folio: UInt64?
    public var pfn: UInt64
    public var lru: LRUList
    public var flags: LRUFolioFlags
}

/// `pagemap:mm_lru_activate`: the folio moved to the active list.
public struct LRUActivate: Equatable, Sendable {
    public var folio: UInt64?
    public var pfn: UInt64
}

// MARK: filemap

/// `filemap:mm_filemap_add_to_page_cache` / `mm_filemap_delete_from_page_cache`.
public struct PageCacheFolio: Equatable, Sendable {
    public var pfn: UInt64
    public var inode: UInt64
    /// The page index in the file (the tracepoint prints index << PAGE_SHIFT as "ofs").
    public var index: UInt64
    /// The kernel dev_t (major << 20 | minor).
    public var dev: UInt32
    /// The folio order (since 5.17).
    public var order: UInt8?

    public var major: UInt32 { dev >> 20 }
    public var minor: UInt32 { dev & 0xfffff }
}

// MARK: vmscan

/// Which reclaim a begin/end pair brackets.
public enum ReclaimKind: String, Sendable {
    case direct, memcg
    case memcgSoftLimit = "memcg_softlimit"
    case node
}

/// The vmscan tracepoints (include/trace/events/vmscan.h).
public enum VmscanEvent {
    case reclaimBegin(ReclaimKind, ReclaimBegin)
    case reclaimEnd(ReclaimKind, nrReclaimed: UInt64)
    case kswapdWake(nid: Int32, zid: Int32?, order: Int32)
    case kswapdSleep(nid: Int32)
    case wakeupKswapd(nid: Int32, zid: Int32, order: Int32, gfpFlags: UInt64)
    case lruIsolate(LRUIsolate)
    case shrinkInactive(ShrinkInactive)
    case shrinkActive(ShrinkActive)
    /// `mm_vmscan_reclaim_pages` (MADV_PAGEOUT / proactive reclaim): same counts.
    case reclaimPages(ShrinkInactive)
    /// `mm_vmscan_write_folio` (`mm_vmscan_writepage` before 5.19): reclaim wrote a folio out.
    case writeFolio(pfn: UInt64, reclaimFlags: Int32)
    case throttled(nid: Int32, usecTimeout: Int32, usecDelayed: Int32, reason: Int32)
    case shrinkSlabStart(nid: Int32, totalScan: UInt64)
    case shrinkSlabEnd(nid: Int32, retval: Int32)
}

public struct ReclaimBegin: Equatable, Sendable {
    public var order: Int32
    public var gfpFlags: UInt64
    /// Node reclaim only.
    public var nid: Int32?
}

public struct LRUIsolate: Equatable, Sendable {
    public var highestZoneIdx: Int32?
    public var order: Int32
    public var nrRequested: UInt64
    public var nrScanned: UInt64
    public var nrSkipped: UInt64
    public var nrTaken: UInt64
    public var lru: Int32
}

/// `mm_vmscan_lru_shrink_inactive` / `mm_vmscan_reclaim_pages`: the outcome of one pass of
/// `shrink_folio_list`. A view: valid as long as the record it was decoded from.
public struct ShrinkInactive {
    let layout: UnsafePointer<ShrinkInactiveLayout>
    let payload: UnsafeRawBufferPointer
    private var l: ShrinkInactiveLayout { layout.pointee }

    public var nid: Int32 { i32(l.nid, payload) }
    public var nrScanned: UInt64 { l.scanned.unsigned(payload) }
    public var nrReclaimed: UInt64 { l.reclaimed.unsigned(payload) }
    /// The counts below are nil on kernels whose event lacks them.
    public var nrDirty: UInt64? { l.dirty.unsigned(payload) }
    public var nrWriteback: UInt64? { l.writeback.unsigned(payload) }
    public var nrCongested: UInt64? { l.congested.unsigned(payload) }
    public var nrImmediate: UInt64? { l.immediate.unsigned(payload) }
    /// Folios activated: anon and file since 5.2 (nil before, when only the total is known).
    public var nrActivateAnon: UInt64? { l.activateFile == nil ? nil : l.activate.unsigned(payload) }
    public var nrActivateFile: UInt64? { l.activateFile.unsigned(payload) }
    /// Folios activated, anon and file together (the one `nr_activate` before 5.2).
    public var nrActivated: UInt64 { l.activate.unsigned(payload) &+ (l.activateFile.unsigned(payload) ?? 0) }
    public var nrRefKeep: UInt64? { l.refKeep.unsigned(payload) }
    public var nrUnmapFail: UInt64? { l.unmapFail.unsigned(payload) }
    public var priority: Int32? { l.priority.signed(payload).map { Int32(truncatingIfNeeded: $0) } }
    public var reclaimFlags: Int32? { l.reclaimFlags.signed(payload).map { Int32(truncatingIfNeeded: $0) } }
}

/// `mm_vmscan_lru_shrink_active`. A view: valid as long as the record it was decoded from.
public struct ShrinkActive {
    let layout: UnsafePointer<ShrinkActiveLayout>
    let payload: UnsafeRawBufferPointer
    private var l: ShrinkActiveLayout { layout.pointee }

    public var nid: Int32 { i32(l.nid, payload) }
    public var nrTaken: UInt64 { l.taken.unsigned(payload) }
    public var nrActive: UInt64 { l.active.unsigned(payload) }
    public var nrDeactivated: UInt64 { l.deactivated.unsigned(payload) }
    public var nrReferenced: UInt64 { l.referenced.unsigned(payload) }
    public var priority: Int32 { i32(l.priority, payload) }
    public var reclaimFlags: Int32 { i32(l.reclaimFlags, payload) }
}

// MARK: migrate

/// `migrate:mm_migrate_pages_start`: `migrate_pages()` begins.
public struct MigratePagesStart: Equatable, Sendable {
    public var mode: UInt32
    public var reason: Int32
}

/// `migrate:mm_migrate_pages`: `migrate_pages()` ends, with its counts. A view: valid as
/// long as the record it was decoded from.
public struct MigratePages {
    let layout: UnsafePointer<MigratePagesLayout>
    let payload: UnsafeRawBufferPointer
    private var l: MigratePagesLayout { layout.pointee }

    public var succeeded: UInt64 { l.succeeded.unsigned(payload) }
    public var failed: UInt64 { l.failed.unsigned(payload) }
    public var thpSucceeded: UInt64? { l.thpSucceeded.unsigned(payload) }
    public var thpFailed: UInt64? { l.thpFailed.unsigned(payload) }
    public var thpSplit: UInt64? { l.thpSplit.unsigned(payload) }
    public var largeFolioSplit: UInt64? { l.largeFolioSplit.unsigned(payload) }
    public var mode: UInt32 { UInt32(truncatingIfNeeded: l.mode.unsigned(payload)) }
    public var reason: Int32 { i32(l.reason, payload) }
}

/// `migrate:set_migration_pte` / `remove_migration_pte` (since 5.18).
public struct MigrationPTE: Equatable, Sendable {
    /// The user virtual address the entry maps.
    public let address: UInt64
    /// The raw PTE value.
    public let pte: UInt64
    /// The folio order (0 for tail pages in remove_migration_pte).
    public let order: Int32?
    /// The pfn the PTE refers to, read with the traced kernel's layout: the old folio's page
    /// in a migration entry, the new one in a restored present PTE.
    public let pfn: UInt64?

    /// An event's fields; `layout` is the traced kernel's page-table layout.
    public init(address: UInt64, pte: UInt64, order: Int32?, layout: PTELayout = .x86_64) {
        self.address = address
        self.pte = pte
        self.order = order
        self.pfn = layout.pfn(pte)
    }
}

/// `thp:set_migration_pmd` / `remove_migration_pmd`.
public struct MigrationPMD: Equatable, Sendable {
    public let address: UInt64
    public let pmd: UInt64
    /// The pfn the PMD refers to, read with the traced kernel's layout (a PMD migration entry
    /// has the PTE's swap format; a present PMD's output address is in the same bits).
    public let pfn: UInt64?

    /// An event's fields; `layout` is the traced kernel's page-table layout.
    public init(address: UInt64, pmd: UInt64, layout: PTELayout = .x86_64) {
        self.address = address
        self.pmd = pmd
        self.pfn = layout.pfn(pmd)
    }
}

// MARK: memcg

/// Which memcg statistics tracepoint fired (since 6.13).
public enum MemcgStatKind: String, Sendable {
    /// `mod_memcg_state`: enum memcg_stat_item.
    case memcgState = "mod_memcg_state"
    /// `mod_memcg_lruvec_state`: enum node_stat_item.
    case lruvecState = "mod_memcg_lruvec_state"
    /// `count_memcg_events`: enum vm_event_item.
    case events = "count_memcg_events"
}

/// A memcg statistics update.
public struct MemcgStat: Equatable, Sendable {
    public var kind: MemcgStatKind
    /// `cgroup_id()` of the memcg: the inode number of its cgroup directory on 64-bit.
    public var memcgID: UInt64
    /// The item number; its name depends on the kernel's config (from BTF).
    public var item: Int32
    /// The change, in pages for page-counting items.
    public var value: Int64
}

/// `memcg:memcg_flush_stats`.
public struct MemcgFlushStats: Equatable, Sendable {
    public var memcgID: UInt64
    public var statsUpdates: Int64
    public var force: Bool
    public var needsFlush: Bool
}

// MARK: cgroup

/// `cgroup:cgroup_attach_task`: a task moved into a cgroup. A view: valid as long as the
/// record it was decoded from; `path` and `comm` make Strings (rare events only).
public struct CgroupAttachTask {
    let layout: UnsafePointer<CgroupLayout>
    let payload: UnsafeRawBufferPointer
    private var l: CgroupLayout { layout.pointee }

    public var root: Int32 { i32(l.root, payload) }
    public var level: Int32 { i32(l.level, payload) }
    public var cgroupID: UInt64 { l.id.unsigned(payload) }
    public var pid: Int32 { l.pid.map { i32($0, payload) } ?? -1 }
    public var path: String { l.path.string(payload) }
    /// The task's comm at the time of the attach (before any exec that follows).
    public var comm: String { l.comm?.string(payload) ?? "" }
}

/// `cgroup:cgroup_mkdir` / `cgroup_rmdir`. A view: valid as long as the record it was
/// decoded from.
public struct CgroupDir {
    let layout: UnsafePointer<CgroupLayout>
    let payload: UnsafeRawBufferPointer
    private var l: CgroupLayout { layout.pointee }

    public var root: Int32 { i32(l.root, payload) }
    public var level: Int32 { i32(l.level, payload) }
    public var cgroupID: UInt64 { l.id.unsigned(payload) }
    public var path: String { l.path.string(payload) }
}

// MARK: exceptions

/// `exceptions:page_fault_user`.
public struct PageFaultUser: Equatable, Sendable {
    public var address: UInt64
    public var ip: UInt64
    public var errorCode: UInt64
}
