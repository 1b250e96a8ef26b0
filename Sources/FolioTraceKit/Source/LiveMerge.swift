/// The records of CPUs read live, in timestamp order: a record is handed out only once no CPU
/// can still deliver an older one.
///
/// `MergedStream` merges what every CPU's stream holds, which for a file is all there is. Live,
/// a CPU's stream is empty whenever its reader has not taken its latest page yet: a quiet
/// CPU's page in progress waits up to 50 ms (`CPUPipeReader.partialPageInterval`), and meanwhile
/// the busy CPUs' later records would go first. Handed to the engine late, an LRU insertion of
/// a pfn's old generation was applied to its new one and re-attributed eight page-cache folios
/// to another memcg (a `tail --memcg` run, against its own recording analyzed in file order).
///
/// So every CPU must vouch for the record: one with a record in hand does (its stream is in
/// time order, so nothing older follows it); one with none does when its spool is complete
/// past the record's time (`PageSpool.completeThrough`, which its reader moves on from the
/// kernel's clock whenever the ring buffer holds nothing unread). This is the rule of perf's
/// rounds (a record is safe once every buffer has been read past it), with the ring buffer's
/// own clock in place of a round marker. Until the CPUs vouch, `next()` returns nil and the
/// records wait in the spools; once reading has stopped, every spool is complete and all of
/// them come out.
///
/// A record older than one already handed out (a clock without nanoseconds, which the stats do
/// not print, or a writer held up longer than `CPUPipeReader.completionAllowance`) is still
/// handed out, and counted in `lateRecords`.
struct LiveMerge {
    private(set) var streams: [CPUStream]
    private let spools: [PageSpool]
    private var heads: [RawRecord?]
    /// Per CPU: how far its spool was complete when its stream last came up empty.
    private var complete: [UInt64]
    /// The earliest of `complete` over the CPUs without a record in hand, or earlier: a record
    /// at or after it waits until those CPUs are looked at again.
    private var horizon: UInt64 = 0
    /// The CPU whose head was handed out last; advanced at the next call, because advancing
    /// may pop the spool page that record's payload points into.
    private var taken = -1
    /// The latest timestamp handed out.
    private var latest: UInt64 = 0
    /// Records handed out after a later one (see the type's note); 0 when the order was exact.
    private(set) var lateRecords: UInt64 = 0

    /// - Parameters:
    ///   - streams: each CPU's stream over its spool, in CPU order.
    ///   - spools: the same CPUs' spools.
    init(streams: [CPUStream], spools: [PageSpool]) {
        precondition(streams.count == spools.count)
        self.streams = streams
        self.spools = spools
        heads = Array(repeating: nil, count: streams.count)
        complete = Array(repeating: 0, count: streams.count)
    }

    /// The next record in time order, valid until the next call; nil while some CPU without a
    /// record spooled could still deliver an older one, or when none is spooled.
    mutating func next() throws(TraceFileError) -> RawRecord? {
        if taken >= 0 {
            try refill(taken)
            if heads[taken] == nil { horizon = min(horizon, complete[taken]) }
            taken = -1
        }
        if let best = MergedStream.earliest(heads), let r = heads[best], r.timestamp < horizon {
            return hand(best, r)
        }
        // Not vouched for by what was known: look at every CPU without a record again.
        var earliestComplete = UInt64.max
        for i in heads.indices where heads[i] == nil {
            try refill(i)
            if heads[i] == nil { earliestComplete = min(earliestComplete, complete[i]) }
        }
        horizon = earliestComplete
        guard let best = MergedStream.earliest(heads), let r = heads[best], r.timestamp < horizon else { return nil }
        return hand(best, r)
    }

    private mutating func hand(_ cpu: Int, _ r: RawRecord) -> RawRecord {
        taken = cpu
        if r.timestamp < latest { lateRecords &+= 1 } else { latest = r.timestamp }
        return r
    }

    /// Takes CPU `i`'s next record, noting first how far its spool is complete: the reader
    /// spools pages before it moves that on, so if the stream is empty after this read,
    /// nothing before `complete[i]` is still to come.
    private mutating func refill(_ i: Int) throws(TraceFileError) {
        complete[i] = spools[i].completeThrough
        heads[i] = try streams[i].next()
    }

    /// The records still spooled, counted without handing them out (once reading has
    /// stopped: what the analysis never reached); the streams are empty after.
    mutating func countRemaining() -> UInt64 {
        var left = UInt64(heads.reduce(0) { $0 + ($1 == nil ? 0 : 1) })
        if taken >= 0, heads[taken] != nil { left -= 1 }
        for i in streams.indices {
            do {
                while try streams[i].next() != nil { left += 1 }
            } catch {}
        }
        heads = Array(repeating: nil, count: streams.count)
        taken = -1
        return left
    }
}
