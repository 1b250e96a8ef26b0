/// `charge-lifecycle-violation`: a folio freed, and so uncharged, while the trace shows it
/// still in use: mapped (seed 001), or in the page cache.
///
/// Watches `Transition.freedWhileMapped` and `Transition.freedInPageCache`. Since the uncharge
/// rewrite (3.17) a folio is uncharged at its final put, which the reference of a mapping or
/// of the page cache should make impossible while either holds it; so the free uncharged a
/// folio still in use, and what reaches it through the stale PTE or page-cache slot lands on a
/// page the allocator may hand out again. A free while mapped is an error; a free while in the
/// page cache a warning, because kernel paths that replace page-cache folios without the
/// filemap events (MADV_COLLAPSE's `collapse_file()` in the calling task, FUSE's
/// `replace_page_cache_folio()`) look the same in a trace. Totals count folios and pages.
struct ChargeLifecycleViolationDetector {
    private(set) var findings: [Finding] = []
    private var mappedFrees: UInt64 = 0
    private var pageCacheFrees: UInt64 = 0
    private var pages: UInt64 = 0

    mutating func observe(_ free: MappedFree) {
        mappedFrees += 1
        let whose = free.folio.filePage.map { "ino \($0.inode) index \($0.index)" } ?? "anon"
        add(
            free.folio,
            severity: Rule.chargeLifecycleViolation.severity,
            message:
                "folio (\(whose), order \(free.folio.order)) freed and uncharged by pid \(free.freedBy) while mapped \(free.mappings) time(s), last by pid \(free.mappedBy)",
            evidence: free.evidence
        )
    }

    mutating func observe(_ free: PageCacheFree) {
        pageCacheFrees += 1
        add(
            free.folio,
            severity: .warning,
            message:
                "folio (ino \(free.page.inode) index \(free.page.index), order \(free.folio.order)) freed and uncharged by pid \(free.freedBy) while in the page cache (no delete since its add)",
            evidence: free.evidence
        )
    }

    private mutating func add(_ folio: FolioRef, severity: Severity, message: String, evidence: [Evidence]) {
        pages &+= UInt64(1) << UInt64(min(folio.order, 63))
        findings.append(
            Finding(
                rule: Rule.chargeLifecycleViolation.id,
                severity: severity,
                folio: folio,
                memcg: folio.memcg,
                otherMemcg: nil,
                timestamp: evidence.last?.timestamp ?? 0,
                message: message,
                evidence: evidence
            )
        )
    }

    var context: [(String, UInt64)] {
        [
            ("folios freed while mapped", mappedFrees), ("folios freed while in the page cache", pageCacheFrees),
            ("pages", pages),
        ]
    }
}
