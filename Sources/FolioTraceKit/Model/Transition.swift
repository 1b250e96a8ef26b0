/// A lifecycle transition the detectors subscribe to, with the events that prove it.
///
/// The engine emits only the few transitions detectors need (rare compared with records),
/// into a buffer the caller drains after each record.
public enum Transition: Sendable {
    /// A memcg charge move of a folio (kprobe `mem_cgroup_move_account`).
    case chargeMoved(ChargeMove)
    /// A file page evicted by reclaim came back into the page cache.
    case refaulted(Refault)
    /// Reclaim mlocked a folio it met in a VM_LOCKED VMA (kprobe `mlock_folio` in reclaim).
    case mlockRestored(MlockRestore)
    /// Memcg reclaim checked a PTE's young bit (kprobe `ptep_clear_flush_young`), in a VMA
    /// of the target memcg, of a foreign one, or of one the trace cannot place.
    case reclaimReference(ReclaimReference)
    /// A migration source freed while isolated (kprobes `migrate_folio_done` without
    /// `migrate_folio_move`).
    case freedWhileIsolated(IsolatedFree)
    /// A folio freed while the trace shows a page table still mapping it (rmap kprobes).
    case freedWhileMapped(MappedFree)
    /// A folio freed while the trace shows it in the page cache (added, never deleted).
    case freedInPageCache(PageCacheFree)
    /// A free that `freedWhileMapped` could not judge: a mapping may have gone by a path the
    /// capture does not probe (a PMD-mapped THP unmapped through folio_remove_rmap_pmd).
    case freeNotJudged(UnjudgedFree)
}

/// A free of a folio whose rmap balance says mapped, but whose unmap the trace may not show.
public struct UnjudgedFree: Sendable {
    public var folio: FolioRef
    /// Why the balance proves nothing, as a phrase ("large folio, no probe on
    /// folio_remove_rmap_pmd").
    public var reason: String
}

/// One generation of one folio, as findings name it.
public struct FolioRef: Sendable, Equatable {
    public var pfn: UInt64
    public var generation: UInt32
    public var order: UInt8
    public var filePage: FilePage?
    public var memcg: UInt64?
    public var attribution: Attribution
}

/// An event that proves a step: "system:name", CPU and timestamp, as `trace-cmd report` shows.
public struct Evidence: Sendable, Equatable {
    public var event: String
    public var cpu: Int32
    public var timestamp: UInt64
    public var pid: Int32
}

public struct ChargeMove: Sendable {
    public var folio: FolioRef
    public var fromMemcg: UInt64?
    public var toMemcg: UInt64?
    /// Whether the page was mapped at the move, from the probe's page fields: nil when the
    /// probe did not fetch them (then the lifecycle's rmap balance decides, if it has one).
    public var mapped: Bool?
    /// How `mapped` was known ("_mapcount -1", "compound_mapcount 0", "rmap balance 0").
    public var mappedBecause: String
    public var evidence: Evidence
}

public struct Refault: Sendable {
    /// The new folio that brought the page back.
    public var folio: FolioRef
    public var page: FilePage
    /// The memcg the evicted folio was charged to, and the eviction.
    public var evictedFrom: UInt64?
    public var evictedBy: ReclaimKind?
    public var eviction: Evidence
    /// The memcg of the task that refaulted it (the new folio's owner when attributed).
    public var refaultedInto: UInt64?
    public var refault: Evidence
    /// Nanoseconds from the eviction to the refault.
    public var delay: UInt64 { refault.timestamp &- eviction.timestamp }
}

/// An mlock that reclaim restored: `mlock_folio()` called from inside a reclaim pass.
///
/// Only the rmap walks of reclaim mlock a folio there: `folio_referenced_one()` and
/// `try_to_unmap_one()` call the inline `mlock_vma_folio()` when they meet a VM_LOCKED VMA
/// ("Restore the mlock which got missed", 6.1 mm/rmap.c); faults and mlock() run outside the
/// reclaim_begin/end bracket.
public struct MlockRestore: Sendable {
    public var folio: FolioRef
    /// The reclaim the task was in; nil for kswapd.
    public var reclaim: ReclaimKind?
    /// The reclaiming task's memcg (in limit-triggered memcg reclaim, the target).
    public var reclaimerMemcg: UInt64?
    /// PG_mlocked at entry, when the probe fetched it (false: the mlock really was missing).
    public var wasMlocked: Bool?
    /// The reclaim pass's begin (when the trace has it) and the `mlock_folio` call.
    public var evidence: [Evidence]
}

/// A young PTE of another memcg's task met by memcg reclaim (kprobe `ptep_clear_flush_young`
/// inside a memcg reclaim pass, in a VMA whose owner is outside the target memcg).
///
/// `page_referenced()` skips such VMAs in memcg reclaim (`invalid_page_referenced_vma()`,
/// since 2.6.25), so the check comes from `try_to_unmap_one()`, which before 5.11 (and 5.10.4)
/// tested the young bit of every VMA: a young PTE failed the unmap and the folio was
/// activated (`shrink_page_list()`: nr_unmap_fail, activate_locked).
public struct ReclaimReference: Sendable {
    /// The folio the PTE maps (from the PTE's pfn).
    public var folio: FolioRef
    /// The reclaim target (try_to_free_mem_cgroup_pages' own, or the reclaiming task's memcg
    /// where no probe named it and the owner is foreign to all its ancestors); nil: unknown.
    public var target: UInt64?
    /// Whose VMA it was, relative to the target.
    public var owner: VMAOwner
    /// The task owning the VMA's mm, where the probe fetched it.
    public var ownerPid: Int32?
    /// Whether the PTE was young: in a foreign VMA, the unmap failed and the folio was kept.
    public var young: Bool
    /// The reclaim pass's begin (when the trace has it) and the probe call.
    public var evidence: [Evidence]
}

