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

    public internal(set) var summary = LifecycleSummary()
    public internal(set) var tasks: TaskTable
    /// Finished generations kept (all with `keepLifecycles`, else the watched ones).
    public internal(set) var finished: [FolioGeneration] = []
    /// Steps of the watched folios, by (head pfn, generation).
    public internal(set) var steps: [FolioStepKey: [FolioStep]] = [:]
    /// Transitions for the detectors from the last `handle`; the caller drains them.
    public internal(set) var transitions: [Transition] = []

    let options: Options
    /// Whether any folio's steps are recorded (`Options.allSteps` or a watched pfn).
    let recordsSteps: Bool
    let eventNames: [String]
    /// Every head pfn seen: its generations so far and the slot in `folios` of its live one.
    var live = HeadTable()
    /// The last rmap probe that mapped each live folio, for the evidence of a free while
    /// mapped (kept only when the capture has an unmap probe to balance it).
    var lastMap: [UInt64: RecordMark] = [:]
    /// The source folio (head pfn) whose migrate_folio_move() each task entered last: its
    /// migrate_folio_done() at the end of that move is the normal one.
    var movingSource: [Int32: UInt64] = [:]
    /// Whether the capture defined a kprobe on migrate_folio_move(), or on move_to_new_folio()
    /// that it calls (Debian's arm64 builds inline migrate_folio_move() into
    /// migrate_pages_batch()), that the decoder reads: without one, a migrate_folio_done()
    /// cannot be told from the end of a move. Kernels
    /// differ: 6.3+ split unmap_and_move() into migrate_folio_unmap() and
    /// migrate_folio_move(), and Debian's 6.1.192 has an out-of-line migrate_folio_done() but
    /// no migrate_folio_move() (its done runs once per source migrate_pages() counts as
    /// succeeded, moved or freed: 3 184 calls = pgmigrate_success in
    /// fixtures/linux-6.1/healthy-mix-record.dat).
    var seesMigrateMoves = false
    /// Whether the capture defined a kprobe on an rmap unmap function: without one, a folio's
    /// mappings cannot be seen to go and a positive balance proves nothing.
    var seesUnmaps: Bool { !mappedFrees.unmapProbes.isEmpty }
    /// What the capture's probes let a free while mapped be judged for, by folio size: the
    /// rule's folio needs (`Rule.chargeLifecycleViolation.judges`) evaluated for this capture.
    var mappedFrees: MappedFreeJudgement
    /// The page-cache add event's id, for evidence of a free while in the page cache.
    let pageCacheAddID: UInt16?
    /// The traced kernel's page-table layout, nil when foliotrace does not know it (PTEs that
    /// probes fetch are then not read).
    let pteLayout: PTELayout?
    /// Whether the capture shows page-cache deletes and migrate_pages() calls (seen, or known to
    /// be enabled): then it shows how page-cache folios leave (deleted, or replaced by
    /// migration), and a free without either means the page cache lost a folio it still held.
    /// Until then such frees are not judged (a capture without those events would make every
    /// eviction or migration look like one).
    var seesPageCacheExits: (delete: Bool, migration: Bool) = (false, false)
    /// Where a folio that migration joined to a new one went: old head -> new head, until the
    /// old generation ends (shortly, freed by the migrating task).
    var migratedTo: [UInt64: UInt64] = [:]
    /// Where a live folio that migration joined to an old one came from: new head -> old head.
    /// Beside the folios rather than in each (`FolioDetails`): few folios have one.
    var migratedFrom: [UInt64: UInt64] = [:]
    var folios = FolioSlots()
    /// Live folios of each order > 0, so tail pfns can find their head.
    var liveLarge = [Int](repeating: 0, count: 16)
    /// Bit k set when `liveLarge[k]` is not 0: `head(of:)` tries only those orders, and most
    /// lookups of a pfn that is no live head (every allocation's) find none to try.
    var liveOrders: UInt16 = 0
    /// Live folios of order > 0 by the 512-pfn block their head is in (`head(of:)`): a pfn in
    /// a block without one is not the tail of a folio of order 9 or less, which settles most
    /// lookups of a pfn that is no live head in one probe instead of one per live order.
    var largeBlocks = PfnTable<Int32>()
    /// Each memcg's summary by its row in `tallies`, nil until an event counted something for
    /// it (`memcgs` lists those): counted on most exact attributions, where a dictionary
    /// keyed by cgroup id hashed the id each time (1.7 million times on the scale capture).
    var memcgRows: [MemcgSummary?] = [nil]
    /// The last cgroup id asked of `memcgRow` and its row: the events of a memcg come in runs.
    var lastMemcgRow: (id: UInt64, row: UInt32) = (0, 0)

    /// Every memcg the trace counted something for, by cgroup id.
    var memcgs: [UInt64: MemcgSummary] {
        var all: [UInt64: MemcgSummary] = [:]
        for case let m? in memcgRows { all[m.id] = m }
        return all
    }
    /// Per memcg, the pages of live folios on an LRU list and in the page cache, kept up to
    /// date as folios change (`census()`): the timeline samples it often, and walking every
    /// live folio for each sample cost an eighth of a short trace's analysis. A row per memcg
    /// a folio has belonged to, row 0 for cgroup id 0 (no memcg known); each folio holds its
    /// row (`LiveFolio.memcgRow`), and `tallyIndex` finds the row of a cgroup id.
    var tallyIndex: PfnTable<Int32> = {
        var index = PfnTable<Int32>()
        index[0] = 0
        return index
    }()
    var tallies: [(memcg: UInt64, census: PageCensus)] = [(0, PageCensus())]
    /// The memcg stat event just before the current record on each CPU (`StatAdjacency`),
    /// indexed by CPU, for records handed to `handle(_:_:)`: looked at on every record, so an
    /// array, not a dictionary.
    var lastStat: [StatMark] = Array(repeating: .none, count: 8)
    var reclaiming: [Int32: ReclaimKind] = [:]
    /// The reclaim_begin event of each task's current reclaim pass, for evidence.
    var reclaimBegan: [Int32: Evidence] = [:]
    /// The target memcg of each task's memcg reclaim, from `try_to_free_mem_cgroup_pages`.
    var reclaimTarget: [Int32: ReclaimTarget] = [:]
    /// Cgroup ids of `struct mem_cgroup *` pointers, from probes that fetched both.
    var memcgIDs: [UInt64: UInt64] = [:]
    var migrating: [Int32: MigratePagesStart] = [:]
    /// The mm_migrate_pages_start event of each task's current migrate_pages() call.
    var migrationBegan: [Int32: Evidence] = [:]
    /// The migration entries each task installed at each user address and has not restored
    /// yet, by old pfn. The address alone does not name the mm: the task that migrates
    /// unmaps every process mapping a folio, and two processes can map different folios at the same
    /// address (a non-PIE binary's heap in a shell and its child: seen on Debian's 6.12 arm64-16k
    /// during compact_memory). Since 6.3 migrate_pages_batch() unmaps all folios of a batch before
    /// it moves any, then restores each source's entries (remove_migration_ptes) in the order it
    /// unmapped them, so the oldest entry at an address is the one a remove restores.
    /// The oldest one per key; a second entry at the same key (rare) waits in
    /// `laterMigrationEntries`, so the common path stores a plain pfn, with no array and no
    /// reference counting.
    var migrationEntries: [MigrationEntryKey: UInt64] = [:]
    var laterMigrationEntries: [MigrationEntryKey: [UInt64]] = [:]
    /// Folios evicted from the page cache by reclaim, keyed by their first file page: the
    /// memcg they were charged to, their order, and how many of their pages came back.
    var evicted: [FilePage: EvictedFolio] = [:]
    var evictedOrders = [Int](repeating: 0, count: 16)
    /// The keys of `evicted` by inode: a page-cache add of a file none of whose folios is
    /// there (nearly every add) skips `refault`'s lookups, each a `FilePage` hashed with
    /// SipHash (250 M instructions on the scale capture).
    var evictedInodes = PfnTable<Int32>()
    /// struct page address of pfn 0, learned from events that carry folio pointers.
    var vmemmapBase: UInt64?

    /// - Parameters:
    ///   - catalog: names the events in recorded steps.
    ///   - savedCommands: the trace's pid -> comm table.
    ///   - mappedFrees: which folios the capture's unmap probes let a free while mapped be
    ///     judged for (`MappedFreeJudgement(CaptureProbes)`).
    public init(
        catalog: EventCatalog,
        savedCommands: [Int32: String],
        options: Options = Options(),
        judging mappedFrees: MappedFreeJudgement
    ) {
        self.options = options
        recordsSteps = options.allSteps || !options.watch.isEmpty
        self.mappedFrees = mappedFrees
        var names = [String](repeating: "", count: catalog.idLimit)
        for t in catalog.types { names[Int(t.id)] = t.fullName }
        eventNames = names
        tasks = TaskTable(savedCommands: savedCommands)
        pageCacheAddID = catalog.types.first { $0.fullName == "filemap:mm_filemap_add_to_page_cache" }
            .map { UInt16($0.id) }
        pteLayout = try? catalog.pteLayout.get()
        judgeMigrations(CaptureProbes(catalog))
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
            let f = folios[slot]
            let onLRU = f.lru != LRUList.unknown.rawValue
            guard onLRU || f.inPageCache else { continue }
            let memcg = memcgID(f)
            if onLRU {
                c[memcg, default: PageCensus()].lruPages &+= f.pages
                c[memcg, default: PageCensus()].lruListPages[f.lru] &+= f.pages
            }
            if f.inPageCache { c[memcg, default: PageCensus()].pageCachePages &+= f.pages }
        }
        return c
    }

    /// Takes the live folio at `head` out of its memcg's tally before a change to its LRU
    /// list, page-cache membership or memcg; `tally(in:)` puts it back after.
    mutating func tally(out head: UInt64) { tally(self[head], by: -1) }
    mutating func tally(in head: UInt64) { tally(self[head], by: 1) }

    @inline(__always)
    mutating func tally(_ f: LiveFolio, by sign: Int) {
        let onLRU = f.lru != LRUList.unknown.rawValue
        let cached = f.inPageCache
        guard onLRU || cached else { return }
        let pages = sign > 0 ? f.pages : 0 &- f.pages
        // One access to the row: each `tallies[i].census.x &+= ...` checked the array's
        // uniqueness again.
        Self.count(pages, lru: onLRU ? f.lru : nil, cached: cached, in: &tallies[Int(f.memcgRow)].census)
    }

    @inline(__always)
    static func count(_ pages: UInt64, lru: UInt8?, cached: Bool, in census: inout PageCensus) {
        if let lru {
            census.lruPages &+= pages
            census.lruListPages[lru] &+= pages
        }
        if cached { census.pageCachePages &+= pages }
    }

    /// The row of memcg `id` in `tallies` and `memcgRows`, made when it has none.
    @inline(__always)
    mutating func memcgRow(_ id: UInt64) -> UInt32 {
        if id == lastMemcgRow.id { return lastMemcgRow.row }
        let row = newMemcgRow(id)
        lastMemcgRow = (id, row)
        return row
    }

    mutating func newMemcgRow(_ id: UInt64) -> UInt32 {
        if let row = tallyIndex[id] { return UInt32(row) }
        let row = tallies.count
        tallyIndex[id] = Int32(row)
        tallies.append((id, PageCensus()))
        memcgRows.append(nil)
        return UInt32(row)
    }

    /// The cgroup id of the memcg that owns `f`, 0 when unknown.
    @inline(__always)
    func memcgID(_ f: LiveFolio) -> UInt64 { tallies[Int(f.memcgRow)].memcg }

    /// The cgroup id of the memcg that owns `f`, nil when unknown.
    @inline(__always)
    func owner(_ f: LiveFolio) -> UInt64? {
        let id = memcgID(f)
        return id == 0 ? nil : id
    }

    /// Changes the live folio in `slot` in one access: each `self[head].field = ...` looks the
    /// head up again and checks the slots' storage for uniqueness again.
    @inline(__always)
    mutating func update(_ slot: Int32, _ change: (inout LiveFolio) -> Void) { change(&folios[slot]) }

    /// Changes the details of the live folio in `slot` in one access.
    @inline(__always)
    mutating func updateDetails(_ slot: Int32, _ change: (inout FolioDetails) -> Void) {
        change(&folios[details: slot])
    }

    /// The live folio with head `pfn` (which must be live).
    subscript(_ pfn: UInt64) -> LiveFolio {
        @inline(__always) get { folios[live[pfn]!] }
        @inline(__always) _modify { yield &folios[live[pfn]!] }
    }

    /// The details of the live folio with head `pfn` (which must be live).
    subscript(details pfn: UInt64) -> FolioDetails {
        @inline(__always) get { folios[details: live[pfn]!] }
        @inline(__always) _modify { yield &folios[details: live[pfn]!] }
    }

    // MARK: feeding

    /// Applies one record, and says whether it produced transitions (`transitions`). Counts
    /// taken from the trace accumulate with wrapping arithmetic: a corrupt record must not
    /// trap the process.
    ///
    /// The answer comes back from this mutating call because reading a property of an engine
    /// held in another struct's stored property copied the whole engine (600 bytes) on every
    /// record.
    @discardableResult
    public mutating func handle(_ r: RawRecord, _ event: MMEvent) -> Bool {
        let cpu = Int(r.cpu)
        if cpu >= lastStat.count, cpu < TraceLimits.cpus {
            lastStat += Array(repeating: .none, count: cpu + 1 - lastStat.count)
        }
        return handle(r, event, after: StatAdjacency.step(&lastStat, r, event.memcgStat))
    }

    /// `handle` for a driver that keeps the stat adjacency itself (`StatAdjacency.step` over
    /// rows of its own, fed the same records): `previousStat` is the stat record just before
    /// `r` on its CPU.
    @inline(__always)
    mutating func handle(_ r: RawRecord, _ event: MMEvent, after previousStat: StatMark) -> Bool {
        apply(r, event, previousStat)
        return !transitions.isEmpty
    }

    /// `handle(_:_:after:)` of `count` memcg stat records with no loss before them, from CPUs
    /// in range, which the caller's reader folded (`StatFolding`): what `apply` does with each
    /// (the stat adjacency is the reader's). Makes no transition.
    @inline(__always)
    mutating func handleStats(_ count: UInt32) {
        beginRecords(UInt64(count))
        summary.typedEvents += UInt64(count)  // as `apply` ends a typed event's record
    }

    /// What every record starts with, in `apply` and `handleStats`: it is counted, and the
    /// transitions of the record before are dropped.
    @inline(__always)
    private mutating func beginRecords(_ count: UInt64 = 1) {
        summary.records += count
        if !transitions.isEmpty { transitions.removeAll(keepingCapacity: true) }
    }

    private mutating func apply(_ r: RawRecord, _ event: MMEvent, _ previousStat: StatMark) {
        beginRecords()
        if r.missedEvents != 0 { noteLoss(r) }
        guard r.cpu >= 0, Int(r.cpu) < TraceLimits.cpus else { return }  // damaged: no kernel has such a CPU
        switch event {
        case .other, .malformed:
            return
        case .pageAlloc(let a):
            guard let pfn = a.pfn else { break }
            begin(
                pfn: pfn,
                order: UInt8(truncatingIfNeeded: a.order),
                r,
                allocated: true,
                gfp: a.gfpFlags,
                migratetype: Int8(truncatingIfNeeded: a.migratetype)
            )
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
            let slot = live[head]!
            tally(folios[slot], by: -1)
            update(slot) { f in
                f.lru = l.lru.rawValue
                f.bits.insert(.sawLRUFlags)
            }
            tally(folios[slot], by: 1)
            updateDetails(slot) { d in
                d.lruFlags = UInt8(truncatingIfNeeded: l.flags.rawValue)
                d.lruInsertions &+= 1
            }
            summary.lruInsertions[Int(min(l.lru.rawValue, 4))] += 1
            attributeExactly(slot, previousStat, r, positive: true)
            step(head, r, "lru=\(l.lru) flags=\(l.flags.letters)")
        case .lruActivate(let a):
            learnVmemmap(folio: a.folio, pfn: a.pfn)
            let head = folio(a.pfn, r)
            self[details: head].activations &+= 1
            if let l = LRUList(rawValue: self[head].lru) {
                tally(out: head)  // the list changes: the per-list tallies follow
                self[head].lru = l.activated.rawValue
                tally(in: head)
            }
            summary.activations += 1
            step(head, r, "activate")
        case .pageCacheAdd(let p):
            let head = folio(p.pfn, r, order: p.order)
            let page = FilePage(dev: p.dev, inode: p.inode, index: p.index)
            let slot = live[head]!
            tally(folios[slot], by: -1)
            update(slot) { f in
                if r.timestamp != 0 { f.bits.insert(.addedToPageCache) } else { f.bits.remove(.addedToPageCache) }
                f.pageCacheDeleted = 0
            }
            tally(folios[slot], by: 1)
            updateDetails(slot) { d in
                d.dev = p.dev
                d.inode = p.inode
                d.index = p.index
                d.pageCacheAdded = r.timestamp
                d.pageCacheAddPid = r.pid
                d.pageCacheAddCPU = UInt16(truncatingIfNeeded: r.cpu)
            }
            summary.pageCacheAdds += 1
            attributeExactly(slot, previousStat, r, positive: true)
            let f = folios[slot]
            if let evicted = refault(page, pages: f.pages) {
                transitions.append(
                    .refaulted(
                        Refault(
                            folio: ref(head),
                            page: page,
                            evictedFrom: evicted.memcg,
                            evictedBy: evicted.reclaim,
                            eviction: evicted.evidence,
                            refaultedInto: owner(f) ?? tasks.cgroup(of: r.pid),
                            refault: evidence(r)
                        )
                    )
                )
                summary.refaults += 1
                if owner(f) != nil { update(row: f.memcgRow) { $0.pagesRefaulted &+= f.pages } }
            }
            step(head, r, "dev=\(p.major):\(p.minor) ino=\(p.inode) index=\(p.index)")
        case .pageCacheDelete(let p):
            let head = folio(p.pfn, r, order: p.order)
            let slot = live[head]!
            let reclaim = reclaiming[r.pid]
            let evicting = reclaim != nil || tasks.isKswapd(r.pid)
            tally(folios[slot], by: -1)
            update(slot) { f in
                f.pageCacheDeleted = r.timestamp
                if evicting { f.bits.insert(.evicted) }
            }
            let f = folios[slot]
            tally(f, by: 1)
            summary.pageCacheDeletes += 1
            seesPageCacheExits.delete = true
            let page = FilePage(dev: p.dev, inode: p.inode, index: p.index)
            if evicting {
                summary.evictions += 1
                let order = Int(min(f.order, 15))
                let record = EvictedFolio(memcg: owner(f), order: UInt8(order), reclaim: reclaim, evidence: evidence(r))
                if evicted.updateValue(record, forKey: page) == nil {
                    evictedOrders[order] += 1
                    evictedInodes[page.inode, default: 0] += 1
                }
                if owner(f) != nil { update(row: f.memcgRow) { $0.pagesReclaimed &+= f.pages } }
            }
            let how = f.bits.contains(.evicted) ? " (reclaim)" : ""
            step(head, r, "dev=\(p.major):\(p.minor) ino=\(p.inode) index=\(p.index)\(how)")
        case .vmscan(let v):
            handleVmscan(v, r)
        case .migratePagesStart(let m):
            migrating[r.pid] = m
            seesPageCacheExits.migration = true
            migrationBegan[r.pid] = evidence(r)
            movingSource[r.pid] = nil
        case .migratePages(let m):
            // migrate_pages() restores every entry it installed before it returns: one still
            // pending (its mm exited meanwhile) must not pair with a later call's.
            if !migrationEntries.isEmpty, migrationEntries.keys.contains(where: { $0.pid == r.pid }) {
                migrationEntries = migrationEntries.filter { $0.key.pid != r.pid }
                laterMigrationEntries = laterMigrationEntries.filter { $0.key.pid != r.pid }
            }
            migrating[r.pid] = nil
            migrationBegan[r.pid] = nil
            movingSource[r.pid] = nil
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
            // A PMD maps a whole PMD-sized folio: order 9 with 4 KiB pages (x86-64, arm64 4K),
            // 11 with arm64's 16K pages, 13 with its 64K pages.
            if let old = e.pfn {
                installMigrationEntry(address: e.address, old: old, order: pteLayout?.pmdOrder ?? 9, r)
            }
        case .removeMigrationPMD(let e):
            if let new = e.pfn { removeMigrationEntry(address: e.address, new: new, r) }
        case .memcgStat:
            break  // adjacency only (`StatAdjacency`)
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
            // (described inside the step's autoclosure: built for every rmap call, the text
            // cost 14 M instructions of a 118 k-record trace that asked for no story)
            let (vma, address) = (call.arguments.vma, call.arguments.address)
            step(head, r, "\(call.function.rawValue) nr=\(nr)\(Self.describe(vma: vma, address: address))")
        case .charge(let call):
            handleCharge(call, r)
        case .mlock(let call):
            handleMlock(call, r)
        case .probe(let call):
            handleProbe(call, r)
        }
        summary.typedEvents += 1
    }

    /// Takes the events the capture says it enabled (`TraceSource.enabledEvents`): a
    /// page-cache delete or a migrate_pages() call that was on but never fired is an answer,
    /// so frees in the page cache are judged from the start.
    /// Takes what the capture's probes let a free while mapped be judged for, once the
    /// decoder said which probes it cannot model (an unmap probe without its folio argument
    /// sees nothing, and must not count as a path the trace sees).
    public mutating func judge(_ mappedFrees: MappedFreeJudgement) {
        self.mappedFrees = mappedFrees
    }

    /// Takes the capture's modelled probes for what they let migrations be judged for: a
    /// migrate_folio_done() tells a freed source from a moved one only next to a
    /// migrate_folio_move() probe, or a move_to_new_folio() one where a build inlines
    /// migrate_folio_move() (`seesMigrateMoves`).
    public mutating func judgeMigrations(_ probes: CaptureProbes) {
        seesMigrateMoves = probes.satisfies(.probe(anyOf: [.migrateFolioMove, .moveToNewFolio]))
    }

    public mutating func knowEnabled(_ names: Set<String>) {
        if names.contains("filemap:mm_filemap_delete_from_page_cache") { seesPageCacheExits.delete = true }
        if names.contains("migrate:mm_migrate_pages_start") { seesPageCacheExits.migration = true }
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
        summary.folios = UInt64(live.pfns)
        var liveKept: [FolioGeneration] = []
        for (pfn, slot) in live {
            let f = folios[slot]
            if f.bits.contains(.crossesLoss) { summary.generationsCrossingLoss += 1 }
            if owner(f) != nil {
                update(row: f.memcgRow) {
                    $0.pagesLiveAtEnd &+= f.pages
                    if f.inPageCache { $0.pageCachePagesAtEnd &+= f.pages }
                }
            }
            if options.keepLifecycles || isWatched(pfn, f) {
                liveKept.append(
                    f.generation(
                        pfn: pfn,
                        details: folios[details: slot],
                        memcg: memcgID(f),
                        freedAt: nil,
                        freedBy: nil,
                        context: nil,
                        migratedFrom: migratedFrom[pfn],
                        migratedTo: migratedTo[pfn]
                    )
                )
            }
        }
        var kept = finished
        if !options.keepLifecycles { kept += liveKept }
        kept.sort { ($0.pfn, $0.generation) < ($1.pfn, $1.generation) }
        var memcgs = Array(memcgs.values)
        for i in memcgs.indices { memcgs[i].path = tasks.cgroupPaths[memcgs[i].id] }
        return LifecycleReport(
            summary: summary,
            memcgs: memcgs.sorted { $0.id < $1.id },
            generations: kept,
            steps: steps,
            live: options.keepLifecycles ? liveKept : [],
            tasks: tasks
        )
    }

    // MARK: generations

    /// The pfns a folio of `order` at `pfn` covers (orders above 15 are damage, and a pfn
    /// near the top of the number range from a damaged record ends the span there).
    static func span(_ pfn: UInt64, _ order: UInt8) -> Range<UInt64> {
        let end = pfn.addingReportingOverflow(UInt64(1) << UInt64(min(order, 15)))
        return pfn..<(end.overflow ? UInt64.max : end.partialValue)
    }

    /// Starts a generation at `pfn`, ending whatever the trace still had there.
    mutating func begin(
        pfn: UInt64,
        order: UInt8,
        _ r: RawRecord,
        allocated: Bool,
        gfp: UInt64? = nil,
        migratetype: Int8 = -1
    ) {
        // A live folio that covers this pfn was freed (or split) where the trace did not see.
        for p in Self.span(pfn, order) {
            if let head = head(of: p) { retire(head, freedAt: nil, freedBy: nil, context: nil) }
            if order == 0 { break }
        }
        var f = LiveFolio(order: order, firstSeen: r.timestamp)
        var d = FolioDetails(generation: 0)
        if allocated {
            f.bits.insert(.allocated)
            d.allocPid = r.pid
            d.gfpFlags = UInt32(truncatingIfNeeded: gfp ?? 0)
            d.migratetype = migratetype
        } else {
            summary.beganBeforeTrace += 1
        }
        let cgroup = tasks.cgroup(of: r.pid)
        if let cg = cgroup {
            f.memcgRow = memcgRow(cg)
            f.attribution = .inferred
        }
        summary.generations += 1
        if order > 0 {
            liveLarge[Int(min(order, 15))] += 1
            liveOrders |= 1 << UInt16(min(order, 15))
            largeBlocks[pfn >> Self.blockShift, default: 0] += 1
        }
        let slot = folios.add(f, d)
        folios[details: slot].generation = live.begin(pfn, slot: slot, large: order > 0)
        if let m = cgroup, m != 0 { charge(row: f.memcgRow, pages: f.pages) }
    }

    /// The head pfn of the live folio at `pfn`, starting a generation of unknown beginning
    /// when there is none.
    mutating func folio(_ pfn: UInt64, _ r: RawRecord, order: UInt8? = nil) -> UInt64 {
        if let head = head(of: pfn) { return head }
        begin(pfn: pfn, order: order ?? 0, r, allocated: false)
        return pfn
    }

    /// The head pfn of the live folio containing `pfn`, if any. Folios are naturally aligned
    /// (a folio of order k starts at a multiple of 2^k pfns), so only one candidate per order.
    ///
    /// A candidate head of order 9 or less is in `pfn`'s 512-pfn block, and a head that
    /// covers `pfn` is a live folio of order > 0: without one in the block (`largeBlocks`), no
    /// candidate of those orders can answer, and only the orders above are tried. A candidate
    /// is read only when the head table marks it large (`HeadTable.largeSlot`).
    ///
    /// The common answers (a live head, or no live large folio at all) are the few lines
    /// here, which inline into every caller; the search among large folios is out of line and
    /// static, given only the tables it reads. In one method this was too large to inline, and
    /// each call from a mutating method (`end`) first copied the whole engine (a 700-byte
    /// `memcpy`) to pass it as `self`.
    @inline(__always)
    func head(of pfn: UInt64) -> UInt64? {
        if live[pfn] != nil { return pfn }
        if liveOrders == 0 { return nil }
        return Self.largeHead(of: pfn, orders: liveOrders, live: live, largeBlocks: largeBlocks, folios: folios)
    }

    /// `head(of:)` among the live large folios, for a pfn that is no live head.
    /// - Parameter orders: `liveOrders`, the orders with live folios.
    @inline(never)
    static func largeHead(
        of pfn: UInt64,
        orders liveOrders: UInt16,
        live: borrowing HeadTable,
        largeBlocks: borrowing PfnTable<Int32>,
        folios: borrowing FolioSlots
    ) -> UInt64? {
        // Orders up to 9 only when this pfn's block holds a large head.
        let lowOrders: UInt16 = (1 << (Self.blockShift + 1)) - 2
        var orders = liveOrders & ~1
        if orders & lowOrders != 0, largeBlocks[pfn >> Self.blockShift] == nil { orders &= ~lowOrders }
        while orders != 0 {
            let order = orders.trailingZeroBitCount
            orders &= orders - 1
            let candidate = pfn & ~((1 << UInt64(order)) - 1)
            if let slot = live.largeSlot(candidate) {
                let f = folios[slot]
                if Int(f.order) >= order, pfn < candidate + f.pages { return candidate }
            }
        }
        return nil
    }

    /// log2 of the pfns in a block of `largeBlocks`.
    static let blockShift = 9

    /// A free (`mm_page_free` fires with the folio's order, first thing in
    /// `free_pages_prepare()`).
    mutating func end(pfn: UInt64, order: UInt8, _ r: RawRecord) {
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
        if found != nil {
            let f = self[freed]
            if !freedWhileMapped(freed, f, r) { freedInPageCache(freed, f, r, context) }
        }
        summary.frees[context] &+= 1
        retire(freed, freedAt: r.timestamp, freedBy: r.pid, context: context)
        // A free larger than what the trace knew covers generations seen only in part (each
        // began before the trace with the order its first event showed): they end here too.
        if order > 0 {
            for p in Self.span(pfn, order).dropFirst() {
                if let other = head(of: p) { retire(other, freedAt: r.timestamp, freedBy: r.pid, context: context) }
            }
        }
    }

    /// Ends a live generation: folds it into the summary, keeps it if asked.
    mutating func retire(_ head: UInt64, freedAt: UInt64?, freedBy: Int32?, context: FreeContext?) {
        guard let slot = live.end(head) else { return }
        if !lastMap.isEmpty { lastMap.removeValue(forKey: head) }
        let successor = migratedTo.isEmpty ? nil : migratedTo.removeValue(forKey: head)
        let predecessor = migratedFrom.isEmpty ? nil : migratedFrom.removeValue(forKey: head)
        let f = folios[slot]
        tally(f, by: -1)
        if f.order > 0 {
            liveLarge[Int(min(f.order, 15))] -= 1
            if liveLarge[Int(min(f.order, 15))] == 0 { liveOrders &= ~(1 << UInt16(min(f.order, 15))) }
            let block = head >> Self.blockShift
            if let n = largeBlocks[block], n > 1 { largeBlocks[block] = n - 1 } else { largeBlocks[block] = nil }
        }
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
                f.generation(
                    pfn: head,
                    details: folios[details: slot],
                    memcg: memcgID(f),
                    freedAt: freedAt,
                    freedBy: freedBy,
                    context: context,
                    migratedFrom: predecessor,
                    migratedTo: successor
                )
            )
        }
        folios.remove(slot)
    }

    @inline(__always)
    func freeContext(_ pid: Int32) -> FreeContext {
        if let kind = reclaiming[pid] {
            return kind == .direct ? .directReclaim : .memcgReclaim
        }
        if tasks.isKswapd(pid) { return .kswapd }
        if migrating[pid] != nil { return .migration }
        return .other
    }

    // MARK: losses, pointers, steps

    /// Any state may be missing from a generation that was live while events were lost.
    mutating func noteLoss(_ r: RawRecord) {
        if r.missedEvents > 0 {
            summary.lostEvents[r.cpu, default: 0] &+= UInt64(r.missedEvents)
        } else {
            summary.uncountedLosses += 1
        }
        for (_, slot) in live { folios[slot].bits.insert(.crossesLoss) }
    }

    /// `struct page` pointers map to pfns through vmemmap: page = vmemmap_base + pfn * 64.
    /// The base is learned from the (folio pointer, pfn) pairs of pagemap events.
    mutating func learnVmemmap(folio: UInt64?, pfn: UInt64) {
        guard vmemmapBase == nil, let folio, folio != 0 else { return }
        vmemmapBase = folio &- pfn &* 64
    }

    @inline(__always)
    func pfn(ofPage page: UInt64?) -> UInt64? {
        guard let page, let base = vmemmapBase, page >= base, (page - base) % 64 == 0 else { return nil }
        return (page - base) / 64
    }

    /// The folio at `head` as findings name it.
    func ref(_ head: UInt64) -> FolioRef {
        let f = self[head]
        let d = self[details: head]
        return FolioRef(
            pfn: head,
            generation: d.generation,
            order: f.order,
            filePage: d.filePage,
            memcg: owner(f),
            attribution: f.attribution
        )
    }

    @inline(__always)
    func evidence(_ r: RawRecord) -> Evidence { evidence(RecordMark(r)) }

    func evidence(_ m: RecordMark) -> Evidence {
        let id = Int(m.eventID)
        let name = id < eventNames.count ? eventNames[id] : "id \(id)"
        return Evidence(event: name, cpu: m.cpu, timestamp: m.timestamp, pid: m.pid)
    }

    static func describe(vma: UInt64?, address: UInt64?) -> String {
        (vma.map { " vma=0x\(String($0, radix: 16))" } ?? "")
            + (address.map { " addr=0x\(String($0, radix: 16))" } ?? "")
    }

    @inline(__always)
    func isWatched(_ head: UInt64, _ f: LiveFolio) -> Bool {
        options.allSteps || (!options.watch.isEmpty && options.watch.contains { $0 >= head && $0 - head < f.pages })
    }

    /// Records a step of the folio at `pfn` when it is watched. The check is here, inlined into
    /// every event's case; the recording out of line (`recordStep`): each call with its
    /// closure context cost the engine's thread some 4% of its samples on a trace that asked
    /// for no story (docs/performance.md, twelfth session).
    @inline(__always)
    mutating func step(_ pfn: UInt64, _ r: RawRecord, _ detail: @autoclosure () -> String) {
        if recordsSteps { recordStep(pfn, r, detail) }
    }

    @inline(never)
    mutating func recordStep(_ pfn: UInt64, _ r: RawRecord, _ detail: () -> String) {
        let head = head(of: pfn) ?? pfn
        guard let slot = live[head] else { return }
        let g = folios[slot]
        guard isWatched(head, g) else { return }
        let name = Int(r.eventID) < eventNames.count ? eventNames[Int(r.eventID)] : "id \(r.eventID)"
        steps[FolioStepKey(pfn: head, generation: folios[details: slot].generation), default: []].append(
            FolioStep(timestamp: r.timestamp, cpu: r.cpu, pid: r.pid, event: name, detail: detail(), memcg: owner(g))
        )
    }
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

/// Which folios a free while mapped can be judged for (`LifecycleEngine.freedWhileMapped`):
/// the rule's folio needs evaluated for one capture. Model knows no rule: the Analysis stage
/// hands it this, and the engine only reads it.
public struct MappedFreeJudgement: Sendable {
    /// The capture's modelled unmap probes, "system:event": every path it sees a mapping go
    /// by, named in a finding's message.
    public var unmapProbes: [String]
    /// Why a small folio, and a large one, is not judged; nil when it is.
    public var small: String?
    public var large: String?

    public init(unmapProbes: [String] = [], small: String? = nil, large: String? = nil) {
        self.unmapProbes = unmapProbes
        self.small = small
        self.large = large
    }

    /// Why a folio of this order is not judged, or nil.
    func notJudged(order: UInt8) -> String? { order == 0 ? small : large }
}
