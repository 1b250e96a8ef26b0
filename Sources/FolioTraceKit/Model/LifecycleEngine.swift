/// Rebuilds every folio's life from the time-ordered event stream.
///
/// A deterministic state machine: feed it each record with its decoded event, in the merged
/// order, then call `finish()`. A folio is keyed by its head pfn and a generation number: a
/// free ends a generation, the next allocation of that pfn starts a new one. An event for a
/// pfn with no live generation starts one whose beginning is unknown (it was born before the
/// trace): the engine never invents a state the trace did not show.
///
/// Memory is proportional to live folios: a finished generation is folded into the summary
/// unless `keepLifecycles` is set or its pfn is watched.
public struct LifecycleEngine {
    public struct Options: Sendable {
        /// Keep every finished generation (for export); otherwise only watched ones.
        public var keepLifecycles = false
        /// pfns whose every step is recorded (`foliotrace folio`).
        public var watch: Set<UInt64> = []
        /// Record every folio's steps (`export --steps`): memory grows with the trace.
        public var allSteps = false

        public init(keepLifecycles: Bool = false, watch: Set<UInt64> = [], allSteps: Bool = false) {
            self.keepLifecycles = keepLifecycles
            self.watch = watch
            self.allSteps = allSteps
        }
    }

    public private(set) var summary = LifecycleSummary()
    public private(set) var tasks: TaskTable
    /// Finished generations kept (all with `keepLifecycles`, else the watched ones).
    public private(set) var finished: [FolioGeneration] = []
    /// Steps of the watched folios, by (head pfn, generation).
    public private(set) var steps: [FolioStepKey: [FolioStep]] = [:]
    /// Transitions for the detectors from the last `handle`; the caller drains them.
    public private(set) var transitions: [Transition] = []
    /// Whether the last `handle` produced transitions (checked per record without touching
    /// the array's storage).
    public var hasTransitions: Bool { !transitions.isEmpty }

    private let options: Options
    private let eventNames: [String]
    /// Live folios: head pfn -> slot in `folios`. Slots of ended generations are reused.
    private var live = PfnTable<Int32>()
    /// The last rmap probe that mapped each live folio, for the evidence of a free while
    /// mapped (kept only when the capture has an unmap probe to balance it).
    private var lastMap: [UInt64: RecordMark] = [:]
    /// Whether the capture defined a kprobe on an rmap unmap function: without one, a folio's
    /// mappings cannot be seen to go and a positive balance proves nothing.
    private let seesUnmaps: Bool
    /// The page-cache add event's id, for evidence of a free while in the page cache.
    private let pageCacheAddID: UInt16?
    /// Whether a page-cache delete and a migrate_pages() call have been seen: then the capture
    /// shows how page-cache folios leave (deleted, or replaced by migration), and a free
    /// without either means the page cache lost a folio it still held. Before both have
    /// been seen, such frees are not judged (a capture without those events would make every
    /// eviction or migration look like one).
    private var seesPageCacheExits: (delete: Bool, migration: Bool) = (false, false)
    /// Where a folio that migration joined to a new one went: old head -> new head, until the
    /// old generation ends (shortly, freed by the migrating task).
    private var migratedTo: [UInt64: UInt64] = [:]
    private var folios: [LiveFolio] = []
    private var freeSlots: [Int32] = []
    private var nextGeneration = PfnTable<UInt32>()
    /// Live folios of each order > 0, so tail pfns can find their head.
    private var liveLarge = [Int](repeating: 0, count: 16)
    private var memcgs: [UInt64: MemcgSummary] = [:]
    /// Per memcg, the pages of live folios on an LRU list and in the page cache, kept up to
    /// date as folios change (`census()`): the timeline samples it often, and walking every
    /// live folio for each sample cost an eighth of a short trace's analysis.
    private var tallyIndex = PfnTable<Int32>()
    private var tallies: [(memcg: UInt64, census: PageCensus)] = []
    /// The memcg stat event just before the current record on each CPU (adjacency), indexed
    /// by CPU: looked at on every record, so an array, not a dictionary.
    private var lastStat: [(pid: Int32, stat: MemcgStat)?] = Array(repeating: nil, count: 8)
    private var reclaiming: [Int32: ReclaimKind] = [:]
    /// The reclaim_begin event of each task's current reclaim pass, for evidence.
    private var reclaimBegan: [Int32: Evidence] = [:]
    /// The target memcg of each task's memcg reclaim, from `try_to_free_mem_cgroup_pages`.
    private var reclaimTarget: [Int32: UInt64] = [:]
    private var migrating: [Int32: MigratePagesStart] = [:]
    /// The mm_migrate_pages_start event of each task's current migrate_pages() call.
    private var migrationBegan: [Int32: Evidence] = [:]
    /// Installed migration entries: (pid, user address) -> the old pfn.
    private var migrationEntries: [MigrationEntryKey: UInt64] = [:]
    /// Folios evicted from the page cache by reclaim, keyed by their first file page: the
    /// memcg they were charged to, their order, and how many of their pages came back.
    private var evicted: [FilePage: EvictedFolio] = [:]
    private var evictedOrders = [Int](repeating: 0, count: 16)
    /// struct page address of pfn 0, learned from events that carry folio pointers.
    private var vmemmapBase: UInt64?

