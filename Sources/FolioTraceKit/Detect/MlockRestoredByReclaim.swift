/// `mlock-restored-by-reclaim`: reclaim met a folio in a VM_LOCKED VMA that was not mlocked,
/// and mlocked it (seed 002).
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

    var context: [(String, UInt64)] {
        [
            ("folios mlocked by reclaim", UInt64(findings.count)),
            ("pages", pages),
            ("large folios", largeFolios),
            ("calls on folios already mlocked", alreadyMlocked),
        ]
    }
}
