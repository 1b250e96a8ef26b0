/// The memcg stat record just before each CPU's current record, which exact attribution reads
/// (`LifecycleEngine.attributeExactly`): on 6.13+ the kernel updates the folio's memcg
/// counter right before an LRU insertion's or page-cache add's tracepoint, on the same CPU.
/// Any other record on that CPU ends the adjacency, and a loss ends every CPU's (what came
/// between is unknown).
///
/// One rule over two kinds of rows: the engine's own array (records handed to `handle` one by
/// one, as a live session does) and a buffer the file analysis keeps beside its loop, where an
/// array's uniqueness check on each of the millions of stat records cost as much as the rest
/// of their handling (docs/performance.md, twelfth session).
enum StatAdjacency {
    /// A stat record's task and event.
    typealias Stat = (pid: Int32, stat: MemcgStat)

    /// Takes `r` as its CPU's latest record (a stat record when `stat` is given) and returns
    /// the stat record just before it on that CPU, nil when there is none.
    /// - Parameter rows: a row per CPU up to `r.cpu` when `r.cpu` is a CPU number
    ///   (`TraceLimits.cpus`); a damaged record's CPU beyond has no row and no adjacency.
    @inline(__always)
    static func step<Rows: MutableCollection<Stat?>>(
        _ rows: inout Rows,
        _ r: RawRecord,
        _ stat: MemcgStat?
    ) -> Stat? where Rows.Index == Int {
        if r.missedEvents != 0 { for i in rows.indices { rows[i] = nil } }
        let cpu = Int(r.cpu)
        guard cpu >= 0, cpu < TraceLimits.cpus else { return nil }
        let previous = rows[cpu]
        if let stat {
            rows[cpu] = (r.pid, stat)
        } else if previous != nil {
            rows[cpu] = nil
        }
        return previous
    }

    /// Rows for every CPU number, all empty, for a loop that deallocates them when done (and
    /// hands `step` those up to the highest CPU it has seen, which a loss clears).
    static func allocateRows() -> UnsafeMutableBufferPointer<Stat?> {
        let rows = UnsafeMutableBufferPointer<Stat?>.allocate(capacity: TraceLimits.cpus)
        rows.initialize(repeating: nil)
        return rows
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
