/// Memcg ownership: charges, exact attribution from memcg stat events, charge moves.
extension LifecycleEngine {
    /// Counts a generation and its pages for the memcg in `row`.
    mutating func charge(row: UInt32, pages: UInt64) {
        update(row: row) {
            $0.generations += 1
            $0.pagesCharged &+= pages
        }
    }

    /// Changes the summary of memcg `id`, made when it has none.
    mutating func update(_ memcg: UInt64, _ change: (inout MemcgSummary) -> Void) {
        update(row: memcgRow(memcg), change)
    }

    /// Changes the summary of the memcg in `row`, made when it has none.
    @inline(__always)
    mutating func update(row: UInt32, _ change: (inout MemcgSummary) -> Void) {
        let id = tallies[Int(row)].memcg
        Self.change(&memcgRows[Int(row)], id: id, change)
    }

    @inline(__always)
    private static func change(_ m: inout MemcgSummary?, id: UInt64, _ change: (inout MemcgSummary) -> Void) {
        if m == nil { m = MemcgSummary(id: id) }
        change(&m!)
    }

    /// Exact attribution: on 6.13+ the kernel updates the memcg's counter for this folio
    /// (`__lruvec_stat_mod_folio` in `__filemap_add_folio`, `update_lru_size` in
    /// `lruvec_add_folio`) right before the folio tracepoint, on the same CPU and task, by the
    /// folio's page count.
    ///
    /// Takes the folio's slot: looked up by head pfn, each read and change of the folio here
    /// was a head-table lookup of its own (seven of them).
    mutating func attributeExactly(
        _ slot: Int32,
        _ previous: StatMark,
        _ r: RawRecord,
        positive: Bool
    ) {
        guard !previous.isNone, previous.pid == r.pid else { return }
        let f = folios[slot]
        guard Int64(previous.pages) == Int64(f.pages) * (positive ? 1 : -1) else { return }
        let memcgID = previous.memcgID
        let old = owner(f)
        guard f.attribution != .exact || old != memcgID else { return }
        if let o = old, o != memcgID {
            update(row: f.memcgRow) {
                $0.generations -= 1
                $0.pagesCharged -= f.pages
            }
        }
        let row = memcgRow(memcgID)
        tally(f, by: -1)
        update(slot) { f in
            f.memcgRow = row
            f.attribution = .exact
        }
        tally(folios[slot], by: 1)
        if old != memcgID { charge(row: row, pages: f.pages) }
    }

    mutating func handleCharge(_ call: ChargeCall, _ r: RawRecord) {
        let a = call.arguments
        learn(memcg: a.memcg, id: a.memcgID)
        learn(memcg: a.from, id: a.fromMemcgID)
        learn(memcg: a.to, id: a.toMemcgID)
        guard call.function == .memCgroupMoveAccount, let pfn = pfn(ofPage: a.page ?? a.folio) else { return }
        let head = folio(pfn, r)
        let pages = self[head].pages
        summary.chargeMoves += 1
        if self[head].chargeMoves < .max { self[head].chargeMoves += 1 }
        // The rmap balance speaks for the mapping only if the trace saw the whole generation:
        // a mapping made before the trace, or lost, would leave it short.
        let f = self[head]
        let whole = f.bits.contains(.allocated) && f.bits.contains(.sawRmap) && !f.bits.contains(.crossesLoss)
        let mapped = ChargeMove.mapped(
            a,
            order: f.bits.contains(.allocated) ? f.order : nil,
            rmapBalance: whole ? f.rmapBalance : nil
        )
        transitions.append(
            .chargeMoved(
                ChargeMove(
                    folio: ref(head),
                    fromMemcg: a.fromMemcgID,
                    toMemcg: a.toMemcgID,
                    mapped: mapped.mapped,
                    mappedBecause: mapped.because,
                    evidence: evidence(r)
                )
            )
        )
        if let from = a.fromMemcgID { update(from) { $0.pagesMovedOut &+= pages } }
        if let to = a.toMemcgID {
            update(to) { $0.pagesMovedIn &+= pages }
            let row = memcgRow(to)
            tally(out: head)
            self[head].memcgRow = row
            tally(in: head)
            self[head].attribution = .exact
        }
        step(
            head,
            r,
            "move_account from=\(a.fromMemcgID.map(String.init) ?? "?") to=\(a.toMemcgID.map(String.init) ?? "?") mapcount=\(a.mapcount.map(String.init) ?? "?")"
        )
    }
}