    /// - Parameters:
    ///   - catalog: names the events in recorded steps.
    ///   - savedCommands: the trace's pid -> comm table.
    public init(catalog: EventCatalog, savedCommands: [Int32: String], options: Options = Options()) {
        self.options = options
        var names = [String](repeating: "", count: catalog.idLimit)
        for t in catalog.types { names[Int(t.id)] = t.fullName }
        eventNames = names
        tasks = TaskTable(savedCommands: savedCommands)
        seesUnmaps = catalog.types.contains { t in
            t.isKprobe && KprobeFunction(eventName: t.name)?.rmapAction == .remove
        }
        pageCacheAddID = catalog.types.first { $0.fullName == "filemap:mm_filemap_add_to_page_cache" }
            .map { UInt16($0.id) }
    }

    /// Adds task names learned while reading (perf's COMM records): a name the trace gave
    /// later replaces an earlier one, as the kernel's own table would have.
    public mutating func learnCommands(_ commands: [Int32: String]) {
        tasks.learn(commands)
    }

    /// Names memcgs from a table taken at capture time (cgroup events in the trace still
    /// rename them later).
    public mutating func nameCgroups(_ paths: [UInt64: String]) {
        for (id, path) in paths { tasks.name(cgroup: id, path: path) }
    }

    /// The generations live right now.
    public var liveFolioCount: Int { live.count }

    /// Per memcg (0 for folios not attributed to one), the pages of the live folios the trace
    /// saw go onto an LRU list and of those in the page cache, right now. Walks every live
    /// folio: for periodic samples (`Timeline`), not per record.
    public func census() -> [UInt64: PageCensus] {
        Dictionary(
            uniqueKeysWithValues: tallies.lazy.filter { $0.census != PageCensus() }.map { ($0.memcg, $0.census) }
        )
    }

    /// `census()` counted afresh from every live folio, to check the running tallies.
    public func recount() -> [UInt64: PageCensus] {
        var c: [UInt64: PageCensus] = [:]
        for (_, slot) in live {
            let f = folios[Int(slot)]
            let onLRU = f.lru != LRUList.unknown.rawValue
            guard onLRU || f.inPageCache else { continue }
            if onLRU { c[f.memcg, default: PageCensus()].lruPages &+= f.pages }
            if f.inPageCache { c[f.memcg, default: PageCensus()].pageCachePages &+= f.pages }
        }
        return c
    }

    /// Takes the live folio at `head` out of its memcg's tally before a change to its LRU
    /// list, page-cache membership or memcg; `tally(in:)` puts it back after.
    private mutating func tally(out head: UInt64) { tally(self[head], by: -1) }
    private mutating func tally(in head: UInt64) { tally(self[head], by: 1) }

    private mutating func tally(_ f: LiveFolio, by sign: Int) {
        let onLRU = f.lru != LRUList.unknown.rawValue
        let cached = f.inPageCache
        guard onLRU || cached else { return }
        let i: Int
        if let found = tallyIndex[f.memcg] {
            i = Int(found)
        } else {
            i = tallies.count
            tallyIndex[f.memcg] = Int32(i)
            tallies.append((f.memcg, PageCensus()))
        }
        let pages = sign > 0 ? f.pages : 0 &- f.pages
        if onLRU { tallies[i].census.lruPages &+= pages }
        if cached { tallies[i].census.pageCachePages &+= pages }
    }

    /// The live folio with head `pfn` (which must be live).
    private subscript(_ pfn: UInt64) -> LiveFolio {
        get { folios[Int(live[pfn]!)] }
        _modify { yield &folios[Int(live[pfn]!)] }
    }

    // MARK: feeding

