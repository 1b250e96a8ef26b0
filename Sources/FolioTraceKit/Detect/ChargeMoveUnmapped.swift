/// `charge-move-unmapped`: charge moves of pages that no page table maps.
///
/// Watches `Transition.chargeMoved`; a move whose page was unmapped is a finding, mapped
/// ones are counted so the report shows the proportion, and moves whose mapping the trace
/// cannot tell are counted apart, by reason (never guessed).
struct ChargeMoveUnmappedDetector {
    private(set) var findings: [Finding] = []
    private(set) var mappedMoves: UInt64 = 0
    private(set) var undecidedMoves: UInt64 = 0
    /// The undecided moves by reason (`ChargeMove.mappedBecause`).
    private(set) var notJudged: [String: UInt64] = [:]

    mutating func observe(_ move: ChargeMove) {
        switch move.mapped {
        case true?:
            mappedMoves += 1
        case nil:
            undecidedMoves += 1
            notJudged[move.mappedBecause, default: 0] &+= 1
        case false?:
            let rule = Rule.chargeMoveUnmapped
            findings.append(
                Finding(
                    rule: rule.id,
                    severity: rule.severity,
                    folio: move.folio,
                    memcg: move.fromMemcg,
                    otherMemcg: move.toMemcg,
                    timestamp: move.evidence.timestamp,
                    message:
                        "charge moved from memcg \(move.fromMemcg.map(String.init) ?? "?") to \(move.toMemcg.map(String.init) ?? "?") while unmapped (\(move.mappedBecause))",
                    evidence: [move.evidence]
                )
            )
        }
    }
}

extension Rule {
    public static let chargeMoveUnmapped = Rule(
        .chargeMoveUnmapped,
        severity: .warning,
        title: "memcg charge moved for a page no page table maps",
        thread: MailingListThread(
            subject: "[PATCH] mm: remove lock_page_memcg() from rmap",
            authors: "Johannes Weiner and Hugh Dickins",
            date: "November 2022"
        ),
        explanation: """
            cgroup-v1 charge moving (memory.move_charge_at_immigrate, mem_cgroup_move_account) \
            was believed to move only pages mapped into the migrating task, so that the PTE lock \
            serialized it against rmap. But get_mctgt_type() also returns pages it finds through \
            the swap cache and the page cache for non-present PTEs: those can be unmapped, and \
            their NR_FILE_MAPPED/NR_ANON_MAPPED accounting must not move. Each finding is a move \
            whose page had no PTE mapping at the move (the probe's _mapcount -1, and for a THP no \
            PMD mapping). Charge moving exists up to 6.12 (deprecated in 6.3, removed in 6.13); \
            the kprobe is on mem_cgroup_move_account.
            """,
        needs: [["kprobe:mem_cgroup_move_account"]],
        // PTE-mapped large folios need nothing: mem_cgroup_move_charge_pte_range() skips every
        // large folio it meets through a PTE ("ignore such a partial THP", PageCompound() since
        // 4.5, folio_test_large() in 6.x), so only small pages and PMD-mapped THPs are moved.
        judges: [
            FolioNeed(
                [.small],
                .argument(["mapcount"], onEveryProbeOf: [.memCgroupMoveAccount]),
                kernels:
                    "up to 6.12: mem_cgroup_move_account(page, compound, from, to), mapcount=+48(%di) (page->_mapcount)",
                otherwise: ChargeMove.balanceCannotProveUnmapped
            ),
            FolioNeed(
                [.pmdMappedTHP],
                .argument(["compound"], onEveryProbeOf: [.memCgroupMoveAccount]),
                kernels:
                    "up to 6.12: compound=true when mem_cgroup_move_charge_pte_range() moves a THP through its PMD",
                otherwise:
                    "no compound argument fetched: a THP moved whole through its PMD, whose head _mapcount stays -1, cannot be told from an unmapped page"
            ),
        ]
    )
}
