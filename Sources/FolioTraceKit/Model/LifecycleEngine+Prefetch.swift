/// Asking the cache, records ahead, for the folio a record will look up.
///
/// The engine's time on a large capture goes to cache misses on memory indexed by pfn: the
/// head table's entry of each record's pfn (`HeadTable`, 8 bytes a pfn, 9.7 MiB for the
/// scale capture's 394 thousand pfns) and then the folio's state and details at the slot it
/// names (`FolioSlots`). The buddy allocator hands pfns out in no order the cache can guess,
/// so most of those loads missed: half of `begin`'s and `folio`'s samples, a third of
/// `apply`'s, a quarter of the engine thread's in all (docs/performance.md, thirteenth
/// session). The loop that feeds the engine knows the records to come (the reader decoded a
/// batch of them), so it asks in two steps: the entry of the record `entryAhead` records on,
/// then, once that has had time to arrive, the folio of the record `folioAhead` on, which
/// reading the entry names. A prefetch changes no state and cannot fault: the results are
/// those of the pass without it.
extension LifecycleEngine {
    /// How far ahead the loop asks for a record's head-table entry, and for its folio.
    static let entryAhead = 16
    static let folioAhead = 8

    /// Step one: the head-table entry of `pfn` (a record's `MMEvent.folioPfn`).
    @inline(__always)
    func prefetchEntry(_ pfn: UInt64) {
        if pfn != MMEvent.noFolio { live.prefetch(pfn) }
    }

    /// Step two: the state and details of the live folio at `pfn`; for a pfn that is no live
    /// head (an allocation's, most often), the slot a new generation there would take and the
    /// entries `largeHead(of:)` will read to find a large folio covering it, one candidate head
    /// for each order with live folios (those entries are a cache line or more away from the
    /// pfn's own, and were a third of `largeHead`'s samples).
    @inline(__always)
    func prefetchFolio(_ pfn: UInt64) {
        guard pfn != MMEvent.noFolio else { return }
        if let slot = live[pfn] {
            folios.prefetch(slot)
            return
        }
        folios.prefetchNextFree()
        var orders = liveOrders & ~1
        while orders != 0 {
            let order = UInt64(orders.trailingZeroBitCount)
            orders &= orders &- 1
            live.prefetch(pfn & ~((1 << order) &- 1))
        }
    }
}

extension MMEvent {
    /// `folioPfn` of an event that looks up no folio.
    static let noFolio = UInt64.max

    /// The pfn whose folio the engine looks up for this event, for the loop's prefetch:
    /// allocations, frees, LRU insertions and activations, page-cache adds and deletes, the
    /// events of every folio's life; `noFolio` for the others, memcg stat records among them.
    @inline(__always)
    var folioPfn: UInt64 {
        switch self {
        case .pageAlloc(let a): a.pfn ?? Self.noFolio
        case .pageFree(let f): f.pfn
        case .lruInsertion(let l): l.pfn
        case .lruActivate(let a): a.pfn
        case .pageCacheAdd(let p), .pageCacheDelete(let p): p.pfn
        default: Self.noFolio
        }
    }
}