    /// Applies one record. Counts taken from the trace accumulate with wrapping arithmetic:
    /// a corrupt record must not trap the process.
    public mutating func handle(_ r: RawRecord, _ event: MMEvent) {
        summary.records += 1
        if !transitions.isEmpty { transitions.removeAll(keepingCapacity: true) }
        if r.missedEvents != 0 { noteLoss(r) }
        let cpu = Int(r.cpu)
        if cpu >= lastStat.count { lastStat += Array(repeating: nil, count: cpu + 1 - lastStat.count) }
        let previousStat = lastStat[cpu]
        if previousStat != nil { lastStat[cpu] = nil }
        switch event {
        case .other, .malformed:
            return
        case .pageAlloc(let a):
            guard let pfn = a.pfn else { break }
            begin(pfn: pfn, order: UInt8(truncatingIfNeeded: a.order), r, allocated: true, gfp: a.gfpFlags)
            self[pfn].migratetype = Int8(truncatingIfNeeded: a.migratetype)
            step(pfn, r, "order=\(a.order) migratetype=\(a.migratetype) gfp=0x\(String(a.gfpFlags, radix: 16))")
        case .pageFree(let f):
            end(pfn: f.pfn, order: UInt8(truncatingIfNeeded: f.order), r)
        case .pageFreeBatched(let f):
            step(f.pfn, r, "batched")
        case .pagePcpuDrain(let d):
            step(d.pfn, r, "order=\(d.order)")
        case .lruInsertion(let l):
            learnVmemmap(folio: l.folio, pfn: l.pfn)
            let head = folio(l.pfn, r)
            tally(out: head)
            self[head].lru = l.lru.rawValue
            tally(in: head)
            self[head].lruFlags = UInt8(truncatingIfNeeded: l.flags.rawValue)
            self[head].bits.insert(.sawLRUFlags)
            self[head].lruInsertions &+= 1
            summary.lruInsertions[Int(min(l.lru.rawValue, 4))] += 1
            attributeExactly(head, previousStat, r, positive: true)
            step(head, r, "lru=\(l.lru) flags=\(l.flags.letters)")
        case .lruActivate(let a):
            learnVmemmap(folio: a.folio, pfn: a.pfn)
            let head = folio(a.pfn, r)
            self[head].activations &+= 1
            if let l = LRUList(rawValue: self[head].lru) { self[head].lru = l.activated.rawValue }
            summary.activations += 1
            step(head, r, "activate")
        case .pageCacheAdd(let p):
            let head = folio(p.pfn, r, order: p.order)
            let page = FilePage(dev: p.dev, inode: p.inode, index: p.index)
            tally(out: head)
            self[head].dev = p.dev
            self[head].inode = p.inode
            self[head].index = p.index
            self[head].pageCacheAdded = r.timestamp
            self[head].pageCacheAddPid = r.pid
            self[head].pageCacheAddCPU = UInt16(truncatingIfNeeded: r.cpu)
            self[head].pageCacheDeleted = 0
            tally(in: head)
            summary.pageCacheAdds += 1
            attributeExactly(head, previousStat, r, positive: true)
            if let evicted = refault(page, pages: self[head].pages) {
                transitions.append(
                    .refaulted(
                        Refault(
                            folio: ref(head),
                            page: page,
                            evictedFrom: evicted.memcg,
                            evictedBy: evicted.reclaim,
                            eviction: evicted.evidence,
                            refaultedInto: self[head].owner ?? tasks.cgroup(of: r.pid),
                            refault: evidence(r)
                        )
                    )
                )
                summary.refaults += 1
                if let m = self[head].owner {
                    memcgs[m, default: MemcgSummary(id: m)].pagesRefaulted &+= self[head].pages
                }
            }
            step(head, r, "dev=\(p.major):\(p.minor) ino=\(p.inode) index=\(p.index)")
        case .pageCacheDelete(let p):
            let head = folio(p.pfn, r, order: p.order)
            tally(out: head)
            self[head].pageCacheDeleted = r.timestamp
            tally(in: head)
            summary.pageCacheDeletes += 1
            seesPageCacheExits.delete = true
            let page = FilePage(dev: p.dev, inode: p.inode, index: p.index)
            if reclaiming[r.pid] != nil || tasks.isKswapd(r.pid) {
                self[head].bits.insert(.evicted)
                summary.evictions += 1
                let order = Int(min(self[head].order, 15))
                let record = EvictedFolio(
                    memcg: self[head].owner,
                    order: UInt8(order),
                    reclaim: reclaiming[r.pid],
                    evidence: evidence(r)
                )
                if evicted.updateValue(record, forKey: page) == nil {
                    evictedOrders[order] += 1
                }
                if let m = self[head].owner {
                    memcgs[m, default: MemcgSummary(id: m)].pagesReclaimed &+= self[head].pages
                }
            }
            let how = self[head].bits.contains(.evicted) ? " (reclaim)" : ""
            step(head, r, "dev=\(p.major):\(p.minor) ino=\(p.inode) index=\(p.index)\(how)")
        case .vmscan(let v):
            handleVmscan(v, r)
        case .migratePagesStart(let m):
            migrating[r.pid] = m
            seesPageCacheExits.migration = true
            migrationBegan[r.pid] = evidence(r)
        case .migratePages(let m):
            migrating[r.pid] = nil
            migrationBegan[r.pid] = nil
            summary.migration.calls += 1
            summary.migration.succeeded &+= m.succeeded
            summary.migration.failed &+= m.failed
            let reason = migrateReasonName(m.reason)
            var c = summary.migration.byReason[reason] ?? (0, 0, 0)
            c.calls += 1
            c.succeeded &+= m.succeeded
            c.failed &+= m.failed
            summary.migration.byReason[reason] = c
        case .setMigrationPTE(let e):
            if let old = e.pfn { installMigrationEntry(address: e.address, old: old, order: e.order ?? 0, r) }
        case .removeMigrationPTE(let e):
            if let new = e.pfn { removeMigrationEntry(address: e.address, new: new, r) }
        case .setMigrationPMD(let e):
            // A PMD maps a whole PMD-sized folio: order 9 with 4 KiB pages on x86-64.
            if let old = e.pfn { installMigrationEntry(address: e.address, old: old, order: 9, r) }
        case .removeMigrationPMD(let e):
            if let new = e.pfn { removeMigrationEntry(address: e.address, new: new, r) }
        case .memcgStat(let m):
            lastStat[cpu] = (r.pid, m)
        case .memcgFlushStats:
            break
        case .cgroupAttachTask(let a):
            tasks.attach(pid: a.pid, cgroup: a.cgroupID, path: a.path, comm: a.comm, at: r.timestamp)
        case .cgroupMkdir(let d), .cgroupRmdir(let d):
            tasks.name(cgroup: d.cgroupID, path: d.path)
        case .pageFaultUser:
            break
        case .rmap(let call):
            // The folio pointer names the head; a page pointer may be a tail page.
            guard let pfn = pfn(ofPage: call.arguments.folio ?? call.arguments.page) else { break }
            let head = folio(pfn, r)
            let nr = Int32(truncatingIfNeeded: call.arguments.nr ?? 1)
            self[head].rmapBalance &+= call.action == .remove ? -nr : nr
            self[head].bits.insert(.sawRmap)
            if seesUnmaps, call.action != .remove { lastMap[head] = RecordMark(r) }
            let mapping = describe(vma: call.arguments.vma, address: call.arguments.address)
            step(head, r, "\(call.function.rawValue) nr=\(nr)\(mapping)")
        case .charge(let call):
            handleCharge(call, r)
        case .mlock(let call):
            handleMlock(call, r)
        case .probe(let call):
            handleProbe(call, r)
        }
        summary.typedEvents += 1
    }

