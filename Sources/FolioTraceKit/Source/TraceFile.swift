/// A trace-cmd trace.dat file (version 6 or 7), opened and its metadata read.
///
/// The layout follows trace-cmd's documentation (`trace-cmd.dat.v6(5)`, `trace-cmd.dat.v7(5)`)
/// and its reader (`lib/trace-cmd/trace-input.c`): a fixed header, then either the v6
/// sequence of header/formats/kallsyms/printk/cmdlines/options/flyrecord, or the v7 chain of
/// option sections that point at (possibly compressed) sections. CPU data stays in the memory
/// map and is walked page by page by `CPUStream`.
public final class TraceFile {
    /// The path the file was opened from.
    public let path: String
    /// The file format version, 6 or 7.
    public let version: Int
    /// The compression the file declares ("none" for v6).
    public let compressionName: String
    /// The event formats, kallsyms, printk formats and cmdlines the file carries.
    public private(set) var tracing = TracingData()

    /// Whether numbers in the file are big-endian.
    public var bigEndian: Bool { tracing.bigEndian }
    /// The traced machine's user-space `long` size in bytes.
    public var longSize: Int { tracing.longSize }
    /// The traced machine's page size.
    public var pageSize: Int { tracing.pageSize }
    /// The text of `events/header_page` and `events/header_event` at capture time.
    public var headerPage: String { tracing.headerPage }
    public var headerEvent: String { tracing.headerEvent }
    /// The format files of the ftrace-internal events.
    public var ftraceFormats: [UnsafeRawBufferPointer] { tracing.ftraceFormats }
    /// The format files of all other events, with the system each belongs to.
    public var eventFormats: [(system: String, format: UnsafeRawBufferPointer)] { tracing.eventFormats }
    /// `/proc/kallsyms` at capture time (may be empty). In a v7 file its section is
    /// decompressed on first use (empty when that fails): see `deferredSections`.
    public var kallsyms: UnsafeRawBufferPointer {
        readDeferredSections()
        return tracing.kallsyms
    }
    /// `printk_formats` at capture time; in a v7 file read on first use, as `kallsyms`.
    public var printkFormats: String {
        readDeferredSections()
        return tracing.printkFormats
    }
    /// `saved_cmdlines` at capture time: "pid comm" lines.
    public var savedCmdlines: String { tracing.savedCmdlines }
    /// What the options say about the capture.
    public private(set) var options = TraceOptions()
    /// Every ring buffer the file holds: the top instance (named "") and any others.
    public private(set) var buffers: [TraceBuffer] = []
    /// What is damaged in the file and how far it was read anyway, one sentence each (empty
    /// for a sound file). Reports repeat these: findings from a damaged file may be incomplete.
    public private(set) var damage: [String] = []
    /// The buffer foliotrace reads: the top instance when it has data, else the first
    /// instance that has (as `trace-cmd extract -B NAME` writes only that instance).
    public var primaryBuffer: TraceBuffer {
        buffers.first { $0.name.isEmpty && $0.hasData } ?? buffers.first { $0.hasData }
            ?? buffers.first { $0.name.isEmpty } ?? TraceBuffer(name: "", cpus: [])
    }
    /// The primary buffer's per-CPU data, in CPU order.
    public var cpuBuffers: [CPUBuffer] { primaryBuffer.cpus }
    /// The byte layout of ring-buffer pages, from `header_page`.
    public var pageLayout: RingBufferPageLayout { tracing.pageLayout }

    let compression: Compression
    let file: MappedFile
    /// Decompressed metadata sections, kept alive because `kallsyms` points into them.
    private var ownedSections: [OwnedBytes] = []
    /// The v7 sections nothing reads while analyzing (kallsyms, printk formats), by id and
    /// offset, until `kallsyms` or `printkFormats` is first read. Decompressing kallsyms was
    /// two thirds of `foliotrace events` on a small zstd capture (67 M of 101 M instructions
    /// for linux-6.12/healthy-thp-all-rmap.dat, docs/performance.md); no analysis uses it.
    private var deferredSections: [(id: UInt16, offset: UInt64)] = []

