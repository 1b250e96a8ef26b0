#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `foliotrace export --perfetto` and `analyze --perfetto`: the analysis as a Perfetto trace
/// that ui.perfetto.dev and trace_processor open (docs/perfetto.md).
///
/// The findings, memcgs and task names come from the analysis; everything over time comes
/// from a second pass over the trace through a lifecycle engine of its own (deterministic,
/// so its generations are the analysis's): per-memcg counters, reclaim and migrate_pages()
/// slices per task, folio tracks with their states, migration flows and the raw events.
public enum PerfettoExport {
    public struct Options: Sendable {
        /// A track for every folio generation (else only those findings name, and the folios
        /// their migrations join).
        public var allFolios: Bool
        /// At most this many folio generation tracks with `allFolios` (the findings' folios
        /// and migration targets of tracked folios always get theirs).
        public var folioLimit: Int
        /// Counter samples over the trace's span, at most (a counter is written only when
        /// its value changed).
        public var samples: Int
        /// The window of the analysis (`--since/--until`): only its records are exported.
        public var window: AnalysisScope

        public init(
            allFolios: Bool = false,
            folioLimit: Int = 10_000,
            samples: Int = 4000,
            window: AnalysisScope = .init()
        ) {
            self.allFolios = allFolios
            self.folioLimit = folioLimit
            self.samples = samples
            self.window = window
        }
    }

    /// What was written, for the command line to report.
    public struct Result: Sendable {
        public var folioTracks = 0
        /// Folio generations of the trace left without a track by `folioLimit`.
        public var foliosLeftOut: UInt64 = 0
        public var migrationFlows = 0
        public var evidenceFlows = 0
        public var ftraceEvents = 0
    }

    /// Writes the Perfetto trace of `analysis` (made from `trace`) to `output` and renames it
    /// into place.
    /// - Parameters:
    ///   - trace: the trace file the analysis read (read again here).
    /// - Throws: `ReportInputError` when the trace cannot be read again or the file written.
    @discardableResult
    public static func write(
        _ analysis: TraceAnalysis,
        trace: String,
        options: Options = .init(),
        to output: OutputFile
    ) throws(ReportInputError) -> Result {
        let fd = open(output.temporaryPath, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else {
            throw ReportInputError(path: output.path, problem: "cannot write: \(String(cString: strerror(errno)))")
        }
        let writer = PerfettoWriter(fd: fd, path: output.path)
        var result: Result
        do {
            let source = try TraceSource(path: trace)
            var pass = try PerfettoPass(analysis, source: source, writer: writer, options: options)
            switch source {
            case .traceDat(let file):
                var records = try file.mergedRecords()
                try pass.run(&records)
            case .perfData(let file):
                var records = file.orderedRecords()
                try pass.run(&records)
            }
            pass.finish()
            try writer.finish()
            result = pass.result
            result.ftraceEvents = writer.ftraceEvents
        } catch let error as TraceFileError {
            close(fd)
            throw ReportInputError(path: trace, problem: "\(error)")
        } catch let error as OutputError {
            close(fd)
            throw ReportInputError(path: error.path, problem: error.problem)
        } catch {
            close(fd)
            throw ReportInputError(path: output.path, problem: "\(error)")
        }
        close(fd)
        do { try output.commit() } catch { throw ReportInputError(path: error.path, problem: error.problem) }
        return result
    }
}

/// Track uuids: the kind in the top byte, an index below (uuids are global to the trace).
enum PerfettoTrack {
    static let memcgsGroup: UInt64 = 1
    static let machineGroup: UInt64 = 2
    static let findingsGroup: UInt64 = 3
    static let foliosGroup: UInt64 = 4
    static let tasksGroup: UInt64 = 5

