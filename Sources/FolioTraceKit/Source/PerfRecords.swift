import CZstd

/// Where time and cpu are in the `sample_id` block that ends a record other than a sample
/// (when `sample_id_all` is set): tid, time, id, stream_id, cpu, identifier, as set.
struct SampleIDBlock: Equatable {
    /// The block's size; 0 without sample_id_all.
    var size = 0
    /// Offsets inside the block (-1 when absent).
    var time = -1
    var cpu = -1

    init() {}

    init(_ a: PerfEventAttr) {
        guard a.sampleIDAll else { return }
        let t = a.sampleType
        var s = 0
        if t.contains(.tid) { s += 8 }
        if t.contains(.time) {
            time = s
            s += 8
        }
        if t.contains(.id) { s += 8 }
        if t.contains(.streamID) { s += 8 }
        if t.contains(.cpu) {
            cpu = s
            s += 8
        }
        if t.contains(.identifier) { s += 8 }
        size = s
    }
}

/// Where one event's PERF_RECORD_SAMPLE fields are, from its `sample_type` and `read_format`.
///
/// The sample body lists the fields of the set bits in a fixed order (`PERF_RECORD_SAMPLE` in
/// include/uapi/linux/perf_event.h): identifier, ip, pid/tid, time, addr, id, stream_id,
/// cpu/res, period, read values, callchain, raw. foliotrace reads time, cpu, id and the raw
/// payload. Offsets count from the start of the record (the 8-byte header is offsets 0-7). Everything up
/// to PERIOD has a fixed place; the read values (variable with PERF_FORMAT_GROUP) and the
/// callchain come before the raw data, so its place is found per sample when either is set.
struct PerfSampleLayout: Equatable {
    var time = -1
    var cpu = -1
    /// The sample id (PERF_SAMPLE_IDENTIFIER first, else PERF_SAMPLE_ID), -1 without one.
    var id = -1
    /// The bytes a sample needs for every fixed field (through PERIOD).
    var fixedEnd = 8
    /// PERF_SAMPLE_READ's read_format, when READ is set.
    var readFormat: PerfReadFormat?
    var hasCallchain = false
    var hasRaw = false
    /// The raw size word when nothing of variable length precedes it, else -1.
    var rawFixed = -1

    init() {}

    init(sampleType t: PerfSampleType, readFormat f: PerfReadFormat) {
        var o = 8
        if t.contains(.identifier) {  // the id, first so that any event's samples can be told apart
            id = o
            o += 8
        }
        if t.contains(.ip) { o += 8 }
        if t.contains(.tid) { o += 8 }
        if t.contains(.time) {
            time = o
            o += 8
        }
        if t.contains(.addr) { o += 8 }
        if t.contains(.id) {
            if id < 0 { id = o }
            o += 8
        }
        if t.contains(.streamID) { o += 8 }
        if t.contains(.cpu) {
            cpu = o
            o += 8
        }
        if t.contains(.period) { o += 8 }
        fixedEnd = o
        if t.contains(.read) { readFormat = f }
        hasCallchain = t.contains(.callchain)
        hasRaw = t.contains(.raw)
        if hasRaw, !hasCallchain {
            if let f = readFormat {
                guard !f.contains(.group) else { return }  // as many values as members
                let words = f.intersection([.totalTimeEnabled, .totalTimeRunning, .id, .lost])
                o += 8 * (1 + words.rawValue.nonzeroBitCount)
            }
            rawFixed = o
        }
    }

    /// The raw payload of sample `r` (after its u32 size), or nil when the sample is shorter
    /// than its fields say. Every length read from the sample is checked against its size.
    @inline(__always)
    func raw(of r: UnsafeRawBufferPointer) -> Range<Int>? {
        var o = rawFixed
        if o < 0 {
            guard hasRaw, fixedEnd <= r.count else { return nil }
            o = fixedEnd
            if let f = readFormat {
                let optional = f.intersection([.totalTimeEnabled, .totalTimeRunning]).rawValue.nonzeroBitCount
                let perValue = f.intersection([.id, .lost]).rawValue.nonzeroBitCount
                if f.contains(.group) {  // nr, [enabled], [running], nr x {value, [id], [lost]}
                    guard o + 8 <= r.count else { return nil }
                    let nr = r.loadUnaligned(fromByteOffset: o, as: UInt64.self)
                    let entry = 8 * (1 + perValue)
                    guard nr <= UInt64(r.count / entry) else { return nil }
                    o += 8 + 8 * optional + Int(nr) * entry
                } else {
                    o += 8 * (1 + optional + perValue)
                }
            }
            if hasCallchain {
                guard o + 8 <= r.count else { return nil }
                let n = r.loadUnaligned(fromByteOffset: o, as: UInt64.self)
                guard n < UInt64(r.count / 8) else { return nil }
                o += 8 + Int(n) * 8
            }
        }
        guard o >= 0, o <= r.count - 4 else { return nil }
        let length = Int(r.loadUnaligned(fromByteOffset: o, as: UInt32.self))
        guard length <= r.count - o - 4 else { return nil }
        return (o + 4)..<(o + 4 + length)
    }
}