    /// Opens and reads the metadata of a trace.dat file.
    /// - Throws: `TraceFileError` naming the file and the problem.
    public init(path: String) throws(TraceFileError) {
        self.path = path
        do throws(TraceProblem) {
            file = try MappedFile(path: path)
            var c = ByteCursor(file.bytes)
            var prefix = TracingData()
            let versionText = try prefix.readPrefix(&c)
            guard let v = Int(versionText) else { throw TraceProblem(.unsupportedVersion("'\(versionText)'")) }
            guard v == 6 || v == 7 else { throw TraceProblem(.unsupportedVersion(versionText)) }
            version = v
            if v >= 7 {
                compressionName = try c.cString("compression name")
                _ = try c.cString("compression version")
                compression = try Compression(name: compressionName)
                tracing = prefix
                let optionsOffset = try c.u64("first options offset")
                try readSections(firstOptions: optionsOffset)
            } else {
                compressionName = "none"
                compression = .none
                tracing = prefix
                try readVersion6(&c)
            }
            try checkCPUBuffers()
        } catch {
            throw TraceFileError(path: path, problem: error.problem)
        }
    }

    static let magic = TracingData.magic

    /// The task names of `saved_cmdlines`: pid -> comm, as the kernel last saw them.
    public func savedCommands() -> [Int32: String] { tracing.savedCommands() }

    // MARK: version 6

    private func readVersion6(_ c: inout ByteCursor) throws(TraceProblem) {
        try tracing.readSequence(&c)
        let cpus = Int(try c.u32("CPU count"))
        guard cpus <= TraceLimits.cpus else { throw TraceProblem(.corrupt("CPU count \(cpus)")) }
        var kind = try c.slice(10, "data kind").text
        if kind.hasPrefix("options") {
            try readOptions(&c, sectioned: false)
            kind = try c.slice(10, "data kind").text
        }
        guard kind.hasPrefix("flyrecord") else {
            if kind.hasPrefix("latency") { throw TraceProblem(.corrupt("latency traces carry no events")) }
            throw TraceProblem(.corrupt("expected 'flyrecord', found '\(kind.prefix(9))'"))
        }
        buffers.insert(TraceBuffer(name: "", cpus: try readFlyrecordCPUs(&c, cpus: cpus)), at: 0)
        // Instances: each BUFFER option points at its own [options] + flyrecord block.
        for i in buffers.indices where !buffers[i].name.isEmpty {
            var b = ByteCursor(file.bytes, bigEndian: bigEndian, offset: Int(clamping: buffers[i].offset))
            var kind = try b.slice(10, "buffer \(buffers[i].name) data kind").text
            if kind.hasPrefix("options") {
                var scratch = TraceOptions()
                swap(&scratch, &options)
                defer { swap(&scratch, &options) }
                try readOptions(&b, sectioned: false)
                kind = try b.slice(10, "buffer \(buffers[i].name) data kind").text
            }
            guard kind.hasPrefix("flyrecord") else { continue }
            buffers[i].cpus = try readFlyrecordCPUs(&b, cpus: cpus)
        }
    }

    private func readFlyrecordCPUs(_ c: inout ByteCursor, cpus: Int) throws(TraceProblem) -> [CPUBuffer] {
        var out: [CPUBuffer] = []
        for cpu in 0..<cpus {
            let offset = try c.u64("CPU \(cpu) data offset")
            let size = try c.u64("CPU \(cpu) data size")
            out.append(CPUBuffer(cpu: cpu, offset: offset, size: size, compressed: false, pageSize: pageSize))
        }
        return out
    }

    // MARK: version 7

