/// The counts of `foliotrace events` for a trace.dat, each CPU's records read in that CPU's
/// own order, without the merge, on every core.
///
/// Nothing `TraceInventory` counts depends on the order across CPUs but its first and last
/// time stamps, and those follow from each CPU's own records (`timeSpan`), so the merge
/// (a third of `events` on a 21-million-event capture) is not needed. A CPU is cut into
/// parts of whole ring-buffer pages (`CPUStream.cut`; a capture may hold nine in ten of its
/// records on one CPU), the parts are counted on `workers` threads, each taking the next part
/// when done with one, and the parts' tallies are added in CPU and page order. Every number
/// is the merged pass's (`CPUInventoryTests`, and `SerialPassTests` for the whole output).
struct CPUInventory {
    var countsByID: [UInt64]
    var countsByCPU: [UInt64]
    var lostByCPU: [LostEvents]
    var total: UInt64 = 0
    var malformed: UInt64 = 0
    var unknown: UInt64 = 0
    var typed: UInt64 = 0
    var outOfOrder: UInt64 = 0
    var first: UInt64?
    var last: UInt64?
    var damagedPages = 0
    var damage: [String] = []

    /// Counts every record of `file`'s CPUs.
    /// - Parameters:
    ///   - cpuIndex: a CPU number's slot in `countsByCPU`, as the merged pass has it.
    ///   - workers: threads to count on (the calling thread is one of them).
    ///   - pagesEach: ring-buffer pages a part; nil cuts each uncompressed CPU into parts of
    ///     an eighth of a worker's share (at least 1 MiB), for the threads to finish together.
    /// - Returns: nil when the counts could come out otherwise than the merged pass's (two
    ///   buffers of one CPU, a CPU number no kernel has, a stream that failed part way): the
    ///   caller then counts through the merge.
    /// - Throws: what `TraceFile.mergedRecords()` throws, from the same place.
    init?(
        file: TraceFile,
        classes: RecordClasses,
        cpuIndex: [Int],
        workers: Int,
        pagesEach: Int? = nil
    ) throws(TraceFileError) {
        let streams = try file.cpuStreams()
        let cpus = streams.map { Int($0.cpu) }
        guard cpus.allSatisfy({ $0 >= 0 && $0 < TraceLimits.cpus && $0 < cpuIndex.count }),
            Set(cpus.map { cpuIndex[$0] }).count == cpus.count
        else { return nil }
        let pages = pagesEach ?? Self.pagesEach(file, workers: workers)
        var parts: [(of: Int, stream: CPUStream)] = []  // of: the index of the CPU's stream
        for (i, s) in streams.enumerated() {
            for part in s.cut(pagesEach: pages) { parts.append((i, part)) }
        }
        let tallies = PartCounter(parts: parts.map(\.stream), classes: classes, workers: workers).run()
        guard tallies.tallies.allSatisfy({ $0.failure == nil }) else { return nil }

        countsByID = tallies.countsByID
        countsByCPU = Array(repeating: 0, count: file.cpuBuffers.count)
        lostByCPU = Array(repeating: LostEvents(), count: streams.count)
        var perStream = Array(repeating: StreamTally(), count: streams.count)
        for (part, t) in zip(parts, tallies.tallies) {
            perStream[part.of].append(t)
            lostByCPU[part.of].counted &+= t.lost.counted
            lostByCPU[part.of].uncountedPages += t.lost.uncountedPages
            malformed += t.malformed
            unknown += t.unknown
            typed += t.typed
        }
        for (i, s) in perStream.enumerated() {
            total += s.records
            countsByCPU[cpuIndex[cpus[i]]] += s.records
            outOfOrder += s.outOfOrder
            damagedPages += s.damagedPages
            damage += CPUStream.damageNotes(cpu: streams[i].cpu, damage: s.damage, damagedPages: s.damagedPages)
        }
        (first, last) = Self.timeSpan(perStream)
    }

