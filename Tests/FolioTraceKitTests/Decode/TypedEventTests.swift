import FolioTraceKit
import Testing

/// Every typed field foliotrace decodes, against libtraceevent's reading of the same field of
/// the same record (`tep_read_number_field`), on every real fixture.
@Suite struct TypedEventTests {
    @Test(arguments: Fixtures.traces)
    func typedFieldsMatchLibtraceevent(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let catalog = try EventCatalog(file: file)
        let decoder = try EventDecoder(catalog: catalog, path: path)
        let reference = try #require(ReferenceReader(path: path, instance: !file.primaryBuffer.name.isEmpty))
        var streams = try file.cpuStreams()
        var checked = 0
        var mismatches = 0
        for i in streams.indices {
            while let r = try streams[i].next() {
                let event = decoder.decode(r)
                let values = fieldValues(event)
                guard !values.isEmpty else { continue }
                let payload = [UInt8](r.payload)
                for (names, ours) in values {
                    let id = Int32(r.eventID)
                    // "a|b": the field goes by either name, depending on the kernel or probe.
                    let named = names.split(separator: "|").map(String.init).first {
                        reference.fieldSize(eventID: id, name: $0) != nil
                    }
                    // An unnamed probe argument (argN) is read as a prototype's parameter
                    // (PrototypeTests; DetectorTests checks such a capture against the kernel).
                    if named == nil, reference.fieldSize(eventID: id, name: "arg1") != nil { continue }
                    let name = try #require(named, "\(names) of event \(id)")
                    let size = try #require(reference.fieldSize(eventID: id, name: name))
                    let theirs = try #require(reference.fieldValue(eventID: id, name: name, payload: payload))
                    let mask: UInt64 = size >= 8 ? .max : (1 << (UInt64(size) * 8)) - 1
                    if ours & mask != theirs & mask {
                        mismatches += 1
                        if mismatches < 5 {
                            Issue.record(
                                "\(fixture): \(catalog.type(id: r.eventID)!.fullName) field \(name): foliotrace \(ours), libtraceevent \(theirs)"
                            )
                        }
                    }
                    checked += 1
                }
            }
        }
        #expect(mismatches == 0)
        #expect(checked > 0, "\(fixture) has typed events")
    }

    /// ptep_clear_flush_young() returns the young bit of the PTE it is given: where a probe
    /// fetched only the PTE, the bit is read from it (x86 _PAGE_ACCESSED, bit 5). The 5.10
    /// capture fetched both, the bit by the kernel's own bitfield fetch (`b1@5/64`).
    @Test func youngBitFromThePTEMatchesTheKernelsFetch() throws {
        let path = Fixtures.path("linux-5.10/foreign-reference-rescue.dat")
        let file = try TraceFile(path: path)
        let catalog = try EventCatalog(file: file)
        let decoder = try EventDecoder(catalog: catalog, path: path)
        let layout = try catalog.pteLayout.get()
        var merged = try file.mergedRecords()
        var young = 0
        var old = 0
        while let r = try merged.next() {
            guard case .probe(let call) = decoder.decode(r), call.function == .ptepClearFlushYoung,
                let pte = call.arguments.pte, let fetched = call.arguments.young
            else { continue }
            #expect(layout.isYoung(pte) == fetched, "pte \(pte)")
            if fetched { young += 1 } else { old += 1 }
        }
        #expect(young + old > 0, "the capture has ptep_clear_flush_young calls")
    }

    @Test func cgroupStringsMatchTraceCmd() throws {
        // cgroup paths are __data_loc strings; check them against libtraceevent's raw field.
        for fixture in Fixtures.traces {
            let path = Fixtures.path(fixture)
            let file = try TraceFile(path: path)
            let catalog = try EventCatalog(file: file)
            let decoder = try EventDecoder(catalog: catalog, path: path)
            var merged = try file.mergedRecords()
            while let r = try merged.next() {
                switch decoder.decode(r) {
                case .cgroupMkdir(let d), .cgroupRmdir(let d):
                    #expect(d.path.hasPrefix("/"), "\(fixture): cgroup path \(d.path)")
                case .cgroupAttachTask(let a):
                    #expect(a.path.hasPrefix("/") && !a.comm.isEmpty, "\(fixture): attach \(a.path) \(a.comm)")
                default: break
                }
            }
        }
    }
}

/// The probe arguments a `KprobeView` exposes, under the capture catalog's field names.
private func kprobeValues(_ a: KprobeView) -> [(String, UInt64)] {
    func s(_ v: Int32?) -> UInt64? { v.map { UInt64(bitPattern: Int64($0)) } }
    let all: [(String, UInt64?)] = [
        ("folio|src", a.folio), ("page", a.page), ("nr|nr_pages", a.nr.map { UInt64(bitPattern: $0) }), ("vma", a.vma),
        ("address|addr", a.address), ("flags", a.flags), ("compound", a.compound.map { $0 ? 1 : 0 }),
        ("from", a.from), ("to", a.to), ("memcg", a.memcg), ("from_cgid", a.fromMemcgID), ("to_cgid", a.toMemcgID),
        ("mapcount", s(a.mapcount)), ("refcount", s(a.refcount)), ("pflags", a.pageFlags), ("mapping", a.mapping),
        ("index", a.index), ("cmapcount", s(a.compoundMapcount)), ("large_mapcount", s(a.largeMapcount)),
        ("entire_mapcount", s(a.entireMapcount)), ("flags1", a.flags1), ("mlocked", a.mlocked.map { $0 ? 1 : 0 }),
        ("pte", a.pte), ("young", a.young.map { $0 ? 1 : 0 }), ("vma_cgid", a.vmaMemcgID),
        ("owner_pid", s(a.ownerPid)), ("memcg_cgid", a.memcgID),
    ]
    return all.compactMap { name, value in value.map { (name, $0) } }
}