    private func readSections(firstOptions: UInt64) throws(TraceProblem) {
        var sectionOffsets: [UInt16: UInt64] = [:]
        var next = firstOptions
        var seen = Set<UInt64>()
        while next != 0 {
            guard seen.insert(next).inserted else { throw TraceProblem(.corrupt("options sections form a loop")) }
            var data = try sectionData(at: next, expecting: 0, what: "options section")
            next = try readOptions(&data.cursor, sectioned: true, sectionOffsets: &sectionOffsets)
        }
        for id in TraceOptionID.headerInfo.rawValue...TraceOptionID.cmdlines.rawValue {
            guard let offset = sectionOffsets[id] else { continue }
            if id == TraceOptionID.kallsyms.rawValue || id == TraceOptionID.printk.rawValue {
                deferredSections.append((id, offset))
                continue
            }
            var data = try sectionData(at: offset, expecting: id, what: "section \(id)")
            switch TraceOptionID(rawValue: id) {
            case .headerInfo: try tracing.readHeaderInfo(&data.cursor)
            case .ftraceEvents: try tracing.readFtraceFormats(&data.cursor)
            case .eventFormats: try tracing.readEventFormats(&data.cursor)
            case .kallsyms: try tracing.readKallsyms(&data.cursor)
            case .printk: try tracing.readPrintk(&data.cursor)
            default: try tracing.readCmdlines(&data.cursor)
            }
        }
        if !buffers.contains(where: { $0.name.isEmpty }) {
            damage.append("no ring buffer of the top instance is described (its BUFFER option is missing or damaged)")
        }
    }

    /// Reads the sections `readSections` left for later; one that cannot be read stays empty
    /// and is named in `damage` from then on (only what reads it can know).
    private func readDeferredSections() {
        guard !deferredSections.isEmpty else { return }
        let sections = deferredSections
        deferredSections = []
        for (id, offset) in sections {
            do throws(TraceProblem) {
                var data = try sectionData(at: offset, expecting: id, what: "section \(id)")
                if id == TraceOptionID.kallsyms.rawValue {
                    try tracing.readKallsyms(&data.cursor)
                } else {
                    try tracing.readPrintk(&data.cursor)
                }
            } catch {
                let name = id == TraceOptionID.kallsyms.rawValue ? "kallsyms" : "printk formats"
                damage.append("the \(name) section is damaged (\(error.problem)); read as empty")
            }
        }
    }

    /// The bytes of a v7 section: in place when stored plain, decompressed when not.
    private func sectionData(
        at offset: UInt64,
        expecting id: UInt16,
        what: String
    ) throws(TraceProblem)
        -> (cursor: ByteCursor, compressed: Bool)
    {
        guard offset < UInt64(file.bytes.count) else {
            throw TraceProblem(
                .truncated("\(what) at offset \(offset) is past the end of the file (\(file.bytes.count) bytes)")
            )
        }
        var c = ByteCursor(file.bytes, bigEndian: bigEndian, offset: Int(offset))
        let sid = try c.u16("\(what) id")
        let flags = try c.u16("\(what) flags")
        _ = try c.u32("\(what) description")
        let size = try c.u64("\(what) size")
        guard sid == id else { throw TraceProblem(.corrupt("\(what) at offset \(offset) has id \(sid)")) }
        if flags & 1 != 0 {
            let block = try compression.uncompressBlock(&c, what: what)
            ownedSections.append(block)
            return (ByteCursor(UnsafeRawBufferPointer(block.bytes), bigEndian: bigEndian), true)
        }
        guard size <= UInt64(c.remaining) else {
            throw TraceProblem(.truncated("\(what) needs \(size) bytes at offset \(c.offset), file has \(c.remaining)"))
        }
        return (ByteCursor(try c.slice(Int(size), what), bigEndian: bigEndian), false)
    }

    // MARK: shared pieces

    /// Reads one options list. In v7 it ends with a DONE option holding the next section's
    /// offset, which is returned; in v6 it ends with a bare zero id.
    @discardableResult
    private func readOptions(_ c: inout ByteCursor, sectioned: Bool) throws(TraceProblem) -> UInt64 {
        var ignored: [UInt16: UInt64] = [:]
        return try readOptions(&c, sectioned: sectioned, sectionOffsets: &ignored)
    }

