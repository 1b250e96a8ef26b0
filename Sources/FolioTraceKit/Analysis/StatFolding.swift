/// Memcg stat records taken off the engine's thread: half the records of a 6.13+ capture are
/// memcg stat records, and all the model does with one is count it and remember it as its
/// CPU's latest stat (`StatAdjacency`). When `TraceAnalysis` reads ahead, the reader does
/// both: it keeps the adjacency rows, gives each record it hands over the stat just before it
/// on its CPU (`Slot.previousStat`), and folds a stat record into a count on the next record
/// handed over (`Slot.folded`) or on the batch (`Batch.trailingFolded`, and the counts by
/// event id), so the engine's loop neither reads nor dispatches it
/// (docs/performance.md, thirteenth session).
///
/// Folding leaves every result as the record-by-record pass makes it: a stat record is folded
/// only where the engine would have done nothing else with it. It must be inside the window
/// the caller analyses, after the first such record (which gives the window's first time), with
/// no loss before it and a CPU number in range, and it must not be one the timeline samples:
/// the reader keeps a copy of the timeline's schedule (`Timeline.Schedule`, a function of the
/// sampled records' timestamps alone) and hands over every record at or past the time due.
/// `ReadAheadTests.analyzeAsInLine` compares the folded pass with the in-line one on every
/// fixture, and `StatFoldingTests` the hand-over record by record.
struct StatFolding {
    /// Distinct stat event ids a batch can count (there are three stat tracepoints); a stat
    /// record of another id in a full batch is handed over, not folded.
    static let idCapacity = 8

    private var rows = StatRows()
    private var schedule: Timeline.Schedule
    /// Whether a record of the window has been handed over.
    private var handedInWindow = false
    /// Stat records folded since the last record handed over.
    private(set) var pending: UInt32 = 0
    /// The timestamp of the last of them.
    private(set) var pendingLast: UInt64 = 0

    init(schedule: Timeline.Schedule) {
        self.schedule = schedule
    }

    func deallocate() { rows.deallocate() }

    /// Whether the in-window record `r`, if it is a stat record, can be folded.
    @inline(__always)
    func canFold(_ r: RawRecord) -> Bool {
        handedInWindow && r.missedEvents == 0 && r.cpu >= 0 && Int(r.cpu) < TraceLimits.cpus
            && r.timestamp < schedule.due && pending < UInt32.max
    }

    /// Folds the stat record `r`: its CPU's latest stat is now `mark`.
    @inline(__always)
    mutating func fold(_ r: RawRecord, _ mark: StatMark) {
        _ = rows.step(cpu: r.cpu, afterLoss: false, mark)
        pending += 1
        pendingLast = r.timestamp
    }

    /// Hands over the in-window record `r` with event `event`: returns the stat just before it
    /// on its CPU, and the timeline's schedule moves as the engine's will.
    @inline(__always)
    mutating func handOver(_ r: RawRecord, _ event: MMEvent) -> StatMark {
        handedInWindow = true
        if r.timestamp >= schedule.due { _ = schedule.took(r.timestamp) }
        return rows.step(r, event.memcgStat)
    }

    /// Takes the folded count for the record handed over next (or the batch's end).
    @inline(__always)
    mutating func takePending() -> UInt32 {
        defer { pending = 0 }
        return pending
    }
}