    /// Learns from a record before the analysed window what holds for the whole trace and not
    /// for any one folio: which task is in which cgroup, the cgroups' names, the vmemmap base
    /// (without which the window's first kprobe page pointers would name no folio).
    public mutating func learnContext(_ r: RawRecord, _ event: MMEvent) {
        switch event {
        case .cgroupAttachTask(let a):
            tasks.attach(pid: a.pid, cgroup: a.cgroupID, path: a.path, comm: a.comm, at: r.timestamp)
        case .cgroupMkdir(let d), .cgroupRmdir(let d):
            tasks.name(cgroup: d.cgroupID, path: d.path)
        case .lruInsertion(let l):
            learnVmemmap(folio: l.folio, pfn: l.pfn)
        case .lruActivate(let a):
            learnVmemmap(folio: a.folio, pfn: a.pfn)
        default:
            break
        }
    }

    /// Ends the trace: live generations stay live; the summary gets its totals.
    public mutating func finish() -> LifecycleReport {
        summary.liveAtEnd = UInt64(live.count)
        summary.folios = UInt64(nextGeneration.count)
        var liveKept: [FolioGeneration] = []
        for (pfn, slot) in live {
            let f = folios[Int(slot)]
            if f.bits.contains(.crossesLoss) { summary.generationsCrossingLoss += 1 }
            if let m = f.owner {
                memcgs[m, default: MemcgSummary(id: m)].pagesLiveAtEnd &+= f.pages
                if f.inPageCache { memcgs[m, default: MemcgSummary(id: m)].pageCachePagesAtEnd &+= f.pages }
            }
            if options.keepLifecycles || isWatched(pfn, f) {
                liveKept.append(
                    f.generation(pfn: pfn, freedAt: nil, freedBy: nil, context: nil, migratedTo: migratedTo[pfn])
                )
            }
        }
        var kept = finished
        if !options.keepLifecycles { kept += liveKept }
        kept.sort { ($0.pfn, $0.generation) < ($1.pfn, $1.generation) }
        for id in memcgs.keys { memcgs[id]!.path = tasks.cgroupPaths[id] }
        return LifecycleReport(
            summary: summary,
            memcgs: memcgs.values.sorted { $0.id < $1.id },
            generations: kept,
            steps: steps,
            live: options.keepLifecycles ? liveKept : [],
            tasks: tasks
        )
    }

    // MARK: generations

    /// Starts a generation at `pfn`, ending whatever the trace still had there.
    private mutating func begin(pfn: UInt64, order: UInt8, _ r: RawRecord, allocated: Bool, gfp: UInt64? = nil) {
        // A live folio that covers this pfn was freed (or split) where the trace did not see.
        for p in pfn..<(pfn + (1 << UInt64(min(order, 15)))) {
            if let head = head(of: p) { retire(head, freedAt: nil, freedBy: nil, context: nil) }
            if order == 0 { break }
        }
        var f = LiveFolio(generation: nextGeneration[pfn, default: 0], order: order, firstSeen: r.timestamp)
        nextGeneration[pfn] = f.generation + 1
        if allocated {
            f.bits.insert(.allocated)
            f.allocPid = r.pid
            f.gfpFlags = UInt32(truncatingIfNeeded: gfp ?? 0)
        } else {
            summary.beganBeforeTrace += 1
        }
        if let cg = tasks.cgroup(of: r.pid) {
            f.memcg = cg
            f.attribution = .inferred
        }
        summary.generations += 1
        if order > 0 { liveLarge[Int(min(order, 15))] += 1 }
        let slot: Int32
        if let reused = freeSlots.popLast() {
            slot = reused
            folios[Int(slot)] = f
        } else {
            slot = Int32(folios.count)
            folios.append(f)
        }
        live[pfn] = slot
        if let m = f.owner { charge(m, pages: f.pages) }
    }

    /// The head pfn of the live folio at `pfn`, starting a generation of unknown beginning
    /// when there is none.
    private mutating func folio(_ pfn: UInt64, _ r: RawRecord, order: UInt8? = nil) -> UInt64 {
        if let head = head(of: pfn) { return head }
        begin(pfn: pfn, order: order ?? 0, r, allocated: false)
        return pfn
    }

    /// The head pfn of the live folio containing `pfn`, if any. Folios are naturally aligned
    /// (a folio of order k starts at a multiple of 2^k pfns), so only one candidate per order.
    private func head(of pfn: UInt64) -> UInt64? {
        if live[pfn] != nil { return pfn }
        for order in 1..<liveLarge.count where liveLarge[order] > 0 {
            let candidate = pfn & ~((1 << UInt64(order)) - 1)
            if let slot = live[candidate] {
                let f = folios[Int(slot)]
                if Int(f.order) >= order, pfn < candidate + f.pages { return candidate }
            }
        }
        return nil
    }

