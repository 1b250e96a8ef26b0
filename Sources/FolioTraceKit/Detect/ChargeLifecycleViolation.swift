/// `charge-lifecycle-violation`: a folio freed while the trace shows it still mapped (seed 001).
///
/// Watches `Transition.freedWhileMapped`. Every such free is a finding: since the uncharge
/// rewrite (3.17) a folio is uncharged at its final put, which a mapping's reference should
/// make impossible while any page table maps it; so the free uncharged a folio still in use,
/// and what the task does through the stale PTE lands on a page the allocator may hand out
/// again. Totals count folios and pages.
struct ChargeLifecycleViolationDetector {
    private(set) var findings: [Finding] = []
    private var pages: UInt64 = 0

    mutating func observe(_ free: MappedFree) {
        let rule = Rule.chargeLifecycleViolation
        pages &+= UInt64(1) << UInt64(min(free.folio.order, 63))
        let whose = free.folio.filePage.map { "ino \($0.inode) index \($0.index)" } ?? "anon"
        findings.append(
            Finding(
                rule: rule.id,
                severity: rule.severity,
                folio: free.folio,
                memcg: free.folio.memcg,
                otherMemcg: nil,
                timestamp: free.evidence.last?.timestamp ?? 0,
                message:
                    "folio (\(whose), order \(free.folio.order)) freed and uncharged by pid \(free.freedBy) while mapped \(free.mappings) time(s), last by pid \(free.mappedBy)",
                evidence: free.evidence
            )
        )
    }

    var context: [(String, UInt64)] {
        [("folios freed while mapped", UInt64(findings.count)), ("pages", pages)]
    }
}