    /// The first and last time stamps of the merged pass, from each CPU's own records.
    ///
    /// The merge takes the earliest head (the lower CPU on a tie), so its first record is the
    /// earliest of the CPUs' first ones. Its last: call a record that is not earlier than any
    /// before it on its CPU a leader. A record after a leader and earlier than it is earlier
    /// than every other CPU's head (the leader was not later than any), so it is taken next:
    /// each leader is taken with the records behind it, and the merge is a merge of the CPUs'
    /// leaders, which are in order on each CPU. So its last records are the leaders of the
    /// latest time stamp of all, lower CPUs first, and the very last is the last record of
    /// the highest CPU whose latest record has that time stamp. On a CPU in order that is its
    /// last record, and the answer the latest of the CPUs' last records.
    static func timeSpan(_ streams: [StreamTally]) -> (first: UInt64?, last: UInt64?) {
        var first: UInt64?
        var latest: (highest: UInt64, last: UInt64)?
        for s in streams where s.records > 0 {
            first = min(first ?? s.first, s.first)
            if latest == nil || s.highest >= latest!.highest { latest = (s.highest, s.last) }
        }
        return (first, latest?.last)
    }

    /// Threads worth starting for `file`: one a core when its CPU data (as stored) is at
    /// least `threadsFrom` bytes, else the calling thread alone. Below that the count takes a
    /// few milliseconds, about what a started thread may wait for a core on a busy machine,
    /// which the count would then wait for (every bundled fixture is under 4 MiB).
    static func workers(for file: TraceFile, cores: Int) -> Int {
        let bytes = file.cpuBuffers.reduce(0) { $0 + Int(clamping: $1.size) }
        return bytes >= threadsFrom ? cores : 1
    }

    static let threadsFrom = 8 << 20

    /// Parts of an eighth of a worker's share of the uncompressed CPU data, at least 1 MiB.
    private static func pagesEach(_ file: TraceFile, workers: Int) -> Int {
        guard workers > 1 else { return Int.max }
        let bytes = file.cpuBuffers.reduce(0) { $0 + ($1.compressed ? 0 : Int(clamping: $1.size)) }
        let pageSize = max(file.cpuBuffers.first?.pageSize ?? file.pageSize, 1)
        return max((1 << 20) / pageSize, bytes / pageSize / (workers * 8) + 1)
    }
}

/// One CPU's records, from its parts' tallies added in page order.
struct StreamTally {
    var records: UInt64 = 0
    var first: UInt64 = 0
    var last: UInt64 = 0
    var highest: UInt64 = 0
    var outOfOrder: UInt64 = 0
    var damagedPages = 0
    var damage: String?

    /// Adds the tally of the part that follows the ones added so far.
    mutating func append(_ t: PartTally) {
        damagedPages += t.damagedPages
        if let d = t.damage { damage = damage.map { $0 + "; " + d } ?? d }
        guard t.records > 0 else { return }
        // A part's first record was compared with nothing; the merged pass compares it with
        // the CPU's record before it (or with 0, which no time stamp is below).
        outOfOrder += t.outOfOrder + (records > 0 && t.first < last ? 1 : 0)
        if records == 0 {
            first = t.first
            highest = t.highest
        } else {
            highest = max(highest, t.highest)
        }
        last = t.last
        records += t.records
    }
}

/// What one part of one CPU's records holds.
struct PartTally {
    var records: UInt64 = 0
    var first: UInt64 = 0
    var last: UInt64 = 0
    var highest: UInt64 = 0
    /// Records earlier than the one before them in this part.
    var outOfOrder: UInt64 = 0
    var malformed: UInt64 = 0
    var unknown: UInt64 = 0
    var typed: UInt64 = 0
    var lost = LostEvents()
    var damagedPages = 0
    var damage: String?
    /// Why the stream stopped, if it failed (only a live stream can).
    var failure: TraceProblem?
}

