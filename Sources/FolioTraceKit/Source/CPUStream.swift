#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One raw event record: where and when it happened and its payload bytes.
///
/// `payload` starts at the event's common fields (`common_type` at offset 0) and points into
/// the memory map or a decompression buffer: it is valid until the stream that returned it
/// is advanced again (streams keep their `TraceFile`, and so the map, alive).
public struct RawRecord {
    /// Nanoseconds of the trace clock (with the file's OFFSET option applied).
    public var timestamp: UInt64
    /// The CPU whose ring buffer held the record.
    public var cpu: Int32
    /// Events the ring buffer lost just before this record (0 for most records; `-1` when the
    /// kernel flagged a loss but could not count it).
    public var missedEvents: Int64
    /// The event's bytes, common fields first.
    public var payload: UnsafeRawBufferPointer
    /// Whether the payload's numbers are big-endian (a trace of s390x, or of another
    /// big-endian machine): the common fields are swapped when read.
    public var bigEndian = false

    /// The event type id (`common_type`).
    @inlinable public var eventID: UInt16 {
        guard payload.count >= 2 else { return 0 }
        let v = payload.loadUnaligned(fromByteOffset: 0, as: UInt16.self)
        return bigEndian ? v.byteSwapped : v
    }
    /// The pid of the task the event fired in (`common_pid`).
    @inlinable public var pid: Int32 {
        guard payload.count >= 8 else { return 0 }
        let v = payload.loadUnaligned(fromByteOffset: 4, as: Int32.self)
        return bigEndian ? v.byteSwapped : v
    }
}

/// Lost events one CPU's ring buffer reported in its page headers.
public struct LostEvents: Sendable, Equatable {
    /// Events counted as lost (`RB_MISSED_STORED` pages carry the count).
    public var counted: UInt64 = 0
    /// Pages flagged `RB_MISSED_EVENTS` without a count.
    public var uncountedPages: Int = 0

    public var any: Bool { counted > 0 || uncountedPages > 0 }
}

/// Walks one CPU's ring-buffer pages and yields its data records in order.
///
/// The page format is the kernel's (`kernel/trace/ring_buffer.c`) as libtraceevent's kbuffer
/// reads it (`src/kbuffer-parse.c`): a page header `{u64 timestamp; long commit}` whose
/// commit word holds the data size and the missed-events flags, then 4-byte event headers
/// `{type_len:5, time_delta:27}`. type_len 1...28 is a data record of type_len*4 bytes, 0 a
/// data record whose length is in the next word, 29 padding, 30 a time extend, 31 an
/// absolute time stamp. A big-endian trace has the same words in its byte order, with the
/// header's bit fields the other way round (type_len in the top 5 bits), as kbuffer reads it.
public struct CPUStream {
    public let cpu: Int32
    private let bigEndian: Bool
    private let path: String
    private var pages: PageSupply
    private var page = UnsafeRawBufferPointer(start: nil, count: 0)
    private var position = 0
    private var end = 0
    private var clock: UInt64 = 0
    private var pendingMissed: Int64 = 0
    private let layout: RingBufferPageLayout
    /// The file's clock options (TIME_SHIFT, TSC2NSEC, OFFSET) for this CPU.
    private let correction: ClockCorrection
    /// `correction`'s offset when that is all it applies (the common case), read on each
    /// record without `correction`: the compiler copied that 41-byte struct to the stack for
    /// every record and read the offset back from the middle of one of the copy's 16-byte
    /// stores, a load the store cannot be forwarded to, which stalled the reader's merge on
    /// every record (docs/performance.md, sixteenth session).
    private let plainOffset: Int64?
    /// Losses seen so far on this CPU.
    public private(set) var lost = LostEvents()
    /// Pages whose event headers ran past their commit size (corrupt data), skipped.
    public private(set) var damagedPages = 0
    /// Why this CPU's data ends early or has holes (cut or undecompressable chunks), if it does.
    public var damage: String? { pages.damage }
    /// How far through this CPU's data in the file the stream is.
    public var bytesRead: Int { pages.bytesRead }
    public var bytesTotal: Int { pages.bytesTotal }

    init(buffer: CPUBuffer, file: TraceFile) throws(TraceProblem) {
        cpu = Int32(buffer.cpu)
        bigEndian = file.bigEndian
        path = file.path
        layout = file.pageLayout
        correction = ClockCorrection(options: file.options, cpu: buffer.cpu)
        plainOffset = correction.plainOffset
        pages = try PageSupply(buffer: buffer, file: file)
    }

