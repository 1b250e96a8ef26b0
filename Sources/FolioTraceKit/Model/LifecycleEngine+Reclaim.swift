/// Reclaim passes, evictions from the page cache and the refaults that bring them back.
extension LifecycleEngine {
    mutating func handleVmscan(_ v: VmscanEvent, _ r: RawRecord) {
        switch v {
        case .reclaimBegin(let kind, _):
            reclaiming[r.pid] = kind
            reclaimBegan[r.pid] = evidence(r)
            switch kind {
            case .memcg, .memcgSoftLimit: summary.reclaim.memcgReclaimPasses += 1
            case .direct: summary.reclaim.directReclaimPasses += 1
            case .node: break
            }
        case .reclaimEnd(_, let n):
            reclaiming[r.pid] = nil
            reclaimBegan[r.pid] = nil
            reclaimTarget[r.pid] = nil
            summary.reclaim.nrReclaimed &+= n
        case .kswapdWake:
            summary.reclaim.kswapdWakes += 1
        case .shrinkInactive(let s):
            summary.reclaim.shrinkInactiveScanned &+= s.nrScanned
            summary.reclaim.shrinkInactiveReclaimed &+= s.nrReclaimed
            summary.reclaim.activated &+= s.nrActivated
            summary.reclaim.unmapFailed &+= s.nrUnmapFail ?? 0
        case .writeFolio(let pfn, _):
            let head = folio(pfn, r)
            self[head].bits.insert(.writtenBack)
            step(head, r, "write_folio")
        default:
            break
        }
    }

    /// Whether `page` belongs to a folio that reclaim evicted earlier. Page-cache folios are
    /// aligned in the file as in memory (a folio of order k starts at an index that is a
    /// multiple of 2^k), so the evicted folio covering an index is found by rounding down.
    /// The record goes once all its pages have come back.
    mutating func refault(_ page: FilePage, pages: UInt64) -> EvictedFolio? {
        if evictedInodes[page.inode] == nil { return nil }
        for order in evictedOrders.indices where evictedOrders[order] > 0 {
            var key = page
            key.index &= ~((1 << UInt64(order)) - 1)
            guard var e = evicted[key], Int(e.order) == order else { continue }
            e.refaultedPages &+= pages
            if e.refaultedPages >= 1 << UInt64(order) {
                evicted[key] = nil
                evictedOrders[order] -= 1
                if let n = evictedInodes[key.inode], n > 1 {
                    evictedInodes[key.inode] = n - 1
                } else {
                    evictedInodes[key.inode] = nil
                }
            } else {
                evicted[key] = e
            }
            return e
        }
        return nil
    }
}

struct EvictedFolio {
    var memcg: UInt64?
    var order: UInt8
    /// The reclaim the evicting task was in (nil for kswapd).
    var reclaim: ReclaimKind?
    var evidence: Evidence
    var refaultedPages: UInt64 = 0
}