extension PartTally {
    /// Counts every record of `stream` into this tally and `counts` (per event id).
    ///
    /// The hot loop of `foliotrace events`: locals only, the event ids' classes read through
    /// a pointer, nothing allocated, nothing retained per record.
    init(_ stream: inout CPUStream, codes: UnsafeBufferPointer<Int32>, counts: UnsafeMutableBufferPointer<UInt64>) {
        var records: UInt64 = 0
        var first: UInt64 = 0
        var previous: UInt64 = 0
        var highest: UInt64 = 0
        var outOfOrder: UInt64 = 0
        var malformed: UInt64 = 0
        var unknown: UInt64 = 0
        var typed: UInt64 = 0
        let limit = codes.count
        do throws(TraceProblem) {
            while let r = try stream.nextRecord() {
                let ts = r.timestamp
                if records == 0 { first = ts }
                records &+= 1
                if ts < previous { outOfOrder &+= 1 }
                previous = ts
                if ts > highest { highest = ts }
                let id = Int(r.eventID)
                let code = id < limit ? codes[id] : RecordClasses.unknown
                switch RecordClasses.classify(code: code, length: r.payload.count) {
                case .unknown:
                    unknown &+= 1
                    continue
                case .malformed: malformed &+= 1
                case .typed: typed &+= 1
                case .other: break
                }
                counts[id] &+= 1
            }
        } catch {
            failure = error
        }
        self.records = records
        self.first = first
        self.last = previous
        self.highest = highest
        self.outOfOrder = outOfOrder
        self.malformed = malformed
        self.unknown = unknown
        self.typed = typed
        lost = stream.lost
        damagedPages = stream.damagedPages
        damage = stream.damage
    }
}

/// Counts parts of CPU streams on several threads: each worker takes the next part not yet
/// taken, counts it into a tally of its own slot and into its own per-id counts, until none
/// is left.
///
/// The streams, the tallies and the counts live in buffers this object owns and frees after
/// every worker has ended; each part's stream and tally is touched by the one worker that
/// took it, each worker's counts by that worker, and the classes only read. The streams'
/// pages point into the file's map (or a compressed CPU's own chunk buffers), which the
/// streams themselves keep alive.
final class PartCounter: @unchecked Sendable {
    private let streams: UnsafeMutableBufferPointer<CPUStream>
    private let tallies: UnsafeMutableBufferPointer<PartTally>
    private let counts: UnsafeMutableBufferPointer<UInt64>
    private let codes: UnsafeMutableBufferPointer<Int32>
    private let workers: Int
    private let lock = Lock()
    private var next = 0

    init(parts: [CPUStream], classes: RecordClasses, workers: Int) {
        self.workers = max(1, min(workers, parts.count))
        streams = .allocate(capacity: parts.count)
        _ = streams.initialize(from: parts)
        tallies = .allocate(capacity: parts.count)
        tallies.initialize(repeating: PartTally())
        counts = .allocate(capacity: self.workers * classes.codes.count)
        counts.initialize(repeating: 0)
        codes = .allocate(capacity: classes.codes.count)
        _ = codes.initialize(from: classes.codes)
    }

    deinit {
        streams.deinitialize().deallocate()
        tallies.deinitialize().deallocate()
        counts.deallocate()
        codes.deallocate()
    }

    /// Counts every part.
    /// - Returns: the parts' tallies in order, and the records per event id of all of them.
    func run() -> (tallies: [PartTally], countsByID: [UInt64]) {
        Parallelism.run(workers) { [self] w in work(w) }
        let ids = codes.count
        var byID = [UInt64](repeating: 0, count: ids)
        for w in 0..<workers {
            for id in 0..<ids { byID[id] &+= counts[w * ids + id] }
        }
        return (Array(tallies), byID)
    }

    private func work(_ worker: Int) {
        let ids = codes.count
        let mine = UnsafeMutableBufferPointer(rebasing: counts[(worker * ids)..<((worker + 1) * ids)])
        let classes = UnsafeBufferPointer(codes)
        while let i = take() {
            tallies[i] = PartTally(&streams[i], codes: classes, counts: mine)
        }
    }

    private func take() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < streams.count else { return nil }
        next += 1
        return next - 1
    }
}
