/// What a trace holds: counts per event, per CPU, time span and losses, from one pass.
///
/// This is what `foliotrace events` prints; every record is classed as decoding it would
/// (`RecordClasses`), so that malformed records of modelled events are counted too. A
/// trace.dat's CPUs are counted each on its own, on every core (`CPUInventory`); a perf.data's
/// records, and a trace.dat's with `FOLIOTRACE_SERIAL=1`, through the merged stream.
public struct TraceInventory: Sendable {
    /// Records per event id (index = id).
    public private(set) var countsByID: [UInt64]
    /// Records per CPU, in the order of `TraceFile.cpuBuffers`.
    public private(set) var countsByCPU: [UInt64]
    /// Losses per CPU.
    public private(set) var lostByCPU: [LostEvents] = []
    /// Records whose id no format defines.
    public private(set) var unknownRecords: UInt64 = 0
    /// Records of modelled events shorter than their format.
    public private(set) var malformedRecords: UInt64 = 0
    /// Records decoded into a typed event.
    public private(set) var typedRecords: UInt64 = 0
    /// Pages whose records ran past their commit size.
    public private(set) var damagedPages = 0
    /// What the record streams found damaged, one sentence each.
    public private(set) var damage: [String] = []
    public private(set) var total: UInt64 = 0
    public private(set) var firstTimestamp: UInt64?
    public private(set) var lastTimestamp: UInt64?
    /// Records whose timestamp went backwards on their own CPU.
    public private(set) var outOfOrder: UInt64 = 0
    /// perf.data samples of events that are not decoded (not tracepoints, or tracepoints whose
    /// formats the file lacks) per event name as perf names them (`cycles`, `cpu-clock`...);
    /// they are in `total`, `countsByCPU` and the time span too.
    public private(set) var otherEvents: [String: UInt64] = [:]
    /// perf.data samples taken in a guest, left out of every count (`PerfRecordStream.guestSamples`);
    /// nil for a trace.dat.
    public private(set) var guestSamples: UInt64?
    /// What the perf.data reader found wrong (`PerfDamage.isEmpty` when nothing); nil for a
    /// trace.dat.
    public private(set) var perfDamage: PerfDamage?

    /// Reads every record of `file`.
    /// - Throws: `TraceFileError` when CPU data cannot be read.
    public init(file: TraceFile, decoder: EventDecoder) throws(TraceFileError) {
        try self.init(source: .traceDat(file), decoder: decoder)
    }

    /// How a trace.dat's records are counted.
    enum Pass {
        /// Through the k-way merge, on the calling thread: the reference (`FOLIOTRACE_SERIAL=1`).
        case merged
        /// Each CPU on its own (`CPUInventory`), in parts of `pagesEach` pages (nil: sized for
        /// the workers) on `workers` threads (nil: a core each when the file is large enough
        /// to pay for them, `CPUInventory.workers`).
        case perCPU(workers: Int?, pagesEach: Int?)

        /// Per CPU, on every core that pays, unless `FOLIOTRACE_SERIAL=1`.
        static var standard: Pass { Parallelism.serial ? .merged : .perCPU(workers: nil, pagesEach: nil) }
    }

    /// Reads every record of a trace.dat or perf.data.
    /// - Throws: `TraceFileError` when the records cannot be read.
    public init(source: TraceSource, decoder: EventDecoder) throws(TraceFileError) {
        try self.init(source: source, decoder: decoder, pass: .standard)
    }

    /// Reads every record, a trace.dat's in the way `pass` says (perf.data's through its
    /// ordered stream whatever it says).
    init(source: TraceSource, decoder: EventDecoder, pass: Pass) throws(TraceFileError) {
        countsByID = Array(repeating: 0, count: decoder.catalog.idLimit)
        switch source {
        case .traceDat(let file):
            countsByCPU = Array(repeating: 0, count: file.cpuBuffers.count)
            var cpuIndex = [Int](repeating: 0, count: (file.cpuBuffers.map(\.cpu).max() ?? 0) + 1)
            for (i, b) in file.cpuBuffers.enumerated() { cpuIndex[b.cpu] = i }
            if case .perCPU(let workers, let pagesEach) = pass,
                let counted = try CPUInventory(
                    file: file,
                    classes: RecordClasses(decoder: decoder),
                    cpuIndex: cpuIndex,
                    workers: workers ?? CPUInventory.workers(for: file, cores: Parallelism.cores),
                    pagesEach: pagesEach
                )
            {
                take(counted)
                return
            }
            var stream = try file.mergedRecords()
            try count(&stream, decoder: decoder, cpuIndex: cpuIndex)
            damagedPages = stream.damagedPages
            damage = stream.damageNotes
        case .perfData(let file):
            countsByCPU = Array(repeating: 0, count: file.cpuCount)
            var stream = file.orderedRecords()
            try count(&stream, decoder: decoder, cpuIndex: Array(0..<file.cpuCount))
            otherEvents = stream.otherSampleCounts
            guestSamples = stream.guestSamples
            total += stream.otherSamples
            for (cpu, n) in stream.otherSamplesByCPU.enumerated() where n > 0 {
                if cpu >= countsByCPU.count { countsByCPU += Array(repeating: 0, count: cpu + 1 - countsByCPU.count) }
                countsByCPU[cpu] += n
            }
            if let span = stream.otherTimeSpan {
                firstTimestamp = min(firstTimestamp ?? span.first, span.first)
                lastTimestamp = max(lastTimestamp ?? span.last, span.last)
            }
            perfDamage = stream.damage
            damage = stream.damageNotes
        }
    }

