/// The event formats and symbol tables a capture carries, in the layout tracefs tools write.
///
/// trace-cmd writes these at the start of a trace.dat v6 (and as separate sections in v7);
/// `perf record` writes the same bytes as its tracing-data feature section (perf's
/// `util/trace-event-info.c`, read back by `util/trace-event-read.c`): the magic
/// `"\x17\x08\x44tracing"`, a version string, the endianness, long and page sizes, then
/// header_page, header_event, the ftrace formats, the event formats, kallsyms, printk formats
/// and (perf 0.6 and trace-cmd) saved cmdlines. One parser serves both, so an event format
/// means the same thing whichever tool recorded it.
public struct TracingData {
    /// Whether numbers in the capture are big-endian.
    public var bigEndian = false
    /// The traced machine's `long` size in bytes.
    public var longSize = 8
    /// The traced machine's page size.
    public var pageSize = 4096
    /// The text of `events/header_page` and `events/header_event` at capture time.
    public var headerPage = ""
    public var headerEvent = ""
    /// The format files of the ftrace-internal events (bytes in the file or a decompressed
    /// section, valid while the file that read them lives).
    public var ftraceFormats: [UnsafeRawBufferPointer] = []
    /// The format files of all other events, with the system each belongs to.
    public var eventFormats: [(system: String, format: UnsafeRawBufferPointer)] = []
    /// `/proc/kallsyms` at capture time (may be empty: perf writes none). A v7 trace.dat
    /// fills it (and `printkFormats`) when `TraceFile.kallsyms` is first read.
    public var kallsyms = UnsafeRawBufferPointer(start: nil, count: 0)
    /// `printk_formats` at capture time.
    public var printkFormats = ""
    /// `saved_cmdlines` at capture time: "pid comm" lines.
    public var savedCmdlines = ""
    /// The byte layout of ring-buffer pages, from `header_page`.
    public var pageLayout = RingBufferPageLayout()

    static let magic: [UInt8] = [0x17, 0x08, 0x44] + Array("tracing".utf8)

    init() {}

    /// Reads the fixed prefix (magic, version string, endianness, long size, page size) and
    /// returns the version string, which each format checks itself ("6"/"7" for trace-cmd,
    /// "0.5"/"0.6" for perf). `c` is left in the file's byte order.
    mutating func readPrefix(_ c: inout ByteCursor) throws(TraceProblem) -> String {
        guard c.remaining >= 10, c.bytes[c.offset..<(c.offset + 10)].elementsEqual(TracingData.magic) else {
            throw TraceProblem(.notATrace)
        }
        c.offset += 10
        let version = try c.cString("file version")
        let endian = try c.slice(1, "endianness")[0]
        guard endian <= 1 else { throw TraceProblem(.corrupt("endianness flag \(endian)")) }
        bigEndian = endian == 1
        longSize = Int(try c.slice(1, "long size")[0])
        c = ByteCursor(c.bytes, bigEndian: bigEndian, offset: c.offset)
        pageSize = Int(try c.u32("page size"))
        guard pageSize >= 512, pageSize <= 1 << 20 else { throw TraceProblem(.corrupt("page size \(pageSize)")) }
        return version
    }

    /// Reads the sections that follow the prefix in a v6 trace.dat and in perf's tracing data.
    /// - Parameter cmdlinesOptional: perf before tracing-data version 0.6 ends after printk.
    mutating func readSequence(_ c: inout ByteCursor, cmdlinesOptional: Bool = false) throws(TraceProblem) {
        try readHeaderInfo(&c)
        try readFtraceFormats(&c)
        try readEventFormats(&c)
        try readKallsyms(&c)
        try readPrintk(&c)
        if !cmdlinesOptional || c.remaining >= 8 { try readCmdlines(&c) }
    }

    mutating func readHeaderInfo(_ c: inout ByteCursor) throws(TraceProblem) {
        try c.expect(Array("header_page\0".utf8), "'header_page'")
        headerPage = try c.slice(Int(clamping: try c.u64("header_page size")), "header_page").text
        try c.expect(Array("header_event\0".utf8), "'header_event'")
        headerEvent = try c.slice(Int(clamping: try c.u64("header_event size")), "header_event").text
        pageLayout = try RingBufferPageLayout(headerPage: headerPage)
    }