/// How the samples of a perf.data are told apart and read: one layout per attribute, the
/// sample-id position they share, and the `sample_id` blocks of other records.
struct PerfSampleLayouts {
    /// One per attribute, in `PerfFile.attrs` order.
    var layouts: [PerfSampleLayout] = []
    /// Where every sample's id is when several events sampled (-1: one event, or no id, and
    /// then every sample is the first event's, as perf reads it).
    var idOffset = -1
    /// Sample id -> attribute index.
    var attrByID: [UInt64: Int] = [:]
    /// The trailing `sample_id` block of records other than samples.
    var idAll = SampleIDBlock()
    /// The block of each sample id, when events end their records differently (then every
    /// block ends with PERF_SAMPLE_IDENTIFIER, which says whose it is); empty otherwise.
    var idAllByID: [UInt64: SampleIDBlock] = [:]

    init() {}

    init(_ attrs: [PerfEventAttr]) {
        layouts = attrs.map { PerfSampleLayout(sampleType: $0.sampleType, readFormat: $0.readFormat) }
        // The side-band records follow the first tracepoint's layout (perf gives every event
        // the same one unless it adds PERF_SAMPLE_IDENTIFIER).
        let main = attrs.first(where: \.isTracepoint) ?? attrs.first
        if let main { idAll = SampleIDBlock(main) }
        for a in attrs where SampleIDBlock(a) != idAll {
            for other in attrs { for id in other.ids { idAllByID[id] = SampleIDBlock(other) } }
            break
        }
        guard attrs.count > 1 else { return }
        // perf lets events sample differently only with PERF_SAMPLE_IDENTIFIER, which is then
        // first in every sample; with one sample_type the id is wherever that type puts it.
        if attrs.allSatisfy({ $0.sampleType.contains(.identifier) }) {
            idOffset = 8
        } else if attrs.allSatisfy({ $0.sampleType == attrs[0].sampleType }) {
            idOffset = layouts[0].id
        }
        for (i, a) in attrs.enumerated() { for id in a.ids where attrByID[id] == nil { attrByID[id] = i } }
    }

    /// The attribute index of sample `r`: -1 when its id is not any attribute's.
    @inline(__always)
    func attrIndex(of r: UnsafeRawBufferPointer) -> Int {
        guard idOffset >= 0 else { return 0 }
        guard idOffset + 8 <= r.count else { return -1 }
        return attrByID[r.loadUnaligned(fromByteOffset: idOffset, as: UInt64.self)] ?? -1
    }

    /// The `sample_id` block at the end of `record` (not a sample).
    func sampleIDBlock(of record: UnsafeRawBufferPointer) -> SampleIDBlock {
        guard !idAllByID.isEmpty, record.count >= 16 else { return idAll }
        return idAllByID[record.loadUnaligned(fromByteOffset: record.count - 8, as: UInt64.self)] ?? idAll
    }
}

/// pid -> comm from perf's task records: COMM names a task (at exec or for tasks alive when
/// recording began), FORK gives a new task its parent's name until it execs.
enum PerfTasks {
    static func note(
        type: UInt32,
        _ record: UnsafeRawBufferPointer,
        sampleIDAll: Int,
        into commands: inout [Int32: String]
    ) {
        switch PerfRecordType(rawValue: type) {
        case .comm where record.count >= 16 + sampleIDAll:
            let tid = record.loadUnaligned(fromByteOffset: 12, as: Int32.self)
            let name = record[16..<(record.count - sampleIDAll)].prefix { $0 != 0 }
            commands[tid] = String(decoding: name, as: UTF8.self)
        case .fork where record.count >= 24:
            let tid = record.loadUnaligned(fromByteOffset: 16, as: Int32.self)
            let parent = record.loadUnaligned(fromByteOffset: 20, as: Int32.self)
            if commands[tid] == nil, let name = commands[parent] { commands[tid] = name }
        default: break
        }
    }
}