    private func readOptions(
        _ c: inout ByteCursor,
        sectioned: Bool,
        sectionOffsets: inout [UInt16: UInt64]
    )
        throws(TraceProblem) -> UInt64
    {
        while true {
            let id = try c.u16("option id")
            if id == 0 && !sectioned { return 0 }
            let size = Int(try c.u32("option \(id) size"))
            var o = ByteCursor(try c.slice(size, "option \(id)"), bigEndian: bigEndian)
            switch TraceOptionID(rawValue: id) {
            case .done: return try o.u64("next options offset")
            case .buffer: try readBufferOption(&o, sectioned: sectioned)
            case .headerInfo, .ftraceEvents, .eventFormats, .kallsyms, .printk, .cmdlines:
                sectionOffsets[id] = try o.u64("section offset option \(id)")
            case let known?:
                // An option that only describes the capture is not worth the data: a damaged
                // one is noted and the file read on.
                do throws(TraceProblem) {
                    try readDescriptiveOption(known, &o)
                } catch {
                    damage.append("option \(id) is damaged (\(error.problem)); ignored")
                }
            case nil: break
            }
        }
    }

    private func readDescriptiveOption(_ id: TraceOptionID, _ o: inout ByteCursor) throws(TraceProblem) {
        switch id {
        case .date: options.date = o.optionText()
        case .cpuStat: options.cpuStats.append(o.optionText())
        case .traceClock:
            // Empty in files of trace-cmd 2.9 and older: the clock is then unknown.
            let clock = TraceOptions.selectedClock(o.optionText())
            if !clock.isEmpty { options.traceClock = clock }
        case .uname: options.uname = o.optionText()
        case .offset: options.timestampOffset = Int64(o.optionText().trimmingSpaces) ?? 0
        case .cpuCount: options.cpuCount = Int(try o.u32("cpu count option"))
        case .version: options.traceCmdVersion = o.optionText()
        case .tsc2nsec:
            let mult = try o.u32("tsc2nsec mult")
            let shift = try o.u32("tsc2nsec shift")
            let offset = try o.u64("tsc2nsec offset")
            options.tsc2nsec = (mult, shift, offset)
        case .timeShift:
            options.timeShift = try TimeShift(&o)
        case .statItems:
            for line in o.optionText().split(separator: "\n") {
                let w = line.split(separator: " ")
                guard w.count == 3, let v = Int64(w[2]) else { continue }
                options.statItems[String(w[0]), default: [:]][v] = String(w[1])
            }
        case .enabledEvents:
            options.enabledEvents = Set(o.optionText().split(separator: "\n").map(String.init))
        case .cgroupPaths:
            for line in o.optionText().split(separator: "\n") {
                guard let space = line.firstIndex(of: " "), let id = UInt64(line[..<space]) else { continue }
                options.cgroupPaths[id] = String(line[line.index(after: space)...])
            }
        default: break
        }
    }

    private func readBufferOption(_ o: inout ByteCursor, sectioned: Bool) throws(TraceProblem) {
        let offset = try o.u64("buffer offset")
        let name = try o.cString("buffer name")
        if !name.isEmpty { options.instances.append(name) }
        guard sectioned else {
            buffers.append(TraceBuffer(name: name, offset: offset, cpus: []))
            return
        }
        let clock = try o.cString("buffer clock")
        let bufferPageSize = Int(try o.u32("buffer page size"))
        let cpus = Int(try o.u32("buffer CPU count"))
        if name.isEmpty, options.traceClock == nil { options.traceClock = clock }
        // The flyrecord section header says whether its CPU data is compressed.
        guard offset < UInt64(file.bytes.count) else {
            throw TraceProblem(
                .truncated("buffer section at offset \(offset) is past the end of the file (\(file.bytes.count) bytes)")
            )
        }
        var h = ByteCursor(file.bytes, bigEndian: bigEndian, offset: Int(offset))
        _ = try h.u16("buffer section id")
        let flags = try h.u16("buffer section flags")
        var buffer = TraceBuffer(name: name, offset: offset, cpus: [])
        for _ in 0..<cpus {
            let cpu = Int(try o.u32("buffer CPU id"))
            guard cpu < TraceLimits.cpus else { throw TraceProblem(.corrupt("buffer '\(name)' names CPU \(cpu)")) }
            let dataOffset = try o.u64("buffer CPU data offset")
            let size = try o.u64("buffer CPU data size")
            buffer.cpus.append(
                CPUBuffer(
                    cpu: cpu,
                    offset: dataOffset,
                    size: size,
                    compressed: flags & 1 != 0,
                    pageSize: bufferPageSize > 0 ? bufferPageSize : pageSize
                )
            )
        }
        buffer.cpus.sort { $0.cpu < $1.cpu }
        for (a, b) in zip(buffer.cpus, buffer.cpus.dropFirst()) where a.cpu == b.cpu {
            throw TraceProblem(.corrupt("buffer '\(name)' describes CPU \(a.cpu) twice"))
        }
        buffers.append(buffer)
    }