    /// A free (`mm_page_free` fires with the folio's order, first thing in
    /// `free_pages_prepare()`).
    private mutating func end(pfn: UInt64, order: UInt8, _ r: RawRecord) {
        var found = head(of: pfn)
        if let h = found, h != pfn || order < self[h].order {
            // A part of a larger folio freed on its own: the folio was split where the trace
            // does not show it. Its generation ends unseen; the part is a folio of its own.
            retire(h, freedAt: nil, freedBy: nil, context: nil)
            found = nil
        }
        if found == nil {
            // Born before the trace (or by a split) and never seen until its free.
            begin(pfn: pfn, order: order, r, allocated: false)
        }
        let freed = found ?? pfn
        step(freed, r, "order=\(order)")
        let context = freeContext(r.pid)
        if found != nil, !freedWhileMapped(freed, r) { freedInPageCache(freed, r, context) }
        summary.freesByContext[context.rawValue, default: 0] += 1
        retire(freed, freedAt: r.timestamp, freedBy: r.pid, context: context)
        // A free larger than what the trace knew covers generations seen only in part (each
        // began before the trace with the order its first event showed): they end here too.
        if order > 0 {
            for p in (pfn + 1)..<(pfn + (1 << UInt64(min(order, 15)))) {
                if let other = head(of: p) { retire(other, freedAt: r.timestamp, freedBy: r.pid, context: context) }
            }
        }
    }

    /// Ends a live generation: folds it into the summary, keeps it if asked.
    private mutating func retire(_ head: UInt64, freedAt: UInt64?, freedBy: Int32?, context: FreeContext?) {
        guard let slot = live.removeValue(forKey: head) else { return }
        if !lastMap.isEmpty { lastMap.removeValue(forKey: head) }
        let successor = migratedTo.isEmpty ? nil : migratedTo.removeValue(forKey: head)
        let f = folios[Int(slot)]
        tally(f, by: -1)
        freeSlots.append(slot)
        if f.order > 0 { liveLarge[Int(min(f.order, 15))] -= 1 }
        if let freed = freedAt {
            summary.freed += 1
            if f.bits.contains(.allocated), freed > f.firstSeen {
                summary.lifetimeHistogram[63 - (freed - f.firstSeen).leadingZeroBitCount] += 1
            }
        } else {
            summary.endedUnseen += 1
        }
        if f.bits.contains(.writtenBack) { summary.writtenBackByReclaim += 1 }
        if f.bits.contains(.crossesLoss) { summary.generationsCrossingLoss += 1 }
        if options.keepLifecycles || isWatched(head, f) {
            finished.append(
                f.generation(pfn: head, freedAt: freedAt, freedBy: freedBy, context: context, migratedTo: successor)
            )
        }
    }

    private func freeContext(_ pid: Int32) -> FreeContext {
        if let kind = reclaiming[pid] {
            return kind == .direct ? .directReclaim : .memcgReclaim
        }
        if tasks.isKswapd(pid) { return .kswapd }
        if migrating[pid] != nil { return .migration }
        return .other
    }

    // MARK: memcg

    private mutating func charge(_ memcg: UInt64, pages: UInt64) {
        update(memcg) {
            $0.generations += 1
            $0.pagesCharged &+= pages
        }
    }

    private mutating func update(_ memcg: UInt64, _ change: (inout MemcgSummary) -> Void) {
        change(&memcgs[memcg, default: MemcgSummary(id: memcg)])
    }

    /// Exact attribution: on 6.13+ the kernel updates the memcg's counter for this folio
    /// (`__lruvec_stat_mod_folio` in `__filemap_add_folio`, `update_lru_size` in
    /// `lruvec_add_folio`) right before the folio tracepoint, on the same CPU and task, by the
    /// folio's page count.
    private mutating func attributeExactly(
        _ head: UInt64,
        _ previous: (pid: Int32, stat: MemcgStat)?,
        _ r: RawRecord,
        positive: Bool
    ) {
        guard let (pid, stat) = previous, pid == r.pid, stat.kind == .lruvecState,
            stat.value == Int64(self[head].pages) * (positive ? 1 : -1)
        else { return }
        let old = self[head].owner
        guard self[head].attribution != .exact || old != stat.memcgID else { return }
        if let o = old, o != stat.memcgID {
            memcgs[o, default: MemcgSummary(id: o)].generations -= 1
            memcgs[o, default: MemcgSummary(id: o)].pagesCharged -= self[head].pages
        }
        tally(out: head)
        self[head].memcg = stat.memcgID
        tally(in: head)
        self[head].attribution = .exact
        if old != stat.memcgID { charge(stat.memcgID, pages: self[head].pages) }
    }

    private mutating func handleCharge(_ call: ChargeCall, _ r: RawRecord) {
        let a = call.arguments
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
        if let from = a.fromMemcgID { memcgs[from, default: MemcgSummary(id: from)].pagesMovedOut &+= pages }
        if let to = a.toMemcgID {
            memcgs[to, default: MemcgSummary(id: to)].pagesMovedIn &+= pages
            tally(out: head)
            self[head].memcg = to
            tally(in: head)
            self[head].attribution = .exact
        }
        step(
            head,
            r,
            "move_account from=\(a.fromMemcgID.map(String.init) ?? "?") to=\(a.toMemcgID.map(String.init) ?? "?") mapcount=\(a.mapcount.map(String.init) ?? "?")"
        )
    }

    // MARK: mlock

