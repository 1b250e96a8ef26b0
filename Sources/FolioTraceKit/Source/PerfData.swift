#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A perf.data file written by `perf record` (or Android's simpleperf), opened and its
/// metadata read.
///
/// The layout is perf's (`tools/perf/Documentation/perf.data-file-format.txt`, `util/header.c`):
/// a file header with the attribute, data and feature sections, each attribute followed by the
/// sample ids perf gave its per-CPU counters, then the records, then one section descriptor per
/// feature bit. In pipe mode (`perf record -o -`) nothing is seekable: a 16-byte header, then
/// the attributes, features and tracing data arrive as records ahead of the samples. Both
/// carry the tracepoints' format files in the tracing data, which is trace-cmd's v6 layout
/// (`TracingData`); simpleperf writes it as a record of its own in the data section instead.
/// Records are walked by `PerfRecordStream`.
///
/// Every event's samples are counted, tracepoints or not (`cycles`, `cpu-clock`, uprobes
/// through the uprobe PMU...): tracepoint samples become `RawRecord`s when the file carries
/// their formats, the others are counted per event name (`PerfRecordStream.otherSampleCounts`).
/// A file without tracepoint samples is valid; `tracepointGap` says why it has none to decode.
public final class PerfFile {
    /// The path the file was opened from.
    public let path: String
    /// Whether the file was written in pipe mode.
    public let isPipe: Bool
    /// Whether `perf record` never finished the file: a file-mode header whose data size is
    /// still 0 (perf writes the data size and the feature sections only at exit,
    /// `perf_session__write_header(..., at_exit)`), with records after it. The records are read
    /// to the end of the file, as perf means to ("process it as much as it can",
    /// `perf_session__read_header`); the features were never written.
    public let unfinished: Bool
    /// The event formats the tracing data carries.
    public private(set) var tracing = TracingData()
    /// One entry per event perf recorded.
    public private(set) var attrs: [PerfEventAttr] = []
    /// What the feature sections say about the capture.
    public private(set) var features = PerfFeatures()
    /// Task names from the COMM records outside compressed data (perf writes one for every
    /// task alive at the start); the stream learns the rest.
    public private(set) var commands: [Int32: String] = [:]
    /// The name of each event in `attrs` (same order): from the file (HEADER_EVENT_DESC, or
    /// simpleperf's META_INFO), else derived from the attribute as perf does (`cycles`,
    /// `cpu-clock`, `r1a2`, `system:name` from the tracepoint's format).
    public private(set) var eventNames: [String] = []
    /// Metadata found inconsistent at open and left out (the stream's `damage` starts with it).
    public private(set) var damage = PerfDamage()
    /// Whether a cut at a record boundary would be noticed: a file-mode perf.data says in its
    /// header where its data ends; a pipe-mode one (`perf record -o -`) has no end marker, so
    /// a stream that stops between two records looks complete. Reports should say that the
    /// completeness of a pipe-mode file cannot be verified.
    public var completenessVerifiable: Bool { !isPipe && !unfinished }

    let file: MappedFile
    /// Where the records are: the data section, or everything after a pipe header.
    let records: Range<Int>
    /// How each event's samples are laid out and told apart.
    private(set) var layouts = PerfSampleLayouts()
    /// Per attribute: whether its samples become `RawRecord`s (a tracepoint whose formats the
    /// file carries, sampled with time and raw data).
    private(set) var decodable: [Bool] = []
    /// CPUs the stream saw samples on (the highest + 1), once a stream has ended.
    var observedCPUs = 0
    /// Names from HEADER_EVENT_DESC or simpleperf's META_INFO, per attribute.
    private var describedNames: [String?] = []

