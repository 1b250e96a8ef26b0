/// `foreign-refault-after-memcg-reclaim`: a file page evicted by memcg A's reclaim and
/// brought back by a task of memcg B (kernels since 5.11).
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

extension Rule {
    public static let foreignRefault = Rule(
        .foreignRefault,
        severity: .info,
        title: "folio reclaimed by its memcg, refaulted by another memcg's task",
        thread: .alwaysIgnoreAccess,
        explanation: """
            Since 5.11 memcg reclaim ignores references from VMAs of tasks in other memcgs \
            (folio_referenced() with a memcg filter; previously try_to_unmap_one() let a young PTE \
            in a foreign VMA rescue the folio), so a file folio charged to memcg A that a task of \
            memcg B keeps using is reclaimed under A's limit, and B faults the same file page \
            back in, now charged to B: ownership flips and the work repeats. Each finding is a \
            page-cache add by a task of B of a file page (dev, inode, index) that A's memcg \
            reclaim evicted earlier in the trace, with the refault delay.
            """,
        // Every folio shape alike (`judges` empty): a refault is a page-cache add at the
        // (dev, ino, index) an eviction left, whatever the size of either folio.
        needs: [
            ["vmscan:mm_vmscan_memcg_reclaim_begin"], ["vmscan:mm_vmscan_memcg_reclaim_end"],
            ["filemap:mm_filemap_add_to_page_cache"], ["filemap:mm_filemap_delete_from_page_cache"],
            ["cgroup:cgroup_attach_task", "cgroup:cgroup_mkdir"],
        ]
    )
}

extension MailingListThread {
    /// Where memcg reclaim stopped honouring references from other memcgs' VMAs (5.11,
    /// stable 5.10.4): the thread of both foreign-memcg rules.
    static let alwaysIgnoreAccess = MailingListThread(
        subject: "[PATCH] mm: rmap: always do TTU_IGNORE_ACCESS",
        authors: "Shakeel Butt and Hugh Dickins",
        date: "November 2020"
    )
}