    /// Cuts each CPU's data to what the file holds, as trace-cmd reads a cut file as far as it
    /// goes, and says so in `damage`.
    private func checkCPUBuffers() throws(TraceProblem) {
        let fileSize = UInt64(file.bytes.count)
        for i in buffers.indices {
            for j in buffers[i].cpus.indices where buffers[i].cpus[j].size > 0 {
                let b = buffers[i].cpus[j]
                guard b.offset > fileSize || b.size > fileSize - b.offset else { continue }
                let kept = b.offset > fileSize ? 0 : fileSize - b.offset
                let instance = buffers[i].name.isEmpty ? "" : " of instance '\(buffers[i].name)'"
                damage.append(
                    "CPU \(b.cpu)\(instance): the file holds \(kept) of its \(b.size) bytes of data (cut at offset \(fileSize)); read as far as it goes"
                )
                buffers[i].cpus[j].size = kept
                if kept == 0 { buffers[i].cpus[j].offset = 0 }
            }
        }
        guard pageLayout.dataOffset < pageSize else { throw TraceProblem(.corrupt("header_page data offset")) }
    }
}

/// Bounds on numbers read from a file, so that a damaged field cannot size an allocation.
enum TraceLimits {
    /// CPU ids and counts: the kernel's largest NR_CPUS (CONFIG_MAXSMP) is 8192.
    static let cpus = 8192
}

/// trace.dat option ids: trace-cmd's `enum tracecmd_option_id` (trace-cmd.h) and foliotrace's
/// own, which trace-cmd skips as it skips every id it does not know.
public enum TraceOptionID: UInt16 {
    /// v7: ends an options section with the offset of the next one.
    case done = 0
    case date = 1
    case cpuStat = 2
    case buffer = 3
    case traceClock = 4
    case uname = 5
    case offset = 7
    case cpuCount = 8
    case version = 9
    /// A guest's clock shift onto its host's (`ClockCorrection`).
    case timeShift = 12
    case tsc2nsec = 14
    /// v7's section offsets: header info, ftrace and event formats, kallsyms, printk, cmdlines.
    case headerInfo = 16
    case ftraceEvents = 17
    case eventFormats = 18
    case kallsyms = 19
    case printk = 20
    case cmdlines = 21
    /// foliotrace's own: "cgroup-id path" lines for the memcgs that existed at capture.
    case cgroupPaths = 0x4654
    /// foliotrace's own: "enum NAME value" lines of the enums whose values memcg
    /// tracepoints print as numbers (node_stat_item, memcg_stat_item, vm_event_item).
    case statItems = 0x4655
    /// foliotrace's own: "system:event" lines of the events the capture enabled, so that
    /// an event that never fired reads as silent, not as missing.
    case enabledEvents = 0x4656
}

/// Facts the trace.dat options record about the capture.
public struct TraceOptions: Sendable {
    /// `uname -a` of the traced machine, when recorded.
    public var uname: String?
    /// cgroup id -> path of the memcgs at capture (`foliotrace record`'s own option).
    public var cgroupPaths: [UInt64: String] = [:]
    /// The "system:event" names the capture enabled (`foliotrace record`'s own option); nil
    /// when the file does not say (then only the events that occurred are known to be on).
    public var enabledEvents: Set<String>?
    /// enum -> value -> enumerator for the stat items of memcg events (`foliotrace record`).
    public var statItems: [String: [Int64: String]] = [:]
    /// The trace-cmd version that wrote the file.
    public var traceCmdVersion: String?
    /// The number of CPUs of the traced machine.
    public var cpuCount: Int?
    /// The trace clock ("local", "global", "x86-tsc"...).
    public var traceClock: String?
    /// `per_cpu/cpuN/stats` of each CPU at the end of the capture.
    public var cpuStats: [String] = []
    /// The DATE option: offset between trace timestamps and the time of day.
    public var date: String?
    /// The OFFSET option, added to every timestamp as trace-cmd does.
    public var timestampOffset: Int64 = 0
    /// The TSC2NSEC option (mult, shift, offset): `x86-tsc` ticks to nanoseconds.
    public var tsc2nsec: (mult: UInt32, shift: UInt32, offset: UInt64)?
    /// The TIME_SHIFT option of a guest's file: its clock onto the host's.
    public var timeShift: TimeShift?
    /// Names of the instance buffers beside the top one.
    public var instances: [String] = []

