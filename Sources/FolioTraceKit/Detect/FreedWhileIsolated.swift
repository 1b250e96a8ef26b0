/// `freed-while-isolated`: a migration source freed while isolated, counted as a successful
/// migration.
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

    var context: [(label: String, count: UInt64)] {
        byReason.sorted { $0.key < $1.key }.map { ("pages freed while isolated, reason \($0.key)", $0.value) }
    }
}

extension Rule {
    public static let freedWhileIsolated = Rule(
        .freedWhileIsolated,
        severity: .info,
        title: "migration source freed while isolated, counted as migrated",
        thread: MailingListThread(
            subject: "[PATCH v2 2/4] mm/migration: remove unneeded lock page and PageMovable check",
            authors: "Miaohe Lin and David Hildenbrand",
            date: "May-June 2022"
        ),
        explanation: """
            migrate_pages() isolates its sources first and migrates them later; when the owner \
            unmaps and releases a source in between, only the isolation reference is left. \
            migrate_folio_unmap() (6.3+; unmap_and_move() before) then sees \
            folio_ref_count(src) == 1 ("Folio was freed from under us"), clears PG_active and \
            PG_unevictable by hand (the folio is off the LRU, so the release would not), frees \
            it through migrate_folio_done() in the migrating task and returns \
            MIGRATEPAGE_SUCCESS: mm_migrate_pages and pgmigrate_success count it as migrated \
            although nothing moved (the thread asks whether the block is needed; a 2025 patch \
            removes it, release not checked here). Each finding is a migrate_folio_done() call \
            (kprobe) on a source with no migrate_folio_move() before it (or \
            move_to_new_folio(), which it calls, where a build inlines it), inside a \
            migrate_pages() call the trace saw begin.
            """,
        // Every folio shape alike (`judges` empty): migrate_folio_unmap() checks
        // folio_ref_count(src) == 1 for a folio of any size, and a large folio split to be
        // migrated is retried as its small folios, each through the probed functions (6.3+).
        needs: [
            ["migrate:mm_migrate_pages_start"], ["kprobe:migrate_folio_done"],
            ["kprobe:migrate_folio_move", "kprobe:move_to_new_folio"],
            // folio pointers map to pfns through the (folio, pfn) pairs of pagemap events
            ["pagemap:mm_lru_insertion", "pagemap:mm_lru_activate"],
        ]
    )
}
