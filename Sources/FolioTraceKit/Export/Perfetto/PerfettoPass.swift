/// The counters of each memcg group, in track order.
let perfettoCounterNames = [
    "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable", "page cache",
    "refaulted", "reclaimed", "vmscan nr_reclaimed",
]
let perfettoMemcgCounters = 8
let perfettoMachineCounters = 9

/// A folio generation with a track, and the states its slices show.
struct PerfettoFolio {
    var generation: UInt32
    var track: UInt64
    var lru: UInt8 = LRUList.unknown.rawValue
    var pageCache = false
    var mapped = false
    var isolated = false
    /// Which state tracks have their descriptor (bit per `PerfettoFolioState`).
    var described: UInt8 = 0
}

enum PerfettoFolioState: UInt64, CaseIterable {
    case pageCache = 1
    case lru = 2
    case mapped = 3
    case isolated = 4

    var name: String {
        switch self {
        case .pageCache: return "page cache"
        case .lru: return "LRU"
        case .mapped: return "mapped"
        case .isolated: return "isolated"
        }
    }
}

struct PerfettoFolioKey: Hashable {
    var pfn: UInt64
    var generation: UInt32
}

/// The second pass: the engine again, with the writer beside it.
struct PerfettoPass {
    typealias E = PerfettoField.TrackEvent

    var engine: LifecycleEngine
    let decoder: EventDecoder
    /// The raw events written by field name (compaction, mm_shrink_slab_*).
    let named: PerfettoNamedEvents
    let analysis: TraceAnalysis
    let writer: PerfettoWriter
    let options: PerfettoExport.Options
    var result = PerfettoExport.Result()

    // window
    var start: UInt64 = 0
    var end: UInt64 = .max
    var started = false
    var last: UInt64 = 0

    // counters
    let memcgIndex: [UInt64: Int]
    var lastValues: [Int64]
    var interval: UInt64
    var due: UInt64 = 0
    var machineRefaulted: UInt64 = 0
    var machineReclaimed: UInt64 = 0

    // tasks
    var threads = Set<Int32>()
    var kernelGroup = false
    /// Each task's open slices, innermost last: what they are, to end the right one.
    var openSlices: [Int32: [String]] = [:]

    // findings
    var items: [(ts: UInt64, finding: Int, evidence: Int)] = []
    var nextItem = 0
    /// The flow id of each finding's first evidence event (the others follow it); above the
    /// migration flows' ids, which count from 1.
    var evidenceFlows: [UInt64] = []

    // folios
    var wanted = Set<PerfettoFolioKey>()
    var wantedPfns = Set<UInt64>()
    var tracked: [UInt64: PerfettoFolio] = [:]
    var folioTracks = 0
    var nextFlow: UInt64 = 1

    init(
        _ a: TraceAnalysis,
        source: TraceSource,
        writer: PerfettoWriter,
        options: PerfettoExport.Options
    ) throws(TraceFileError) {
        let catalog = try source.catalog()
        decoder = try EventDecoder(catalog: catalog, path: source.path)
        switch source {
        case .traceDat(let file): named = PerfettoNamedEvents(formats: file.eventFormats, bigEndian: catalog.bigEndian)
        case .perfData(let file):
            named = PerfettoNamedEvents(formats: file.tracing.eventFormats, bigEndian: catalog.bigEndian)
        }
        // The engine wired as analyze wires it (its detectors are not needed: the findings
        // are the analysis's).
        engine =
            AnalysisPass(
                decoder: decoder,
                savedCommands: source.savedCommands,
                cgroupPaths: source.cgroupPaths,
                enabled: source.enabledEvents(catalog)
            )
            .engine
        analysis = a
        self.writer = writer
        self.options = options
        var index: [UInt64: Int] = [:]
        for (i, m) in a.report.memcgs.enumerated() { index[m.id] = i }
        memcgIndex = index
        lastValues = [Int64](repeating: -1, count: (a.report.memcgs.count + 1) * perfettoMachineCounters)
        interval = max(1000, (a.span.last &- a.span.first) / UInt64(max(options.samples, 1)))
        (start, end) = options.window.bounds(traceStart: 0)
        for f in a.findings {
            wanted.insert(PerfettoFolioKey(pfn: f.folio.pfn, generation: f.folio.generation))
            wantedPfns.insert(f.folio.pfn)
        }
        var flow: UInt64 = 1 << 40
        for (i, f) in a.findings.enumerated() {
            evidenceFlows.append(flow)
            flow += UInt64(f.evidence.count)
            items.append((f.timestamp, i, -1))
            for (j, e) in f.evidence.enumerated() { items.append((e.timestamp, i, j)) }
        }
        // Evidence before the finding it proves at the same time.
        items.sort { ($0.ts, $0.evidence < 0 ? 1 : 0) < ($1.ts, $1.evidence < 0 ? 1 : 0) }
        describeGroups()
    }