    /// A stream over pages read live from tracefs: it returns nil when the pages pushed so
    /// far are used up, and goes on from there once more are pushed. `file` gives the page
    /// layout (a trace.dat of the live kernel's headers and formats, without data).
    public init(live: PageSpool, cpu: Int, file: TraceFile) {
        self.cpu = Int32(cpu)
        bigEndian = file.bigEndian
        path = file.path
        layout = file.pageLayout
        correction = ClockCorrection(options: file.options, cpu: cpu)
        plainOffset = correction.plainOffset
        pages = PageSupply(live: live, file: file)
    }

    /// This stream cut into streams over `pagesEach` pages at a time, which together yield
    /// its records in its order, for reading parts of one CPU on several cores.
    ///
    /// Only an uncompressed CPU that has not been read is cut (a compressed one is returned
    /// whole): each ring-buffer page carries its own time stamp, and what carries over from
    /// one page to the next (losses, damaged pages) is a sum. The one thing that does not, a
    /// loss flagged on a page without records, moves to the next page's first record
    /// (`RawRecord.missedEvents`), which counting does not read.
    func cut(pagesEach: Int) -> [CPUStream] {
        guard let parts = pages.cut(pagesEach: pagesEach), parts.count > 1 else { return [self] }
        return parts.map { p in
            var s = self
            s.pages = p
            return s
        }
    }

    /// Moves to the next data record and returns it, or nil at the end of this CPU's data.
    /// - Throws: `TraceFileError` when a compressed chunk cannot be decompressed.
    public mutating func next() throws(TraceFileError) -> RawRecord? {
        do throws(TraceProblem) {
            return try nextRecord()
        } catch {
            throw TraceFileError(path: path, problem: error.problem)
        }
    }

    @inline(__always)
    mutating func nextRecord() throws(TraceProblem) -> RawRecord? {
        while true {
            if position + 4 > end {
                guard try loadNextPage() else { return nil }
                continue
            }
            let header = u32(position)
            let typeLen = bigEndian ? header >> 27 : header & 31
            let delta = UInt64(bigEndian ? header & ((1 << 27) - 1) : header >> 5)
            switch typeLen {
            case 1...28:
                let length = Int(typeLen) << 2
                let start = position + 4
                guard start + length <= end else {
                    skipDamagedPage()
                    continue
                }
                position = start + length
                clock &+= delta
                return record(start, length)
            case 0:
                guard position + 8 <= end else {
                    skipDamagedPage()
                    continue
                }
                let raw = Int(u32(position + 4))
                let length = (raw - 4 + 3) & ~3
                let start = position + 8
                guard length >= 0, start + length <= end else {
                    skipDamagedPage()
                    continue
                }
                position = start + length
                clock &+= delta
                return record(start, length)
            case 29:  // padding: array[0] holds the length after the header
                guard position + 8 <= end else {
                    position = end
                    continue
                }
                let length = Int(u32(position + 4))
                position += 4 + length
                clock &+= delta
            case 30:  // time extend
                guard position + 8 <= end else {
                    skipDamagedPage()
                    continue
                }
                let extend = UInt64(u32(position + 4))
                clock &+= (extend << 27) &+ delta
                position += 8
            default:  // 31: absolute time stamp; the top bits stay from the page
                guard position + 8 <= end else {
                    skipDamagedPage()
                    continue
                }
                let extend = UInt64(u32(position + 4))
                clock = ((extend << 27) &+ delta) | (clock & (0xf8 << 56))
                position += 8
            }
        }
    }

    /// A 32-bit word of the page in the trace's byte order.
    @inline(__always)
    private func u32(_ offset: Int) -> UInt32 {
        let v = page.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return bigEndian ? v.byteSwapped : v
    }

    /// A `long` of the page (the commit word and the missed-events count).
    private func long(_ offset: Int) -> UInt64 {
        if layout.commitSize == 8 {
            let v = page.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            return bigEndian ? v.byteSwapped : v
        }
        return UInt64(u32(offset))
    }

    @inline(__always)
    private mutating func record(_ start: Int, _ length: Int) -> RawRecord {
        let missed = pendingMissed
        pendingMissed = 0
        return RawRecord(
            timestamp: plainOffset.map { ClockCorrection.shifted(clock, by: $0) } ?? corrected(clock),
            cpu: cpu,
            missedEvents: missed,
            payload: UnsafeRawBufferPointer(rebasing: page[start..<(start + length)]),
            bigEndian: bigEndian
        )
    }

    /// `clock` through the file's clock options, out of line (see `plainOffset`).
    @inline(never)
    private func corrected(_ clock: UInt64) -> UInt64 { correction.apply(clock) }

