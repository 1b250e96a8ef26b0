/// The raw events, as Perfetto's typed ftrace events.
extension PerfettoPass {
    /// The raw events Perfetto has a typed proto for, field for field (PerfettoField).
    func raw(_ r: RawRecord, _ event: MMEvent) {
        typealias F = PerfettoField.FtraceEvent
        let flags = r.payload.count > 2 ? r.payload[2] : 0
        func put(_ body: (inout ProtoWriter) -> Void) {
            writer.ftrace(cpu: r.cpu, timestamp: r.timestamp, pid: r.pid, flags: flags, body)
        }
        if let e = named[r.eventID] {
            guard r.payload.count >= e.length else { return }
            put { w in PerfettoNamedEvents.write(e, r.payload, into: &w) }
            return
        }
        switch event {
        case .pageAlloc(let a):
            guard let pfn = a.pfn else { return }
            put { w in
                let m = w.begin(F.mmPageAlloc)
                w.uint(PerfettoField.MmPageAlloc.gfpFlags, a.gfpFlags & 0xFFFF_FFFF)
                w.int(PerfettoField.MmPageAlloc.migratetype, Int64(a.migratetype))
                w.uint(PerfettoField.MmPageAlloc.order, UInt64(a.order))
                w.uint(PerfettoField.MmPageAlloc.pfn, pfn)
                w.end(m)
            }
        case .pageFree(let f):
            put { w in
                let m = w.begin(F.mmPageFree)
                w.uint(PerfettoField.MmPageFree.order, UInt64(f.order))
                w.uint(PerfettoField.MmPageFree.pfn, f.pfn)
                w.end(m)
            }
        case .pageFreeBatched(let f):
            put { w in
                let m = w.begin(F.mmPageFreeBatched)
                w.uint(PerfettoField.MmPageFree.pfn, f.pfn)
                w.end(m)
            }
        case .pagePcpuDrain(let d):
            put { w in
                let m = w.begin(F.mmPagePcpuDrain)
                w.int(PerfettoField.MmPagePcpuDrain.migratetype, Int64(d.migratetype))
                w.uint(PerfettoField.MmPagePcpuDrain.order, UInt64(d.order))
                w.uint(PerfettoField.MmPagePcpuDrain.pfn, d.pfn)
                w.end(m)
            }
        case .pageCacheAdd(let p), .pageCacheDelete(let p):
            let field: Int
            if case .pageCacheAdd = event {
                field = F.mmFilemapAddToPageCache
            } else {
                field = F.mmFilemapDeleteFromPageCache
            }
            put { w in
                let m = w.begin(field)
                w.uint(PerfettoField.MmFilemap.pfn, p.pfn)
                w.uint(PerfettoField.MmFilemap.inode, p.inode)
                w.uint(PerfettoField.MmFilemap.index, p.index)
                w.uint(PerfettoField.MmFilemap.dev, UInt64(p.dev))
                w.end(m)
            }
        case .vmscan(.reclaimBegin(let kind, let b)) where kind == .direct || kind == .memcg:
            put { w in
                let m = w.begin(kind == .direct ? F.mmVmscanDirectReclaimBegin : F.mmVmscanMemcgReclaimBegin)
                w.int(PerfettoField.MmVmscan.beginOrder, Int64(b.order))
                w.uint(PerfettoField.MmVmscan.beginGfpFlags, kind == .direct ? b.gfpFlags & 0xFFFF_FFFF : b.gfpFlags)
                w.end(m)
            }
        case .vmscan(.reclaimEnd(let kind, let n)) where kind == .direct || kind == .memcg:
            put { w in
                let m = w.begin(kind == .direct ? F.mmVmscanDirectReclaimEnd : F.mmVmscanMemcgReclaimEnd)
                w.uint(PerfettoField.MmVmscan.endNrReclaimed, n)
                w.end(m)
            }
        case .vmscan(.kswapdWake(let nid, let zid, let order)):
            put { w in
                let m = w.begin(F.mmVmscanKswapdWake)
                w.int(PerfettoField.MmVmscan.wakeNid, Int64(nid))
                w.int(PerfettoField.MmVmscan.wakeOrder, Int64(order))
                if let zid { w.int(PerfettoField.MmVmscan.wakeZid, Int64(zid)) }
                w.end(m)
            }
        case .vmscan(.kswapdSleep(let nid)):
            put { w in
                let m = w.begin(F.mmVmscanKswapdSleep)
                w.int(PerfettoField.MmVmscan.sleepNid, Int64(nid))
                w.end(m)
            }
        default:
            break
        }
    }
}