    /// Opens and reads the metadata of a perf.data file.
    /// - Throws: `TraceFileError` naming the file and the problem: a cut file (file mode: its
    ///   header says where data and features are), or a format version or feature foliotrace
    ///   does not read. A file without tracepoints is not an error.
    public init(path: String) throws(TraceFileError) {
        self.path = path
        do throws(TraceProblem) {
            file = try MappedFile(path: path)
            let bytes = file.bytes
            var c = ByteCursor(bytes)
            let magic = try c.u64("perf.data magic")
            guard magic != PerfFile.magic.byteSwapped else {
                throw TraceProblem(.unsupportedPerf("big-endian file"))
            }
            // The version-1 header ("PERFFILE", perf before 2.6.36) has version 2's layout;
            // perf reads its feature bits as build ids only (`check_magic_endian`), so its
            // feature sections are not read.
            let legacy = magic == PerfFile.magicVersion1
            guard magic == PerfFile.magic || legacy else { throw TraceProblem(.notATrace) }
            let headerSize = try c.u64("header size")
            if headerSize == 16 {
                isPipe = true
                unfinished = false
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
                // The feature table follows the data; with a data size of 0 it is only there
                // when perf record finished with no records (then it is sound). Otherwise what
                // follows the header is records that perf never counted.
                unfinished =
                    !legacy && data.isEmpty && data.lowerBound < bytes.count
                    && !PerfFile.featureTableIsSound(bits: bits, at: data.upperBound, in: bytes)
                records = unfinished ? data.lowerBound..<bytes.count : data
                try readAttrs(attrSection, attrSize: Int(clamping: attrSize))
                if unfinished {
                    damage.notes.append(
                        "the header's data size is 0: perf record did not finish (it was killed, or was still "
                            + "writing), so the file has no features and its records are read to its end"
                    )
                } else if !legacy {
                    try readFeatureSections(bits: bits, after: data.upperBound)
                }
            }
            try PerfFile.checkSupported(features)
            layouts = PerfSampleLayouts(attrs)
            try scanRecords()
            if attrs.count > 1, layouts.idOffset < 0 {
                damage.notes.append(
                    "several events but no sample id to tell their samples apart: all counted as the first"
                )
            }
            // PERF_TYPE_TRACEPOINT's config is the tracepoint's id in the formats.
            var tracepointNames: [UInt64: String] = [:]
            for (system, f) in tracing.eventFormats {
                if let (id, name) = TracingData.formatHeader(f) { tracepointNames[id] = "\(system):\(name)" }
            }
            decodable = attrs.indices.map { i in
                attrs[i].isTracepoint && tracepointNames[attrs[i].config] != nil && layouts.layouts[i].time >= 0
                    && layouts.layouts[i].hasRaw
            }
            eventNames = PerfEventNames.names(attrs, described: describedNames, tracepointNames: tracepointNames)
        } catch {
            throw TraceFileError(path: path, problem: error.problem.boundedForMessage())
        }
    }

    /// The most CPUs a file may say it has or sample on: Linux's largest NR_CPUS. Larger
    /// numbers are damage, and never size an array.
    public static let cpuLimit = 8192

    /// Why the file has no tracepoint samples to decode, or nil when it has tracepoint events
    /// with their formats: no tracepoint event was recorded (`perf record -e cycles`), or the
    /// tracepoints' formats are not in the file (simpleperf without root, or a feature lost).
    /// The samples are counted per event name either way.
    public var tracepointGap: String? {
        if decodable.contains(true) { return nil }
        let tracepoints = attrs.indices.filter { attrs[$0].isTracepoint }
        if tracepoints.isEmpty {
            let names = Set(eventNames).sorted().joined(separator: ", ")
            return "no tracepoint event was recorded (events: \(names.isEmpty ? "none" : names)); "
                + "record memory events with perf record -e SYSTEM:EVENT"
        }
        let names = Set(tracepoints.map { eventNames[$0] }).sorted().joined(separator: ", ")
        if tracing.eventFormats.isEmpty {
            return
                "the tracepoint events (\(names)) were recorded without their formats (no tracing data in the file): "
                + "their samples are counted, not decoded"
        }
        return "the tracepoint events (\(names)) have no format in the file's tracing data, or were sampled without "
            + "time and raw data: their samples are counted, not decoded"
    }

    /// "PERFILE2" as the little-endian u64 perf writes.
    static let magic: UInt64 = 0x3245_4c49_4652_4550
    /// "PERFFILE", the old version-1 magic.
    static let magicVersion1: UInt64 = 0x454c_4946_4652_4550

    /// The kernel release the file was recorded on (the OSRELEASE feature).
    public var kernelRelease: String? { features.osRelease }

    /// CPUs of the capture: the NRCPUS feature's count, or more when samples name a higher
    /// CPU (known once a stream has ended: a pipe-mode file may lack NRCPUS); at least one,
    /// at most `cpuLimit`.
    public var cpuCount: Int { max(features.cpusAvailable ?? 0, features.cpusOnline ?? 0, observedCPUs, 1) }

    // MARK: header

    private static func section(
        _ c: inout ByteCursor,
        _ name: String,
        in bytes: UnsafeRawBufferPointer
    ) throws(TraceProblem) -> Range<Int> {
        let offset = try c.u64("\(name) section offset")
        let size = try c.u64("\(name) section size")
        guard offset <= UInt64(bytes.count), size <= UInt64(bytes.count) &- offset else {
            throw TraceProblem(
                .truncated("\(name) section needs bytes up to offset \(offset &+ size), file has \(bytes.count)")
            )
        }
        return Int(offset)..<Int(offset &+ size)
    }

