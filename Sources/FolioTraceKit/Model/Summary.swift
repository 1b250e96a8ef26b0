/// What the lifecycle engine saw, in aggregate: the `analyze` summary.
public struct LifecycleSummary: Sendable {
    public init() {}
    public var records: UInt64 = 0
    public var typedEvents: UInt64 = 0
    public var generations: UInt64 = 0
    /// Generations whose beginning was before the trace.
    public var beganBeforeTrace: UInt64 = 0
    public var freed: UInt64 = 0
    /// Generations ended by a new allocation of their pfn without a free in the trace.
    public var endedUnseen: UInt64 = 0
    public var liveAtEnd: UInt64 = 0
    /// Distinct head pfns that had a generation.
    public var folios: UInt64 = 0
    /// Lifetimes (allocation to free) in power-of-two nanosecond buckets: bucket k holds
    /// lifetimes in [2^k, 2^(k+1)) ns.
    public var lifetimeHistogram = [UInt64](repeating: 0, count: 64)
    public var lruInsertions = [UInt64](repeating: 0, count: 5)
    public var activations: UInt64 = 0
    public var pageCacheAdds: UInt64 = 0
    public var pageCacheDeletes: UInt64 = 0
    /// Deletes inside reclaim (evictions).
    public var evictions: UInt64 = 0
    /// Page-cache adds of a file page that reclaim evicted earlier in the trace.
    public var refaults: UInt64 = 0
    public var writtenBackByReclaim: UInt64 = 0
    public var reclaim = ReclaimCounts()
    public var migration = MigrationCounts()
    public var chargeMoves: UInt64 = 0
    /// Free contexts of the freed generations, by `FreeContext` raw value (those seen).
    public var freesByContext: [String: UInt64] {
        var d: [String: UInt64] = [:]
        for c in FreeContext.allCases where frees[c] > 0 { d[c.rawValue] = frees[c] }
        return d
    }
    /// Frees by context, counted in place: the engine counts every free, and a dictionary
    /// keyed by the context's name hashed that name each time (311 instructions a free,
    /// 3.4% of `analyze` on the scale capture; docs/performance.md).
    var frees = FreeCounts()
    /// Lost events per CPU (counted) and pages with uncounted losses.
    public var lostEvents: [Int32: UInt64] = [:]
    public var uncountedLosses: UInt64 = 0
    /// Generations that were live while a CPU lost events: their story may miss steps.
    public var generationsCrossingLoss: UInt64 = 0

    public struct ReclaimCounts: Sendable {
        public var memcgReclaimPasses: UInt64 = 0
        public var directReclaimPasses: UInt64 = 0
        public var kswapdWakes: UInt64 = 0
        public var nrReclaimed: UInt64 = 0
        public var shrinkInactiveScanned: UInt64 = 0
        public var shrinkInactiveReclaimed: UInt64 = 0
        public var activated: UInt64 = 0
        public var unmapFailed: UInt64 = 0
    }

    public struct MigrationCounts: Sendable {
        /// `migrate_pages()` calls (mm_migrate_pages).
        public var calls: UInt64 = 0
        public var succeeded: UInt64 = 0
        public var failed: UInt64 = 0
        /// Calls by reason name.
        public var byReason: [String: (calls: UInt64, succeeded: UInt64, failed: UInt64)] = [:]
        /// Folios whose contents moved old pfn -> new pfn, joined through migration PTEs.
        public var joined: UInt64 = 0
        /// Migration entries restored to the old pfn (failed migration of that folio).
        public var restored: UInt64 = 0
    }
}

/// Per-memcg totals.
public struct MemcgSummary: Sendable {
    public var id: UInt64
    public var path: String?
    /// Generations charged to it (allocated or first seen in it), and their pages.
    public var generations: UInt64 = 0
    public var pagesCharged: UInt64 = 0
    /// Pages of its folios evicted from the page cache by reclaim.
    public var pagesReclaimed: UInt64 = 0
    /// Pages added back to the page cache in it after an eviction.
    public var pagesRefaulted: UInt64 = 0
    public var pagesMovedIn: UInt64 = 0
    public var pagesMovedOut: UInt64 = 0
    /// Pages of its folios live (not freed) at the end of the trace, and of those, in the
    /// page cache.
    public var pagesLiveAtEnd: UInt64 = 0
    public var pageCachePagesAtEnd: UInt64 = 0
}

/// The names of `enum migrate_reason` (include/linux/migrate_mode.h), stable since 5.16
/// (MR_DEMOTION 5.15, MR_DAMON 6.2).
public func migrateReasonName(_ reason: Int32) -> String {
    let names = [
        "compaction", "memory_failure", "memory_hotplug", "syscall_or_cpuset", "mempolicy_mbind",
        "numa_misplaced", "contig_range", "longterm_pin", "demotion", "damon",
    ]
    return reason >= 0 && Int(reason) < names.count ? names[Int(reason)] : "reason_\(reason)"
}

/// Frees of each `FreeContext` (`LifecycleSummary.frees`).
struct FreeCounts: Sendable {
    private var memcgReclaim: UInt64 = 0
    private var directReclaim: UInt64 = 0
    private var kswapd: UInt64 = 0
    private var migration: UInt64 = 0
    private var other: UInt64 = 0

    subscript(_ c: FreeContext) -> UInt64 {
        get {
            switch c {
            case .memcgReclaim: return memcgReclaim
            case .directReclaim: return directReclaim
            case .kswapd: return kswapd
            case .migration: return migration
            case .other: return other
            }
        }
        set {
            switch c {
            case .memcgReclaim: memcgReclaim = newValue
            case .directReclaim: directReclaim = newValue
            case .kswapd: kswapd = newValue
            case .migration: migration = newValue
            case .other: other = newValue
            }
        }
    }
}