/// The tracepoint samples of a perf.data in time order, as `RawRecord`s.
///
/// perf writes each CPU's ring buffer out in turn, so the file is ordered per CPU, not
/// globally. After draining every buffer perf writes a FINISHED_ROUND record; perf's own
/// reader (`util/ordered-events.c`) queues records and at each FINISHED_ROUND delivers, in
/// time order, those no later than the newest timestamp seen at the previous FINISHED_ROUND:
/// nothing written after that can be older. This stream does the same, with ties kept in file
/// order, so it delivers exactly `perf script`'s order. Records of `perf record -z` arrive
/// in PERF_RECORD_COMPRESSED records: one zstd stream across the whole file, whose output can
/// split a record between two of them. Their bytes are decompressed into one of two arenas,
/// alternating by round: everything queued in a round is delivered by the end of the next.
///
/// A returned record's payload is valid until `next()` is called again.
public struct PerfRecordStream: RecordStream {
    private let file: PerfFile
    private let map: UnsafeRawBufferPointer
    private var position: Int
    private let end: Int
    private let layouts: PerfSampleLayouts
    private let decodable: [Bool]
    private var queue: [QueuedRecord] = []
    private var ready: [QueuedRecord] = []
    private var readyIndex = 0
    private var nextFlush: UInt64 = 0
    private var newest: UInt64 = 0
    private var sequence: UInt32 = 0
    private var finished = false
    private var zstd: ZstdStream?
    private let arenas = (ByteArena(), ByteArena())
    private var arenaBases: (UnsafeRawPointer?, UnsafeRawPointer?) = (nil, nil)
    /// The arena of the round being read (0 or 1).
    private var current = 0
    /// Decompressed bytes of the current arena not yet parsed (the start of a split record).
    private var parsed = 0
    private var missed: [Int64] = []
    /// The highest CPU a sample named, -1 before any.
    private var highestCPU = -1
    /// Samples of the events that are not decoded, per attribute.
    private var otherByAttr: [UInt64]
    /// Losses per CPU (the PERF_RECORD_LOST records), complete at the end.
    public private(set) var lost: [LostEvents] = []
    /// Samples reported lost by PERF_RECORD_LOST_SAMPLES records (perf record's summary of
    /// each counter's lost count: the PERF_RECORD_LOST losses again, without time or CPU).
    public private(set) var lostSamples: UInt64 = 0
    /// pid -> comm from every COMM and FORK record read so far.
    public private(set) var commands: [Int32: String]
    /// Tracepoint samples delivered.
    public private(set) var samples: UInt64 = 0
    /// Samples of events that are not decoded (not tracepoints, or tracepoints whose formats
    /// the file lacks), counted and skipped.
    public private(set) var otherSamples: UInt64 = 0
    /// Samples taken while a guest ran (cpumode guest kernel or guest user), left out of
    /// every count as `perf script` and `perf report` leave them out without `--guest`
    /// (`thread__find_map()` marks them HIST_FILTER__GUEST while perf_guest, off by default,
    /// is off): a KVM host's `perf record` of a vCPU thread takes them.
    public private(set) var guestSamples: UInt64 = 0
    /// Those samples per CPU (index = CPU; samples without a CPU field are not in it).
    public private(set) var otherSamplesByCPU: [UInt64] = []
    /// The first and last timestamps of those samples (nil without any, or without times).
    public private(set) var otherTimeSpan: (first: UInt64, last: UInt64)?
    /// What was found wrong so far (the file's metadata damage first); complete at the end.
    public private(set) var damage: PerfDamage
    /// `damage` as report lines (none for a sound file).
    public var damageNotes: [String] { damage.isEmpty ? [] : [damage.description] }

    init(file: PerfFile) {
        self.file = file
        map = file.file.bytes
        position = file.records.lowerBound
        end = file.records.upperBound
        layouts = file.layouts
        decodable = file.decodable
        commands = file.commands
        damage = file.damage
        otherByAttr = Array(repeating: 0, count: file.attrs.count)
        lost = Array(repeating: LostEvents(), count: file.cpuCount)
        missed = Array(repeating: 0, count: file.cpuCount)
    }