    /// The pass, specialized per input format. `cpuIndex` maps a CPU number to its slot.
    ///
    /// The counters live in locals while the loop runs and are stored back at the end: as
    /// stored properties of `self`, each `+= 1` checked the array's uniqueness through a call
    /// (`_makeMutableAndUnique`, `_checkSubscript_mutating`, `_endMutation`), 3.5 G of the
    /// 15 G instructions of `events` on a 25-million-event capture (docs/performance.md).
    private mutating func count<S: RecordStream>(
        _ stream: inout S,
        decoder: EventDecoder,
        cpuIndex: [Int]
    ) throws(TraceFileError) {
        var cpuIndex = cpuIndex
        var countsByCPU = self.countsByCPU
        var countsByID = self.countsByID
        self.countsByCPU = []
        self.countsByID = []
        defer {
            self.countsByCPU = countsByCPU
            self.countsByID = countsByID
        }
        var lastByCPU = [UInt64](repeating: 0, count: countsByCPU.count)
        var total: UInt64 = 0
        var malformed: UInt64 = 0
        var unknown: UInt64 = 0
        var typed: UInt64 = 0
        var outOfOrder: UInt64 = 0
        var first: UInt64?
        var last: UInt64?
        defer {
            self.total += total
            malformedRecords += malformed
            unknownRecords += unknown
            typedRecords += typed
            self.outOfOrder += outOfOrder
            if firstTimestamp == nil { firstTimestamp = first }
            if let last { lastTimestamp = last }
        }
        while let r = try stream.next() {
            total += 1
            if first == nil { first = r.timestamp }
            last = r.timestamp
            let cpu = Int(r.cpu)
            guard cpu >= 0, cpu < TraceLimits.cpus else {  // no kernel has such a CPU: damage
                malformed += 1
                continue
            }
            if cpu >= cpuIndex.count {  // a perf.data CPU beyond what NRCPUS said
                for c in cpuIndex.count...cpu { cpuIndex.append(c) }
                countsByCPU += Array(repeating: 0, count: cpu + 1 - countsByCPU.count)
                lastByCPU += Array(repeating: 0, count: cpu + 1 - lastByCPU.count)
            }
            let c = cpuIndex[cpu]
            countsByCPU[c] += 1
            if r.timestamp < lastByCPU[c] { outOfOrder += 1 }
            lastByCPU[c] = r.timestamp
            let id = Int(r.eventID)
            guard id < countsByID.count, decoder.catalog.type(id: r.eventID) != nil else {
                unknown += 1
                continue
            }
            countsByID[id] += 1
            switch decoder.decode(r) {
            case .other: break
            case .malformed: malformed += 1
            default: typed += 1
            }
        }
        lostByCPU = stream.lostEvents
    }

    /// The counts of the per-CPU pass.
    private mutating func take(_ c: CPUInventory) {
        countsByID = c.countsByID
        countsByCPU = c.countsByCPU
        lostByCPU = c.lostByCPU
        total = c.total
        malformedRecords = c.malformed
        unknownRecords = c.unknown
        typedRecords = c.typed
        outOfOrder = c.outOfOrder
        firstTimestamp = c.first
        lastTimestamp = c.last
        damagedPages = c.damagedPages
        damage = c.damage
    }

    /// Counts per "system:name", for the events that occur.
    public func countsByName(_ catalog: EventCatalog) -> [(name: String, count: UInt64)] {
        catalog.types.compactMap { t in
            let n = countsByID[Int(t.id)]
            return n > 0 ? (t.fullName, n) : nil
        }.sorted { $0.name < $1.name }
    }

    /// All events lost, counted ones only.
    public var lostEvents: UInt64 { lostByCPU.reduce(0) { $0 + $1.counted } }
}