    /// Whether every feature bit has a `{offset, size}` section at `offset` that lies inside
    /// the file, as a feature table that perf wrote does.
    private static func featureTableIsSound(
        bits: [UInt64],
        at offset: Int,
        in bytes: UnsafeRawBufferPointer
    ) -> Bool {
        var c = ByteCursor(bytes, offset: offset)
        for bit in 0..<256 where bits[bit / 64] & (1 << UInt64(bit % 64)) != 0 {
            guard (try? PerfFile.section(&c, "feature \(bit)", in: bytes)) != nil else { return false }
        }
        return true
    }

    /// `perf_file_attr`: the attribute (attr_size - 16 bytes) and a section of its u64 ids.
    private func readAttrs(_ range: Range<Int>, attrSize: Int) throws(TraceProblem) {
        guard attrSize > 16, attrSize <= 4096 else { throw TraceProblem(.corrupt("perf.data attr size \(attrSize)")) }
        let bytes = file.bytes
        var offset = range.lowerBound
        // Each attribute's ids are a section of the file; sections that overlap could make a
        // small file list the same bytes as ids again and again: all ids fit in the file once.
        var idBytes = 0
        while offset + attrSize <= range.upperBound {
            var attr = try PerfEventAttr(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + attrSize - 16)]))
            var c = ByteCursor(bytes, offset: offset + attrSize - 16)
            let ids = try PerfFile.section(&c, "attr ids", in: bytes)
            idBytes += ids.count
            guard idBytes <= bytes.count else {
                throw TraceProblem(
                    .corrupt("attribute id sections list more ids than the file holds (\(idBytes) bytes)")
                )
            }
            var i = ByteCursor(UnsafeRawBufferPointer(rebasing: bytes[ids]))
            attr.ids.reserveCapacity(ids.count / 8)
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
                throw TraceProblem(.unsupportedPerf("tracing data version \(version.boundedForMessage(40))"))
            }
            try t.readSequence(&c, cmdlinesOptional: true)
            tracing = t
        case .hostname: features.hostname = try c.perfString("hostname feature")
        case .osRelease: features.osRelease = try c.perfString("osrelease feature")
        case .version: features.perfVersion = try c.perfString("version feature")
        case .arch: features.arch = try c.perfString("arch feature")
        case .commandLine:
            let n = try c.u32("cmdline feature count")
            var words: [String] = []
            for i in 0..<min(n, 4096) { words.append(try c.perfString("cmdline word \(i)")) }
            features.commandLine = words.joined(separator: " ")
        case .nrCPUs:
            let available = Int(try c.u32("nr_cpus_available"))
            let online = Int(try c.u32("nr_cpus_online"))
            // perf writes nr_cpus_available first (perf's util/header.c write_nrcpus).
            guard available <= PerfFile.cpuLimit, online <= PerfFile.cpuLimit else {
                damage.notes.append("NRCPUS says \(available) CPUs (\(online) online), more than Linux allows: ignored")
                break
            }
            features.cpusAvailable = available
            features.cpusOnline = online
        case .eventDesc:
            do throws(TraceProblem) {
                describedNames = try PerfEventNames.eventDesc(body, attrs: attrs)
            } catch {
                damage.notes.append(
                    "event descriptions unreadable (\(error.problem)): names derived from the attributes"
                )
            }
        case .simpleperfMetaInfo:
            describedNames = PerfEventNames.simpleperfMetaInfo(body, attrs: attrs)
        case .compressed:
            _ = try c.u32("compression version")
            features.compression = try c.u32("compression type")
            _ = try c.u32("compression level")
            _ = try c.u32("compression ratio")
            // It only sizes the steps in which decompressed bytes are buffered: bounded.
            features.compressedMmapLength = min(Int(try c.u32("compression mmap length")), PerfFile.maxRecordOutput)
        case .dirFormat: features.directory = true
        default: break
        }
        features.present.insert(bit)
    }

    /// Pipe mode: attributes, features and tracing data are records ahead of the samples.
    private func readPipeMetadata() throws(TraceProblem) {
        let bytes = file.bytes
        var offset = records.lowerBound
        // EVENT_UPDATE names by sample id, matched to the attributes once at the end (one
        // lookup per id, however many records a file repeats).
        var namesByID: [UInt64: String] = [:]
        defer {
            if !namesByID.isEmpty {
                describedNames = attrs.map { a in a.ids.lazy.compactMap { namesByID[$0] }.first }
            }
        }
        records: while offset + 8 <= records.upperBound {
            let (type, size) = PerfRecordType.header(bytes, at: offset)
            guard size >= 8 else { throw TraceProblem(.corrupt("record at offset \(offset) has size \(size)")) }
            guard size <= records.upperBound - offset else { break }  // the stream reports the cut
            var next = offset + size
            switch PerfRecordType(rawValue: type) {
            case .headerAttr:
                let body = UnsafeRawBufferPointer(rebasing: bytes[(offset + 8)..<(offset + size)])
                var attr = try PerfEventAttr(body)
                var c = ByteCursor(body, offset: attr.size)
                while c.remaining >= 8 { attr.ids.append(try c.u64("attr id")) }
                attrs.append(attr)
            case .headerFeature:
                guard size >= 16 else {
                    throw TraceProblem(.corrupt("feature record at offset \(offset) has size \(size)"))
                }
                let bit = Int(clamping: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                try readFeature(bit, UnsafeRawBufferPointer(rebasing: bytes[(offset + 16)..<(offset + size)]))
            case .headerTracingData:
                // {header, u32 size}, then `size` bytes of tracing data padded to 8 bytes.
                guard size >= 12 else { throw TraceProblem(.corrupt("tracing data record at offset \(offset)")) }
                let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
                let start = offset + size
                guard length <= records.upperBound - start else {
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
                let extra = PerfRecordType.trailingBytes(
                    type,
                    UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + size)])
                )
                guard extra <= records.upperBound - next else { return }  // the stream reports the cut
                next += extra
            case .eventUpdate where size > 24:
                // {header, u64 type, u64 id, data}: PERF_EVENT_UPDATE__NAME (2) names an event.
                guard bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self) == 2 else { break }
                let id = bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)
                let name = bytes[(offset + 24)..<(offset + size)].prefix { $0 != 0 }
                namesByID[id] = String(decoding: name, as: UTF8.self)
            case .sample, .compressed, .compressed2:
                break records  // metadata comes first; the samples have started
            default: break
            }
            offset = next
        }
    }

    private static func checkSupported(_ features: PerfFeatures) throws(TraceProblem) {
        if features.directory { throw TraceProblem(.unsupportedPerf("directory format (perf record --threads)")) }
        if let type = features.compression, type != 1 {
            throw TraceProblem(.unsupportedPerf("compression type \(type) (foliotrace reads zstd, type 1)"))
        }
    }

    /// Task names from the COMM and FORK records outside compressed data, and simpleperf's
    /// tracing data, which it writes as a record of the data section.
    private func scanRecords() throws(TraceProblem) {
        let bytes = file.bytes
        var offset = records.lowerBound
        while offset + 8 <= records.upperBound {
            let (type, size) = PerfRecordType.header(bytes, at: offset)
            guard size >= 8, size <= records.upperBound - offset else { return }  // the stream reports it
            let record = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + size)])
            let simpleperfType = type == PerfRecordType.simpleperfTracingData
            let insideType = !isPipe && type == PerfRecordType.headerTracingData.rawValue
            if simpleperfType || insideType, tracing.eventFormats.isEmpty, record.count >= 12 {
                // {header, u32 size, data padded to 64 bytes} (simpleperf's record.cpp; older
                // versions used perf's type 66 for it, in file mode where perf never writes it).
                let length = Int(record.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
                if length <= record.count - 12 {
                    try readFeature(
                        PerfFeature.tracingData.rawValue,
                        UnsafeRawBufferPointer(rebasing: record[12..<(12 + length)])
                    )
                }
            }
            PerfTasks.note(
                type: type,
                record,
                sampleIDAll: layouts.sampleIDBlock(of: record).size,
                into: &commands
            )
            let extra = PerfRecordType.trailingBytes(type, record)
            guard extra <= records.upperBound - offset - size else { return }
            offset += size + extra
        }
    }

    /// The most bytes one compressed record may decompress to: perf compresses at most one
    /// ring buffer's worth (the COMPRESSED feature's mmap length) into a run of records.
    static let maxRecordOutput = 256 << 20

    /// The samples and other records in time order.
    public func orderedRecords() -> PerfRecordStream { PerfRecordStream(file: self) }
}

