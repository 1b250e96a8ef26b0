#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A perf.data file written by `perf record -e SYSTEM:EVENT`, opened and its metadata read.
///
/// The layout is perf's (`tools/perf/Documentation/perf.data-file-format.txt`, `util/header.c`):
/// a file header with the attribute, data and feature sections, each attribute followed by the
/// sample ids perf gave its per-CPU counters, then the records, then one section descriptor per
/// feature bit. In pipe mode (`perf record -o -`) nothing is seekable: a 16-byte header, then
/// the attributes, features and tracing data arrive as records ahead of the samples. Both
/// carry the tracepoints' format files in the tracing data, which is trace-cmd's v6 layout
/// (`TracingData`). Records are walked by `PerfRecordStream`.
public final class PerfFile {
    /// The path the file was opened from.
    public let path: String
    /// Whether the file was written in pipe mode.
    public let isPipe: Bool
    /// The event formats the tracing data carries.
    public private(set) var tracing = TracingData()
    /// One entry per event perf recorded.
    public private(set) var attrs: [PerfEventAttr] = []
    /// What the feature sections say about the capture.
    public private(set) var features = PerfFeatures()
    /// Task names from the COMM records outside compressed data (perf writes one for every
    /// task alive at the start); the stream learns the rest.
    public private(set) var commands: [Int32: String] = [:]

    let file: MappedFile
    /// Where the records are: the data section, or everything after a pipe header.
    let records: Range<Int>
    /// The layout every sample shares.
    private(set) var sampleLayout = PerfSampleLayout()
    /// Sample id -> whether its event is a tracepoint, when some events are not (then each
    /// sample's id decides); empty when every event is a tracepoint.
    private(set) var tracepointByID: [UInt64: Bool] = [:]

    /// Opens and reads the metadata of a perf.data file.
    /// - Throws: `TraceFileError` naming the file and the problem: a cut file, a format
    ///   version or feature foliotrace does not read, or a file without tracepoint events.
    public init(path: String) throws(TraceFileError) {
        self.path = path
        do throws(TraceProblem) {
            file = try MappedFile(path: path)
            let bytes = file.bytes
            var c = ByteCursor(bytes)
            let magic = try c.u64("perf.data magic")
            guard magic != PerfFile.magicVersion1 else {
                throw TraceProblem(.unsupportedPerf("version 1 header ('PERFFILE'); foliotrace reads 'PERFILE2'"))
            }
            guard magic != PerfFile.magic.byteSwapped else {
                throw TraceProblem(.unsupportedPerf("big-endian file"))
            }
            guard magic == PerfFile.magic else { throw TraceProblem(.notATrace) }
            let headerSize = try c.u64("header size")
            if headerSize == 16 {
                isPipe = true
                records = 16..<bytes.count
                try readPipeMetadata()
            } else {
                guard headerSize >= 104 else { throw TraceProblem(.corrupt("perf.data header size \(headerSize)")) }
                isPipe = false
                let attrSize = try c.u64("attr size")
                let attrSection = try PerfFile.section(&c, "attrs", in: bytes)
                let data = try PerfFile.section(&c, "data", in: bytes)
                _ = try c.u64("event_types offset")
                _ = try c.u64("event_types size")
                var bits: [UInt64] = []
                for i in 0..<4 { bits.append(try c.u64("feature bits \(i)")) }
                records = data
                try readAttrs(attrSection, attrSize: Int(clamping: attrSize))
                try readFeatureSections(bits: bits, after: data.upperBound)
            }
            try PerfFile.checkSupported(attrs, features)
            sampleLayout = try PerfSampleLayout(attrs)
            // A dummy event (software, PERF_COUNT_SW_DUMMY) never samples: only other events
            // make each sample's id worth looking up.
            let mixed = attrs.contains { !$0.isTracepoint && !($0.type == 1 && $0.config == 9) }
            if mixed, sampleLayout.id < 0 {
                throw TraceProblem(.unsupportedPerf("samples of other events without a sample id to tell them apart"))
            }
            var byID: [UInt64: Bool] = [:]
            if mixed { for a in attrs { for id in a.ids { byID[id] = a.isTracepoint } } }
            tracepointByID = byID
            try scanCommands()
        } catch {
            throw TraceFileError(path: path, problem: error.problem)
        }
    }

