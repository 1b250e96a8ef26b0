/// `foreign-reference-rescue`: memcg A's reclaim kept a folio because a task of another memcg
/// had referenced it (seed 003, kernels before 5.11).
///
/// Watches `Transition.foreignReference`: a young PTE in a foreign VMA, met by memcg
/// reclaim, is a finding (the unmap failed and the folio was activated); old ones are counted
/// (the foreign mapping was unmapped and the folio stayed reclaimable). On 5.11+ (and 5.10.4+)
/// try_to_unmap_one() no longer looks at the young bit and page_referenced() skips foreign
/// VMAs, so the probe sees no foreign VMA at all: the rule finds nothing there.
struct ForeignReferenceRescueDetector {
    private(set) var findings: [Finding] = []
    private(set) var oldForeignPTEs: UInt64 = 0

    mutating func observe(_ reference: ForeignReference) {
        guard reference.young else {
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
                memcg: reference.target,
                otherMemcg: reference.foreign,
                timestamp: reference.evidence.last?.timestamp ?? 0,
                message:
                    "memcg \(reference.target)'s reclaim kept the folio: young PTE in a VMA of memcg \(reference.foreign)\(owner)",
                evidence: reference.evidence
            )
        )
    }

    var context: [(String, UInt64)] {
        [
            ("folios kept by a foreign young PTE", UInt64(findings.count)),
            ("foreign PTEs found old (unmapped)", oldForeignPTEs),
        ]
    }
}