/// A typed event's values under its format's field names, as raw bit patterns.
func fieldValues(_ event: MMEvent) -> [(String, UInt64)] {
    func s(_ v: Int32) -> UInt64 { UInt64(bitPattern: Int64(v)) }
    func s64(_ v: Int64) -> UInt64 { UInt64(bitPattern: v) }
    switch event {
    case .pageAlloc(let a):
        return [
            ("pfn", a.pfn ?? .max), ("order", UInt64(a.order)), ("gfp_flags", a.gfpFlags),
            ("migratetype", s(a.migratetype)),
        ]
    case .pageFree(let f): return [("pfn", f.pfn), ("order", UInt64(f.order))]
    case .pageFreeBatched(let f): return [("pfn", f.pfn)]
    case .pagePcpuDrain(let d): return [("pfn", d.pfn), ("order", UInt64(d.order)), ("migratetype", s(d.migratetype))]
    case .lruInsertion(let l):
        return [("pfn", l.pfn), ("lru", UInt64(l.lru.rawValue)), ("flags", l.flags.rawValue)]
            + (l.folio.map { [("folio|page", $0)] } ?? [])
    case .lruActivate(let l): return [("pfn", l.pfn)] + (l.folio.map { [("folio|page", $0)] } ?? [])
    case .pageCacheAdd(let p), .pageCacheDelete(let p):
        return [("pfn", p.pfn), ("i_ino", p.inode), ("index", p.index), ("s_dev", UInt64(p.dev))]
            + (p.order.map { [("order", UInt64($0))] } ?? [])
    case .vmscan(let v):
        switch v {
        case .reclaimBegin(_, let b): return [("order", s(b.order)), ("gfp_flags", b.gfpFlags)]
        case .reclaimEnd(_, let n): return [("nr_reclaimed", n)]
        case .kswapdWake(let nid, _, let order): return [("nid", s(nid)), ("order", s(order))]
        case .kswapdSleep(let nid): return [("nid", s(nid))]
        case .lruIsolate(let l):
            return [
                ("order", s(l.order)), ("nr_requested", l.nrRequested), ("nr_scanned", l.nrScanned),
                ("nr_skipped", l.nrSkipped), ("nr_taken", l.nrTaken), ("lru", s(l.lru)),
            ]
        case .shrinkInactive(let x), .reclaimPages(let x):
            let optional: [(String, UInt64?)] = [
                ("nr_dirty", x.nrDirty), ("nr_writeback", x.nrWriteback), ("nr_congested", x.nrCongested),
                ("nr_immediate", x.nrImmediate), ("nr_ref_keep", x.nrRefKeep), ("nr_unmap_fail", x.nrUnmapFail),
            ]
            // Before 5.2 one nr_activate; since, nr_activate0 (anon) and nr_activate1 (file).
            let activations: [(String, UInt64)] =
                x.nrActivateFile.map { [("nr_activate0", x.nrActivateAnon ?? 0), ("nr_activate1", $0)] }
                ?? [("nr_activate", x.nrActivated)]
            return [("nid", s(x.nid)), ("nr_scanned", x.nrScanned), ("nr_reclaimed", x.nrReclaimed)]
                + optional.compactMap { name, v in v.map { (name, $0) } } + activations
        case .shrinkActive(let x):
            return [
                ("nid", s(x.nid)), ("nr_taken", x.nrTaken), ("nr_active", x.nrActive),
                ("nr_deactivated", x.nrDeactivated),
                ("nr_referenced", x.nrReferenced), ("priority", s(x.priority)), ("reclaim_flags", s(x.reclaimFlags)),
            ]
        case .writeFolio(let pfn, let flags): return [("pfn", pfn), ("reclaim_flags", s(flags))]
        default: return []
        }
    case .migratePagesStart(let m): return [("mode", UInt64(m.mode)), ("reason", s(m.reason))]
    case .migratePages(let m):
        return [("succeeded", m.succeeded), ("failed", m.failed), ("mode", UInt64(m.mode)), ("reason", s(m.reason))]
            + (m.thpSucceeded.map { [("thp_succeeded", $0)] } ?? [])
    case .setMigrationPTE(let e), .removeMigrationPTE(let e):
        return [("addr", e.address), ("pte", e.pte)] + (e.order.map { [("order", s($0))] } ?? [])
    case .setMigrationPMD(let e), .removeMigrationPMD(let e): return [("addr", e.address), ("pmd", e.pmd)]
    case .memcgStat(let m): return [("id", m.memcgID), ("item", s(m.item)), ("val", s64(m.value))]
    case .memcgFlushStats(let f):
        return [
            ("id", f.memcgID), ("stats_updates", s64(f.statsUpdates)), ("force", f.force ? 1 : 0),
            ("needs_flush", f.needsFlush ? 1 : 0),
        ]
    case .cgroupAttachTask(let a):
        return [("dst_root", s(a.root)), ("dst_level", s(a.level)), ("dst_id", a.cgroupID), ("pid", s(a.pid))]
    case .cgroupMkdir(let d), .cgroupRmdir(let d):
        return [("root", s(d.root)), ("level", s(d.level)), ("id", d.cgroupID)]
    case .pageFaultUser(let f): return [("address", f.address), ("ip", f.ip), ("error_code", f.errorCode)]
    case .rmap(let r): return kprobeValues(r.arguments)
    case .charge(let c): return kprobeValues(c.arguments)
    case .mlock(let m): return kprobeValues(m.arguments)
    case .probe(let c): return kprobeValues(c.arguments)
    case .other, .malformed: return []
    }
}
