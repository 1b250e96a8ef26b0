import CZstd

/// Where a PERF_RECORD_SAMPLE's fields are, from the `sample_type` bits all events share.
///
/// The sample body lists the fields of the set bits in a fixed order (`PERF_RECORD_SAMPLE` in
/// include/uapi/linux/perf_event.h): identifier, ip, pid/tid, time, addr, id, stream_id,
/// cpu/res, period, read values, callchain, raw. foliotrace reads time, cpu, id and the raw
/// payload; only the read group and the callchain before raw vary in length. Records other
/// than samples end with the `sample_id` block (tid, time, id, stream_id, cpu, identifier)
/// when `sample_id_all` is set.
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
        func has(_ bit: UInt64) -> Bool { a.sampleType & (1 << bit) != 0 }
        var s = 0
        if has(1) { s += 8 }
        if has(2) {
            time = s
            s += 8
        }
        if has(6) { s += 8 }
        if has(9) { s += 8 }
        if has(7) {
            cpu = s
            s += 8
        }
        if has(16) { s += 8 }
        size = s
    }
}

struct PerfSampleLayout {
    /// Offsets from the start of the record (after the 8-byte header is offset 8).
    var time = -1
    var cpu = -1
    var id = -1
    /// The callchain's `nr` word, when callchains were recorded (raw follows the ips).
    var callchain = -1
    /// The raw size word when nothing of variable length precedes it.
    var raw = -1
    /// The trailing `sample_id` block of the tracepoints' other records.
    var idAll = SampleIDBlock()
    /// The block of each sample id, when events end their records differently (then every
    /// block ends with PERF_SAMPLE_IDENTIFIER, which says whose it is); empty otherwise.
    var idAllByID: [UInt64: SampleIDBlock] = [:]

    init() {}

    /// The `sample_id` block at the end of `record` (not a sample).
    func sampleIDBlock(of record: UnsafeRawBufferPointer) -> SampleIDBlock {
        guard !idAllByID.isEmpty, record.count >= 16 else { return idAll }
        return idAllByID[record.loadUnaligned(fromByteOffset: record.count - 8, as: UInt64.self)] ?? idAll
    }

