/// Turns raw records into `MMEvent`s, with every field offset resolved once per event type.
///
/// Build one per trace; `decode(_:)` is the hot path: an array lookup by event id, a length
/// check and a handful of loads.
public struct EventDecoder {
    private var decoders: [Decoder]
    private var minimumLengths: [Int32]
    /// Owns the layouts that views (`KprobeView`, `ShrinkInactive`...) point at.
    private let layouts = LayoutStorage()
    /// The catalog the decoder was built from.
    public let catalog: EventCatalog

    /// Events foliotrace models whose format in this trace it cannot read (another kernel's
    /// fields, another architecture's page-table entries): their records are counted, not
    /// modelled, and coverage treats them as absent.
    public private(set) var unmodelled: [UnmodelledEvent] = []

    /// Resolves the decoders of every event type foliotrace models. An event whose format
    /// lacks a field a decoder needs is left out and listed in `unmodelled`: the trace is
    /// still read (older kernels name fields differently, e.g. 4.x's filemap events carry a
    /// `struct page *` where later ones carry `pfn`).
    public init(catalog: EventCatalog, path: String) throws(TraceFileError) {
        self.catalog = catalog
        // Without a known layout the migration decoders are not installed (below).
        let pteLayout = (try? catalog.pteLayout.get()) ?? .x86_64
        decoders = Array(repeating: .other, count: catalog.idLimit)
        minimumLengths = Array(repeating: 0, count: catalog.idLimit)
        for type in catalog.types {
            do throws(TraceProblem) {
                var r = type.isKprobe ? catalog.kprobeResolver(type) : FieldResolver(type, bigEndian: catalog.bigEndian)
                guard let d = try Decoder(type: type, &r, layouts, pteLayout: pteLayout) else { continue }
                if d.readsPageTableEntries, case .failure(let unknown) = catalog.pteLayout {
                    // A migration entry is a swap PTE in the architecture's own layout
                    // (arch/*/include/asm/pgtable*.h); a pfn read with a layout guessed for
                    // another machine or kernel would join folios the kernel never paired,
                    // and a young bit read so would say what the kernel never saw.
                    unmodelled.append(UnmodelledEvent(event: type.fullName, reason: unknown.reason))
                    continue
                }
                decoders[Int(type.id)] = d
                minimumLengths[Int(type.id)] = Int32(r.minimumLength)
            } catch {
                let reason: String
                if case .missingField(_, let field) = error.problem, type.isKprobe {
                    reason =
                        "the probe fetches no '\(field)' argument (foliotrace record --probes auto defines it)"
                } else if case .missingField(_, let field) = error.problem {
                    reason = "its format lacks the field '\(field)'"
                } else {
                    reason = "\(error.problem)"
                }
                unmodelled.append(UnmodelledEvent(event: type.fullName, reason: reason))
            }
        }
    }

    /// The requirement names a trace satisfies (`EventCatalog.requirementNamesPresent`),
    /// without the events this decoder cannot model.
    public func requirementNamesPresent(counts: [UInt64], enabled: Set<String>?) -> Set<String> {
        catalog.requirementNamesPresent(counts: counts, enabled: enabled)
            .subtracting(unmodelled.flatMap { u in catalog.type(named: u.event).map(catalog.requirementNames) ?? [] })
    }

    /// `enabled` without the events this decoder cannot model: the engine must not take an
    /// event it never sees decoded as one that was on and silent.
    public func modelledEnabled(_ enabled: Set<String>?) -> Set<String>? {
        enabled?.subtracting(unmodelled.map(\.event))
    }

    /// Whether records of this event id decode to something other than `.other`.
    public func isModelled(_ id: UInt16) -> Bool {
        Int(id) < decoders.count && !(decoders[Int(id)].isOther)
    }