    /// Gives up on the rest of a page whose records run past its commit size.
    private mutating func skipDamagedPage() {
        damagedPages += 1
        position = end
    }

    private mutating func loadNextPage() throws(TraceProblem) -> Bool {
        guard let p = try pages.nextPage() else { return false }
        page = p
        let base = layout.dataOffset
        guard p.count >= base else {
            damagedPages += 1
            position = 0
            end = 0
            return true
        }
        let stamp = p.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        clock = bigEndian ? stamp.byteSwapped : stamp
        let commit = long(8)
        let size = Int(commit & ((1 << 27) - 1))
        position = base
        end = min(base + size, p.count)
        if commit & (1 << 31) != 0 {
            if commit & (1 << 30) != 0, end + layout.commitSize <= p.count {
                let count = long(end)
                lost.counted &+= count
                pendingMissed = Int64(clamping: count)
            } else {
                lost.uncountedPages += 1
                pendingMissed = -1
            }
        }
        return true
    }
}

/// Hands out one CPU's ring-buffer pages: straight from the memory map, or chunk by chunk
/// from a compressed v7 buffer (`<u32 count>` then `<u32 compressed><u32 size><data>` each).
struct PageSupply {
    /// Keeps the memory map (and decompressed sections) alive while pages point into it.
    private let file: TraceFile
    /// Pages from a live capture instead of the file.
    private let live: PageSpool?
    private var source: UnsafeRawBufferPointer
    private let pageSize: Int
    private let compression: Compression
    private var chunks: [(offset: Int, compressed: Int, size: Int)] = []
    private var nextChunk = 0
    private var chunk: OwnedBytes?
    /// The next chunk, inflating on another core (`InflatingChunk`), and the buffer the one
    /// after it will use.
    private var ahead: InflatingChunk?
    private var spare: OwnedBytes?
    private var current = UnsafeRawBufferPointer(start: nil, count: 0)
    private var offset = 0
    /// The bytes of `source` before this offset have been read and given back (`release`).
    private var released = 0