    /// The clock in use from a copy of the `trace_clock` file ("[local] global ..." -> "local").
    static func selectedClock(_ text: String) -> String {
        guard let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]") else {
            return text.trimmingSpaces
        }
        return String(text[text.index(after: open)..<close])
    }

    /// `uname -m` from the uname option ("x86_64", "aarch64", "s390x"): trace-cmd writes
    /// "sysname nodename release version machine", so it is the last word.
    public var machine: String? {
        guard let uname, let last = uname.split(separator: " ").last, uname.split(separator: " ").count >= 4 else {
            return nil
        }
        return String(last)
    }

    /// The kernel release from the uname option ("6.18.44-..."), when the file says.
    public var kernelRelease: String? {
        guard let uname else { return nil }
        let parts = uname.split(separator: " ")
        return parts.count >= 3 ? String(parts[2]) : nil
    }
}

/// One ring buffer (tracefs instance) of the file.
public struct TraceBuffer: Sendable {
    /// The instance name; "" for the top instance.
    public var name: String
    /// Where the buffer's description starts in the file.
    var offset: UInt64 = 0
    /// Its CPUs' data, in CPU order.
    public var cpus: [CPUBuffer]

    init(name: String, offset: UInt64 = 0, cpus: [CPUBuffer]) {
        self.name = name
        self.offset = offset
        self.cpus = cpus
    }

    public var hasData: Bool { cpus.contains { $0.size > 0 } }
}

/// One CPU's ring-buffer data in the file.
public struct CPUBuffer: Sendable {
    public var cpu: Int
    public var offset: UInt64
    public var size: UInt64
    public var compressed: Bool
    /// The ring-buffer sub-buffer size (the kernel page size unless configured).
    public var pageSize: Int
}

/// Where the parts of a ring-buffer page are, from `events/header_page`.
public struct RingBufferPageLayout: Sendable {
    /// Size of the `commit` word (the kernel's `long`).
    public var commitSize = 8
    /// Offset of the first event in a page.
    public var dataOffset = 16

    init() {}

    init(headerPage: String) throws(TraceProblem) {
        for line in headerPage.split(separator: "\n") {
            let fields = parseFormatFieldLine(line)
            guard let name = fields.name else { continue }
            if name == "commit", let size = fields.size { commitSize = size }
            if name == "data", let offset = fields.offset { dataOffset = offset }
        }
        guard commitSize == 4 || commitSize == 8 else {
            throw TraceProblem(.corrupt("header_page commit size \(commitSize)"))
        }
    }
}

/// Picks the name, offset and size out of a format-file line such as
/// `field: local_t commit;\toffset:8;\tsize:8;\tsigned:1;`.
func parseFormatFieldLine(_ line: Substring) -> (name: String?, offset: Int?, size: Int?) {
    guard let fieldRange = line.firstRange(of: "field:") else { return (nil, nil, nil) }
    let rest = line[fieldRange.upperBound...]
    guard let semi = rest.firstIndex(of: ";") else { return (nil, nil, nil) }
    var decl = rest[..<semi]
    if let bracket = decl.firstIndex(of: "[") { decl = decl[..<bracket] }
    let name = decl.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "*" }).last.map(String.init)
    func number(after key: String) -> Int? {
        guard let r = line.firstRange(of: key) else { return nil }
        return Int(line[r.upperBound...].prefix(while: { $0.isNumber }))
    }
    return (name, number(after: "offset:"), number(after: "size:"))
}

extension String {
    var trimmingSpaces: String {
        String(
            self.drop(while: { $0 == " " || $0 == "\n" }).reversed().drop(while: { $0 == " " || $0 == "\n" }).reversed()
        )
    }
}