    /// What `decode` does with a record of `id` long enough for its format: the length below
    /// which it says `.malformed`, and whether it then says anything but `.other`. For
    /// `RecordClasses`, which classes records without decoding them.
    func shape(ofID id: Int) -> (minimumLength: Int32, modelled: Bool) {
        guard id < decoders.count else { return (0, false) }
        return (minimumLengths[id], !decoders[id].isOther)
    }

    /// Decodes one record.
    @inline(__always)
    public func decode(_ record: RawRecord) -> MMEvent {
        Self.decode(record, id: record.eventID, decoders, minimumLengths)
    }

    /// `decode` over the decoder's tables, as arrays or as `Borrowed` lends them.
    @inline(__always)
    fileprivate static func decode<Decoders: RandomAccessCollection<Decoder>, Lengths: RandomAccessCollection<Int32>>(
        _ record: RawRecord,
        id eventID: UInt16,
        _ decoders: Decoders,
        _ minimumLengths: Lengths
    ) -> MMEvent where Decoders.Index == Int, Lengths.Index == Int {
        let id = Int(eventID)
        guard id < decoders.count else { return .other }
        let p = record.payload
        guard p.count >= Int(minimumLengths[id]) else { return .malformed }
        return decoders[id].decode(p)
    }
}

extension EventDecoder {
    /// The decoder's tables lent to a loop over millions of records. An `EventDecoder` is a
    /// struct of arrays, the layouts' owner and the catalog: handing one (or an optional one)
    /// to a function per record copied it, with a retain and release of each (a generic
    /// value-witness copy on the reader's thread, 3% of `analyze` on the scale capture;
    /// docs/performance.md). This one is two buffer pointers, valid inside `withBorrowed`.
    struct Borrowed {
        fileprivate let decoders: UnsafeBufferPointer<Decoder>
        fileprivate let minimumLengths: UnsafeBufferPointer<Int32>

        /// `EventDecoder.decode` of a record whose `eventID` the caller has read.
        @inline(__always)
        func decode(_ record: RawRecord, id: UInt16) -> MMEvent {
            EventDecoder.decode(record, id: id, decoders, minimumLengths)
        }

        /// `decode` of a record of `id` when it is a memcg stat record long enough for its
        /// format (the event `decode` gives it), nil otherwise: the reader's test for a stat
        /// record it may fold (`StatFolding`), without the whole decoder inlined a second time.
        @inline(__always)
        func memcgStat(_ record: RawRecord, id: UInt16) -> MemcgStat? {
            let i = Int(id)
            guard i < decoders.count, record.payload.count >= Int(minimumLengths[i]),
                case .memcgStat(let kind, let field, let item, let value, let signed) = decoders[i]
            else { return nil }
            return Decoder.memcgStat(kind, id: field, item: item, value: value, signed: signed, record.payload)
        }
    }

    /// Runs `body` with the decoder's tables, which it must not keep.
    func withBorrowed<R>(_ body: (Borrowed) -> R) -> R {
        decoders.withUnsafeBufferPointer { d in
            minimumLengths.withUnsafeBufferPointer { m in body(Borrowed(decoders: d, minimumLengths: m)) }
        }
    }
}

/// A modelled event that this trace's format does not let foliotrace decode.
public struct UnmodelledEvent: Sendable, Equatable {
    /// "system:name".
    public var event: String
    /// Why, as a phrase: "its format lacks the field 'pfn'", "big-endian trace".
    public var reason: String
}

