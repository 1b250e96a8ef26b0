/// `charge-lifecycle-violation`: a folio freed, and so uncharged, while the trace shows it
/// still in use: mapped, or in the page cache.
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
    /// Frees the trace could not judge, by reason (`Transition.freeNotJudged`).
    private(set) var notJudged: [String: UInt64] = [:]

    mutating func observe(_ free: MappedFree) {
        mappedFrees += 1
        let whose = free.folio.filePage.map { "ino \($0.inode) index \($0.index)" } ?? "anon"
        add(
            free.folio,
            severity: Rule.chargeLifecycleViolation.severity,
            message:
                "folio (\(whose), order \(free.folio.order)) freed and uncharged by pid \(free.freedBy) while mapped \(free.mappings) time(s), last by pid \(free.mappedBy); the capture probes every unmap path (\(free.unmapProbes.sorted().joined(separator: ", "))) and lost no event since the allocation, so that mapping was never removed",
            evidence: free.evidence
        )
    }

    mutating func observe(_ free: UnjudgedFree) {
        notJudged[free.reason, default: 0] &+= 1
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

    var context: [(label: String, count: UInt64)] {
        [
            ("folios freed while mapped", mappedFrees), ("folios freed while in the page cache", pageCacheFrees),
            ("pages", pages),
        ] + DetectorSet.byReason(notJudged).map { ("not judged: " + $0.reason, $0.count) }
    }
}

extension Rule {
    public static let chargeLifecycleViolation = Rule(
        .chargeLifecycleViolation,
        severity: .error,
        title: "folio freed (and uncharged) while still mapped or in the page cache",
        thread: MailingListThread(
            subject: "mm: memcontrol: rewrite uncharge API",
            authors: "Johannes Weiner, Michal Hocko and Andrew Morton",
            date: "August 2014"
        ),
        explanation: """
            Since the uncharge rewrite (3.17) a folio is uncharged after its final put: \
            __folio_put() -> mem_cgroup_uncharge() -> the free (6.1-6.12), "when we know for \
            sure that nobody is looking at the page anymore". Every PTE mapping holds a \
            reference, so a free while mapped means someone dropped a reference they never took \
            (a driver's extra put_page()): the memcg loses the charge of memory still in use, \
            and the stale PTE reaches a page the allocator may hand out again. The kernel itself \
            reports it only when page checks are on (free_pages_prepare() -> \
            free_page_is_bad(): "Bad page state ... nonzero mapcount"; always with \
            CONFIG_DEBUG_VM, since 6.4 also with init_on_free or page poisoning). The page cache \
            holds a reference too, dropped only after __filemap_remove_folio() or \
            delete_from_page_cache_batch() traced the delete; a free without one is the same bug \
            on a page-cache folio ("non-NULL mapping"). Each finding is a kmem:mm_page_free, \
            with no lost events since the folio's first event, of a folio allocated in the trace \
            whose rmap kprobes (page_* up to 6.7, folio_* since) added more mappings than they \
            removed (error), or of one whose filemap:mm_filemap_add_to_page_cache the trace shows \
            with no delete since (warning: migration and khugepaged, which replace page-cache \
            folios without the filemap events, are told apart by their task; MADV_COLLAPSE and \
            FUSE's replace_page_cache_folio() are not). Not covered: a migrated folio charged to \
            another memcg than its source, and charges after the final free (no trace event \
            names the charge's folio on kernels before 6.13).
            """,
        needs: [["kmem:mm_page_free"]],
        anyOf: [
            (
                "frees while mapped",
                [
                    ["kmem:mm_page_alloc"], AnalysisRequirement.rmapMapProbes, AnalysisRequirement.rmapUnmapProbes,
                    // folio pointers map to pfns through the (folio, pfn) pairs of pagemap events
                    ["pagemap:mm_lru_insertion", "pagemap:mm_lru_activate"],
                ]
            ),
            (
                "frees in the page cache",
                [
                    ["filemap:mm_filemap_add_to_page_cache"], ["filemap:mm_filemap_delete_from_page_cache"],
                    // migration replaces page-cache folios without the filemap events
                    ["migrate:mm_migrate_pages_start"],
                ]
            ),
        ],
        judges: [
            FolioNeed(
                Set(FolioShape.allCases),
                .probe(anyOf: [.folioRemoveRmapPtes, .folioRemoveRmap, .pageRemoveRmap]),
                kernels:
                    "6.8+: folio_remove_rmap_ptes (or its worker __folio_remove_rmap); up to 6.7: page_remove_rmap",
                otherwise: "no probe on a PTE unmap (folio_remove_rmap_ptes or page_remove_rmap)"
            ),
            FolioNeed(
                [.pmdMappedTHP],
                .probe(anyOf: [.folioRemoveRmapPmd, .folioRemoveRmap, .pageRemoveRmap]),
                kernels: "6.8+: folio_remove_rmap_pmd (or __folio_remove_rmap); up to 6.7: page_remove_rmap(compound)",
                otherwise: "large folio, no probe on folio_remove_rmap_pmd (a PMD-mapped THP unmaps there)"
            ),
            FolioNeed(
                [.pteMappedLarge],
                .argument(["nr_pages", "nr"], onEveryProbeOf: [.folioRemoveRmapPtes, .folioRemoveRmap]),
                kernels: "6.8+: folio_remove_rmap_ptes(folio, page, nr_pages, vma) removes nr_pages PTEs at once",
                otherwise: "large folio, the PTE unmap probe fetches no nr_pages"
            ),
        ]
    )
}

extension MappedFreeJudgement {
    /// What `charge-lifecycle-violation`'s folio needs let this capture judge. The engine
    /// knows a folio's order at its free, not how it was mapped, so a large folio must meet
    /// the needs of every large shape.
    public init(_ capture: CaptureProbes) {
        let rule = Rule.chargeLifecycleViolation
        self.init(
            unmapProbes: capture.events(of: KprobeFunction.allCases.filter { $0.rmapAction == .remove }),
            small: capture.notJudged([.small], under: rule.judges),
            large: capture.notJudged(FolioShape.large, under: rule.judges)
        )
    }
}
