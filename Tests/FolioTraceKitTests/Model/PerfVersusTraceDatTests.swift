import FolioTraceKit
import Testing

/// One run of the workload recorded both ways at once (fixtures/capture/host-perf.sh): perf
/// record's perf.data and trace-cmd's trace.dat of the same tracepoints for the same tasks.
///
/// What may differ, and how the comparison takes it out:
/// - Start: perf starts recording when its child execs the workload shell (enable_on_exec);
///   tracefs only once that shell has written its pid to set_event_pid and turned tracing
///   on. Both streams are compared from the workload's first cgroup_mkdir.
/// - Each task's exit: in every task of this capture the trace.dat goes on after the task's
///   last perf sample with the frees, uncharges and LRU moves of tearing its memory down
///   (exit_mm): perf stops a task's counters in do_exit before that on this 6.18 kernel
///   (observed in the fixture, not checked in the kernel source). So the trace.dat side
///   keeps, of each task, as many records as perf has of it: both are in the order that
///   task produced them.
/// - Tasks: perf's counters follow the workload's tasks exactly (inherit); tracefs's pid
///   filter decides at each context switch and would also pass events of a task switched in
///   right after a traced one. Only the tasks perf recorded are kept.
/// - Timestamps: perf's clock is `local_clock()`, the ftrace "local" clock `sched_clock()`;
///   they differ by a constant offset (`__sched_clock_offset`, 28.3 ms here) plus each event
///   reading its clock at its own instant, so events are matched by content and order.
/// - Losses: neither capture lost anything (perf report --stat, trace-cmd report --stat in
///   the truth file); a lossy capture would differ by what it lost.
@Suite struct PerfVersusTraceDatTests {
    struct Window {
        var counts: [String: UInt64] = [:]
        /// Records per task.
        var perTask: [Int32: Int] = [:]
        /// Records left out because perf had no more of that task.
        var beyondPerf = 0
        var report: LifecycleReport
        var findings: [Finding]
    }

    /// Feeds the records from the first cgroup_mkdir on (and of each task at most
    /// `limits[pid]` records, when given) to a fresh engine and the detectors.
    static func window(_ fixture: String, limits: [Int32: Int]? = nil) throws -> Window {
        let source = try TraceSource(path: Fixtures.path(fixture))
        let catalog = try source.catalog()
        let decoder = try EventDecoder(catalog: catalog, path: source.path)
        let mkdir = try #require(catalog.type(named: "cgroup:cgroup_mkdir")).id
        var engine = LifecycleEngine(catalog: catalog, savedCommands: source.savedCommands)
        var detectors = DetectorSet()
        var counts: [String: UInt64] = [:]
        var perTask: [Int32: Int] = [:]
        var beyond = 0

        func pass<S: RecordStream>(_ s: inout S) throws {
            var started = false
            while let r = try s.next() {
                if r.eventID == mkdir { started = true }
                guard started else { continue }
                if let limits, perTask[r.pid, default: 0] >= limits[r.pid, default: 0] {
                    beyond += 1
                    continue
                }
                perTask[r.pid, default: 0] += 1
                counts[catalog.type(id: r.eventID)?.fullName ?? "?", default: 0] += 1
                if engine.handle(r, decoder.decode(r)) { for t in engine.transitions { detectors.observe(t) } }
            }
        }
        switch source {
        case .traceDat(let f):
            var s = try f.mergedRecords()
            try pass(&s)
        case .perfData(let p):
            var s = p.orderedRecords()
            try pass(&s)
        }
        return Window(
            counts: counts,
            perTask: perTask,
            beyondPerf: beyond,
            report: engine.finish(),
            findings: detectors.findings
        )
    }

    /// Both captures cut to what each saw of each task: the trace.dat to perf's count of the
    /// task, then perf to the trace.dat's (the workload shell's last records, after it turned
    /// tracing off, are perf's alone).
    static func both() throws -> (perf: Window, dat: Window, perfAlone: Int) {
        let all = try window(PerfFixtures.bothWaysPerf)
        let dat = try window(PerfFixtures.bothWaysTraceDat, limits: all.perTask)
        let perf = try window(PerfFixtures.bothWaysPerf, limits: dat.perTask)
        return (perf, dat, perf.beyondPerf)
    }

    @Test func sameEventsInTheCommonStretch() throws {
        let (perf, dat, perfAlone) = try PerfVersusTraceDatTests.both()
        #expect(perf.counts == dat.counts)
        #expect(perf.perTask == dat.perTask, "trace-cmd saw every task perf saw, at least as long")
        #expect((perf.counts["kmem:mm_page_alloc"] ?? 0) > 1_000)
        // what only one side saw: the tasks' exits (trace.dat), the shell's end (perf.data)
        #expect(dat.beyondPerf > 0 && dat.beyondPerf < 5_000)
        #expect(perfAlone > 0 && perfAlone < 100)
    }

    @Test func sameLifecycleSummaryAndFindings() throws {
        let (perf, dat, _) = try PerfVersusTraceDatTests.both()
        let p = perf.report.summary
        let d = dat.report.summary
        #expect(p.records == d.records)
        #expect(p.typedEvents == d.typedEvents)
        #expect(p.folios == d.folios)
        #expect(p.generations == d.generations)
        #expect(p.beganBeforeTrace == d.beganBeforeTrace)
        #expect(p.freed == d.freed)
        #expect(p.endedUnseen == d.endedUnseen)
        #expect(p.liveAtEnd == d.liveAtEnd)
        #expect(p.lruInsertions == d.lruInsertions)
        #expect(p.activations == d.activations)
        #expect(p.pageCacheAdds == d.pageCacheAdds)
        #expect(p.pageCacheDeletes == d.pageCacheDeletes)
        #expect(p.evictions == d.evictions)
        #expect(p.refaults == d.refaults)
        #expect(p.reclaim.memcgReclaimPasses == d.reclaim.memcgReclaimPasses)
        #expect(p.reclaim.shrinkInactiveScanned == d.reclaim.shrinkInactiveScanned)
        #expect(p.reclaim.shrinkInactiveReclaimed == d.reclaim.shrinkInactiveReclaimed)
        #expect(p.freesByContext == d.freesByContext)
        #expect(p.lostEvents.isEmpty && d.lostEvents.isEmpty)
        let memcgs = { (w: Window) in
            w.report.memcgs.map {
                "\($0.id) \($0.pagesCharged) \($0.pagesReclaimed) \($0.pagesRefaulted) \($0.pagesLiveAtEnd)"
            }
        }
        #expect(memcgs(perf) == memcgs(dat))
        #expect(p.evictions > 0 && p.refaults > 0, "the workload makes memcg A's reclaim evict B's mapped file")
        let findings = { (w: Window) in
            w.findings.map { "\($0.rule) \($0.folio.pfn) \($0.memcg ?? 0) \($0.otherMemcg ?? 0)" }
        }
        #expect(findings(perf) == findings(dat))
        #expect(!perf.findings.isEmpty, "foreign-refault-after-memcg-reclaim fires on this workload")
    }
}