    /// "PERFILE2" as the little-endian u64 perf writes.
    static let magic: UInt64 = 0x3245_4c49_4652_4550
    /// "PERFFILE", the old version-1 magic.
    static let magicVersion1: UInt64 = 0x454c_4946_4652_4550

    /// The kernel release the file was recorded on (the OSRELEASE feature).
    public var kernelRelease: String? { features.osRelease }

    /// CPUs of the recording machine (the NRCPUS feature), at least one.
    public var cpuCount: Int { max(features.cpusAvailable ?? 0, features.cpusOnline ?? 0, 1) }

    // MARK: header

    private static func section(
        _ c: inout ByteCursor,
        _ name: String,
        in bytes: UnsafeRawBufferPointer
    ) throws(TraceProblem) -> Range<Int> {
        let offset = try c.u64("\(name) section offset")
        let size = try c.u64("\(name) section size")
        guard offset <= UInt64(bytes.count), size <= UInt64(bytes.count) - offset else {
            throw TraceProblem(
                .truncated("\(name) section needs bytes up to offset \(offset &+ size), file has \(bytes.count)")
            )
        }
        return Int(offset)..<Int(offset + size)
    }

    /// `perf_file_attr`: the attribute (attr_size - 16 bytes) and a section of its u64 ids.
    private func readAttrs(_ range: Range<Int>, attrSize: Int) throws(TraceProblem) {
        guard attrSize > 16, attrSize <= 4096 else { throw TraceProblem(.corrupt("perf.data attr size \(attrSize)")) }
        let bytes = file.bytes
        var offset = range.lowerBound
        while offset + attrSize <= range.upperBound {
            var attr = try PerfEventAttr(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + attrSize - 16)]))
            var c = ByteCursor(bytes, offset: offset + attrSize - 16)
            let ids = try PerfFile.section(&c, "attr ids", in: bytes)
            var i = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[ids]))
            while i.remaining >= 8 { attr.ids.append(try i.u64("attr id")) }
            attrs.append(attr)
            offset += attrSize
        }
    }

    /// The feature sections: one `{u64 offset, u64 size}` per set bit, in bit order, after
    /// the data section.
    private func readFeatureSections(bits: [UInt64], after dataEnd: Int) throws(TraceProblem) {
        var c = ByteCursor(file.bytes, offset: dataEnd)
        for bit in 0..<256 where bits[bit / 64] & (1 << UInt64(bit % 64)) != 0 {
            let range = try PerfFile.section(&c, "feature \(bit)", in: file.bytes)
            try readFeature(bit, UnsafeRawBufferPointer(rebasing: file.bytes[range]))
        }
    }

    private func readFeature(_ bit: Int, _ body: UnsafeRawBufferPointer) throws(TraceProblem) {
        var c = ByteCursor(body)
        switch PerfFeature(rawValue: bit) {
        case .tracingData:
            var t = TracingData()
            let version = try t.readPrefix(&c)
            guard version == "0.5" || version == "0.6" else {
                throw TraceProblem(.unsupportedPerf("tracing data version \(version)"))
            }
            try t.readSequence(&c, cmdlinesOptional: true)
            tracing = t
        case .hostname: features.hostname = try c.perfString("hostname feature")
        case .osRelease: features.osRelease = try c.perfString("osrelease feature")
        case .version: features.perfVersion = try c.perfString("version feature")
        case .commandLine:
            let n = try c.u32("cmdline feature count")
            var words: [String] = []
            for i in 0..<min(n, 4096) { words.append(try c.perfString("cmdline word \(i)")) }
            features.commandLine = words.joined(separator: " ")
        case .nrCPUs:
            features.cpusAvailable = Int(try c.u32("nr_cpus_available"))
            features.cpusOnline = Int(try c.u32("nr_cpus_online"))
        case .compressed:
            _ = try c.u32("compression version")
            features.compression = try c.u32("compression type")
            _ = try c.u32("compression level")
            _ = try c.u32("compression ratio")
            features.compressedMmapLength = Int(try c.u32("compression mmap length"))
        case .dirFormat: features.directory = true
        default: break
        }
        features.present.insert(bit)
    }

    /// Pipe mode: attributes, features and tracing data are records ahead of the samples.
    private func readPipeMetadata() throws(TraceProblem) {
        let bytes = file.bytes
        var offset = records.lowerBound
        while offset + 8 <= records.upperBound {
            let type = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            let size = Int(bytes.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self))
            guard size >= 8 else { throw TraceProblem(.corrupt("record at offset \(offset) has size \(size)")) }
            guard offset + size <= records.upperBound else { break }  // the stream reports the cut
            var next = offset + size
            switch PerfRecordType(rawValue: type) {
            case .headerAttr:
                let body = UnsafeRawBufferPointer(rebasing: bytes[(offset + 8)..<(offset + size)])
                var attr = try PerfEventAttr(body)
                var c = ByteCursor(body, offset: attr.size)
                while c.remaining >= 8 { attr.ids.append(try c.u64("attr id")) }
                attrs.append(attr)
            case .headerFeature:
                var c = ByteCursor(bytes, offset: offset + 8)
                let bit = Int(clamping: try c.u64("feature id"))
                try readFeature(bit, UnsafeRawBufferPointer(rebasing: bytes[(offset + 16)..<(offset + size)]))
            case .headerTracingData:
                // {header, u32 size}, then `size` bytes of tracing data padded to 8 bytes.
                var c = ByteCursor(bytes, offset: offset + 8)
                let length = Int(try c.u32("tracing data size"))
                let start = offset + size
                guard start + length <= records.upperBound else {
                    throw TraceProblem(
                        .truncated(
                            "tracing data at offset \(start) needs \(length) bytes, file has \(records.upperBound - start)"
                        )
                    )
                }
                try readFeature(
                    PerfFeature.tracingData.rawValue,
                    UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
                )
                next = start + (length + 7) & ~7
            case .auxtrace:
                next += PerfRecordType.trailingBytes(
                    type,
                    UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + size)])
                )
            case .sample, .compressed, .compressed2:
                return  // metadata comes first; the samples have started
            default: break
            }
            offset = next
        }
    }

    private static func checkSupported(_ attrs: [PerfEventAttr], _ features: PerfFeatures) throws(TraceProblem) {
        if features.directory { throw TraceProblem(.unsupportedPerf("directory format (perf record --threads)")) }
        if let type = features.compression, type != 1 {
            throw TraceProblem(.unsupportedPerf("compression type \(type) (foliotrace reads zstd, type 1)"))
        }
        guard attrs.contains(where: \.isTracepoint), features.present.contains(PerfFeature.tracingData.rawValue) else {
            throw TraceProblem(.noTracepoints)
        }
    }

    /// Task names from the COMM and FORK records outside compressed data.
    private func scanCommands() throws(TraceProblem) {
        let bytes = file.bytes
        var offset = records.lowerBound
        while offset + 8 <= records.upperBound {
            let type = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            let size = Int(bytes.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self))
            guard size >= 8, offset + size <= records.upperBound else { return }  // the stream reports it
            let record = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + size)])
            PerfTasks.note(
                type: type,
                record,
                sampleIDAll: sampleLayout.sampleIDBlock(of: record).size,
                into: &commands
            )
            offset += size + PerfRecordType.trailingBytes(type, record)
        }
    }

    /// The samples and other records in time order.
    public func orderedRecords() -> PerfRecordStream { PerfRecordStream(file: self) }
}