    // MARK: the groups and counters

    mutating func describeGroups() {
        let a = analysis
        typealias D = PerfettoField.TrackDescriptor
        writer.descriptor(
            uuid: PerfettoTrack.machineGroup,
            name: "machine: pages",
            description:
                "Pages of the folios the trace saw on each LRU list and in the page cache, and cumulative refaulted and reclaimed pages, the whole machine",
            rank: 0
        )
        describeCounters(
            group: PerfettoTrack.machineGroup,
            index: Int(UInt32.max),
            prefix: "machine",
            count: perfettoMachineCounters
        )
        writer.descriptor(
            uuid: PerfettoTrack.memcgsGroup,
            name: "memcgs: pages",
            description: "The same counters per memcg of the report",
            childOrdering: D.orderingLexicographic,
            rank: 1
        )
        let paths = a.report.tasks.cgroupPaths
        for (i, m) in a.report.memcgs.enumerated() {
            let label = "memcg \(m.path ?? paths[m.id] ?? "?") (id \(m.id))"
            writer.descriptor(uuid: PerfettoTrack.memcg(i), parent: PerfettoTrack.memcgsGroup, name: label)
            describeCounters(group: PerfettoTrack.memcg(i), index: i, prefix: label, count: perfettoMemcgCounters)
        }
        writer.descriptor(uuid: PerfettoTrack.findingsGroup, name: "findings", rank: 2)
        for (i, c) in a.coverage.enumerated() where a.findings.contains(where: { $0.rule == c.rule.id }) {
            writer.descriptor(
                uuid: PerfettoTrack.rule(i),
                parent: PerfettoTrack.findingsGroup,
                name: "finding: \(c.rule.id)",
                description: c.rule.title
            )
        }
        writer.descriptor(
            uuid: PerfettoTrack.foliosGroup,
            name: "folios",
            description: "One track per folio generation: its life, and below it its states",
            childOrdering: D.orderingChronological,
            rank: 3
        )
    }

    func describeCounters(group: UInt64, index: Int, prefix: String, count: Int) {
        for c in 0..<count {
            writer.descriptor(
                uuid: PerfettoTrack.counter(index, c),
                parent: group,
                name: "\(prefix): \(perfettoCounterNames[c])",
                counterUnit: "pages",
                rank: Int32(c)
            )
        }
    }

    /// Writes the counters whose value changed since the last sample.
    mutating func sample(_ ts: UInt64) {
        let n = analysis.report.memcgs.count
        var values = [Int64](repeating: 0, count: (n + 1) * perfettoMachineCounters)
        let machine = n * perfettoMachineCounters
        for (memcg, census) in engine.tallies {
            let lists = census.lruListPages
            let counts = [
                lists.inactiveAnon, lists.activeAnon, lists.inactiveFile, lists.activeFile, lists.unevictable,
                census.pageCachePages,
            ]
            for (c, v) in counts.enumerated() {
                values[machine + c] &+= Int64(truncatingIfNeeded: v)
                if let i = memcgIndex[memcg] { values[i * perfettoMachineCounters + c] = Int64(truncatingIfNeeded: v) }
            }
        }
        for case let m? in engine.memcgRows {
            guard let i = memcgIndex[m.id] else { continue }
            values[i * perfettoMachineCounters + 6] = Int64(truncatingIfNeeded: m.pagesRefaulted)
            values[i * perfettoMachineCounters + 7] = Int64(truncatingIfNeeded: m.pagesReclaimed)
        }
        values[machine + 6] = Int64(truncatingIfNeeded: machineRefaulted)
        values[machine + 7] = Int64(truncatingIfNeeded: machineReclaimed)
        values[machine + 8] = Int64(truncatingIfNeeded: engine.summary.reclaim.nrReclaimed)
        for slot in values.indices {
            let (i, c) = slot.quotientAndRemainder(dividingBy: perfettoMachineCounters)
            guard i == n || c < perfettoMemcgCounters, values[slot] != lastValues[slot] else { continue }
            lastValues[slot] = values[slot]
            writer.event(
                ts,
                type: E.typeCounter,
                track: PerfettoTrack.counter(i == n ? Int(UInt32.max) : i, c),
                counter: values[slot]
            )
        }
    }

    // MARK: tasks

