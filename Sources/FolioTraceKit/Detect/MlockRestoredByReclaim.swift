/// `mlock-restored-by-reclaim`: reclaim met a folio in a VM_LOCKED VMA that was not mlocked,
/// and mlocked it.
///
/// Watches `Transition.mlockRestored`. Every restore is a finding: the folio sat on an
/// evictable LRU although a VMA locks it, so reclaim spent a scan on it. Large folios are
/// called out (warning): 6.1's `mlock_vma_folio()` mlocks a large folio only when it is
/// PMD-mapped (`compound`), so a PTE-mapped one stays on the evictable LRU and keeps
/// failing the unmap instead; later kernels changed when large folios are mlocked.
struct MlockRestoredByReclaimDetector {
    private(set) var findings: [Finding] = []
    private(set) var pages: UInt64 = 0
    private(set) var largeFolios: UInt64 = 0
    /// Restores of folios whose PG_mlocked was already set at the call (counted, not found).
    private(set) var alreadyMlocked: UInt64 = 0

    mutating func observe(_ restore: MlockRestore) {
        if restore.wasMlocked == true {
            alreadyMlocked += 1
            return
        }
        let rule = Rule.mlockRestoredByReclaim
        let order = restore.folio.order
        let large = order > 0
        if large { largeFolios += 1 }
        pages &+= 1 << UInt64(min(order, 63))
        let whose = restore.folio.filePage.map { "ino \($0.inode) index \($0.index)" } ?? "anon"
        let by = restore.reclaim.map { "\($0.rawValue) reclaim" } ?? "kswapd"
        findings.append(
            Finding(
                rule: rule.id,
                severity: large ? .warning : rule.severity,
                folio: restore.folio,
                memcg: restore.folio.memcg ?? restore.reclaimerMemcg,
                otherMemcg: nil,
                timestamp: restore.evidence.last?.timestamp ?? 0,
                message: large
                    ? "\(by) mlocked a large folio (order \(order), \(whose)) that was on an evictable LRU in a VM_LOCKED VMA"
                    : "\(by) mlocked a folio (\(whose)) that was on an evictable LRU in a VM_LOCKED VMA",
                evidence: restore.evidence
            )
        )
    }

    var context: [(label: String, count: UInt64)] {
        [
            ("folios mlocked by reclaim", UInt64(findings.count)),
            ("pages", pages),
            ("large folios", largeFolios),
            ("calls on folios already mlocked", alreadyMlocked),
        ]
    }
}

extension Rule {
    public static let mlockRestoredByReclaim = Rule(
        .mlockRestoredByReclaim,
        severity: .info,
        title: "reclaim mlocked a folio of a VM_LOCKED VMA that was on an evictable LRU",
        thread: MailingListThread(
            subject: "[PATCH v6 2/3] mm/rmap: integrate PMD-mapped folio splitting into pagewalk loop",
            authors: "Lance Yang and David Hildenbrand",
            date: "June 2024"
        ),
        explanation: """
            A folio mapped by a VM_LOCKED VMA should be PG_mlocked and on the unevictable list. \
            When the mlock got missed, reclaim finds the folio on an evictable LRU and its rmap \
            walk meets the VM_LOCKED VMA: try_to_unmap_one() (for years) and, since the 5.18 \
            mlock rework, folio_referenced_one() call mlock_vma_folio() to "restore the mlock \
            which got missed", and the putback moves the folio to the unevictable list \
            (mm/rmap.c, mm/vmscan.c). 6.1 undercounts mlock_count on purpose (lru_add_fn(): \
            "underestimate, let page reclaim fix it"), so a munlock of one mapping can leave a \
            folio that another mapping still locks evictable. Large folios are the thread's \
            subject (PMD-mapped THPs in try_to_unmap_one()): 6.1's mlock_vma_folio() mlocks a \
            large folio only when PMD-mapped ("compound || !folio_test_large"), so a PTE-mapped \
            one is never restored and keeps failing the unmap; Yin Fengwei's 2023 series made it \
            folio_within_vma(). A THP also misses its mlock when mlock() races its migration: \
            the destination is mapped while the VMA has VM_IO set for mlock's walk, and \
            mlock_vma_folio() ignores it (seen on 6.12). Each finding is an mlock_folio() call \
            (kprobe) inside a reclaim pass or kswapd on a folio whose PG_mlocked was clear; \
            large folios are warnings.
            """,
        // Every folio shape alike (`judges` empty): mlock_folio() names the folio reclaim
        // mlocked whatever its size; large folios are the warning (see the explanation).
        needs: [
            ["kprobe:mlock_folio"],
            // folio pointers map to pfns through the (folio, pfn) pairs of pagemap events
            ["pagemap:mm_lru_insertion", "pagemap:mm_lru_activate"],
            [
                "vmscan:mm_vmscan_memcg_reclaim_begin", "vmscan:mm_vmscan_direct_reclaim_begin",
                "vmscan:mm_vmscan_kswapd_wake",
            ],
        ]
    )
}
