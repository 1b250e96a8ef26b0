/// One pass over a trace through the decoder and the lifecycle engine.
public struct TraceAnalysis: Sendable {
    public let path: String
    public let kernelRelease: String?
    /// The CPUs with data in the file (a version-7 file keeps buffers only for those).
    public let cpus: Int
    /// The traced machine's CPUs, where the file says (trace.dat's CPUCOUNT option).
    public let machineCPUs: Int?
    public let catalog: EventCatalog
    public internal(set) var report: LifecycleReport
    /// Per-CPU losses as the ring buffer reported them.
    public let lost: [LostEvents]
    /// What is damaged in the file, one sentence each (empty for a sound file): findings may
    /// be incomplete when it is not empty.
    public let damage: [String]
    /// Why the file's completeness cannot be checked, when it cannot (pipe-mode perf.data).
    public let unverifiable: String?
    /// Why the timestamps are not nanoseconds, when they are not (`TraceSource.clockNote`).
    public let clockNote: String?
    /// Why a perf.data has no tracepoint sample to decode, when it has none
    /// (`PerfFile.tracepointGap`).
    public let memoryGap: String?
    /// perf.data samples of events that are not tracepoints foliotrace decodes (cycles,
    /// cpu-clock, uprobes): counted by `events`, not in `report.summary.records`.
    public let otherSamples: UInt64
    /// Memory events of the trace that foliotrace cannot decode (`EventDecoder.unmodelled`)
    /// and that occur in it.
    public let unmodelled: [UnmodelledEvent]
    /// Records of the events foliotrace models, in the window: 0 for a trace of other events
    /// (sched, irq, a GPU driver's), which is analyzed to say just that.
    public let memoryEvents: UInt64
    /// The detectors' findings, in time order.
    public internal(set) var findings: [Finding]
    /// For each rule: whether the trace has the events it needs, which are missing, and the
    /// folio shapes its probes cannot judge (`Rule.judges`).
    public let coverage: [(rule: Rule, runnable: Bool, missing: [String], unjudged: [FolioGap])]
    /// Counts that put each rule's findings in proportion.
    public internal(set) var ruleContext: [RuleID: [(label: String, count: UInt64)]]
    /// Folios each rule met and could not judge, by reason (`DetectorSet.notJudged`).
    public internal(set) var notJudged: [RuleID: [(reason: String, count: UInt64)]]
    /// Per-memcg page counts and migrations sampled over the trace, for plots.
    public internal(set) var timeline: Timeline
    /// The first and last record's timestamps (0 when the trace has no record), in the window
    /// when there is one.
    public let span: (first: UInt64, last: UInt64)
    /// What the analysis was narrowed to (`--since/--until`, `narrowed(to:)`); nil for the
    /// whole trace.
    public internal(set) var scope: ResolvedScope?

    /// How far a long analysis has come, for progress bars.
    public struct Progress: Sendable {
        /// Of the trace's data bytes in the file.
        public var fraction: Double
        public var records: UInt64
    }

    /// Reads and models the whole trace (a trace.dat or a perf.data, told apart by magic).
    /// - Parameters:
    ///   - window: only its `since`/`until` apply here: records outside are not modelled.
    ///   - progress: called every 256 Ki records, on this thread.
    /// - Throws: `TraceFileError` for unreadable input.
    public init(
        path: String,
        options: LifecycleEngine.Options = .init(),
        window: AnalysisScope = .init(),
        progress: ((Progress) -> Void)? = nil
    ) throws(TraceFileError) {
        try self.init(source: try TraceSource(path: path), options: options, window: window, progress: progress)
    }