    /// Losses per CPU, as `MergedStream` reports them.
    public var lostEvents: [LostEvents] { lost }

    /// Samples per event name of the events that are not decoded (`cycles`, `cpu-clock`,
    /// `r1a2`, a tracepoint without its format...), as perf names them (`PerfFile.eventNames`);
    /// events without samples are left out. Complete once the stream has ended.
    public var otherSampleCounts: [String: UInt64] {
        var counts: [String: UInt64] = [:]
        for (i, n) in otherByAttr.enumerated() where n > 0 { counts[file.eventNames[i], default: 0] &+= n }
        return counts
    }

    /// How far into the file's records the reader is (ahead of what was handed out by at
    /// most a round).
    public var fractionRead: Double {
        let total = end - file.records.lowerBound
        return total > 0 ? Double(position - file.records.lowerBound) / Double(total) : 1
    }

    /// The next tracepoint sample in time order, or nil at the end (a file without any is
    /// read to its end too: see `otherSampleCounts`).
    /// - Throws: `TraceFileError` for a corrupt file. A pipe-mode file cut inside a record
    ///   ends the stream at the cut instead, with `damage.cutAt` set.
    @inline(__always)
    public mutating func next() throws(TraceFileError) -> RawRecord? {
        while true {
            if readyIndex < ready.count {
                let q = ready[readyIndex]
                readyIndex += 1
                let base: UnsafeRawPointer?
                switch q.source {
                case .loss:
                    noteLoss(q)
                    continue
                case .map: base = map.baseAddress
                case .arena0: base = arenaBases.0
                case .arena1: base = arenaBases.1
                }
                // Queued CPUs are in 0..<cpuLimit (queueSample checks).
                let cpu = Int(q.cpu)
                var m: Int64 = 0
                if cpu < missed.count, missed[cpu] != 0 {
                    m = missed[cpu]
                    missed[cpu] = 0
                }
                samples &+= 1
                return RawRecord(
                    timestamp: q.timestamp,
                    cpu: q.cpu,
                    missedEvents: m,
                    payload: UnsafeRawBufferPointer(start: base.map { $0 + q.offset }, count: Int(q.length))
                )
            }
            if finished { return nil }
            do throws(TraceProblem) {
                try readRound()
            } catch {
                throw TraceFileError(path: file.path, problem: error.problem.boundedForMessage())
            }
            if finished { file.observedCPUs = max(file.observedCPUs, highestCPU + 1) }
        }
    }

    private mutating func noteLoss(_ q: QueuedRecord) {
        let cpu = Int(q.cpu)  // in 0..<cpuLimit (queueLoss checks)
        if cpu >= lost.count {
            lost += Array(repeating: LostEvents(), count: cpu + 1 - lost.count)
            missed += Array(repeating: 0, count: cpu + 1 - missed.count)
        }
        lost[cpu].counted &+= q.lostCount
        missed[cpu] &+= Int64(clamping: q.lostCount)
    }

    // MARK: reading

    /// Reads records up to the next FINISHED_ROUND that makes some ready (or to the end).
    private mutating func readRound() throws(TraceProblem) {
        ready.removeAll(keepingCapacity: true)
        readyIndex = 0
        while ready.isEmpty {
            startRound()
            guard try readUntilRoundEnd() else {
                finished = true
                flush(upTo: .max)
                return
            }
            flush(upTo: nextFlush)
            nextFlush = newest
        }
    }

    /// Switches to the other arena; the split record at the end of the last one moves along.
    private mutating func startRound() {
        let old = current == 0 ? arenas.0 : arenas.1
        current ^= 1
        let new = current == 0 ? arenas.0 : arenas.1
        let carry = old.count - parsed
        new.reset()
        if carry > 0, let src = old.base {
            new.reserve(carry)
            new.base!.copyMemory(from: src + parsed, byteCount: carry)
            new.count = carry
        }
        parsed = 0
        cacheBases()
    }

    private mutating func cacheBases() {
        arenaBases = (UnsafeRawPointer(arenas.0.base), UnsafeRawPointer(arenas.1.base))
    }

    /// A cut file: in pipe mode, or in a file perf record never finished, nothing says where
    /// the data should end, so the records before the cut are read (as `perf script` does) and
    /// the cut is recorded; a finished file-mode header says where its data ends, so a record
    /// running past that is corruption.
    private mutating func cut(_ problem: TraceFileError.Problem) throws(TraceProblem) -> Bool {
        guard file.isPipe || file.unfinished else { throw TraceProblem(problem) }
        damage.cutAt = position
        damage.bytesAfterCut = end - position
        position = end
        return false
    }