/// The feature bits of the perf.data header that foliotrace reads (perf's `util/header.h`).
enum PerfFeature: Int {
    case tracingData = 1
    case hostname = 3
    case osRelease = 4
    case version = 5
    case nrCPUs = 7
    case commandLine = 11
    case dirFormat = 24
    case compressed = 27
}

/// Facts the feature sections record about the capture.
public struct PerfFeatures: Sendable {
    public var hostname: String?
    public var osRelease: String?
    /// The perf version that wrote the file.
    public var perfVersion: String?
    /// The `perf record` command line that made the file.
    public var commandLine: String?
    public var cpusAvailable: Int?
    public var cpusOnline: Int?
    /// The COMPRESSED feature's type (1 = zstd), when `perf record -z` was used.
    public var compression: UInt32?
    /// The mmap size perf compressed from, which bounds one record's decompressed size.
    public var compressedMmapLength = 0
    /// `perf record --threads` writes a directory, not one file.
    public var directory = false
    /// Every feature bit present.
    public var present: Set<Int> = []
}

/// The part of `struct perf_event_attr` (include/uapi/linux/perf_event.h) a reader needs.
public struct PerfEventAttr: Sendable {
    /// PERF_TYPE_TRACEPOINT is 2; `config` is then the tracepoint's event id.
    public var type: UInt32
    /// The attribute's size as the writer's kernel headers knew it.
    public var size: Int
    public var config: UInt64
    public var sampleType: UInt64
    public var readFormat: UInt64
    /// The attribute's flag bits (disabled, inherit, ..., sample_id_all at bit 18).
    public var flags: UInt64
    /// The sample ids perf gave this event's counters (one per CPU or thread).
    public var ids: [UInt64] = []

