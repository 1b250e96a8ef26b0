/// How bad a finding is, for CI gates (`--fail-on`).
public enum Severity: String, Sendable, Comparable, CaseIterable {
    case info, warning, error

    private var rank: Int {
        switch self {
        case .info: return 0
        case .warning: return 1
        case .error: return 2
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// A detector's identity and explanation. Rule ids are part of the interface: keep them.
public struct Rule: Sendable {
    public var id: String
    public var severity: Severity
    /// One line for tables.
    public var title: String
    /// The pattern, the linux-mm discussion it comes from, and the kernel behaviour (with the
    /// functions and versions) it depends on.
    public var explanation: String

    /// The events the rule needs (see `AnalysisRequirement`, whose id is the rule id).
    public var requirement: AnalysisRequirement? { AnalysisRequirement.all.first { $0.id == id } }

    /// What a report says a trace lacks for this rule (see `AnalysisRequirement.lacking`).
    public func lacking(_ missing: [String], show: (String) -> String = { $0 }) -> String {
        requirement?.lacking(missing, show: show) ?? missing.map(show).joined(separator: ", ")
    }

    public static let chargeMoveUnmapped = Rule(
        id: "charge-move-unmapped",
        severity: .warning,
        title: "memcg charge moved for a page no page table maps",
        explanation: """
            cgroup-v1 charge moving (memory.move_charge_at_immigrate, mem_cgroup_move_account) \
            was believed to move only pages mapped into the migrating task, so that the PTE lock \
            serialized it against rmap. But get_mctgt_type() also returns pages it finds through \
            the swap cache and the page cache for non-present PTEs: those can be unmapped, and \
            their NR_FILE_MAPPED/NR_ANON_MAPPED accounting must not move (Hugh Dickins and \
            Johannes Weiner on "mm: remove lock_page_memcg() from rmap", Nov 2022, seed 000). \
            Each finding is a move whose page had no PTE mapping at the move (the probe's \
            _mapcount -1, and for a THP no PMD mapping). Charge moving exists up to 6.12 \
            (deprecated in 6.3, removed in 6.13); the kprobe is on mem_cgroup_move_account.
            """
    )

    public static let foreignRefault = Rule(
        id: "foreign-refault-after-memcg-reclaim",
        severity: .info,
        title: "folio reclaimed by its memcg, refaulted by another memcg's task",
        explanation: """
            Since 5.11 memcg reclaim ignores references from VMAs of tasks in other memcgs \
            (folio_referenced() with a memcg filter; previously try_to_unmap_one() let a young PTE \
            in a foreign VMA rescue the folio), so a file folio charged to memcg A that a task of \
            memcg B keeps using is reclaimed under A's limit, and B faults the same file page \
            back in, now charged to B: ownership flips and the work repeats (Shakeel Butt and \
            Hugh Dickins, Nov 2020, seed 003). Each finding is a page-cache add by a task of \
            B of a file page (dev, inode, index) that A's memcg reclaim evicted earlier in the \
            trace, with the refault delay.
            """
    )

    public static let mlockRestoredByReclaim = Rule(
        id: "mlock-restored-by-reclaim",
        severity: .info,
        title: "reclaim mlocked a folio of a VM_LOCKED VMA that was on an evictable LRU",
        explanation: """
            A folio mapped by a VM_LOCKED VMA should be PG_mlocked and on the unevictable list. \
            When the mlock got missed, reclaim finds the folio on an evictable LRU and its rmap \
            walk meets the VM_LOCKED VMA: try_to_unmap_one() (for years) and, since the 5.18 \
            mlock rework, folio_referenced_one() call mlock_vma_folio() to "restore the mlock \
            which got missed", and the putback moves the folio to the unevictable list \
            (mm/rmap.c, mm/vmscan.c). 6.1 undercounts mlock_count on purpose (lru_add_fn(): \
            "underestimate, let page reclaim fix it"), so a munlock of one mapping can leave a \
            folio that another mapping still locks evictable. Large folios are the subject of \
            seed 002 (Lance Yang and David Hildenbrand, Jun 2024, PMD-mapped THPs in \
            try_to_unmap_one()): 6.1's mlock_vma_folio() mlocks a large folio only when \
            PMD-mapped ("compound || !folio_test_large"), so a PTE-mapped one is never \
            restored and keeps failing the unmap; Yin Fengwei's 2023 series made it \
            folio_within_vma(). A THP also misses its mlock when mlock() races its migration: \
            the destination is mapped while the VMA has VM_IO set for mlock's walk, and \
            mlock_vma_folio() ignores it (seen on 6.12). Each finding is an mlock_folio() call (kprobe) inside a reclaim \
            pass or kswapd on a folio whose PG_mlocked was clear; large folios are warnings.
            """
    )

    public static let foreignReferenceRescue = Rule(
        id: "foreign-reference-rescue",
        severity: .info,
        title: "memcg reclaim kept a folio because another memcg's task referenced it",
        explanation: """
            Before 5.11, memcg reclaim's page_referenced() counted only VMAs of tasks in the \
            target memcg (invalid_page_referenced_vma(), mm_match_cgroup()), but \
            try_to_unmap_one() without TTU_IGNORE_ACCESS called ptep_clear_flush_young_notify() \
            in every VMA: a young PTE in a VMA of a task of another memcg failed the unmap, and \
            shrink_page_list() activated the folio (nr_unmap_fail, activate_locked). A recent \
            foreign reference rescued memcg A's folio from A's own reclaim ("since the dawn of \
            memcg reclaim", Hugh Dickins to Shakeel Butt, Nov 2020, seed 003). "mm/rmap: always \
            do TTU_IGNORE_ACCESS" (013339df116c, 5.11; stable 5.10.4) removed the check. Each \
            finding is a ptep_clear_flush_young() call (kprobe, with the PTE, its young bit and \
            the memcg of the VMA's mm owner) inside memcg reclaim on a young PTE of a VMA whose \
            owner is outside the target memcg's subtree.
            """
    )

    public static let freedWhileIsolated = Rule(
        id: "freed-while-isolated",
        severity: .info,
        title: "migration source freed while isolated, counted as migrated",
        explanation: """
            migrate_pages() isolates its sources first and migrates them later; when the owner \
            unmaps and releases a source in between, only the isolation reference is left. \
            migrate_folio_unmap() (6.3+; unmap_and_move() before) then sees \
            folio_ref_count(src) == 1 ("Folio was freed from under us"), clears PG_active and \
            PG_unevictable by hand (the folio is off the LRU, so the release would not), frees \
            it through migrate_folio_done() in the migrating task and returns \
            MIGRATEPAGE_SUCCESS: mm_migrate_pages and pgmigrate_success count it as migrated \
            although nothing moved (Miaohe Lin and David Hildenbrand, Jun 2022, seed 004, on \
            whether the block is needed; a 2025 patch removes it, release not checked here). \
            Each finding is a migrate_folio_done() call (kprobe) \
            on a source with no migrate_folio_move() before it, inside a migrate_pages() call \
            the trace saw begin.
            """
    )

    public static let chargeLifecycleViolation = Rule(
        id: "charge-lifecycle-violation",
        severity: .error,
        title: "folio freed (and uncharged) while still mapped or in the page cache",
        explanation: """
            Since the uncharge rewrite (Johannes Weiner, Aug 2014, 3.17, seed 001) a folio is \
            uncharged after its final put: __folio_put() -> mem_cgroup_uncharge() -> the free \
            (6.1-6.12), "when we know for sure that nobody is looking at the page anymore". \
            Every PTE mapping holds a reference, so a free while mapped means someone dropped \
            a reference they never took (a driver's extra put_page()): the memcg loses the \
            charge of memory still in use, and the stale PTE reaches a page the allocator may \
            hand out again. The kernel itself reports it only when page checks are on \
            (free_pages_prepare() -> free_page_is_bad(): "Bad page state ... nonzero \
            mapcount"; always with CONFIG_DEBUG_VM, since 6.4 also with init_on_free or page \
            poisoning). The page cache holds a reference too, dropped only after \
            __filemap_remove_folio() or delete_from_page_cache_batch() traced the delete; a free \
            without one is the same bug on a page-cache folio ("non-NULL mapping"). Each finding \
            is a kmem:mm_page_free, with no lost events since the folio's first event, of a \
            folio allocated in the trace whose rmap kprobes (page_* up to 6.7, folio_* since) \
            added more mappings than they removed (error), or of one whose \
            filemap:mm_filemap_add_to_page_cache the trace shows with no delete since (warning: \
            migration and khugepaged, which replace page-cache folios without the filemap \
            events, are told apart by their task; MADV_COLLAPSE and FUSE's \
            replace_page_cache_folio() are not). Not covered: a migrated folio charged to \
            another memcg than its source, and charges after the final free (no trace event \
            names the charge's folio on kernels before 6.13).
            """
    )

    public static let all: [Rule] = [
        chargeMoveUnmapped, foreignRefault, mlockRestoredByReclaim, foreignReferenceRescue, freedWhileIsolated,
        chargeLifecycleViolation,
    ]
}

/// One detected instance of a rule, with the events that prove it.
public struct Finding: Sendable {
    public var rule: String
    public var severity: Severity
    public var folio: FolioRef
    /// The memcg whose folio it is (the one charged before: the move's source, the evicting
    /// memcg) and the other memcg involved (the move's target, the refaulting memcg).
    public var memcg: UInt64?
    public var otherMemcg: UInt64?
    /// When it happened (the last evidence).
    public var timestamp: UInt64
    /// What made it a finding, in a sentence.
    public var message: String
    public var evidence: [Evidence]
}