    /// Reads top-level records until a FINISHED_ROUND (returns true) or the end (false).
    private mutating func readUntilRoundEnd() throws(TraceProblem) -> Bool {
        while position < end {
            guard position + 8 <= end else {
                return try cut(
                    .truncated("record header at offset \(position) needs 8 bytes, file has \(end - position)")
                )
            }
            let (type, size) = PerfRecordType.header(map, at: position)
            guard size >= 8 else { throw TraceProblem(.corrupt("record at offset \(position) has size \(size)")) }
            guard size <= end - position else {
                return try cut(
                    .truncated("record at offset \(position) needs \(size) bytes, file has \(end - position)")
                )
            }
            let start = position
            switch PerfRecordType(rawValue: type) {
            case .finishedRound:
                position += size
                return true
            case .compressed:
                try decompress(UnsafeRawBufferPointer(rebasing: map[(start + 8)..<(start + size)]), at: start)
            case .compressed2:
                guard size >= 16 else { throw TraceProblem(.corrupt("compressed record at offset \(start)")) }
                let length = map.loadUnaligned(fromByteOffset: start + 8, as: UInt64.self)
                guard length <= UInt64(size - 16) else {
                    throw TraceProblem(.corrupt("compressed record at offset \(start)"))
                }
                try decompress(
                    UnsafeRawBufferPointer(rebasing: map[(start + 16)..<(start + 16 + Int(length))]),
                    at: start
                )
            case .headerTracingData, .auxtrace:
                let extra = PerfRecordType.trailingBytes(
                    type,
                    UnsafeRawBufferPointer(rebasing: map[start..<(start + size)])
                )
                guard extra <= end - start - size else {
                    return try cut(
                        .truncated(
                            "data after the record at offset \(start) needs \(extra) bytes, file has \(end - start - size)"
                        )
                    )
                }
                position += extra
            default:
                try handle(
                    type: type,
                    UnsafeRawBufferPointer(rebasing: map[start..<(start + size)]),
                    source: .map,
                    offset: start
                )
            }
            position += size
        }
        return false
    }