    /// The track of task `pid`, described on first use.
    mutating func thread(_ pid: Int32) -> UInt64 {
        let uuid = PerfettoTrack.thread(pid)
        if threads.insert(pid).inserted {
            if pid <= 0 {
                // pid 0 is every CPU's idle task (and interrupts taken in it): no thread of its own.
                if !kernelGroup {
                    kernelGroup = true
                    writer.descriptor(uuid: PerfettoTrack.tasksGroup, name: "kernel", rank: 4)
                }
                writer.descriptor(uuid: uuid, parent: PerfettoTrack.tasksGroup, name: "pid \(pid) (idle, interrupts)")
            } else {
                let comm = analysis.report.tasks.comms[pid] ?? engine.tasks.comms[pid] ?? "pid \(pid)"
                writer.descriptor(uuid: uuid, name: comm, thread: (pid, comm))
            }
        }
        return uuid
    }

    mutating func beginSlice(_ pid: Int32, _ ts: UInt64, kind: String, name: String, _ args: [(String, PerfettoValue)])
    {
        let track = thread(pid)
        if openSlices[pid]?.last == kind { endSlice(pid, ts, kind: kind, [("end", .string("not in the trace"))]) }
        openSlices[pid, default: []].append(kind)
        writer.event(ts, type: E.typeSliceBegin, track: track, name: name, annotations: args)
    }

    /// Ends the innermost open slice of `kind` (and any opened inside it whose end the trace
    /// lacks); returns false when none is open.
    @discardableResult
    mutating func endSlice(_ pid: Int32, _ ts: UInt64, kind: String, _ args: [(String, PerfettoValue)]) -> Bool {
        guard var stack = openSlices[pid], let at = stack.lastIndex(of: kind) else { return false }
        let track = thread(pid)
        while stack.count > at + 1 {
            stack.removeLast()
            writer.event(ts, type: E.typeSliceEnd, track: track, annotations: [("end", .string("not in the trace"))])
        }
        stack.removeLast()
        openSlices[pid] = stack
        writer.event(ts, type: E.typeSliceEnd, track: track, annotations: args)
        return true
    }

    // MARK: the pass

    mutating func run<S: RecordStream>(_ records: inout S) throws(TraceFileError) {
        while let r = try records.next() {
            if !started {
                started = true
                (start, end) = options.window.bounds(traceStart: r.timestamp)
            }
            let event = decoder.decode(r)
            if r.timestamp < start {
                engine.learnContext(r, event)
                continue
            }
            if r.timestamp > end { break }
            drainItems(upTo: r.timestamp)
            handle(r, event)
            if r.timestamp >= due {
                sample(r.timestamp)
                let (next, overflow) = r.timestamp.addingReportingOverflow(interval)
                due = overflow ? .max : next
            }
            last = max(last, r.timestamp)
        }
    }

    mutating func handle(_ r: RawRecord, _ event: MMEvent) {
        let ts = r.timestamp
        // The pfn the record is about, and the migration it may join.
        var pfn: UInt64?
        var migration: (old: UInt64, oldHead: UInt64, new: UInt64)?
        let refaults = engine.summary.refaults
        let evictions = engine.summary.evictions
        let joined = engine.summary.migration.joined
        switch event {
        case .pageAlloc(let a): pfn = a.pfn
        case .pageFree(let f): pfn = f.pfn
        case .lruInsertion(let l): pfn = l.pfn
        case .lruActivate(let l): pfn = l.pfn
        case .pageCacheAdd(let p), .pageCacheDelete(let p): pfn = p.pfn
        case .setMigrationPTE(let e): pfn = e.pfn
        case .setMigrationPMD(let e): pfn = e.pfn
        case .removeMigrationPTE(let e):
            pfn = e.pfn
            migration = joinable(address: e.address, new: e.pfn, r)
        case .removeMigrationPMD(let e):
            pfn = e.pfn
            migration = joinable(address: e.address, new: e.pfn, r)
        case .rmap(let call): pfn = engine.pfn(ofPage: call.arguments.folio ?? call.arguments.page)
        case .vmscan(.writeFolio(let p, _)): pfn = p
        default: break
        }
        let before = pfn.flatMap { engine.head(of: $0) }
        engine.handle(r, event)
        let after = pfn.flatMap { engine.head(of: $0) }

        switch event {
        case .pageCacheAdd where engine.summary.refaults != refaults:
            if let h = after, let slot = engine.live[h] { machineRefaulted &+= engine.folios[slot].pages }
        case .pageCacheDelete where engine.summary.evictions != evictions:
            if let h = after, let slot = engine.live[h] { machineReclaimed &+= engine.folios[slot].pages }
        default: break
        }
        tasks(r, event)
        raw(r, event)

        if let b = before { observe(b, ts) }
        if let a = after, a != before { observe(a, ts) }
        if case .pageFree(let f) = event, f.order > 0, !tracked.isEmpty {
            for p in LifecycleEngine.span(f.pfn, UInt8(truncatingIfNeeded: f.order)).dropFirst() where tracked[p] != nil
            {
                observe(p, ts)
            }
        }
        if case .pageAlloc(let a) = event, let p = a.pfn, a.order > 0, !tracked.isEmpty {
            for q in LifecycleEngine.span(p, UInt8(truncatingIfNeeded: a.order)).dropFirst() where tracked[q] != nil {
                observe(q, ts)
            }
        }
        if let m = migration, engine.summary.migration.joined != joined {
            flowMigration(m, r)
        }
    }