    /// An mlock probe: a step of the folio's life and, for `mlock_folio` inside a reclaim
    /// pass (or kswapd), an mlock that reclaim restored. Calls outside reclaim (faults into
    /// VM_LOCKED VMAs, mlock()) are the normal way folios get mlocked.
    private mutating func handleMlock(_ call: MlockCall, _ r: RawRecord) {
        let a = call.arguments
        guard let pfn = pfn(ofPage: a.folio ?? a.page) else { return }
        let head = folio(pfn, r)
        step(head, r, "\(call.function.rawValue) mlocked=\(a.mlocked.map { $0 ? "1" : "0" } ?? "?")")
        guard call.function == .mlockFolio else { return }
        let kind = reclaiming[r.pid]
        guard kind != nil || tasks.isKswapd(r.pid) else { return }
        var proof = [evidence(r)]
        if kind != nil, let began = reclaimBegan[r.pid] { proof.insert(began, at: 0) }
        transitions.append(
            .mlockRestored(
                MlockRestore(
                    folio: ref(head),
                    reclaim: kind,
                    reclaimerMemcg: tasks.cgroup(of: r.pid),
                    wasMlocked: a.mlocked,
                    evidence: proof
                )
            )
        )
    }

    // MARK: reference checks

    /// `try_to_free_mem_cgroup_pages(memcg, ...)` names the target of the memcg reclaim pass
    /// that follows; `ptep_clear_flush_young()` inside memcg reclaim, in a VMA of a task
    /// outside that target (and outside its subtree), is a foreign reference.
    private mutating func handleProbe(_ call: ProbeCall, _ r: RawRecord) {
        let a = call.arguments
        switch call.function {
        case .tryToFreeMemCgroupPages:
            if let id = a.memcgID { reclaimTarget[r.pid] = id }
        case .ptepClearFlushYoung:
            guard let kind = reclaiming[r.pid], kind == .memcg || kind == .memcgSoftLimit,
                let young = a.young, let foreign = a.vmaMemcgID,
                let target = reclaimTarget[r.pid] ?? tasks.cgroup(of: r.pid),
                isForeign(foreign, to: target), let pte = a.pte,
                case .present(let pfn) = X86PTE.decode(pte)
            else { return }
            let head = folio(pfn, r)
            step(head, r, "ptep_clear_flush_young young=\(young) vma memcg \(foreign)")
            var proof = [evidence(r)]
            if let began = reclaimBegan[r.pid] { proof.insert(began, at: 0) }
            transitions.append(
                .foreignReference(
                    ForeignReference(
                        folio: ref(head),
                        target: target,
                        foreign: foreign,
                        ownerPid: a.ownerPid,
                        young: young,
                        evidence: proof
                    )
                )
            )
        case .migrateFolioMove:
            guard let pfn = pfn(ofPage: a.folio) else { return }
            let head = folio(pfn, r)
            self[head].bits.insert(.migrationMoved)
            step(head, r, "migrate_folio_move")
        case .migrateFolioDone:
            guard let pfn = pfn(ofPage: a.folio) else { return }
            let head = folio(pfn, r)
            step(head, r, "migrate_folio_done refcount=\(a.refcount.map(String.init) ?? "?")")
            freedWhileIsolated(head, refcount: a.refcount, r)
        default:
            break
        }
    }

    /// `migrate_folio_done(src)` without a `migrate_folio_move(src)` before it: the source
    /// was freed from under the migration (6.3+ `migrate_folio_unmap()`: `folio_ref_count(src)
    /// == 1`, only the isolation reference left) and is counted as succeeded. Claimed only
    /// inside a migrate_pages() call the trace saw begin, so that a move cannot have been cut
    /// off, and never across lost events.
    private mutating func freedWhileIsolated(_ head: UInt64, refcount: Int32?, _ r: RawRecord) {
        let f = self[head]
        guard !f.bits.contains(.migrationMoved), !f.bits.contains(.crossesLoss), refcount ?? 1 == 1,
            let start = migrating[r.pid], let began = migrationBegan[r.pid]
        else { return }
        transitions.append(
            .freedWhileIsolated(
                IsolatedFree(
                    folio: ref(head),
                    reason: migrateReasonName(start.reason),
                    migratingPid: r.pid,
                    evidence: [began, evidence(r)]
                )
            )
        )
    }

    /// A free (kmem:mm_page_free) of a folio whose every rmap change since its allocation is in
    /// the trace and adds up to a mapping still there. The kernel frees a folio at its last
    /// reference (__folio_put(), 6.1-6.12), and every mapping holds one: a free while mapped
    /// means a reference was dropped that was never taken. The kernel reports it itself when
    /// page checks are on (free_pages_prepare() -> free_page_is_bad(): "Bad page state ...
    /// nonzero mapcount"; on by default with CONFIG_DEBUG_VM, and from 6.4 with init_on_free
    /// or page poisoning). Only whole generations count: allocated in the trace, rmap seen,
    /// no lost events, and a capture with unmap probes; unprobed adds (fork's dup, a PMD split)
    /// only make the balance lower.
    @discardableResult
    private mutating func freedWhileMapped(_ head: UInt64, _ r: RawRecord) -> Bool {
        let f = self[head]
        guard seesUnmaps, f.rmapBalance > 0, f.bits.contains(.allocated), f.bits.contains(.sawRmap),
            !f.bits.contains(.crossesLoss), let mapped = lastMap[head]
        else { return false }
        transitions.append(
            .freedWhileMapped(
                MappedFree(
                    folio: ref(head),
                    mappings: f.rmapBalance,
                    mappedBy: mapped.pid,
                    freedBy: r.pid,
                    evidence: [evidence(mapped), evidence(r)]
                )
            )
        )
        return true
    }