    public var isTracepoint: Bool { type == 2 }
    public var sampleIDAll: Bool { flags & (1 << 18) != 0 }
    /// `use_clockid` (bit 25): timestamps come from `clockid`, not perf's local clock.
    public var usesClockID: Bool { flags & (1 << 25) != 0 }

    init(_ b: UnsafeRawBufferPointer) throws(TraceProblem) {
        var c = ByteCursor(b)
        type = try c.u32("attr type")
        size = Int(try c.u32("attr size"))
        guard size >= 64, size <= b.count else { throw TraceProblem(.corrupt("perf_event_attr size \(size)")) }
        config = try c.u64("attr config")
        _ = try c.u64("attr sample_period")
        sampleType = try c.u64("attr sample_type")
        readFormat = try c.u64("attr read_format")
        flags = try c.u64("attr flags")
    }
}

/// The perf record types foliotrace handles (`enum perf_event_type` and perf's own
/// `enum perf_user_event_type`).
enum PerfRecordType: UInt32 {
    case lost = 2
    case comm = 3
    case exit = 4
    case fork = 7
    case sample = 9
    case lostSamples = 13
    case headerAttr = 64
    case headerTracingData = 66
    case finishedRound = 68
    case auxtrace = 71
    case headerFeature = 80
    case compressed = 81
    case compressed2 = 83
}

extension PerfRecordType {
    /// Bytes that follow a record beyond its header's size: the tracing data of
    /// PERF_RECORD_HEADER_TRACING_DATA (`u32 size`, padded to 8) and the trace of
    /// PERF_RECORD_AUXTRACE (`u64 size`). Every other record is exactly its size.
    static func trailingBytes(_ type: UInt32, _ record: UnsafeRawBufferPointer) -> Int {
        switch PerfRecordType(rawValue: type) {
        case .headerTracingData where record.count >= 12:
            return (Int(record.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) + 7) & ~7
        case .auxtrace where record.count >= 16:
            return Int(clamping: record.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        default:
            return 0
        }
    }
}

extension ByteCursor {
    /// A feature string: `u32 len`, then `len` bytes holding the NUL-terminated text.
    mutating func perfString(_ what: @autoclosure () -> String) throws(TraceProblem) -> String {
        let length = Int(try u32(what()))
        let s = try slice(length, what())
        return String(decoding: s.prefix { $0 != 0 }, as: UTF8.self)
    }
}