    /// Reads and models an opened trace, or the window of it that `window` gives.
    /// - Parameter progress: called every 256 Ki records, on this thread.
    /// - Throws: `TraceFileError` for unreadable input.
    public init(
        source: TraceSource,
        options: LifecycleEngine.Options = .init(),
        window: AnalysisScope = .init(),
        progress: ((Progress) -> Void)? = nil
    ) throws(TraceFileError) {
        let catalog = try source.catalog()
        let decoder = try EventDecoder(catalog: catalog, path: source.path)
        var run = WindowedRun(
            pass: AnalysisPass(
                decoder: decoder,
                savedCommands: source.savedCommands,
                cgroupPaths: source.cgroupPaths,
                enabled: source.enabledEvents(catalog),
                options: options
            ),
            window: window
        )
        clockNote = source.clockNote
        switch source {
        case .traceDat(let file):
            let (lost, records) = try run.run(readingAhead: try file.mergedRecords(), progress: progress)
            self.lost = lost
            damage = file.damage + records.damageNotes
            memoryGap = nil
            otherSamples = 0
            unverifiable = nil
        case .perfData(let file):
            let (lost, records) = try run.run(readingAhead: file.orderedRecords(), progress: progress)
            self.lost = lost
            damage = records.damageNotes
            memoryGap = file.tracepointGap
            otherSamples = records.otherSamples
            unverifiable =
                file.completenessVerifiable
                ? nil
                : file.unfinished
                    ? "perf record did not finish this perf.data: its header does not say where the records end, "
                        + "so a cut at a record boundary cannot be told from the end"
                    : "a pipe-mode perf.data has no end marker: a cut at a record boundary cannot be told from the end"
            // COMM records inside compressed data are only seen during the pass.
            run.pass.engine.learnCommands(records.commands)
        }
        run.timeline.finish(run.last, run.pass.engine)
        self.timeline = run.timeline
        span = (run.first ?? 0, run.last)
        if window.since != nil || window.until != nil {
            var scope = ResolvedScope(scope: AnalysisScope(since: window.since, until: window.until))
            scope.since = window.since.map { _ in run.start }
            scope.until = window.until.map { _ in run.end }
            self.scope = scope
        }
        let counts = run.pass.counts
        unmodelled = decoder.unmodelled.filter { u in
            catalog.type(named: u.event).map { counts[Int($0.id)] > 0 } ?? false
        }
        memoryEvents = UInt64(
            catalog.types.lazy.filter { decoder.isModelled($0.id) }.reduce(0) { $0 + counts[Int($1.id)] }
        )
        coverage = run.pass.coverage
        // A rule the trace cannot run reports nothing, whatever its detector saw: its verdicts
        // would rest on events the trace lacks (the report says "not checked" and which).
        let unrunnable = Set(coverage.filter { !$0.runnable }.map(\.rule.id))
        findings = run.pass.detectors.findings.filter { !unrunnable.contains($0.rule) }
        ruleContext = run.pass.detectors.context
        notJudged = run.pass.detectors.notJudged
        report = run.pass.engine.finish()
        self.path = source.path
        kernelRelease = source.kernelRelease
        cpus = source.cpuCount
        machineCPUs = source.machineCPUs
        self.catalog = catalog
    }
}

/// An `AnalysisPass` over a file's records, in the window the user asked for: records before
/// it only teach the engine context (task names, cgroups, folio pointers), and the pass stops
/// after it. Specialized per input format.
private struct WindowedRun {
    var pass: AnalysisPass
    let window: AnalysisScope
    var timeline = Timeline()
    var first: UInt64?
    var last: UInt64 = 0
    var read: UInt64 = 0
    /// The window on the trace's clock; a time from the start is resolved at the first record.
    var start: UInt64 = 0
    var end: UInt64 = .max
    var started = false

    init(pass: AnalysisPass, window: AnalysisScope) {
        self.pass = pass
        self.window = window
        (start, end) = window.bounds(traceStart: 0)
    }

    /// `run` over `records`, read ahead on another core unless told not to (`ReadAheadStream`,
    /// whose reader stops where `run` stops: at the first record past the window that is not
    /// before its start, the window resolved at the first record). Returns the losses and the
    /// stream where the pass left it. The stream is taken, not copied: a second reference would
    /// make its copy-on-write buffers copy themselves on the reader's first change.
    mutating func run<S: DecodedRecords & SendableMetatype>(
        readingAhead records: consuming S,
        progress: ((TraceAnalysis.Progress) -> Void)?
    ) throws(TraceFileError) -> (lost: [LostEvents], records: S) {
        guard ReadAheadStream<S>.enabled else {
            var records = records
            return (try run(&records, progress: progress), records)
        }
        let window = self.window
        var ahead = ReadAheadStream(
            records,
            window: { window.bounds(traceStart: $0) },
            decoder: pass.decoder,
            foldingStats: timeline.schedule
        )
        let lost =
            ahead.decodesAhead ? try run(batches: &ahead, progress: progress) : try run(&ahead, progress: progress)
        return (lost, ahead.finished)
    }

    /// Feeds every record of the window to the pass.
    mutating func run<S: DecodedRecords>(
        _ records: inout S,
        progress: ((TraceAnalysis.Progress) -> Void)?
    ) throws(TraceFileError) -> [LostEvents] {
        let decoder = pass.decoder
        try withLoopState { run, loop throws(TraceFileError) in
            while let (r, event) = try records.nextDecoded(decoder) {
                guard run.take(r, event, loop) else { break }
                if let progress, run.read & 0x3_FFFF == 0 {
                    progress(TraceAnalysis.Progress(fraction: records.fractionRead, records: run.read))
                }
            }
        }
        return records.lostEvents
    }

