/// The memcg stat record just before each CPU's current record, which exact attribution reads
/// (`LifecycleEngine.attributeExactly`): on 6.13+ the kernel updates the folio's memcg
/// counter right before an LRU insertion's or page-cache add's tracepoint, on the same CPU.
/// Any other record on that CPU ends the adjacency, and a loss ends every CPU's (what came
/// between is unknown).
///
/// One rule over two kinds of rows: the engine's own array (records handed to `handle` one by
/// one, as a live session does) and a buffer the file analysis keeps beside its loop (`StatRows`), where an
/// array's uniqueness check on each of the millions of stat records cost as much as the rest
/// of their handling (docs/performance.md, twelfth session).
enum StatAdjacency {
    /// Takes `r` as its CPU's latest record (a stat record when `stat` is given) and returns
    /// the stat record just before it on that CPU (`.none` when there is none).
    /// - Parameter rows: a row per CPU up to `r.cpu` when `r.cpu` is a CPU number
    ///   (`TraceLimits.cpus`); a damaged record's CPU beyond has no row and no adjacency.
    @inline(__always)
    static func step<Rows: MutableCollection<StatMark>>(
        _ rows: inout Rows,
        _ r: RawRecord,
        _ stat: MemcgStat?
    ) -> StatMark where Rows.Index == Int {
        step(&rows, cpu: r.cpu, afterLoss: r.missedEvents != 0, stat.map { StatMark(pid: r.pid, $0) })
    }

    /// `step` of a record given by its CPU, whether a loss came before it, and its mark when
    /// it is a stat record: for a loop that reads stat records where the reader stored them,
    /// without building each one's `RawRecord`.
    @inline(__always)
    static func step<Rows: MutableCollection<StatMark>>(
        _ rows: inout Rows,
        cpu: Int32,
        afterLoss: Bool,
        _ stat: StatMark?
    ) -> StatMark where Rows.Index == Int {
        if afterLoss { for i in rows.indices { rows[i] = .none } }
        let cpu = Int(cpu)
        guard cpu >= 0, cpu < TraceLimits.cpus else { return .none }
        let previous = rows[cpu]
        if let stat {
            rows[cpu] = stat
        } else if !previous.isNone {
            rows[cpu] = .none
        }
        return previous
    }

}

/// A row for every CPU number in a buffer of its own, for a loop that steps the adjacency
/// millions of times (`WindowedRun`, `StatFolding`), and the rows in use: one past the highest
/// CPU number stepped, so that a loss clears those, not all 8 192. Deallocated by its owner.
struct StatRows {
    private let rows: UnsafeMutableBufferPointer<StatMark>
    private var inUse = 0

    init() {
        rows = .allocate(capacity: TraceLimits.cpus)
        rows.initialize(repeating: .none)
    }

    func deallocate() { rows.deallocate() }

    /// `StatAdjacency.step` of `r`, a stat record when `stat` is given.
    @inline(__always)
    mutating func step(_ r: RawRecord, _ stat: MemcgStat?) -> StatMark {
        var used = self.used(through: Int(r.cpu))
        return StatAdjacency.step(&used, r, stat)
    }

    /// `StatAdjacency.step` of a record given by its CPU, whether a loss came before it, and
    /// its mark when it is a stat record.
    @inline(__always)
    mutating func step(cpu: Int32, afterLoss: Bool, _ stat: StatMark?) -> StatMark {
        var used = self.used(through: Int(cpu))
        return StatAdjacency.step(&used, cpu: cpu, afterLoss: afterLoss, stat)
    }

    /// The rows in use, widened to `cpu`'s when it is a CPU number.
    @inline(__always)
    private mutating func used(through cpu: Int) -> Slice<UnsafeMutableBufferPointer<StatMark>> {
        if cpu >= inUse, cpu < TraceLimits.cpus { inUse = cpu + 1 }
        return rows[..<inUse]
    }
}

/// A memcg stat record as exact attribution compares it with the folio after it: a change
/// of `pages` pages in an lruvec counter (`mod_memcg_lruvec_state`) of memcg `memcgID`, by
/// task `pid`. Any other stat record, and a change no folio's page count can equal (zero, or
/// beyond 32 bits), is `.none`: attribution has nothing to compare it with.
///
/// Two words, not the stat event with its task (40 bytes with an optional's tag): the row
/// the loop writes on a stat record is read back on the next record of that CPU, often the
/// very next one, and a load that spans several smaller pending stores cannot be forwarded
/// from them. The 16-byte read of the 40-byte row stalled on nearly every LRU insertion, 9%
/// of the engine thread's time on the scale capture (docs/performance.md, thirteenth
/// session).
struct StatMark: Equatable {
    var memcgID: UInt64
    var pid: Int32
    /// The change in pages, negative for a decrease; 0 in `.none`.
    var pages: Int32

    static let none = StatMark(memcgID: 0, pid: 0, pages: 0)

    var isNone: Bool { pages == 0 }

    init(memcgID: UInt64, pid: Int32, pages: Int32) {
        (self.memcgID, self.pid, self.pages) = (memcgID, pid, pages)
    }

    /// The mark of `stat`, made by task `pid`.
    @inline(__always)
    init(pid: Int32, _ stat: MemcgStat) {
        guard stat.kind == .lruvecState, let pages = Int32(exactly: stat.value) else {
            self = .none
            return
        }
        self.init(memcgID: stat.memcgID, pid: pid, pages: pages)
    }
}

extension MMEvent {
    /// The memcg stat event, when this is one (`StatAdjacency`).
    @inline(__always)
    var memcgStat: MemcgStat? {
        if case .memcgStat(let m) = self { return m }
        return nil
    }
}