    /// One record from the file or from decompressed bytes.
    @inline(__always)
    private mutating func handle(
        type: UInt32,
        _ r: UnsafeRawBufferPointer,
        source: QueuedRecord.Source,
        offset: Int
    ) throws(TraceProblem) {
        if type == PerfRecordType.sample.rawValue {
            queueSample(r, source: source, offset: offset)
            return
        }
        switch PerfRecordType(rawValue: type) {
        case .lost where r.count >= 24:
            queueLoss(r, count: r.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        case .lostSamples where r.count >= 16:
            // perf record writes these at the end from each counter's read() lost count: the
            // same losses its PERF_RECORD_LOST records already placed in time and on a CPU.
            lostSamples &+= r.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        case .comm, .fork:
            PerfTasks.note(type: type, r, sampleIDAll: layouts.sampleIDBlock(of: r).size, into: &commands)
        default:
            break
        }
    }

    /// Queues a tracepoint sample, or counts another event's. A sample that contradicts its
    /// layout (shorter than its fields, a CPU outside 0..<cpuLimit) is left out and counted
    /// as damage: perf would print whatever its bytes say.
    @inline(__always)
    private mutating func queueSample(_ r: UnsafeRawBufferPointer, source: QueuedRecord.Source, offset: Int) {
        let index = layouts.attrIndex(of: r)
        guard index >= 0, index < decodable.count else {
            damage.unknownIDSamples &+= 1
            return
        }
        let layout = layouts.layouts[index]
        guard layout.fixedEnd <= r.count else {
            damage.malformedSamples &+= 1
            return
        }
        // The header's misc holds the cpumode (PERF_RECORD_MISC_CPUMODE_MASK): 4 and 5 are
        // PERF_RECORD_MISC_GUEST_KERNEL and _GUEST_USER.
        let cpumode = r.loadUnaligned(fromByteOffset: 4, as: UInt16.self) & 7
        guard cpumode != 4, cpumode != 5 else {
            guestSamples &+= 1
            return
        }
        var cpu: Int32 = -1
        if layout.cpu >= 0 {
            cpu = r.loadUnaligned(fromByteOffset: layout.cpu, as: Int32.self)
            guard cpu >= 0, Int(cpu) < PerfFile.cpuLimit else {
                damage.malformedSamples &+= 1
                return
            }
            if Int(cpu) > highestCPU { highestCPU = Int(cpu) }
        }
        let ts: UInt64? = layout.time >= 0 ? r.loadUnaligned(fromByteOffset: layout.time, as: UInt64.self) : nil
        guard decodable[index] else {
            countOther(index, cpu: cpu, timestamp: ts)
            return
        }
        guard let raw = layout.raw(of: r), let ts else {
            damage.malformedSamples &+= 1
            return
        }
        enqueue(
            QueuedRecord(
                timestamp: ts,
                cpu: max(cpu, 0),
                sequence: sequence,
                source: source,
                offset: offset + raw.lowerBound,
                length: UInt32(raw.count)
            )
        )
    }

    private mutating func countOther(_ index: Int, cpu: Int32, timestamp: UInt64?) {
        otherByAttr[index] &+= 1
        otherSamples &+= 1
        if cpu >= 0 {
            let c = Int(cpu)
            if c >= otherSamplesByCPU.count {
                otherSamplesByCPU += Array(repeating: 0, count: c + 1 - otherSamplesByCPU.count)
            }
            otherSamplesByCPU[c] &+= 1
        }
        if let t = timestamp {
            otherTimeSpan = (min(otherTimeSpan?.first ?? t, t), max(otherTimeSpan?.last ?? t, t))
        }
    }

    private mutating func queueLoss(_ r: UnsafeRawBufferPointer, count: UInt64) {
        var ts = newest
        var cpu: Int32 = 0
        let b = layouts.sampleIDBlock(of: r)
        if b.size > 0, r.count >= 8 + b.size {
            let block = r.count - b.size
            if b.time >= 0 { ts = r.loadUnaligned(fromByteOffset: block + b.time, as: UInt64.self) }
            if b.cpu >= 0 { cpu = r.loadUnaligned(fromByteOffset: block + b.cpu, as: Int32.self) }
        }
        guard cpu >= 0, Int(cpu) < PerfFile.cpuLimit else {
            damage.malformedLossRecords &+= 1
            return
        }
        enqueue(QueuedRecord(timestamp: ts, cpu: cpu, sequence: sequence, lost: count))
    }

    @inline(__always)
    private mutating func enqueue(_ q: QueuedRecord) {
        queue.append(q)
        sequence &+= 1
        if q.timestamp > newest { newest = q.timestamp }
    }

    /// Moves the queued records no later than `limit` to `ready`, in time order.
    private mutating func flush(upTo limit: UInt64) {
        queue.sort { $0.timestamp != $1.timestamp ? $0.timestamp < $1.timestamp : $0.sequence < $1.sequence }
        var split = queue.count
        if limit != .max {
            var lo = 0
            var hi = queue.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if queue[mid].timestamp <= limit { lo = mid + 1 } else { hi = mid }
            }
            split = lo
        }
        ready.append(contentsOf: queue[..<split])
        queue.removeFirst(split)
    }

    // MARK: compressed records

    /// Decompresses one PERF_RECORD_COMPRESSED payload into the current arena and queues the
    /// whole records it completes; a record cut at its end waits for the next one.
    private mutating func decompress(_ payload: UnsafeRawBufferPointer, at offset: Int) throws(TraceProblem) {
        if zstd == nil { zstd = try ZstdStream() }
        let arena = current == 0 ? arenas.0 : arenas.1
        // perf compresses at most one ring buffer (the mmap length) into a run of records:
        // more output from one record is a decompression bomb, not a capture.
        let limit = max(file.features.compressedMmapLength, 1 << 20)
        let chunk = min(max(file.features.compressedMmapLength, 1 << 16), 1 << 22)
        try zstd!.decompress(payload, into: arena, chunk: chunk, limit: limit, recordOffset: offset)
        cacheBases()
        guard let base = UnsafeRawPointer(arena.base) else { return }
        let bytes = UnsafeRawBufferPointer(start: base, count: arena.count)
        let source: QueuedRecord.Source = current == 0 ? .arena0 : .arena1
        while arena.count - parsed >= 8 {
            let (type, size) = PerfRecordType.header(bytes, at: parsed)
            guard size >= 8 else {
                throw TraceProblem(.corrupt("decompressed record of size \(size) (from offset \(offset))"))
            }
            guard size <= arena.count - parsed else { break }
            let start = parsed
            parsed += size
            if type == PerfRecordType.finishedRound.rawValue { continue }
            try handle(
                type: type,
                UnsafeRawBufferPointer(rebasing: bytes[start..<(start + size)]),
                source: source,
                offset: start
            )
        }
    }
}