    /// Reclaim passes, kswapd's runs and migrate_pages() calls as slices on the task's track.
    mutating func tasks(_ r: RawRecord, _ event: MMEvent) {
        let ts = r.timestamp
        switch event {
        case .vmscan(.reclaimBegin(let kind, let b)):
            var args: [(String, PerfettoValue)] = [
                ("order", .int(Int64(b.order))), ("gfp_flags", .string("0x" + String(b.gfpFlags, radix: 16))),
            ]
            if let nid = b.nid { args.append(("nid", .int(Int64(nid)))) }
            beginSlice(r.pid, ts, kind: "reclaim", name: Self.reclaimName(kind), args)
        case .vmscan(.reclaimEnd(_, let n)):
            endSlice(r.pid, ts, kind: "reclaim", [("nr_reclaimed", .uint(n))])
        case .vmscan(.kswapdWake(let nid, let zid, let order)):
            var args: [(String, PerfettoValue)] = [("nid", .int(Int64(nid))), ("order", .int(Int64(order)))]
            if let zid { args.append(("zid", .int(Int64(zid)))) }
            beginSlice(r.pid, ts, kind: "kswapd", name: "kswapd reclaim", args)
        case .vmscan(.kswapdSleep):
            endSlice(r.pid, ts, kind: "kswapd", [])
        case .migratePagesStart(let m):
            let reason = migrateReasonName(m.reason)
            beginSlice(
                r.pid,
                ts,
                kind: "migrate",
                name: "migrate_pages (\(reason))",
                [("reason", .string(reason)), ("mode", .uint(UInt64(m.mode)))]
            )
        case .migratePages(let m):
            let reason = migrateReasonName(m.reason)
            var args: [(String, PerfettoValue)] = [
                ("reason", .string(reason)), ("mode", .uint(UInt64(m.mode))), ("succeeded", .uint(m.succeeded)),
                ("failed", .uint(m.failed)),
                (
                    "outcome",
                    .string(m.failed == 0 ? "all migrated" : m.succeeded == 0 ? "none migrated" : "some failed")
                ),
            ]
            if let v = m.thpSucceeded { args.append(("thp_succeeded", .uint(v))) }
            if let v = m.thpFailed { args.append(("thp_failed", .uint(v))) }
            if let v = m.thpSplit { args.append(("thp_split", .uint(v))) }
            if !endSlice(r.pid, ts, kind: "migrate", args) {
                // No mm_migrate_pages_start (before 5.16, or before the window): its end only.
                writer.event(
                    ts,
                    type: E.typeInstant,
                    track: thread(r.pid),
                    name: "migrate_pages (\(reason))",
                    annotations: args
                )
            }
        default:
            break
        }
    }

    static func reclaimName(_ kind: ReclaimKind) -> String {
        switch kind {
        case .direct: return "direct reclaim"
        case .memcg: return "memcg reclaim"
        case .memcgSoftLimit: return "memcg soft-limit reclaim"
        case .node: return "node reclaim"
        }
    }

    // MARK: the end

    /// Writes what is still due and closes every open slice at the last record's time.
    mutating func finish() {
        drainItems(upTo: .max)
        let ts = max(last, writer.lastTimestamp)
        sample(ts)
        for t in tracked.sorted(by: { $0.key < $1.key }).map(\.value) {
            close(t, ts, "live at the end of the trace")
        }
        tracked.removeAll()
        for (pid, stack) in openSlices.sorted(by: { $0.key < $1.key }) {
            for _ in stack {
                writer.event(
                    ts,
                    type: E.typeSliceEnd,
                    track: thread(pid),
                    annotations: [("end", .string("not in the trace"))]
                )
            }
        }
        openSlices.removeAll()
        result.folioTracks = folioTracks
        let generations = analysis.report.summary.generations
        // Generations that began and ended inside one record's handling have no track either:
        // the count is an upper bound, said only when the limit was reached.
        let limited = options.allFolios && folioTracks >= options.folioLimit
        result.foliosLeftOut = limited && generations > UInt64(folioTracks) ? generations - UInt64(folioTracks) : 0
    }
}