/// The resolved layout of one modelled event type.
private enum Decoder {
    case pageAlloc(pfn: FieldSlot, order: FieldSlot, gfp: FieldSlot, migratetype: FieldSlot)
    case pageFree(pfn: FieldSlot, order: FieldSlot)
    case pageFreeBatched(pfn: FieldSlot)
    case pagePcpuDrain(pfn: FieldSlot, order: FieldSlot, migratetype: FieldSlot)
    case lruInsertion(folio: FieldSlot?, pfn: FieldSlot, lru: FieldSlot, flags: FieldSlot)
    case lruActivate(folio: FieldSlot?, pfn: FieldSlot)
    case pageCache(delete: Bool, pfn: FieldSlot, inode: FieldSlot, index: FieldSlot, dev: FieldSlot, order: FieldSlot?)
    case reclaimBegin(ReclaimKind, order: FieldSlot, gfp: FieldSlot, nid: FieldSlot?)
    case reclaimEnd(ReclaimKind, nrReclaimed: FieldSlot)
    case kswapdWake(nid: FieldSlot, zid: FieldSlot?, order: FieldSlot)
    case kswapdSleep(nid: FieldSlot)
    case wakeupKswapd(nid: FieldSlot, zid: FieldSlot, order: FieldSlot, gfp: FieldSlot)
    case lruIsolate(UnsafePointer<LRUIsolateLayout>)
    case shrinkInactive(UnsafePointer<ShrinkInactiveLayout>, reclaimPages: Bool)
    case shrinkActive(UnsafePointer<ShrinkActiveLayout>)
    case writeFolio(pfn: FieldSlot, flags: FieldSlot)
    case throttled(nid: FieldSlot, timeout: FieldSlot, delayed: FieldSlot, reason: FieldSlot)
    case shrinkSlabStart(nid: FieldSlot, totalScan: FieldSlot)
    case shrinkSlabEnd(nid: FieldSlot, retval: FieldSlot)
    case migratePagesStart(mode: FieldSlot, reason: FieldSlot)
    case migratePages(UnsafePointer<MigratePagesLayout>)
    case migrationPTE(
        remove: Bool,
        address: FieldSlot,
        pte: FieldSlot,
        order: FieldSlot?,
        layout: UnsafePointer<PTELayout>
    )
    case migrationPMD(remove: Bool, address: FieldSlot, pmd: FieldSlot, layout: UnsafePointer<PTELayout>)
    case memcgStat(MemcgStatKind, id: FieldSlot, item: FieldSlot, value: FieldSlot, signed: Bool)
    case memcgFlush(id: FieldSlot, updates: FieldSlot, force: FieldSlot, needsFlush: FieldSlot)
    case cgroupAttach(UnsafePointer<CgroupLayout>)
    case cgroupDir(UnsafePointer<CgroupLayout>, rmdir: Bool)
    case pageFaultUser(address: FieldSlot, ip: FieldSlot, errorCode: FieldSlot)
    case rmap(KprobeFunction, UnsafePointer<KprobeArgs>)
    case charge(KprobeFunction, UnsafePointer<KprobeArgs>)
    case mlock(KprobeFunction, UnsafePointer<KprobeArgs>)
    case probe(KprobeFunction, UnsafePointer<KprobeArgs>)
    case other

    var isOther: Bool {
        if case .other = self { return true }
        return false
    }

    /// A memcg stat record's event (`decode`, and `Borrowed.memcgStat`).
    @inline(__always)
    static func memcgStat(
        _ kind: MemcgStatKind,
        id: FieldSlot,
        item: FieldSlot,
        value: FieldSlot,
        signed: Bool,
        _ p: UnsafeRawBufferPointer
    ) -> MemcgStat {
        MemcgStat(
            kind: kind,
            memcgID: id.unsigned(p),
            item: i32(item, p),
            value: signed ? value.signed(p) : Int64(bitPattern: value.unsigned(p))
        )
    }