    /// The counter group of memcg number `i` of the report; the machine is `Int(UInt32.max)`.
    static func memcg(_ i: Int) -> UInt64 { 2 << 56 | UInt64(i) << 8 }
    static func counter(_ i: Int, _ c: Int) -> UInt64 { memcg(i) | UInt64(c + 1) }
    static func thread(_ pid: Int32) -> UInt64 { 3 << 56 | UInt64(UInt32(bitPattern: pid)) }
    static func rule(_ i: Int) -> UInt64 { 4 << 56 | UInt64(i) }
    /// A folio generation's track; its state tracks are `folio(n) | state`.
    static func folio(_ n: Int) -> UInt64 { 5 << 56 | UInt64(n) << 3 }
}

/// The counters of each memcg group, in track order.
private let counterNames = [
    "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable", "page cache",
    "refaulted", "reclaimed", "vmscan nr_reclaimed",
]
private let memcgCounters = 8
private let machineCounters = 9

/// A folio generation with a track, and the states its slices show.
private struct TrackedFolio {
    var generation: UInt32
    var track: UInt64
    var lru: UInt8 = LRUList.unknown.rawValue
    var pageCache = false
    var mapped = false
    var isolated = false
    /// Which state tracks have their descriptor (bit per `FolioState`).
    var described: UInt8 = 0
}

private enum FolioState: UInt64, CaseIterable {
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

private struct FolioKey: Hashable {
    var pfn: UInt64
    var generation: UInt32
}

/// The second pass: the engine again, with the writer beside it.
private struct PerfettoPass {
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
    var wanted = Set<FolioKey>()
    var wantedPfns = Set<UInt64>()
    var tracked: [UInt64: TrackedFolio] = [:]
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
        var engine = LifecycleEngine(catalog: catalog, savedCommands: source.savedCommands, options: .init())
        engine.nameCgroups(source.cgroupPaths)
        if let enabled = decoder.modelledEnabled(source.enabledEvents(catalog)) { engine.knowEnabled(enabled) }
        engine.knowUnmodelled(Set(decoder.unmodelled.map(\.event)), catalog: catalog)
        self.engine = engine
        analysis = a
        self.writer = writer
        self.options = options
        var index: [UInt64: Int] = [:]
        for (i, m) in a.report.memcgs.enumerated() { index[m.id] = i }
        memcgIndex = index
        lastValues = [Int64](repeating: -1, count: (a.report.memcgs.count + 1) * machineCounters)
        interval = max(1000, (a.span.last &- a.span.first) / UInt64(max(options.samples, 1)))
        (start, end) = options.window.bounds(traceStart: 0)
        for f in a.findings {
            wanted.insert(FolioKey(pfn: f.folio.pfn, generation: f.folio.generation))
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
            count: machineCounters
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
            describeCounters(group: PerfettoTrack.memcg(i), index: i, prefix: label, count: memcgCounters)
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
                name: "\(prefix): \(counterNames[c])",
                counterUnit: "pages",
                rank: Int32(c)
            )
        }
    }