    mutating func readFtraceFormats(_ c: inout ByteCursor) throws(TraceProblem) {
        let count = try c.u32("ftrace format count")
        for i in 0..<count {
            let size = try c.u64("ftrace format \(i) size")
            ftraceFormats.append(try c.slice(Int(clamping: size), "ftrace format \(i)"))
        }
    }

    mutating func readEventFormats(_ c: inout ByteCursor) throws(TraceProblem) {
        let systems = try c.u32("event system count")
        for _ in 0..<systems {
            let system = try c.cString("event system name")
            let count = try c.u32("event count of \(system)")
            for i in 0..<count {
                let size = try c.u64("\(system) format \(i) size")
                eventFormats.append((system, try c.slice(Int(clamping: size), "\(system) format \(i)")))
            }
        }
    }

    mutating func readKallsyms(_ c: inout ByteCursor) throws(TraceProblem) {
        kallsyms = try c.slice(Int(try c.u32("kallsyms size")), "kallsyms")
    }

    mutating func readPrintk(_ c: inout ByteCursor) throws(TraceProblem) {
        printkFormats = try c.slice(Int(try c.u32("printk formats size")), "printk formats").text
    }

    mutating func readCmdlines(_ c: inout ByteCursor) throws(TraceProblem) {
        savedCmdlines = try c.slice(Int(clamping: try c.u64("cmdlines size")), "cmdlines").text
    }

    /// The `name:` and `ID:` lines at the top of a tracepoint's format file.
    static func formatHeader(_ format: UnsafeRawBufferPointer) -> (id: UInt64, name: String)? {
        var name: String?
        var lineStart = 0
        for i in format.indices where format[i] == UInt8(ascii: "\n") {
            let line = UnsafeRawBufferPointer(rebasing: format[lineStart..<i])
            lineStart = i + 1
            if line.starts(with: "name: ".utf8) {
                name = String(decoding: line.dropFirst(6), as: UTF8.self)
            } else if line.starts(with: "ID: ".utf8) {
                guard let name, let id = UInt64(String(decoding: line.dropFirst(4), as: UTF8.self)) else { return nil }
                return (id, name)
            }
        }
        return nil
    }

    /// The task names of `saved_cmdlines`: pid -> comm, as the kernel last saw them.
    ///
    /// The kernel writes ASCII "pid comm" lines; those are cut as bytes. Text with a byte
    /// outside ASCII, or a carriage return, goes through `String`'s own splitting, whose
    /// Characters (a "\r\n" pair, a space with a combining mark) bytes would not match: cut
    /// by Character, the 6 552 lines of the scale capture cost 61 M instructions, more than
    /// `analyze` spends on most fixtures' records (docs/performance.md).
    public func savedCommands() -> [Int32: String] {
        var text = savedCmdlines
        let cut = text.withUTF8 { bytes -> [Int32: String]? in
            guard !bytes.contains(where: { $0 >= 0x80 || $0 == UInt8(ascii: "\r") }) else { return nil }
            var out: [Int32: String] = [:]
            var start = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
                defer { start = end + 1 }
                let line = UnsafeBufferPointer(rebasing: bytes[start..<end])
                guard let space = line.firstIndex(of: UInt8(ascii: " ")),
                    let pid = Self.int32(UnsafeBufferPointer(rebasing: line[..<space]))
                else { continue }
                out[pid] = String(decoding: line[(space + 1)...], as: UTF8.self)
            }
            return out
        }
        if let cut { return cut }
        var out: [Int32: String] = [:]
        for line in savedCmdlines.split(separator: "\n") {
            guard let space = line.firstIndex(of: " "), let pid = Int32(line[..<space]) else { continue }
            out[pid] = String(line[line.index(after: space)...])
        }
        return out
    }

    /// `Int32(_: String)` over ASCII bytes: an optional sign, then at least one digit, nil on
    /// anything else or on overflow.
    static func int32(_ b: UnsafeBufferPointer<UInt8>) -> Int32? {
        var i = 0
        var negative = false
        if let first = b.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            i = 1
        }
        guard i < b.count else { return nil }
        var v: Int64 = 0
        while i < b.count {
            let d = b[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            v = v * 10 + Int64(d)
            guard v <= Int64(Int32.max) + 1 else { return nil }
            i += 1
        }
        if negative { v = -v }
        return v < Int64(Int32.min) || v > Int64(Int32.max) ? nil : Int32(v)
    }
}