    /// Whether the event carries raw PTEs or PMDs whose layout is the architecture's: the
    /// migration entries, and the PTE (pfn and young bit) of a `ptep_clear_flush_young` probe.
    var readsPageTableEntries: Bool {
        switch self {
        case .migrationPTE, .migrationPMD, .probe(.ptepClearFlushYoung, _): return true
        default: return false
        }
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    /// - Parameter pteLayout: the traced kernel's page-table layout, for migration entries.
    init?(
        type: EventType,
        _ r: inout FieldResolver,
        _ layouts: LayoutStorage,
        pteLayout: PTELayout
    ) throws(TraceProblem) {
        if type.isKprobe {
            guard let f = KprobeFunction(eventName: type.name) else { return nil }
            let fetched = KprobeArgs(r)
            if let argument = fetched.missing(for: f) {
                throw TraceProblem(.missingField(event: type.fullName, field: argument))
            }
            let args = layouts.keep(fetched)
            switch f {
            case .ptepClearFlushYoung, .tryToFreeMemCgroupPages, .migrateFolioMove, .migrateFolioDone,
                .moveToNewFolio:
                self = .probe(f, args)
            default: self = f.isRmap ? .rmap(f, args) : f.isMlock ? .mlock(f, args) : .charge(f, args)
            }
            return
        }
        switch (type.system, type.name) {
        case ("kmem", "mm_page_alloc"):
            self = .pageAlloc(
                pfn: try r.required("pfn"),
                order: try r.required("order"),
                gfp: try r.required("gfp_flags"),
                migratetype: try r.required("migratetype")
            )
        case ("kmem", "mm_page_free"):
            self = .pageFree(pfn: try r.required("pfn"), order: try r.required("order"))
        case ("kmem", "mm_page_free_batched"):
            self = .pageFreeBatched(pfn: try r.required("pfn"))
        case ("kmem", "mm_page_pcpu_drain"):
            self = .pagePcpuDrain(
                pfn: try r.required("pfn"),
                order: try r.required("order"),
                migratetype: try r.required("migratetype")
            )
        case ("pagemap", "mm_lru_insertion"):
            self = .lruInsertion(
                folio: r.optional("folio", "page"),
                pfn: try r.required("pfn"),
                lru: try r.required("lru"),
                flags: try r.required("flags")
            )
        case ("pagemap", "mm_lru_activate"):
            self = .lruActivate(folio: r.optional("folio", "page"), pfn: try r.required("pfn"))
        case ("filemap", "mm_filemap_add_to_page_cache"), ("filemap", "mm_filemap_delete_from_page_cache"):
            self = .pageCache(
                delete: type.name.contains("delete"),
                pfn: try r.required("pfn"),
                inode: try r.required("i_ino"),
                index: try r.required("index"),
                dev: try r.required("s_dev"),
                order: r.optional("order")
            )
        case ("vmscan", let name) where name.hasSuffix("reclaim_begin"):
            guard let kind = ReclaimKind(vmscanEvent: name) else { return nil }
            self = .reclaimBegin(
                kind,
                order: try r.required("order"),
                gfp: try r.required("gfp_flags"),
                nid: r.optional("nid")
            )
        case ("vmscan", let name) where name.hasSuffix("reclaim_end"):
            guard let kind = ReclaimKind(vmscanEvent: name) else { return nil }
            self = .reclaimEnd(kind, nrReclaimed: try r.required("nr_reclaimed"))
        case ("vmscan", "mm_vmscan_kswapd_wake"):
            self = .kswapdWake(nid: try r.required("nid"), zid: r.optional("zid"), order: try r.required("order"))
        case ("vmscan", "mm_vmscan_kswapd_sleep"):
            self = .kswapdSleep(nid: try r.required("nid"))
        case ("vmscan", "mm_vmscan_wakeup_kswapd"):
            self = .wakeupKswapd(
                nid: try r.required("nid"),
                zid: try r.required("zid"),
                order: try r.required("order"),
                gfp: try r.required("gfp_flags")
            )
        case ("vmscan", "mm_vmscan_lru_isolate"):
            self = .lruIsolate(layouts.keep(try LRUIsolateLayout(&r)))
        case ("vmscan", "mm_vmscan_lru_shrink_inactive"):
            self = .shrinkInactive(layouts.keep(try ShrinkInactiveLayout(&r)), reclaimPages: false)
        case ("vmscan", "mm_vmscan_reclaim_pages"):
            self = .shrinkInactive(layouts.keep(try ShrinkInactiveLayout(&r)), reclaimPages: true)
        case ("vmscan", "mm_vmscan_lru_shrink_active"):
            self = .shrinkActive(layouts.keep(try ShrinkActiveLayout(&r)))
        case ("vmscan", "mm_vmscan_write_folio"), ("vmscan", "mm_vmscan_writepage"):
            self = .writeFolio(pfn: try r.required("pfn"), flags: try r.required("reclaim_flags"))
        case ("vmscan", "mm_vmscan_throttled"):
            self = .throttled(
                nid: try r.required("nid"),
                timeout: try r.required("usec_timeout"),
                delayed: try r.required("usec_delayed"),
                reason: try r.required("reason")
            )
        case ("vmscan", "mm_shrink_slab_start"):
            self = .shrinkSlabStart(nid: try r.required("nid"), totalScan: try r.required("total_scan"))
        case ("vmscan", "mm_shrink_slab_end"):
            self = .shrinkSlabEnd(nid: try r.required("nid"), retval: try r.required("retval"))
        case ("migrate", "mm_migrate_pages_start"):
            self = .migratePagesStart(mode: try r.required("mode"), reason: try r.required("reason"))
        case ("migrate", "mm_migrate_pages"):
            self = .migratePages(layouts.keep(try MigratePagesLayout(&r)))
        case ("migrate", "set_migration_pte"), ("migrate", "remove_migration_pte"):
            self = .migrationPTE(
                remove: type.name.hasPrefix("remove"),
                address: try r.required("addr"),
                pte: try r.required("pte"),
                order: r.optional("order"),
                layout: layouts.keep(pteLayout)
            )
        case ("thp", "set_migration_pmd"), ("thp", "remove_migration_pmd"):
            self = .migrationPMD(
                remove: type.name.hasPrefix("remove"),
                address: try r.required("addr"),
                pmd: try r.required("pmd"),
                layout: layouts.keep(pteLayout)
            )
        case ("memcg", let name) where MemcgStatKind(rawValue: name) != nil:
            let value = try r.required("val")
            self = .memcgStat(
                MemcgStatKind(rawValue: name)!,
                id: try r.required("id"),
                item: try r.required("item"),
                value: value,
                signed: type.field("val")?.isSigned ?? true
            )
        case ("memcg", "memcg_flush_stats"):
            self = .memcgFlush(
                id: try r.required("id"),
                updates: try r.required("stats_updates"),
                force: try r.required("force"),
                needsFlush: try r.required("needs_flush")
            )
        case ("cgroup", "cgroup_attach_task"):
            self = .cgroupAttach(
                layouts.keep(
                    CgroupLayout(
                        root: try r.required("dst_root"),
                        level: try r.required("dst_level"),
                        id: try r.required("dst_id"),
                        path: try r.required("dst_path"),
                        pid: try r.required("pid"),
                        comm: try r.required("comm")
                    )
                )
            )
        case ("cgroup", "cgroup_mkdir"), ("cgroup", "cgroup_rmdir"):
            self = .cgroupDir(
                layouts.keep(
                    CgroupLayout(
                        root: try r.required("root"),
                        level: try r.required("level"),
                        id: try r.required("id"),
                        path: try r.required("path"),
                        pid: nil,
                        comm: nil
                    )
                ),
                rmdir: type.name == "cgroup_rmdir"
            )
        case ("exceptions", "page_fault_user"):
            self = .pageFaultUser(
                address: try r.required("address"),
                ip: try r.required("ip"),
                errorCode: try r.required("error_code")
            )
        default:
            return nil
        }
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    @inline(__always)
    func decode(_ p: UnsafeRawBufferPointer) -> MMEvent {
        switch self {
        case .pageAlloc(let pfn, let order, let gfp, let mt):
            let v = pfn.unsigned(p)
            return .pageAlloc(
                PageAlloc(
                    pfn: v == UInt64.max ? nil : v,
                    order: UInt32(truncatingIfNeeded: order.unsigned(p)),
                    gfpFlags: gfp.unsigned(p),
                    migratetype: Int32(truncatingIfNeeded: mt.signed(p))
                )
            )
        case .pageFree(let pfn, let order):
            return .pageFree(PageFree(pfn: pfn.unsigned(p), order: UInt32(truncatingIfNeeded: order.unsigned(p))))
        case .pageFreeBatched(let pfn):
            return .pageFreeBatched(PageFreeBatched(pfn: pfn.unsigned(p)))
        case .pagePcpuDrain(let pfn, let order, let mt):
            return .pagePcpuDrain(
                PagePcpuDrain(
                    pfn: pfn.unsigned(p),
                    order: UInt32(truncatingIfNeeded: order.unsigned(p)),
                    migratetype: Int32(truncatingIfNeeded: mt.signed(p))
                )
            )
        case .lruInsertion(let folio, let pfn, let lru, let flags):
            return .lruInsertion(
                LRUInsertion(
                    folio: folio.unsigned(p),
                    pfn: pfn.unsigned(p),
                    lru: LRUList(rawValue: UInt8(truncatingIfNeeded: min(lru.unsigned(p), 255))) ?? .unknown,
                    flags: LRUFolioFlags(rawValue: flags.unsigned(p))
                )
            )
        case .lruActivate(let folio, let pfn):
            return .lruActivate(LRUActivate(folio: folio.unsigned(p), pfn: pfn.unsigned(p)))
        case .pageCache(let delete, let pfn, let inode, let index, let dev, let order):
            let f = PageCacheFolio(
                pfn: pfn.unsigned(p),
                inode: inode.unsigned(p),
                index: index.unsigned(p),
                dev: UInt32(truncatingIfNeeded: dev.unsigned(p)),
                order: order.unsigned(p).map { UInt8(truncatingIfNeeded: $0) }
            )
            return delete ? .pageCacheDelete(f) : .pageCacheAdd(f)
        case .reclaimBegin(let kind, let order, let gfp, let nid):
            return .vmscan(
                .reclaimBegin(
                    kind,
                    ReclaimBegin(
                        order: i32(order, p),
                        gfpFlags: gfp.unsigned(p),
                        nid: nid.signed(p).map { Int32(truncatingIfNeeded: $0) }
                    )
                )
            )
        case .reclaimEnd(let kind, let n):
            return .vmscan(.reclaimEnd(kind, nrReclaimed: n.unsigned(p)))
        case .kswapdWake(let nid, let zid, let order):
            return .vmscan(
                .kswapdWake(
                    nid: i32(nid, p),
                    zid: zid.signed(p).map { Int32(truncatingIfNeeded: $0) },
                    order: i32(order, p)
                )
            )
        case .kswapdSleep(let nid):
            return .vmscan(.kswapdSleep(nid: i32(nid, p)))
        case .wakeupKswapd(let nid, let zid, let order, let gfp):
            return .vmscan(
                .wakeupKswapd(nid: i32(nid, p), zid: i32(zid, p), order: i32(order, p), gfpFlags: gfp.unsigned(p))
            )
        case .lruIsolate(let l):
            return .vmscan(.lruIsolate(l.pointee.decode(p)))
        case .shrinkInactive(let l, let reclaimPages):
            let v = ShrinkInactive(layout: l, payload: p)
            return .vmscan(reclaimPages ? .reclaimPages(v) : .shrinkInactive(v))
        case .shrinkActive(let l):
            return .vmscan(.shrinkActive(ShrinkActive(layout: l, payload: p)))
        case .writeFolio(let pfn, let flags):
            return .vmscan(.writeFolio(pfn: pfn.unsigned(p), reclaimFlags: i32(flags, p)))
        case .throttled(let nid, let timeout, let delayed, let reason):
            return .vmscan(
                .throttled(
                    nid: i32(nid, p),
                    usecTimeout: i32(timeout, p),
                    usecDelayed: i32(delayed, p),
                    reason: i32(reason, p)
                )
            )
        case .shrinkSlabStart(let nid, let total):
            return .vmscan(.shrinkSlabStart(nid: i32(nid, p), totalScan: total.unsigned(p)))
        case .shrinkSlabEnd(let nid, let retval):
            return .vmscan(.shrinkSlabEnd(nid: i32(nid, p), retval: i32(retval, p)))
        case .migratePagesStart(let mode, let reason):
            return .migratePagesStart(
                MigratePagesStart(
                    mode: UInt32(truncatingIfNeeded: mode.unsigned(p)),
                    reason: i32(reason, p)
                )
            )
        case .migratePages(let l):
            return .migratePages(MigratePages(layout: l, payload: p))
        case .migrationPTE(let remove, let address, let pte, let order, let layout):
            let e = MigrationPTE(
                address: address.unsigned(p),
                pte: pte.unsigned(p),
                order: order.signed(p).map { Int32(truncatingIfNeeded: $0) },
                layout: layout.pointee
            )
            return remove ? .removeMigrationPTE(e) : .setMigrationPTE(e)
        case .migrationPMD(let remove, let address, let pmd, let layout):
            let e = MigrationPMD(address: address.unsigned(p), pmd: pmd.unsigned(p), layout: layout.pointee)
            return remove ? .removeMigrationPMD(e) : .setMigrationPMD(e)
        case .memcgStat(let kind, let id, let item, let value, let signed):
            return .memcgStat(Self.memcgStat(kind, id: id, item: item, value: value, signed: signed, p))
        case .memcgFlush(let id, let updates, let force, let needs):
            return .memcgFlushStats(
                MemcgFlushStats(
                    memcgID: id.unsigned(p),
                    statsUpdates: updates.signed(p),
                    force: force.unsigned(p) != 0,
                    needsFlush: needs.unsigned(p) != 0
                )
            )
        case .cgroupAttach(let l):
            return .cgroupAttachTask(CgroupAttachTask(layout: l, payload: p))
        case .cgroupDir(let l, let rmdir):
            let d = CgroupDir(layout: l, payload: p)
            return rmdir ? .cgroupRmdir(d) : .cgroupMkdir(d)
        case .pageFaultUser(let address, let ip, let code):
            return .pageFaultUser(
                PageFaultUser(address: address.unsigned(p), ip: ip.unsigned(p), errorCode: code.unsigned(p))
            )
        case .rmap(let f, let a):
            return .rmap(RmapCall(function: f, arguments: KprobeView(args: a, payload: p)))
        case .charge(let f, let a):
            return .charge(ChargeCall(function: f, arguments: KprobeView(args: a, payload: p)))
        case .mlock(let f, let a):
            return .mlock(MlockCall(function: f, arguments: KprobeView(args: a, payload: p)))
        case .probe(let f, let a):
            return .probe(ProbeCall(function: f, arguments: KprobeView(args: a, payload: p)))
        case .other:
            return .other
        }
    }
}

@inline(__always)
func i32(_ slot: FieldSlot, _ p: UnsafeRawBufferPointer) -> Int32 {
    Int32(truncatingIfNeeded: slot.signed(p))
}

extension ReclaimKind {
    init?(vmscanEvent name: String) {
        switch name {
        case "mm_vmscan_direct_reclaim_begin", "mm_vmscan_direct_reclaim_end": self = .direct
        case "mm_vmscan_memcg_reclaim_begin", "mm_vmscan_memcg_reclaim_end": self = .memcg
        case "mm_vmscan_memcg_softlimit_reclaim_begin", "mm_vmscan_memcg_softlimit_reclaim_end": self = .memcgSoftLimit
        case "mm_vmscan_node_reclaim_begin", "mm_vmscan_node_reclaim_end": self = .node
        default: return nil
        }
    }
}

struct LRUIsolateLayout {
    let zone: FieldSlot?
    let order, requested, scanned, skipped, taken, lru: FieldSlot

    init(_ r: inout FieldResolver) throws(TraceProblem) {
        zone = r.optional("highest_zoneidx", "classzone_idx")
        order = try r.required("order")
        requested = try r.required("nr_requested")
        scanned = try r.required("nr_scanned")
        skipped = try r.required("nr_skipped")
        taken = try r.required("nr_taken")
        lru = try r.required("lru", "isolate_mode")
    }

    func decode(_ p: UnsafeRawBufferPointer) -> LRUIsolate {
        LRUIsolate(
            highestZoneIdx: zone.signed(p).map { Int32(truncatingIfNeeded: $0) },
            order: i32(order, p),
            nrRequested: requested.unsigned(p),
            nrScanned: scanned.unsigned(p),
            nrSkipped: skipped.unsigned(p),
            nrTaken: taken.unsigned(p),
            lru: i32(lru, p)
        )
    }
}

/// Kernels before 5.2 count activations in one `nr_activate` (no anon/file split), and older
/// ones lack the dirty/writeback/congested counts: only what every kernel's event has is
/// required, the rest is absent where the kernel did not write it.
struct ShrinkInactiveLayout {
    let nid, scanned, reclaimed, activate: FieldSlot
    let dirty, writeback, congested, immediate, activateFile, refKeep, unmapFail: FieldSlot?
    let priority, reclaimFlags: FieldSlot?

    init(_ r: inout FieldResolver) throws(TraceProblem) {
        nid = try r.required("nid")
        scanned = try r.required("nr_scanned")
        reclaimed = try r.required("nr_reclaimed")
        dirty = r.optional("nr_dirty")
        writeback = r.optional("nr_writeback")
        congested = r.optional("nr_congested")
        immediate = r.optional("nr_immediate")
        // nr_activate0 (anon) and nr_activate1 (file) since 5.2, one nr_activate before.
        activate = try r.required("nr_activate0", "nr_activate")
        activateFile = r.optional("nr_activate1")
        refKeep = r.optional("nr_ref_keep")
        unmapFail = r.optional("nr_unmap_fail")
        priority = r.optional("priority")
        reclaimFlags = r.optional("reclaim_flags")
    }
}

struct ShrinkActiveLayout {
    let nid, taken, active, deactivated, referenced, priority, reclaimFlags: FieldSlot

    init(_ r: inout FieldResolver) throws(TraceProblem) {
        nid = try r.required("nid")
        taken = try r.required("nr_taken")
        active = try r.required("nr_active")
        deactivated = try r.required("nr_deactivated")
        referenced = try r.required("nr_referenced")
        priority = try r.required("priority")
        reclaimFlags = try r.required("reclaim_flags")
    }
}

struct MigratePagesLayout {
    let succeeded, failed, mode, reason: FieldSlot
    let thpSucceeded, thpFailed, thpSplit, largeFolioSplit: FieldSlot?

    init(_ r: inout FieldResolver) throws(TraceProblem) {
        succeeded = try r.required("succeeded")
        failed = try r.required("failed")
        mode = try r.required("mode")
        reason = try r.required("reason")
        thpSucceeded = r.optional("thp_succeeded")
        thpFailed = r.optional("thp_failed")
        thpSplit = r.optional("thp_split")
        largeFolioSplit = r.optional("large_folio_split")
    }
}

/// The fields of the cgroup events (attach_task, mkdir, rmdir).
struct CgroupLayout {
    let root, level, id, path: FieldSlot
    let pid, comm: FieldSlot?
}

/// Keeps decoder layouts at stable addresses for the views that point at them, and frees
/// them with the last `EventDecoder` copy.
final class LayoutStorage {
    private var deallocators: [() -> Void] = []

    func keep<T>(_ value: T) -> UnsafePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
        p.initialize(to: value)
        deallocators.append {
            p.deinitialize(count: 1)
            p.deallocate()
        }
        return UnsafePointer(p)
    }

    deinit { for d in deallocators { d() } }
}
