/// `foreign-reference-rescue`: memcg A's reclaim kept a folio because a task of another memcg
/// had referenced it (kernels before 5.11).
///
/// Watches `Transition.reclaimReference`: a young PTE in a foreign VMA, met by memcg
/// reclaim, is a finding (the unmap failed and the folio was activated); old ones are counted
/// (the foreign mapping was unmapped and the folio stayed reclaimable), and so are the checks
/// in the target's own VMAs, which every kernel makes (page_referenced()), so that "none" says
/// how much the rule saw. On 5.11+ (and 5.10.4+) try_to_unmap_one() no longer looks at the
/// young bit and page_referenced() skips foreign VMAs: the probe meets no foreign VMA and the
/// rule finds nothing, from the trace, not from the kernel's version (a kernel with the change
/// reverted is judged as what it does). Checks whose VMA the trace cannot place are counted
/// as not judged, by reason.
struct ForeignReferenceRescueDetector {
    private(set) var findings: [Finding] = []
    private(set) var oldForeignPTEs: UInt64 = 0
    private(set) var targetChecks: UInt64 = 0
    private(set) var notJudged: [String: UInt64] = [:]

    mutating func observe(_ reference: ReclaimReference) {
        switch reference.owner {
        case .inTarget:
            targetChecks += 1
        case .notJudged(let reason):
            notJudged[reason, default: 0] += 1
        case .foreign(let foreign):
            guard reference.young, let target = reference.target else {
                oldForeignPTEs += 1
                return
            }
            let rule = Rule.foreignReferenceRescue
            let owner = reference.ownerPid.map { " (pid \($0))" } ?? ""
            findings.append(
                Finding(
                    rule: rule.id,
                    severity: rule.severity,
                    folio: reference.folio,
                    memcg: target,
                    otherMemcg: foreign,
                    timestamp: reference.evidence.last?.timestamp ?? 0,
                    message:
                        "memcg \(target)'s reclaim kept the folio: young PTE in a VMA of memcg \(foreign)\(owner)",
                    evidence: reference.evidence
                )
            )
        }
    }

    var context: [(label: String, count: UInt64)] {
        [
            ("folios kept by a foreign young PTE", UInt64(findings.count)),
            ("foreign PTEs found old (unmapped)", oldForeignPTEs),
            ("young-bit checks in the target's own VMAs", targetChecks),
        ] + DetectorSet.byReason(notJudged).map { ("not judged: " + $0.reason, $0.count) }
    }
}

extension Rule {
    public static let foreignReferenceRescue = Rule(
        .foreignReferenceRescue,
        severity: .info,
        title: "memcg reclaim kept a folio because another memcg's task referenced it",
        thread: .alwaysIgnoreAccess,
        explanation: """
            Before 5.11, memcg reclaim's page_referenced() counted only VMAs of tasks in the \
            target memcg (invalid_page_referenced_vma(), mm_match_cgroup()), but \
            try_to_unmap_one() without TTU_IGNORE_ACCESS called ptep_clear_flush_young_notify() \
            in every VMA: a young PTE in a VMA of a task of another memcg failed the unmap, and \
            shrink_page_list() activated the folio (nr_unmap_fail, activate_locked). A recent \
            foreign reference rescued memcg A's folio from A's own reclaim ("since the dawn of \
            memcg reclaim", Hugh Dickins in the thread). "mm/rmap: always do \
            TTU_IGNORE_ACCESS" (013339df116c, 5.11; stable 5.10.4) removed the check. Each \
            finding is a ptep_clear_flush_young() call (kprobe, with the PTE, its young bit and \
            the memcg of the VMA's mm owner) inside memcg reclaim on a young PTE of a VMA whose \
            owner is outside the target memcg's subtree.
            """,
        // Every folio shape alike (`judges` empty): shrink_page_list() splits a THP's PMD
        // before try_to_unmap() (TTU_SPLIT_HUGE_PMD, 5.10), so each young-bit check reclaim
        // makes there is a PTE's, through ptep_clear_flush_young().
        needs: [
            ["vmscan:mm_vmscan_memcg_reclaim_begin"], ["kprobe:ptep_clear_flush_young"],
            // cgroup paths decide whether the VMA's memcg is under the reclaim target
            ["cgroup:cgroup_mkdir"],
        ]
    )
}