/// A record waiting in the round queue: where its raw payload is, or a loss to count.
struct QueuedRecord {
    /// Where a queued sample's payload lives.
    enum Source: UInt8 {
        /// The file's memory map.
        case map
        /// One of the two arenas decompressed records are written to.
        case arena0, arena1
        /// Not a sample: a PERF_RECORD_LOST, counted when its turn comes.
        case loss
    }

    var timestamp: UInt64
    var cpu: Int32
    /// File order, for ties.
    var sequence: UInt32
    var source: Source
    /// The payload's offset in `source`'s bytes, or for `.loss` the samples lost: one word
    /// with two meanings, told apart by `source`, which keeps an entry at 32 bytes (the round
    /// queue is sorted and copied per round). Read it through `offset` or `lostCount`.
    private var word: Int
    var length: UInt32

    init(timestamp: UInt64, cpu: Int32, sequence: UInt32, source: Source, offset: Int, length: UInt32) {
        self.timestamp = timestamp
        self.cpu = cpu
        self.sequence = sequence
        self.source = source
        word = offset
        self.length = length
    }

    init(timestamp: UInt64, cpu: Int32, sequence: UInt32, lost: UInt64) {
        self.init(
            timestamp: timestamp,
            cpu: cpu,
            sequence: sequence,
            source: .loss,
            offset: Int(clamping: lost),
            length: 0
        )
    }

    var offset: Int { word }
    var lostCount: UInt64 { source == .loss ? UInt64(clamping: word) : 0 }
}

/// A growable heap buffer addressed by offset (so growing it moves nothing that matters).
final class ByteArena {
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var capacity = 0
    var count = 0

    func reset() { count = 0 }

    /// Makes room for `extra` more bytes after `count`.
    func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        let newCapacity = max(count + extra, capacity * 2, 1 << 16)
        let new = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        if let base {
            new.copyMemory(from: base, byteCount: count)
            base.deallocate()
        }
        base = new
        capacity = newCapacity
    }

    deinit { base?.deallocate() }
}

/// One zstd decompression stream across all of a file's compressed records (perf compresses
/// with one stream and flushes, not ends, a frame per record).
final class ZstdStream {
    private let stream: OpaquePointer

    init() throws(TraceProblem) {
        guard let s = ZSTD_createDStream() else { throw TraceProblem(.decompression("zstd: cannot create a stream")) }
        stream = s
        let rc = ZSTD_initDStream(s)
        guard ZSTD_isError(rc) == 0 else {
            ZSTD_freeDStream(s)
            throw TraceProblem(.decompression("zstd: \(String(cString: ZSTD_getErrorName(rc)))"))
        }
    }

    deinit { ZSTD_freeDStream(stream) }

    /// Appends everything `payload` decompresses to to `arena`.
    /// - Parameter recordOffset: where the compressed record is in the file, for the error.
    /// - Parameter limit: the most bytes `payload` may decompress to.
    func decompress(
        _ payload: UnsafeRawBufferPointer,
        into arena: ByteArena,
        chunk: Int,
        limit: Int,
        recordOffset: Int
    ) throws(TraceProblem) {
        guard let src = payload.baseAddress, !payload.isEmpty else { return }
        var input = ZSTD_inBuffer(src: src, size: payload.count, pos: 0)
        let start = arena.count
        while true {
            guard arena.count - start <= limit else {
                throw TraceProblem(
                    .decompression("compressed record at offset \(recordOffset): more than \(limit) bytes of output")
                )
            }
            arena.reserve(chunk)
            var output = ZSTD_outBuffer(dst: arena.base! + arena.count, size: arena.capacity - arena.count, pos: 0)
            let rc = ZSTD_decompressStream(stream, &output, &input)
            guard ZSTD_isError(rc) == 0 else {
                throw TraceProblem(
                    .decompression(
                        "compressed record at offset \(recordOffset): zstd: \(String(cString: ZSTD_getErrorName(rc)))"
                    )
                )
            }
            arena.count += output.pos
            if input.pos == input.size && output.pos < output.size { return }
        }
    }
}
