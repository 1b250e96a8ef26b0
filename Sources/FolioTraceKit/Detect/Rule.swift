/// How bad a finding is, for CI gates (`--fail-on`).
public enum Severity: String, Sendable, Comparable, CaseIterable {
    case info, warning, error

    private var rank: Int {
        switch self {
        case .info: return 0
        case .warning: return 1
        case .error: return 2
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// A detector's identity and explanation. Rule ids are part of the interface: keep them.
public struct Rule: Sendable {
    public var id: String
    public var severity: Severity
    /// One line for tables.
    public var title: String
    /// The pattern, the linux-mm discussion it comes from, and the kernel behaviour (with the
    /// functions and versions) it depends on.
    public var explanation: String

    /// The events the rule needs (see `AnalysisRequirement`, whose id is the rule id).
    public var requirement: AnalysisRequirement? { AnalysisRequirement.all.first { $0.id == id } }

    public static let chargeMoveUnmapped = Rule(
        id: "charge-move-unmapped",
        severity: .warning,
        title: "memcg charge moved for a page no page table maps",
        explanation: """
            cgroup-v1 charge moving (memory.move_charge_at_immigrate, mem_cgroup_move_account) \
            was believed to move only pages mapped into the migrating task, so that the PTE lock \
            serialized it against rmap. But get_mctgt_type() also returns pages it finds through \
            the swap cache and the page cache for non-present PTEs: those can be unmapped, and \
            their NR_FILE_MAPPED/NR_ANON_MAPPED accounting must not move (Hugh Dickins and \
            Johannes Weiner on "mm: remove lock_page_memcg() from rmap", Nov 2022, seed 000). \
            Each finding is a move whose page had no PTE mapping at the move (the probe's \
            _mapcount -1, and for a THP no PMD mapping). Charge moving exists up to 6.12 \
            (deprecated in 6.3, removed in 6.13); the kprobe is on mem_cgroup_move_account.
            """
    )

    public static let foreignRefault = Rule(
        id: "foreign-refault-after-memcg-reclaim",
        severity: .info,
        title: "folio reclaimed by its memcg, refaulted by another memcg's task",
        explanation: """
            Since 5.11 memcg reclaim ignores references from VMAs of tasks in other memcgs \
            (folio_referenced() with a memcg filter; previously try_to_unmap_one() let a young PTE \
            in a foreign VMA rescue the folio), so a file folio charged to memcg A that a task of \
            memcg B keeps using is reclaimed under A's limit, and B faults the same file page \
            back in, now charged to B: ownership flips and the work repeats (Shakeel Butt and \
            Hugh Dickins, Nov 2020, seed 003). Each finding is a page-cache add by a task of \
            B of a file page (dev, inode, index) that A's memcg reclaim evicted earlier in the \
            trace, with the refault delay.
            """
    )

    public static let all: [Rule] = [chargeMoveUnmapped, foreignRefault]
}

/// One detected instance of a rule, with the events that prove it.
public struct Finding: Sendable {
    public var rule: String
    public var severity: Severity
    public var folio: FolioRef
    /// The memcg whose folio it is (the one charged before: the move's source, the evicting
    /// memcg) and the other memcg involved (the move's target, the refaulting memcg).
    public var memcg: UInt64?
    public var otherMemcg: UInt64?
    /// When it happened (the last evidence).
    public var timestamp: UInt64
    /// What made it a finding, in a sentence.
    public var message: String
    public var evidence: [Evidence]
}