/// The memcg of the task owning a VMA, relative to a memcg reclaim's target.
public enum VMAOwner: Sendable, Equatable, CustomStringConvertible {
    /// In the target's subtree: the check memcg reclaim makes on its own folios.
    case inTarget
    /// Outside it: that memcg's cgroup id.
    case foreign(UInt64)
    /// The trace cannot place it (why, as a phrase).
    case notJudged(String)

    public var description: String {
        switch self {
        case .inTarget: return "in target"
        case .foreign(let id): return "\(id) (foreign)"
        case .notJudged: return "not placed"
        }
    }
}

/// Where memcg reclaim's target came from: `try_to_free_mem_cgroup_pages(memcg, ...)`, its
/// pointer and (where the probe fetched it) its cgroup id.
struct ReclaimTarget {
    var id: UInt64?
    var pointer: UInt64?
}

/// A folio freed while its rmap kprobes had added more mappings than they removed.
public struct MappedFree: Sendable {
    public var folio: FolioRef
    /// Mappings added minus removed over the generation, as the rmap probes counted them.
    public var mappings: Int32
    /// The task that mapped it last, and the one whose put freed it.
    public var mappedBy: Int32
    public var freedBy: Int32
    /// The last map (an rmap kprobe) and the free (kmem:mm_page_free).
    public var evidence: [Evidence]
    /// The unmap probes the verdict relied on: every path this folio could have been unmapped
    /// by, seen (`MappedFreeJudgement.unmapProbes`), so a reader can check that nothing was missing.
    public var unmapProbes: [String] = []
}

/// A folio freed while the trace shows it in the page cache: its add
/// (`filemap:mm_filemap_add_to_page_cache`) seen, no delete since, and the free not in a
/// migration (which replaces a page-cache folio without either event).
public struct PageCacheFree: Sendable {
    public var folio: FolioRef
    public var page: FilePage
    public var freedBy: Int32
    /// The add and the free (kmem:mm_page_free).
    public var evidence: [Evidence]
}

/// A source folio freed while isolated for migration: its owner dropped the last mapping
/// and reference after migrate_pages() isolated it, so `migrate_folio_unmap()` found
/// `folio_ref_count(src) == 1` ("Folio was freed from under us"), cleared PG_active and
/// PG_unevictable by hand and freed it through `migrate_folio_done()` in the migrating task,
/// returning MIGRATEPAGE_SUCCESS: counted as succeeded, with no destination (6.3+
/// mm/migrate.c; `unmap_and_move()` before).
public struct IsolatedFree: Sendable {
    public var folio: FolioRef
    /// `enum migrate_reason` of the migrate_pages() call ("compaction", "syscall_or_cpuset"...).
    public var reason: String
    public var migratingPid: Int32
    /// mm_migrate_pages_start of the call and the `migrate_folio_done` probe.
    public var evidence: [Evidence]
}

extension ChargeMove {
    /// Whether the page being moved was mapped, from what the probe fetched at entry of
    /// `mem_cgroup_move_account(page, compound, from, to)` (6.1-6.12 `mm/memcontrol.c`):
    /// - `compound` true: the THP was reached through its PMD: mem_cgroup_move_charge_pte_range()
    ///   moves a THP whole only when `pmd_trans_huge()` (get_mctgt_type_thp()), so it is
    ///   mapped, whatever its head's `_mapcount` (-1 for a PMD-only mapping) says;
    /// - `_mapcount` >= 0: a PTE maps the page; -1 says unmapped only for a small page
    ///   (`compound` false, or an order-0 folio the trace saw allocated): a large folio's
    ///   mapping may be elsewhere (`_large_mapcount`, 6.8+);
    /// - without page fields, the lifecycle's rmap balance (only for a generation the trace saw
    ///   from its allocation, with no lost events) can say "mapped" (more maps seen than
    ///   unmaps) but never "unmapped": fork copies every present PTE inline, taking a mapping
    ///   no kprobe sees (`copy_present_pte()` -> `page_dup_rmap()` in 5.10,
    ///   `page_try_dup_anon_rmap()` / `page_dup_file_rmap()` in 6.1, `folio_try_dup_anon_rmap_pte()`
    ///   / `folio_dup_file_rmap_pte()` in 6.8+, all `static inline` in include/linux/rmap.h),
    ///   so a page mapped once, copied by fork and unmapped by the child shows a balance of 0
    ///   while the parent still maps it (seen on 5.10.223 and 6.1: moves of such pages with
    ///   the LRU insertion right after them saying folio_mapped()). Without either, nothing
    ///   is claimed.
    /// The reason a move whose maps and unmaps the trace saw in balance is not judged.
    static let balanceCannotProveUnmapped =
        "no mapcount fetched; the rmap probes' balance cannot prove a page unmapped (fork copies mappings inline)"

    static func mapped(_ a: KprobeView, order: UInt8?, rmapBalance: Int32?) -> (mapped: Bool?, because: String) {
        if a.compound == true {
            return (true, "moved whole through its PMD mapping (compound=1)")
        }
        if let m = a.mapcount {
            if m >= 0 { return (true, "_mapcount \(m)") }
            if let l = a.largeMapcount, l >= 0 { return (true, "_large_mapcount \(l)") }
            if a.compound == false || order == 0 { return (false, "_mapcount -1") }
            return (nil, "_mapcount -1, but no compound argument and an order the trace did not show")
        }
        if let b = rmapBalance {
            if b > 0 { return (true, "rmap balance \(b)") }
            return (nil, ChargeMove.balanceCannotProveUnmapped)
        }
        return (nil, "no mapcount fetched, and no rmap probe saw this folio from its allocation")
    }
}