    init(live: PageSpool, file: TraceFile) {
        self.file = file
        self.live = live
        pageSize = file.pageSize
        compression = .none
        source = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    init(buffer: CPUBuffer, file: TraceFile) throws(TraceProblem) {
        self.file = file
        live = nil
        pageSize = buffer.pageSize
        compression = buffer.compressed ? file.compression : .none
        let all = file.file.bytes
        // `TraceFile` has cut every CPU's data to the file; a compressed CPU's may start at its end.
        let start = min(Int(clamping: buffer.offset), all.count)
        // trace-cmd records a compressed CPU's size without its 4-byte chunk count and reads
        // the chunks wherever they lead (`tracecmd_load_chunks_info`): bound them by the file.
        let limit = buffer.compressed ? all.count : min(start + Int(clamping: buffer.size), all.count)
        source = UnsafeRawBufferPointer(rebasing: all[start..<limit])
        if buffer.compressed, buffer.size > 0 {
            // A chunk table cut or damaged part way: the chunks before it are read, and the
            // rest is reported, as trace-cmd reads a cut file as far as it goes.
            var c = ByteCursor(source, bigEndian: file.bigEndian)
            do throws(TraceProblem) {
                let count = try c.u32("CPU \(buffer.cpu) chunk count")
                for i in 0..<count {
                    let compressed = Int(try c.u32("CPU \(buffer.cpu) chunk \(i) compressed size"))
                    let size = Int(try c.u32("CPU \(buffer.cpu) chunk \(i) size"))
                    try c.need(compressed, "CPU \(buffer.cpu) chunk \(i)")
                    try compression.checkExpansion(
                        compressed: compressed,
                        size: size,
                        what: "CPU \(buffer.cpu) chunk \(i)"
                    )
                    chunks.append((c.offset, compressed, size))
                    c.offset += compressed
                }
            } catch {
                damage = "\(error.problem); the \(chunks.count) chunks before it are read"
            }
        } else {
            current = source
        }
    }

    /// Why this CPU's data ends early, when it does (a cut or damaged chunk).
    private(set) var damage: String?

    /// Bytes of this CPU's data in the file read so far, and in all (compressed bytes for a
    /// compressed buffer): for progress reports.
    var bytesRead: Int { chunks.isEmpty ? min(offset, source.count) : chunkEnd(nextChunk - 1) }
    var bytesTotal: Int { chunks.isEmpty ? source.count : chunkEnd(chunks.count - 1) }

    private func chunkEnd(_ i: Int) -> Int { i < 0 ? 0 : chunks[i].offset + chunks[i].compressed }

    mutating func nextPage() throws(TraceProblem) -> UnsafeRawBufferPointer? {
        if let live {
            do throws(PageSpoolError) {
                return try live.pop()
            } catch {
                throw TraceProblem(.truncated("CPU data spooled by the live capture: \(error)"))
            }
        }
        while offset >= current.count {
            guard nextChunk < chunks.count else {
                // The end: the last pages are done with too (a CPU cut into parts would
                // otherwise keep up to `releaseStep` of each part resident).
                if chunks.isEmpty { release(upTo: source.count, atEnd: true) }
                return nil
            }
            let c = chunks[nextChunk]
            release(upTo: c.offset)
            let problem: TraceProblem?
            if let a = ahead, a.index == nextChunk {
                // Inflated while the chunk before was read; the one before is free again: no
                // record of this CPU points into it once the stream asks for a page here.
                problem = a.wait()
                ahead = nil
                spare = chunk
                chunk = a.buffer
            } else {
                if chunk == nil || chunk!.bytes.count < c.size { chunk = OwnedBytes(count: c.size) }
                do throws(TraceProblem) {
                    try InflatingChunk.inflate(chunkBytes(c), size: c.size, into: chunk!, index: nextChunk, compression)
                    problem = nil
                } catch {
                    problem = error
                }
            }
            nextChunk += 1
            inflateAhead()
            if let problem {
                // The chunks after a damaged one are still whole frames: read on.
                damage = (damage.map { $0 + "; " } ?? "") + "\(problem); its pages are skipped"
                continue
            }
            current = UnsafeRawBufferPointer(rebasing: chunk!.bytes[0..<c.size])
            offset = 0
        }
        if chunks.isEmpty { release(upTo: offset) }  // the page before this one is done with
        let n = min(pageSize, current.count - offset)
        let p = UnsafeRawBufferPointer(rebasing: current[offset..<(offset + n)])
        offset += pageSize
        return p
    }

    /// This supply cut into supplies of `pagesEach` pages each, in order; nil for a compressed
    /// or live supply, or one that has handed out a page.
    func cut(pagesEach: Int) -> [PageSupply]? {
        guard live == nil, chunks.isEmpty, damage == nil, offset == 0, pagesEach > 0, pageSize > 0,
            pagesEach < (source.count + pageSize - 1) / pageSize  // else it is one part (and the step could overflow)
        else { return nil }
        let step = pagesEach * pageSize
        return stride(from: 0, to: max(source.count, 1), by: step).map { start in
            var part = self
            part.source = UnsafeRawBufferPointer(rebasing: source[start..<min(start + step, source.count)])
            part.current = part.source
            return part
        }
    }

    private func chunkBytes(_ c: (offset: Int, compressed: Int, size: Int)) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: source[c.offset..<(c.offset + c.compressed)])
    }

    /// Starts inflating chunk `nextChunk` on another core, into the spare buffer.
    private mutating func inflateAhead() {
        guard InflatingChunk.ahead, ahead == nil, nextChunk < chunks.count else { return }
        let c = chunks[nextChunk]
        guard let buffer = spare.flatMap({ $0.bytes.count >= c.size ? $0 : nil }) ?? OwnedBytes(ifAvailable: c.size)
        else { return }  // no memory for a second buffer: the chunk is inflated in line
        spare = nil
        ahead = InflatingChunk(
            index: nextChunk,
            compressed: chunkBytes(c),
            size: c.size,
            into: buffer,
            compression: compression,
            file: file
        )
    }

    /// Drops the mapped file pages of `source` before `end`, which have been read, from the
    /// process's resident set, every `releaseStep` bytes (`madvise(MADV_DONTNEED)`), or
    /// at the end (`atEnd`) whatever is left.
    ///
    /// The map is private and read-only: the pages stay in the page cache, and one touched
    /// again faults back in with the same bytes, so nothing a caller holds can change. Without
    /// this, the resident set grows with the file, not with live folios: `analyze` of a
    /// 25-million-event, 796 MiB capture peaked at 888 MiB, 750 of them the file's pages
    /// (docs/performance.md).
    private mutating func release(upTo end: Int, atEnd: Bool = false) {
        guard end - released >= PageSupply.releaseStep || (atEnd && end > released), let base = source.baseAddress
        else { return }
        let systemPage = Int(sysconf(Int32(_SC_PAGESIZE)))
        let from = (Int(bitPattern: base) + released + systemPage - 1) / systemPage * systemPage
        let to = (Int(bitPattern: base) + end) / systemPage * systemPage
        if to > from { _ = madvise(UnsafeMutableRawPointer(bitPattern: from), to - from, Int32(MADV_DONTNEED)) }
        released = end
    }

    static let releaseStep = 8 << 20
}