    /// `run` over the batches of a stream whose reader decodes and folds stat records
    /// (`StatFolding`): each record and its event are read where the reader stored them, with
    /// the stat just before it on its CPU, after the stat records folded before it.
    mutating func run<S>(
        batches records: inout ReadAheadStream<S>,
        progress: ((TraceAnalysis.Progress) -> Void)?
    ) throws(TraceFileError) -> [LostEvents] {
        try withLoopState { run, loop throws(TraceFileError) in
            batches: while let batch = try records.nextDecodedBatch() {
                let before = run.read
                for k in 0..<batch.foldedKinds {
                    let id = Int(batch.foldedIDs[k])
                    if id < loop.counts.count { loop.counts[id] &+= batch.foldedCounts[k] }
                }
                for i in 0..<batch.count {
                    // The folios of records ahead, asked of the cache (`LifecycleEngine+Prefetch`).
                    if i &+ LifecycleEngine.entryAhead < batch.count {
                        run.pass.engine.prefetchEntry(batch.slots[i &+ LifecycleEngine.entryAhead].folioPfn)
                    }
                    if i &+ LifecycleEngine.folioAhead < batch.count {
                        run.pass.engine.prefetchFolio(batch.slots[i &+ LifecycleEngine.folioAhead].folioPfn)
                    }
                    let slot = batch.slots + i
                    if slot.pointee.folded != 0 { run.tookFolded(slot.pointee.folded, last: slot.pointee.foldedLast) }
                    guard run.take(batch.record(i), batch.events[i], loop, after: slot.pointee.previousStat) else {
                        break batches
                    }
                }
                if batch.trailingFolded != 0 { run.tookFolded(batch.trailingFolded, last: batch.trailingLast) }
                if let progress, run.read >> 18 != before >> 18 {
                    progress(TraceAnalysis.Progress(fraction: batch.fraction, records: run.read))
                }
            }
        }
        return records.lostEvents
    }

    /// What the record loop writes on every record, in buffers of its own: an array (the
    /// pass's, or one in a local) went through its modify accessor and a uniqueness check on
    /// every write (docs/performance.md).
    private struct LoopState {
        /// The pass's counts by event id, handed back at the end.
        let counts: UnsafeMutableBufferPointer<UInt64>
        /// The stat adjacency of the records handed to the engine, when the loop keeps it.
        let statRows: UnsafeMutablePointer<StatRows>
    }

    /// Runs `body` with the loop's buffers.
    @inline(__always)
    private mutating func withLoopState(
        _ body: (inout WindowedRun, LoopState) throws(TraceFileError) -> Void
    ) throws(TraceFileError) {
        let taken = pass.takeCounts()
        let counts = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: taken.count)
        _ = counts.initialize(from: taken)
        let statRows = UnsafeMutablePointer<StatRows>.allocate(capacity: 1)
        statRows.initialize(to: StatRows())
        defer {
            pass.putCounts(Array(counts))
            counts.deallocate()
            statRows.pointee.deallocate()
            statRows.deallocate()
        }
        try body(&self, LoopState(counts: counts, statRows: statRows))
    }

    /// `count` memcg stat records the reader folded (`StatFolding`), the last at `last`: all
    /// inside the window, after its first record, after no loss, and none the timeline samples,
    /// so that all `take` would have done is count them, which this does.
    @inline(__always)
    private mutating func tookFolded(_ count: UInt32, last: UInt64) {
        read &+= UInt64(count)
        pass.engine.handleStats(count)
        self.last = last
    }

    /// One record of the loop, counted into `loop.counts`; false when it is past the window's
    /// end, where the loop stops.
    /// - Parameter previousStat: the stat just before `r` on its CPU when the reader keeps
    ///   the adjacency (`StatFolding`); nil when the loop keeps it (`loop.statRows`).
    @inline(__always)
    private mutating func take(
        _ r: RawRecord,
        _ event: MMEvent,
        _ loop: LoopState,
        after previousStat: StatMark? = nil
    ) -> Bool {
        read &+= 1
        if !started {
            started = true
            (start, end) = window.bounds(traceStart: r.timestamp)
        }
        if r.timestamp < start {
            pass.engine.learnContext(r, event)
            return true
        }
        if r.timestamp > end { return false }
        if let previousStat {
            pass.model(r, event, after: previousStat)
        } else {
            pass.model(r, event, after: loop.statRows.pointee.step(r, event.memcgStat))
        }
        took(r.timestamp, r.eventID, loop)
        return true
    }

    /// What follows every record the engine modelled inside the window: its count by event id,
    /// the timeline's sample when one is due, and the window's first and last times.
    @inline(__always)
    private mutating func took(_ t: UInt64, _ id: UInt16, _ loop: LoopState) {
        if Int(id) < loop.counts.count { loop.counts[Int(id)] &+= 1 }
        if t >= timeline.due { timeline.observe(t, pass.engine) }
        if first == nil { first = t }
        last = t
    }
}