    /// Writes the counters whose value changed since the last sample.
    mutating func sample(_ ts: UInt64) {
        let n = analysis.report.memcgs.count
        var values = [Int64](repeating: 0, count: (n + 1) * machineCounters)
        let machine = n * machineCounters
        for (memcg, census) in engine.tallies {
            let lists = census.lruListPages
            let counts = [
                lists.inactiveAnon, lists.activeAnon, lists.inactiveFile, lists.activeFile, lists.unevictable,
                census.pageCachePages,
            ]
            for (c, v) in counts.enumerated() {
                values[machine + c] &+= Int64(truncatingIfNeeded: v)
                if let i = memcgIndex[memcg] { values[i * machineCounters + c] = Int64(truncatingIfNeeded: v) }
            }
        }
        for (id, m) in engine.memcgs {
            guard let i = memcgIndex[id] else { continue }
            values[i * machineCounters + 6] = Int64(truncatingIfNeeded: m.pagesRefaulted)
            values[i * machineCounters + 7] = Int64(truncatingIfNeeded: m.pagesReclaimed)
        }
        values[machine + 6] = Int64(truncatingIfNeeded: machineRefaulted)
        values[machine + 7] = Int64(truncatingIfNeeded: machineReclaimed)
        values[machine + 8] = Int64(truncatingIfNeeded: engine.summary.reclaim.nrReclaimed)
        for slot in values.indices {
            let (i, c) = slot.quotientAndRemainder(dividingBy: machineCounters)
            guard i == n || c < memcgCounters, values[slot] != lastValues[slot] else { continue }
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
            if let h = after, let slot = engine.live[h] { machineRefaulted &+= engine.folios[Int(slot)].pages }
        case .pageCacheDelete where engine.summary.evictions != evictions:
            if let h = after, let slot = engine.live[h] { machineReclaimed &+= engine.folios[Int(slot)].pages }
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

    /// The old folio of the migration entry a remove_migration_pte/pmd restores, read before
    /// the engine forgets it.
    func joinable(address: UInt64, new: UInt64?, _ r: RawRecord) -> (UInt64, UInt64, UInt64)? {
        guard let new, let old = engine.migrationEntries[MigrationEntryKey(pid: r.pid, address: address)], new != old
        else { return nil }
        return (old, engine.head(of: old) ?? old, new)
    }

    /// A migration the engine joined old -> new: a flow between the two folios' tracks.
    mutating func flowMigration(_ m: (old: UInt64, oldHead: UInt64, new: UInt64), _ r: RawRecord) {
        let ts = r.timestamp
        let target = engine.head(of: m.new &- (m.old &- m.oldHead)) ?? (m.new &- (m.old &- m.oldHead))
        let source = tracked[m.oldHead]
        // A tracked folio's migration gets a flow, and its new folio a track (even past the
        // limit: the flow needs its other end); so does, with --all-folios and below the limit,
        // a migration whose old folio the trace never showed alive (the flow starts on the
        // migrating task's track). An untracked old folio was left out by the limit.
        let unseen = engine.live[m.oldHead] == nil && options.allFolios && folioTracks < options.folioLimit
        guard source != nil || unseen, let slot = engine.live[target] else { return }
        // The new folio gets a track: the flow needs its other end.
        let key = FolioKey(pfn: target, generation: engine.folios[Int(slot)].generation)
        wanted.insert(key)
        wantedPfns.insert(target)
        observe(target, ts)
        guard let to = tracked[target] else { return }
        let id = nextFlow
        nextFlow += 1
        let reason = engine.migrating[r.pid].map { migrateReasonName($0.reason) }
        var args: [(String, PerfettoValue)] = [
            ("old_pfn", .uint(m.oldHead)), ("new_pfn", .uint(target)), ("pid", .int(Int64(r.pid))),
        ]
        if let reason { args.append(("reason", .string(reason))) }
        let from = source?.track ?? thread(r.pid)
        writer.event(
            ts,
            type: E.typeInstant,
            track: from,
            name: "migrated to 0x\(String(target, radix: 16))",
            annotations: args,
            flows: [id]
        )
        writer.event(
            ts,
            type: E.typeInstant,
            track: to.track,
            name: "migrated from 0x\(String(m.oldHead, radix: 16))",
            annotations: args,
            terminatingFlows: [id]
        )
        result.migrationFlows += 1
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

    // MARK: folios

    /// Brings the track of the folio at `head` up to date with the engine: opens, changes or
    /// closes its state slices.
    mutating func observe(_ head: UInt64, _ ts: UInt64) {
        guard let slot = engine.live[head] else {
            if let t = tracked.removeValue(forKey: head) { close(t, ts, "freed") }
            return
        }
        let f = engine.folios[Int(slot)]
        if let t = tracked[head], t.generation != f.generation {
            tracked[head] = nil
            close(t, ts, "ended")
        }
        var t: TrackedFolio
        if let existing = tracked[head] {
            t = existing
        } else {
            guard options.allFolios || wantedPfns.contains(head) else { return }
            let key = FolioKey(pfn: head, generation: f.generation)
            if !wanted.contains(key) {
                guard options.allFolios, folioTracks < options.folioLimit else { return }
            }
            t = TrackedFolio(generation: f.generation, track: PerfettoTrack.folio(folioTracks))
            folioTracks += 1
            writer.descriptor(
                uuid: t.track,
                parent: PerfettoTrack.foliosGroup,
                name: "pfn 0x\(String(head, radix: 16)) gen \(f.generation) order \(f.order)"
            )
            var args: [(String, PerfettoValue)] = [
                ("pfn", .uint(head)), ("generation", .uint(UInt64(f.generation))), ("order", .uint(UInt64(f.order))),
                ("allocated_in_trace", .bool(f.bits.contains(.allocated))),
            ]
            if let m = f.owner { args.append(("memcg", .uint(m))) }
            writer.event(ts, type: E.typeSliceBegin, track: t.track, name: "folio order \(f.order)", annotations: args)
        }
        let mapped = f.bits.contains(.sawRmap) && f.rmapBalance > 0
        let isolated = f.migrationEntries > 0
        if t.pageCache != f.inPageCache {
            t.pageCache = f.inPageCache
            if f.inPageCache {
                begin(
                    &t,
                    .pageCache,
                    ts,
                    "page cache",
                    [("dev", .uint(UInt64(f.dev))), ("inode", .uint(f.inode)), ("index", .uint(f.index))]
                )
            } else {
                end(&t, .pageCache, ts)
            }
        }
        if t.lru != f.lru {
            if t.lru != LRUList.unknown.rawValue { end(&t, .lru, ts) }
            t.lru = f.lru
            if let l = LRUList(rawValue: f.lru), l != .unknown { begin(&t, .lru, ts, l.description, []) }
        }
        if t.mapped != mapped {
            t.mapped = mapped
            if mapped { begin(&t, .mapped, ts, "mapped", []) } else { end(&t, .mapped, ts) }
        }
        if t.isolated != isolated {
            t.isolated = isolated
            if isolated { begin(&t, .isolated, ts, "isolated (migration entries)", []) } else { end(&t, .isolated, ts) }
        }
        tracked[head] = t
    }

    mutating func begin(
        _ t: inout TrackedFolio,
        _ s: FolioState,
        _ ts: UInt64,
        _ name: String,
        _ args: [(String, PerfettoValue)]
    ) {
        let uuid = t.track | s.rawValue
        if t.described & 1 << s.rawValue == 0 {
            t.described |= 1 << s.rawValue
            writer.descriptor(uuid: uuid, parent: t.track, name: s.name, rank: Int32(s.rawValue))
        }
        writer.event(ts, type: E.typeSliceBegin, track: uuid, name: name, annotations: args)
    }

    func end(_ t: inout TrackedFolio, _ s: FolioState, _ ts: UInt64) {
        writer.event(ts, type: E.typeSliceEnd, track: t.track | s.rawValue)
    }

    mutating func close(_ t: TrackedFolio, _ ts: UInt64, _ how: String) {
        var t = t
        if t.pageCache { end(&t, .pageCache, ts) }
        if t.lru != LRUList.unknown.rawValue { end(&t, .lru, ts) }
        if t.mapped { end(&t, .mapped, ts) }
        if t.isolated { end(&t, .isolated, ts) }
        writer.event(ts, type: E.typeSliceEnd, track: t.track, annotations: [("end", .string(how))])
    }

    // MARK: findings

    /// Writes the findings and evidence events due by `ts`: evidence as instants on its
    /// task's track, each with a flow to its finding's instant on the rule's track.
    mutating func drainItems(upTo ts: UInt64) {
        while nextItem < items.count, items[nextItem].ts <= ts {
            let item = items[nextItem]
            nextItem += 1
            let f = analysis.findings[item.finding]
            let base = evidenceFlows[item.finding]
            if item.evidence >= 0 {
                let e = f.evidence[item.evidence]
                let id = base + UInt64(item.evidence)
                let early = e.timestamp <= f.timestamp
                writer.event(
                    item.ts,
                    type: E.typeInstant,
                    track: thread(e.pid),
                    name: e.event,
                    annotations: [("cpu", .int(Int64(e.cpu))), ("evidence_of", .string(f.rule))],
                    flows: early ? [id] : [],
                    terminatingFlows: early ? [] : [id]
                )
                result.evidenceFlows += 1
                continue
            }
            let ruleIndex = analysis.coverage.firstIndex { $0.rule.id == f.rule } ?? 0
            var args: [(String, PerfettoValue)] = [
                ("severity", .string(f.severity.rawValue)), ("pfn", .uint(f.folio.pfn)),
                ("generation", .uint(UInt64(f.folio.generation))), ("order", .uint(UInt64(f.folio.order))),
            ]
            if let m = f.memcg { args.append(("memcg", .uint(m))) }
            if let m = f.otherMemcg { args.append(("other_memcg", .uint(m))) }
            if let p = f.folio.filePage {
                args.append(("inode", .uint(p.inode)))
                args.append(("index", .uint(p.index)))
            }
            args.append(("message", .string(f.message)))
            let ids = f.evidence.indices.map { (j: Int) in (j, base + UInt64(j)) }
            writer.event(
                item.ts,
                type: E.typeInstant,
                track: PerfettoTrack.rule(ruleIndex),
                name: f.rule,
                annotations: args,
                flows: ids.filter { f.evidence[$0.0].timestamp > f.timestamp }.map(\.1),
                terminatingFlows: ids.filter { f.evidence[$0.0].timestamp <= f.timestamp }.map(\.1)
            )
        }
    }

    // MARK: raw events

    /// The raw events Perfetto has a typed proto for, field for field (PerfettoField).
    func raw(_ r: RawRecord, _ event: MMEvent) {
        typealias F = PerfettoField.FtraceEvent
        let flags = r.payload.count > 2 ? r.payload[2] : 0
        func put(_ body: (inout ProtoWriter) -> Void) {
            writer.ftrace(cpu: r.cpu, timestamp: r.timestamp, pid: r.pid, flags: flags, body)
        }
        if let e = named.events[r.eventID] {
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

    // MARK: the end

    /// Writes what is still due and closes every open slice at the last record's time.
    mutating func finish() {
        drainItems(upTo: .max)
        let ts = max(last, writer.lastTimestamp)
        sample(ts)
        for (head, t) in tracked.sorted(by: { $0.key < $1.key }) {
            _ = head
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