/// The feature bits of the perf.data header that foliotrace reads (perf's `util/header.h`).
enum PerfFeature: Int {
    case tracingData = 1
    case hostname = 3
    case osRelease = 4
    case version = 5
    case arch = 6
    case nrCPUs = 7
    case commandLine = 11
    case eventDesc = 12
    case dirFormat = 24
    case compressed = 27
    /// simpleperf's own feature (FEAT_META_INFO, `record_file_format.h`).
    case simpleperfMetaInfo = 129
}

/// Facts the feature sections record about the capture.
public struct PerfFeatures: Sendable {
    public var hostname: String?
    public var osRelease: String?
    /// `uname -m` of the traced machine ("x86_64", "aarch64").
    public var arch: String?
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

/// `enum perf_event_sample_format` (include/uapi/linux/perf_event.h): which fields a sample
/// carries, in the order of `PERF_RECORD_SAMPLE`'s layout (identifier first, then ip, tid,
/// time, addr, id, stream_id, cpu, period, read, callchain, raw).
public struct PerfSampleType: OptionSet, Sendable, Equatable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let ip = Self(rawValue: 1 << 0)
    public static let tid = Self(rawValue: 1 << 1)
    public static let time = Self(rawValue: 1 << 2)
    public static let addr = Self(rawValue: 1 << 3)
    public static let read = Self(rawValue: 1 << 4)
    public static let callchain = Self(rawValue: 1 << 5)
    public static let id = Self(rawValue: 1 << 6)
    public static let cpu = Self(rawValue: 1 << 7)
    public static let period = Self(rawValue: 1 << 8)
    public static let streamID = Self(rawValue: 1 << 9)
    public static let raw = Self(rawValue: 1 << 10)
    public static let identifier = Self(rawValue: 1 << 16)
}