    /// A free of a folio the trace shows in the page cache: the page cache holds a reference
    /// until `__filemap_remove_folio()`/`delete_from_page_cache_batch()` take the folio out
    /// (both trace the delete, 4.14+), so a free without a delete means someone dropped the
    /// page cache's reference; the kernel reports it when page checks are on
    /// (`free_page_is_bad()`: "non-NULL mapping", a file folio's ->mapping is still set).
    /// Migration replaces a page-cache folio without either event (`folio_migrate_mapping()`)
    /// and frees the old one in the migrating task, and khugepaged's `collapse_file()` does the
    /// same for the small folios it collapses: those frees are not findings. Whole generations
    /// of the page cache only: the add seen, no lost events since. Holds for 4.14+ (the
    /// filemap events) with the migrate_pages() events (5.16+ mm_migrate_pages_start).
    private mutating func freedInPageCache(_ head: UInt64, _ r: RawRecord, _ context: FreeContext) {
        let f = self[head]
        guard let addID = pageCacheAddID, seesPageCacheExits == (true, true), f.inPageCache,
            !f.bits.contains(.crossesLoss), context != .migration,
            !tasks.comm(r.pid).hasPrefix("khugepaged")
        else { return }
        let added = RecordMark(
            eventID: addID,
            cpu: Int32(f.pageCacheAddCPU),
            timestamp: f.pageCacheAdded,
            pid: f.pageCacheAddPid
        )
        transitions.append(
            .freedInPageCache(
                PageCacheFree(
                    folio: ref(head),
                    page: FilePage(dev: f.dev, inode: f.inode, index: f.index),
                    freedBy: r.pid,
                    evidence: [evidence(added), evidence(r)]
                )
            )
        )
    }

    /// Whether memcg `id` is outside memcg reclaim's `target` and its subtree, as far as the
    /// trace's cgroup paths tell (`mem_cgroup_is_descendant()`); unknown paths decide nothing.
    private func isForeign(_ id: UInt64, to target: UInt64) -> Bool {
        guard id != target else { return false }
        guard let path = tasks.cgroupPaths[id], let targetPath = tasks.cgroupPaths[target] else { return false }
        return targetPath != "/" && !path.hasPrefix(targetPath + "/")
    }

    // MARK: migration

    /// A migration entry for the page `old` of a folio of `order` (set_migration_pte records
    /// the folio's order with each PTE it replaces; folios are naturally aligned).
    private mutating func installMigrationEntry(address: UInt64, old: UInt64, order: Int32, _ r: RawRecord) {
        migrationEntries[MigrationEntryKey(pid: r.pid, address: address)] = old
        let order = UInt8(clamping: max(0, min(order, 15)))
        let head = folio(old & ~((1 << UInt64(order)) - 1), r, order: order)
        self[head].migrationEntries += 1
        step(head, r, "addr=0x\(String(address, radix: 16)) old pfn=0x\(String(old, radix: 16))")
    }

    /// Joins a migration: the entry at `address` that held the old pfn now maps `new`. The
    /// same pfn means the migration of that folio failed and the old mapping came back.
    private mutating func removeMigrationEntry(address: UInt64, new: UInt64, _ r: RawRecord) {
        guard let old = migrationEntries.removeValue(forKey: MigrationEntryKey(pid: r.pid, address: address)) else {
            return
        }
        let oldHead = head(of: old) ?? old
        if live[oldHead] != nil { self[oldHead].migrationEntries -= 1 }
        if let start = migrating[r.pid], live[oldHead] != nil {
            self[oldHead].migrateReason = UInt8(truncatingIfNeeded: start.reason)
        }
        if new == old {
            summary.migration.restored += 1
            step(oldHead, r, "addr=0x\(String(address, radix: 16)) restored (migration failed)")
            return
        }
        // The same page of the new folio: new head = new - (old - old head).
        let newHead = new &- (old &- oldHead)
        let source = live[oldHead].map { folios[Int($0)] }
        guard migratedTo[oldHead] != newHead else { return }
        if head(of: newHead) == nil {
            begin(pfn: newHead, order: source?.order ?? 0, r, allocated: false)
            summary.beganBeforeTrace -= 1  // a migration target, born here, not before the trace
        }
        let target = head(of: newHead) ?? newHead
        self[target].migratedFrom = oldHead
        if let s = source, let m = s.owner {
            // mem_cgroup_migrate() hands the charge to the new folio (6.7+; 6.1 charges it).
            if self[target].memcg != m {
                tally(out: target)
                self[target].memcg = m
                tally(in: target)
                self[target].attribution = s.attribution
            }
        }
        if live[oldHead] != nil { migratedTo[oldHead] = target }
        summary.migration.joined += 1
        step(oldHead, r, "migrated to pfn=0x\(String(target, radix: 16))")
        step(target, r, "migrated from pfn=0x\(String(oldHead, radix: 16))")
    }

    /// Whether `page` belongs to a folio that reclaim evicted earlier. Page-cache folios are
    /// aligned in the file as in memory (a folio of order k starts at an index that is a
    /// multiple of 2^k), so the evicted folio covering an index is found by rounding down.
    /// The record goes once all its pages have come back.
    private mutating func refault(_ page: FilePage, pages: UInt64) -> EvictedFolio? {
        for order in evictedOrders.indices where evictedOrders[order] > 0 {
            var key = page
            key.index &= ~((1 << UInt64(order)) - 1)
            guard var e = evicted[key], Int(e.order) == order else { continue }
            e.refaultedPages &+= pages
            if e.refaultedPages >= 1 << UInt64(order) {
                evicted[key] = nil
                evictedOrders[order] -= 1
            } else {
                evicted[key] = e
            }
            return e
        }
        return nil
    }

