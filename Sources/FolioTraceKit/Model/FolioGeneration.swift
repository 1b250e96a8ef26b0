/// How the owning memcg of a folio generation was known.
public enum Attribution: UInt8, Sendable, Comparable, CustomStringConvertible {
    /// Nothing in the trace says.
    case unknown = 0
    /// The cgroup of the task that allocated or first used it.
    case inferred = 1
    /// A memcg stat event for this folio on the same CPU right before its folio event
    /// (6.13+), or a charge kprobe's own argument.
    case exact = 2

    public static func < (a: Attribution, b: Attribution) -> Bool { a.rawValue < b.rawValue }

    /// "exact", "inferred" or "unknown".
    public var description: String {
        switch self {
        case .exact: return "exact"
        case .inferred: return "inferred"
        case .unknown: return "unknown"
        }
    }
}

/// Where a folio's generation ended, or what ended it.
public enum FreeContext: String, Sendable, CaseIterable {
    /// Freed by a task inside `mm_vmscan_memcg_reclaim_begin/end`.
    case memcgReclaim = "memcg_reclaim"
    /// Freed inside `mm_vmscan_direct_reclaim_begin/end`.
    case directReclaim = "direct_reclaim"
    /// Freed by kswapd.
    case kswapd
    /// Freed by a task inside `mm_migrate_pages_start` .. `mm_migrate_pages`.
    case migration
    /// Any other free.
    case other
}

/// A file page's identity: (s_dev, inode, index).
public struct FilePage: Hashable, Sendable {
    public var dev: UInt32
    public var inode: UInt64
    public var index: UInt64
}

/// One generation of one folio: from its allocation (or its first sight, when it was born
/// before the trace) to its free (or the end of the trace).
///
/// Fields hold only what the trace showed; a state the trace never showed stays nil.
public struct FolioGeneration: Sendable {
    /// The head pfn.
    public var pfn: UInt64
    /// 0 for the first generation of this pfn seen in the trace, then 1, 2...
    public var generation: UInt32
    /// The order (from the allocation, or the first event that carried one).
    public var order: UInt8
    /// When it was allocated; nil when the generation began before the trace.
    public var allocatedAt: UInt64?
    /// The first event of this generation in the trace.
    public var firstSeen: UInt64
    /// When it was freed; nil while live.
    public var freedAt: UInt64?
    public var allocPid: Int32?
    public var gfpFlags: UInt64?
    public var migratetype: Int32?
    /// Page-cache membership, from filemap add (kept after delete, with `deletedAt`).
    public var filePage: FilePage?
    public var addedToPageCacheAt: UInt64?
    public var deletedFromPageCacheAt: UInt64?
    /// Whether the delete happened inside reclaim (eviction) rather than truncation.
    public var evicted = false
    /// The LRU list of the last insertion; nil before any insertion was seen.
    public var lru: LRUList?
    /// The flags of the last LRU insertion.
    public var lruFlags: LRUFolioFlags?
    public var lruInsertions: UInt16 = 0
    public var activations: UInt16 = 0
    /// Net rmap adds minus removes seen through kprobes; nil without rmap probes.
    public var rmapBalance: Int32?
    public var writtenBackByReclaim = false
    /// The owning memcg (cgroup id) and how that was known.
    public var memcg: UInt64?
    public var attribution: Attribution = .unknown
    /// Charge moves seen (kprobe mem_cgroup_move_account).
    public var chargeMoves: UInt16 = 0
    /// The folio this one's contents were migrated from / to.
    public var migratedFrom: UInt64?
    public var migratedTo: UInt64?
    /// Migration entries currently installed for this folio (set minus remove).
    public var migrationEntries: Int32 = 0
    /// The reason of the migration that moved it (`enum migrate_reason` name), or that
    /// restored it after failing.
    public var migrationReason: String?
    public var freeContext: FreeContext?
    public var freedBy: Int32?
    /// A CPU's ring buffer lost events while this generation was live: any state may be
    /// missing.
    public var crossesLoss = false

    /// The number of base pages.
    public var pages: UInt64 { 1 << UInt64(order) }
    /// Whether the beginning is unknown (born before the trace started).
    public var beganBeforeTrace: Bool { allocatedAt == nil }
}

/// One step of a folio's story, kept for the pfns a user asked about.
public struct FolioStep: Sendable {
    public var timestamp: UInt64
    public var cpu: Int32
    public var pid: Int32
    /// "system:name" of the event.
    public var event: String
    /// What the event said about the folio, in the kernel's words ("lru=inactive_file flags=Mf").
    public var detail: String
    /// The memcg the folio belonged to after this step, if known.
    public var memcg: UInt64?
}
