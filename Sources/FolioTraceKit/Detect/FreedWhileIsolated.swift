/// `freed-while-isolated`: a migration source freed while isolated, counted as a successful
/// migration (seed 004).
///
/// Watches `Transition.freedWhileIsolated`. Every such free is a finding: the folio's owner
/// unmapped and released it after migrate_pages() isolated it, so the migration only freed
/// it (in the migrating task, with PG_active and PG_unevictable cleared by hand, since an
/// isolated folio is off the LRU and the normal release would not clear them), and
/// mm_migrate_pages / pgmigrate_success count it as succeeded. Totals are kept by reason.
struct FreedWhileIsolatedDetector {
    private(set) var findings: [Finding] = []
    private(set) var byReason: [String: UInt64] = [:]

    mutating func observe(_ free: IsolatedFree) {
        let rule = Rule.freedWhileIsolated
        let pages = UInt64(1) << UInt64(min(free.folio.order, 63))
        byReason[free.reason, default: 0] &+= pages
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
                    "source folio (\(whose), order \(free.folio.order)) freed from under migrate_pages() (\(free.reason)) by pid \(free.migratingPid): counted as migrated",
                evidence: free.evidence
            )
        )
    }

    var context: [(String, UInt64)] {
        byReason.sorted { $0.key < $1.key }.map { ("pages freed while isolated, reason \($0.key)", $0.value) }
    }
}