    // MARK: reclaim

    private mutating func handleVmscan(_ v: VmscanEvent, _ r: RawRecord) {
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
            summary.reclaim.activated &+= s.nrActivateAnon &+ s.nrActivateFile
            summary.reclaim.unmapFailed &+= s.nrUnmapFail
        case .writeFolio(let pfn, _):
            let head = folio(pfn, r)
            self[head].bits.insert(.writtenBack)
            step(head, r, "write_folio")
        default:
            break
        }
    }

    // MARK: losses, pointers, steps

    /// Any state may be missing from a generation that was live while events were lost.
    private mutating func noteLoss(_ r: RawRecord) {
        if r.missedEvents > 0 {
            summary.lostEvents[r.cpu, default: 0] &+= UInt64(r.missedEvents)
        } else {
            summary.uncountedLosses += 1
        }
        for (_, slot) in live { folios[Int(slot)].bits.insert(.crossesLoss) }
        for i in lastStat.indices { lastStat[i] = nil }
    }

    /// `struct page` pointers map to pfns through vmemmap: page = vmemmap_base + pfn * 64.
    /// The base is learned from the (folio pointer, pfn) pairs of pagemap events.
    private mutating func learnVmemmap(folio: UInt64?, pfn: UInt64) {
        guard vmemmapBase == nil, let folio, folio != 0 else { return }
        vmemmapBase = folio &- pfn &* 64
    }

    private func pfn(ofPage page: UInt64?) -> UInt64? {
        guard let page, let base = vmemmapBase, page >= base, (page - base) % 64 == 0 else { return nil }
        return (page - base) / 64
    }

    /// The folio at `head` as findings name it.
    private func ref(_ head: UInt64) -> FolioRef {
        let f = self[head]
        return FolioRef(
            pfn: head,
            generation: f.generation,
            order: f.order,
            filePage: f.isFile ? FilePage(dev: f.dev, inode: f.inode, index: f.index) : nil,
            memcg: f.owner,
            attribution: f.attribution
        )
    }

    private func evidence(_ r: RawRecord) -> Evidence { evidence(RecordMark(r)) }

    private func evidence(_ m: RecordMark) -> Evidence {
        let id = Int(m.eventID)
        let name = id < eventNames.count ? eventNames[id] : "id \(id)"
        return Evidence(event: name, cpu: m.cpu, timestamp: m.timestamp, pid: m.pid)
    }

    private func describe(vma: UInt64?, address: UInt64?) -> String {
        (vma.map { " vma=0x\(String($0, radix: 16))" } ?? "")
            + (address.map { " addr=0x\(String($0, radix: 16))" } ?? "")
    }

    private func isWatched(_ head: UInt64, _ f: LiveFolio) -> Bool {
        options.allSteps || (!options.watch.isEmpty && options.watch.contains { $0 >= head && $0 < head + f.pages })
    }

    private mutating func step(_ pfn: UInt64, _ r: RawRecord, _ detail: @autoclosure () -> String) {
        guard options.allSteps || !options.watch.isEmpty else { return }
        let head = head(of: pfn) ?? pfn
        guard let slot = live[head] else { return }
        let g = folios[Int(slot)]
        guard isWatched(head, g) else { return }
        let name = Int(r.eventID) < eventNames.count ? eventNames[Int(r.eventID)] : "id \(r.eventID)"
        steps[FolioStepKey(pfn: head, generation: g.generation), default: []].append(
            FolioStep(timestamp: r.timestamp, cpu: r.cpu, pid: r.pid, event: name, detail: detail(), memcg: g.owner)
        )
    }
}

/// Identifies one generation of one folio.
public struct FolioStepKey: Hashable, Sendable {
    public var pfn: UInt64
    public var generation: UInt32

    public init(pfn: UInt64, generation: UInt32) {
        self.pfn = pfn
        self.generation = generation
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

struct MigrationEntryKey: Hashable {
    var pid: Int32
    var address: UInt64
}

extension LRUList {
    /// The active list of the same type (activation moves inactive -> active).
    var activated: LRUList {
        switch self {
        case .inactiveAnon: return .activeAnon
        case .inactiveFile: return .activeFile
        default: return self
        }
    }
}

/// Everything the engine worked out: the input of `analyze`, `folio` and the detectors.
public struct LifecycleReport: Sendable {
    public var summary: LifecycleSummary
    public var memcgs: [MemcgSummary]
    /// Generations kept: finished ones (all, or the watched) and live watched ones.
    public var generations: [FolioGeneration]
    public var steps: [FolioStepKey: [FolioStep]]
    /// Live generations at the end (with `keepLifecycles`).
    public var live: [FolioGeneration]
    public var tasks: TaskTable
}

/// Where a record was (event, CPU, time, task), kept for evidence after its payload is gone.
struct RecordMark {
    var eventID: UInt16
    var cpu: Int32
    var timestamp: UInt64
    var pid: Int32

    init(eventID: UInt16, cpu: Int32, timestamp: UInt64, pid: Int32) {
        self.eventID = eventID
        self.cpu = cpu
        self.timestamp = timestamp
        self.pid = pid
    }

    init(_ r: RawRecord) {
        eventID = r.eventID
        cpu = r.cpu
        timestamp = r.timestamp
        pid = r.pid
    }
}