/// `enum perf_event_read_format`: what PERF_SAMPLE_READ's values hold.
public struct PerfReadFormat: OptionSet, Sendable, Equatable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let totalTimeEnabled = Self(rawValue: 1 << 0)
    public static let totalTimeRunning = Self(rawValue: 1 << 1)
    public static let id = Self(rawValue: 1 << 2)
    /// One value per group member instead of one.
    public static let group = Self(rawValue: 1 << 3)
    public static let lost = Self(rawValue: 1 << 4)
}

/// The part of `struct perf_event_attr` (include/uapi/linux/perf_event.h) a reader needs.
public struct PerfEventAttr: Sendable {
    /// PERF_TYPE_TRACEPOINT is 2; `config` is then the tracepoint's event id.
    public var type: UInt32
    /// The attribute's size as the writer's kernel headers knew it.
    public var size: Int
    public var config: UInt64
    public var sampleType: PerfSampleType
    public var readFormat: PerfReadFormat
    /// The attribute's flag bits (disabled, inherit, ..., sample_id_all at bit 18).
    public var flags: UInt64
    /// The sample ids perf gave this event's counters (one per CPU or thread).
    public var ids: [UInt64] = []

    public var isTracepoint: Bool { type == 2 }
    /// A breakpoint's address (`bp_addr`, the union with `config1`).
    public var breakpointAddress: UInt64 = 0
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
        sampleType = PerfSampleType(rawValue: try c.u64("attr sample_type"))
        readFormat = PerfReadFormat(rawValue: try c.u64("attr read_format"))
        flags = try c.u64("attr flags")
        c.offset = 56
        breakpointAddress = try c.u64("attr bp_addr")
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
    case eventUpdate = 78
    case finishedRound = 68
    case auxtrace = 71
    case headerFeature = 80
    case compressed = 81
    case compressed2 = 83
}

extension PerfRecordType {
    /// simpleperf's SIMPLE_PERF_RECORD_TRACING_DATA (32768 + 9, simpleperf's record.h).
    static let simpleperfTracingData: UInt32 = 32777

    /// The type and size of the record at `offset` (8 bytes must be there). simpleperf's own
    /// records (types above 32768) keep the size's high 16 bits where perf has `misc`.
    @inline(__always)
    static func header(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (type: UInt32, size: Int) {
        let type = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        var size = Int(bytes.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self))
        if type > 32768 { size |= Int(bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)) << 16 }
        return (type, size)
    }

    /// Bytes that follow a record beyond its header's size: the tracing data of
    /// PERF_RECORD_HEADER_TRACING_DATA (`u32 size`, padded to 8) and the trace of
    /// PERF_RECORD_AUXTRACE (`u64 size`). Every other record is exactly its size.
    static func trailingBytes(_ type: UInt32, _ record: UnsafeRawBufferPointer) -> Int {
        switch PerfRecordType(rawValue: type) {
        case .headerTracingData where record.count >= 12:
            // perf's data follows the record; older simpleperf wrote it inside (the size
            // then covers it, padded to 64 bytes).
            let length = Int(record.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            return length <= record.count - 12 ? 0 : (length + 7) & ~7
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
