/// `foreign-refault-after-memcg-reclaim`: a file page evicted by memcg A's reclaim and
/// brought back by a task of memcg B (seed 003, kernels since 5.11).
///
/// Watches `Transition.refaulted`. A refault counts when the eviction happened inside
/// memcg reclaim, both memcgs are known, and they differ. Totals are kept per (A, B, inode).
struct ForeignRefaultDetector {
    struct Key: Hashable {
        var evictedFrom: UInt64
        var refaultedInto: UInt64
        var dev: UInt32
        var inode: UInt64
    }

    private(set) var findings: [Finding] = []
    private(set) var totals: [Key: (pages: UInt64, delay: UInt64)] = [:]

    mutating func observe(_ refault: Refault) {
        guard refault.evictedBy == .memcg || refault.evictedBy == .memcgSoftLimit,
            let a = refault.evictedFrom, let b = refault.refaultedInto, a != b
        else { return }
        let rule = Rule.foreignRefault
        let delay = refault.delay
        findings.append(
            Finding(
                rule: rule.id,
                severity: rule.severity,
                folio: refault.folio,
                memcg: a,
                otherMemcg: b,
                timestamp: refault.refault.timestamp,
                message:
                    "ino \(refault.page.inode) index \(refault.page.index) evicted by memcg \(a)'s reclaim, refaulted by memcg \(b) after \(delay / 1000) us",
                evidence: [refault.eviction, refault.refault]
            )
        )
        let key = Key(evictedFrom: a, refaultedInto: b, dev: refault.page.dev, inode: refault.page.inode)
        let pages = UInt64(1) << UInt64(refault.folio.order)
        let t = totals[key] ?? (0, 0)
        // Values come from the trace: wrap rather than trap on a corrupt one.
        totals[key] = (t.pages &+ pages, t.delay &+ delay)
    }
}