    init(_ attrs: [PerfEventAttr]) throws(TraceProblem) {
        let tracepoints = attrs.filter(\.isTracepoint)
        guard let first = tracepoints.first else { throw TraceProblem(.noTracepoints) }
        for a in tracepoints where a.sampleType != first.sampleType {
            throw TraceProblem(
                .unsupportedPerf("tracepoint events with different sample_type (\(a.sampleType), \(first.sampleType))")
            )
        }
        // Other events (perf record -a adds a dummy one for side-band records) may sample
        // differently only when every sample starts with its id (PERF_SAMPLE_IDENTIFIER), as
        // perf then arranges; their other records' sample_id blocks then end with that id.
        let identifier: UInt64 = 1 << 16
        for a in attrs where a.sampleType != first.sampleType {
            guard a.sampleType & identifier != 0, first.sampleType & identifier != 0 else {
                throw TraceProblem(
                    .unsupportedPerf(
                        "events with different sample_type (\(a.sampleType), \(first.sampleType)) and no sample identifier"
                    )
                )
            }
        }
        idAll = SampleIDBlock(first)
        for a in attrs where SampleIDBlock(a) != idAll {
            for other in attrs { for id in other.ids { idAllByID[id] = SampleIDBlock(other) } }
            break
        }
        let t = first.sampleType
        func has(_ bit: UInt64) -> Bool { t & (1 << bit) != 0 }
        guard has(2), has(10) else {
            throw TraceProblem(.unsupportedPerf("tracepoint samples without PERF_SAMPLE_TIME and PERF_SAMPLE_RAW"))
        }
        if first.usesClockID {
            throw TraceProblem(.unsupportedPerf("samples timed by a chosen clock (perf record -k)"))
        }
        var o = 8
        if has(16) {  // IDENTIFIER: the id, first so that any event's samples can be told apart
            id = o
            o += 8
        }
        if has(0) { o += 8 }  // IP
        if has(1) { o += 8 }  // TID
        time = o
        o += 8
        if has(3) { o += 8 }  // ADDR
        if has(6) {
            if id < 0 { id = o }
            o += 8
        }
        if has(9) { o += 8 }  // STREAM_ID
        if has(7) {
            cpu = o
            o += 8
        }
        if has(8) { o += 8 }  // PERIOD
        if has(4) {  // READ
            let f = first.readFormat
            guard f & (1 << 3) == 0 else { throw TraceProblem(.unsupportedPerf("samples with read groups")) }
            o += 8 * (1 + [0, 1, 2, 4].filter { f & (1 << UInt64($0)) != 0 }.count)
        }
        if has(5) {
            callchain = o
        } else {
            raw = o
        }
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
    private let layout: PerfSampleLayout
    private let tracepointByID: [UInt64: Bool]
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
    /// Losses per CPU (the PERF_RECORD_LOST records), complete at the end.
    public private(set) var lost: [LostEvents] = []
    /// Samples reported lost by PERF_RECORD_LOST_SAMPLES records (perf record's summary of
    /// each counter's lost count: the PERF_RECORD_LOST losses again, without time or CPU).
    public private(set) var lostSamples: UInt64 = 0
    /// pid -> comm from every COMM and FORK record read so far.
    public private(set) var commands: [Int32: String]
    /// Tracepoint samples delivered.
    public private(set) var samples: UInt64 = 0
    /// Samples of events that are not tracepoints, skipped.
    public private(set) var otherSamples: UInt64 = 0

    init(file: PerfFile) {
        self.file = file
        map = file.file.bytes
        position = file.records.lowerBound
        end = file.records.upperBound
        layout = file.sampleLayout
        tracepointByID = file.tracepointByID
        commands = file.commands
        lost = Array(repeating: LostEvents(), count: file.cpuCount)
        missed = Array(repeating: 0, count: file.cpuCount)
    }

    /// Losses per CPU, as `MergedStream` reports them.
    public var lostEvents: [LostEvents] { lost }

    /// How far into the file's records the reader is (ahead of what was handed out by at
    /// most a round).
    public var fractionRead: Double {
        let total = end - file.records.lowerBound
        return total > 0 ? Double(position - file.records.lowerBound) / Double(total) : 1
    }

    /// The next record in time order, or nil at the end.
    /// - Throws: `TraceFileError` for a cut or corrupt file, or one without tracepoint samples.
    @inline(__always)
    public mutating func next() throws(TraceFileError) -> RawRecord? {
        while true {
            if readyIndex < ready.count {
                let q = ready[readyIndex]
                readyIndex += 1
                if q.source == QueuedRecord.lostSource {
                    noteLoss(q)
                    continue
                }
                let base = q.source == 0 ? map.baseAddress : q.source == 1 ? arenaBases.0 : arenaBases.1
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
            if finished {
                guard samples > 0 else { throw TraceFileError(path: file.path, problem: .noTracepointSamples) }
                return nil
            }
            do throws(TraceProblem) {
                try readRound()
            } catch {
                throw TraceFileError(path: file.path, problem: error.problem)
            }
        }
    }

    private mutating func noteLoss(_ q: QueuedRecord) {
        let cpu = Int(q.cpu)
        if cpu >= lost.count {
            lost += Array(repeating: LostEvents(), count: cpu + 1 - lost.count)
            missed += Array(repeating: 0, count: cpu + 1 - missed.count)
        }
        lost[cpu].counted &+= UInt64(q.offset)
        missed[cpu] &+= Int64(q.offset)
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

    /// Reads top-level records until a FINISHED_ROUND (returns true) or the end (false).
    private mutating func readUntilRoundEnd() throws(TraceProblem) -> Bool {
        while position < end {
            guard position + 8 <= end else {
                throw TraceProblem(
                    .truncated("record header at offset \(position) needs 8 bytes, file has \(end - position)")
                )
            }
            let type = map.loadUnaligned(fromByteOffset: position, as: UInt32.self)
            let size = Int(map.loadUnaligned(fromByteOffset: position + 6, as: UInt16.self))
            guard size >= 8 else { throw TraceProblem(.corrupt("record at offset \(position) has size \(size)")) }
            guard position + size <= end else {
                throw TraceProblem(
                    .truncated("record at offset \(position) needs \(size) bytes, file has \(end - position)")
                )
            }
            let start = position
            position += size
            switch PerfRecordType(rawValue: type) {
            case .finishedRound:
                return true
            case .compressed:
                try decompress(UnsafeRawBufferPointer(rebasing: map[(start + 8)..<(start + size)]), at: start)
            case .compressed2:
                guard size >= 16 else { throw TraceProblem(.corrupt("compressed record at offset \(start)")) }
                let length = Int(map.loadUnaligned(fromByteOffset: start + 8, as: UInt64.self))
                guard length <= size - 16 else { throw TraceProblem(.corrupt("compressed record at offset \(start)")) }
                try decompress(UnsafeRawBufferPointer(rebasing: map[(start + 16)..<(start + 16 + length)]), at: start)
            case .headerTracingData, .auxtrace:
                let extra = PerfRecordType.trailingBytes(
                    type,
                    UnsafeRawBufferPointer(rebasing: map[start..<(start + size)])
                )
                guard extra <= end - position else {
                    throw TraceProblem(
                        .truncated(
                            "data after the record at offset \(start) needs \(extra) bytes, file has \(end - position)"
                        )
                    )
                }
                position += extra
            default:
                try handle(
                    type: type,
                    UnsafeRawBufferPointer(rebasing: map[start..<(start + size)]),
                    source: 0,
                    offset: start
                )
            }
        }
        return false
    }

    /// One record from the file or from decompressed bytes (`source` 0: the map, 1/2: arena).
    @inline(__always)
    private mutating func handle(
        type: UInt32,
        _ r: UnsafeRawBufferPointer,
        source: UInt8,
        offset: Int
    ) throws(TraceProblem) {
        if type == PerfRecordType.sample.rawValue {
            try queueSample(r, source: source, offset: offset)
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
            PerfTasks.note(type: type, r, sampleIDAll: layout.sampleIDBlock(of: r).size, into: &commands)
        default:
            break
        }
    }

    @inline(__always)
    private mutating func queueSample(_ r: UnsafeRawBufferPointer, source: UInt8, offset: Int) throws(TraceProblem) {
        // Another event's sample may be laid out differently: tell it apart by its id first.
        if !tracepointByID.isEmpty, layout.id >= 0, layout.id + 8 <= r.count {
            let id = r.loadUnaligned(fromByteOffset: layout.id, as: UInt64.self)
            guard tracepointByID[id] == true else {
                otherSamples &+= 1
                return
            }
        }
        var rawAt = layout.raw
        if rawAt < 0 {
            guard layout.callchain + 8 <= r.count else { throw TraceProblem(.corrupt("sample at offset \(offset)")) }
            let n = Int(truncatingIfNeeded: r.loadUnaligned(fromByteOffset: layout.callchain, as: UInt64.self))
            guard n >= 0, n < r.count / 8 else { throw TraceProblem(.corrupt("sample callchain at offset \(offset)")) }
            rawAt = layout.callchain + 8 + n * 8
        }
        guard rawAt + 4 <= r.count else {
            throw TraceProblem(.corrupt("sample at offset \(offset) is shorter than its fields"))
        }
        let length = Int(r.loadUnaligned(fromByteOffset: rawAt, as: UInt32.self))
        guard length <= r.count - rawAt - 4 else {
            throw TraceProblem(.corrupt("sample at offset \(offset): raw data runs past the record"))
        }
        let ts = r.loadUnaligned(fromByteOffset: layout.time, as: UInt64.self)
        let cpu = layout.cpu >= 0 ? r.loadUnaligned(fromByteOffset: layout.cpu, as: Int32.self) : 0
        enqueue(
            QueuedRecord(
                timestamp: ts,
                offset: offset + rawAt + 4,
                length: UInt32(length),
                cpu: cpu,
                sequence: sequence,
                source: source
            )
        )
    }

    private mutating func queueLoss(_ r: UnsafeRawBufferPointer, count: UInt64) {
        var ts = newest
        var cpu: Int32 = 0
        let b = layout.sampleIDBlock(of: r)
        if b.size > 0, r.count >= 8 + b.size {
            let block = r.count - b.size
            if b.time >= 0 { ts = r.loadUnaligned(fromByteOffset: block + b.time, as: UInt64.self) }
            if b.cpu >= 0 { cpu = r.loadUnaligned(fromByteOffset: block + b.cpu, as: Int32.self) }
        }
        guard cpu >= 0, cpu < 1 << 16 else { return }
        enqueue(
            QueuedRecord(
                timestamp: ts,
                offset: Int(clamping: count),
                length: 0,
                cpu: cpu,
                sequence: sequence,
                source: QueuedRecord.lostSource
            )
        )
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
        let chunk = max(file.features.compressedMmapLength, 1 << 16)
        try zstd!.decompress(payload, into: arena, chunk: chunk, recordOffset: offset)
        cacheBases()
        guard let base = UnsafeRawPointer(arena.base) else { return }
        let bytes = UnsafeRawBufferPointer(start: base, count: arena.count)
        let source = UInt8(current + 1)
        while arena.count - parsed >= 8 {
            let type = bytes.loadUnaligned(fromByteOffset: parsed, as: UInt32.self)
            let size = Int(bytes.loadUnaligned(fromByteOffset: parsed + 6, as: UInt16.self))
            guard size >= 8 else {
                throw TraceProblem(.corrupt("decompressed record of size \(size) (from offset \(offset))"))
            }
            guard parsed + size <= arena.count else { break }
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
    var timestamp: UInt64
    /// The payload's offset in the map or arena; for a loss, the number of samples lost.
    var offset: Int
    var length: UInt32
    var cpu: Int32
    /// File order, for ties.
    var sequence: UInt32
    /// 0: the memory map, 1 and 2: the arenas, `lostSource`: a loss.
    var source: UInt8

    static let lostSource: UInt8 = 3
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
    func decompress(
        _ payload: UnsafeRawBufferPointer,
        into arena: ByteArena,
        chunk: Int,
        recordOffset: Int
    ) throws(TraceProblem) {
        guard let src = payload.baseAddress, !payload.isEmpty else { return }
        var input = ZSTD_inBuffer(src: src, size: payload.count, pos: 0)
        while true {
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
