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

/// Writes a trace.dat in file format version 6, the one every trace-cmd, KernelShark and
/// libtracecmd reads: the tracefs metadata (header page, event formats, kallsyms, printk
/// formats, saved cmdlines), options, then each CPU's raw ring-buffer pages as the kernel
/// handed them out of `per_cpu/cpuN/trace_pipe_raw`, page-aligned. Format:
/// trace-cmd's Documentation/trace-cmd/trace-cmd.dat.v6.5.txt; `TraceFile` reads it back.
public struct TraceDatWriter {
    /// Option ids (the reader's, so both name them alike).
    public typealias Option = TraceOptionID

    public var pageSize: Int
    public var headerPage = Data()
    public var headerEvent = Data()
    /// The ftrace system's formats (trace-cmd writes them before the other systems').
    public var ftraceFormats: [Data] = []
    public var eventSystems: [(system: String, formats: [Data])] = []
    public var kallsyms = Data()
    public var printkFormats = Data()
    public var savedCmdlines = Data()
    public var options: [(Option, Data)] = []

    public init(pageSize: Int) { self.pageSize = pageSize }

    /// The metadata of a capture from `instance`: the kernel's headers, the ftrace formats
    /// and those of the `enabled` events, kallsyms, printk formats, saved cmdlines, and the
    /// clock, uname, version and CPU-count options.
    init(describing instance: TraceFSInstance, enabled: [(system: String, event: String)], cpus: Int) {
        self.init(pageSize: Int(sysconf(Int32(_SC_PAGESIZE))))
        let tracing = instance.tracingDirectory
        headerPage = readWhole("\(tracing)/events/header_page")
        headerEvent = readWhole("\(tracing)/events/header_event")
        let ftrace = "\(tracing)/events/ftrace"
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: ftrace)) ?? []).sorted() {
            let format = readWhole("\(ftrace)/\(name)/format")
            if !format.isEmpty { ftraceFormats.append(format) }
        }
        var systems: [String: [Data]] = [:]
        for (system, event) in enabled where system != "ftrace" {
            systems[system, default: []].append(readWhole("\(tracing)/events/\(system)/\(event)/format"))
        }
        eventSystems = systems.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        kallsyms = readWhole("/proc/kallsyms")
        printkFormats = readWhole("\(tracing)/printk_formats")
        savedCmdlines = readWhole("\(tracing)/saved_cmdlines")
        var u = utsname()
        uname(&u)
        let unameText = withUnsafeBytes(of: u) { raw -> String in
            // sysname, nodename, release, machine (the fields are fixed-size C strings).
            let stride = MemoryLayout.size(ofValue: u.sysname)
            return [0, 1, 2, 4].map {
                String(cString: (raw.baseAddress! + $0 * stride).assumingMemoryBound(to: CChar.self))
            }
            .joined(separator: " ")
        }
        options = [
            (.traceClock, cString(instance.read("trace_clock") ?? "[local]")),
            (.uname, cString(unameText)),
            (.version, cString("foliotrace")),
            (.cpuCount, le32(UInt32(cpus))),
        ]
    }

    /// Writes the file at `path` with one data file per CPU (each a whole number of pages).
    public func write(to path: String, cpuData: [URL]) throws {
        var head = Data()
        head.append(contentsOf: [0x17, 0x08, 0x44])
        head.append(contentsOf: Array("tracing".utf8))
        head.append(contentsOf: Array("6".utf8) + [0])
        head.append(0)  // little-endian
        head.append(UInt8(MemoryLayout<Int>.size))
        head.append(le32(UInt32(pageSize)))
        head.append(contentsOf: Array("header_page\0".utf8))
        head.append(le64(UInt64(headerPage.count)))
        head.append(headerPage)
        head.append(contentsOf: Array("header_event\0".utf8))
        head.append(le64(UInt64(headerEvent.count)))
        head.append(headerEvent)
        head.append(le32(UInt32(ftraceFormats.count)))
        for f in ftraceFormats {
            head.append(le64(UInt64(f.count)))
            head.append(f)
        }
        head.append(le32(UInt32(eventSystems.count)))
        for (system, formats) in eventSystems {
            head.append(contentsOf: Array(system.utf8) + [0])
            head.append(le32(UInt32(formats.count)))
            for f in formats {
                head.append(le64(UInt64(f.count)))
                head.append(f)
            }
        }
        head.append(le32(UInt32(kallsyms.count)))
        head.append(kallsyms)
        head.append(le32(UInt32(printkFormats.count)))
        head.append(printkFormats)
        head.append(le64(UInt64(savedCmdlines.count)))
        head.append(savedCmdlines)
        head.append(le32(UInt32(cpuData.count)))
        head.append(contentsOf: Array("options  \0".utf8))
        for (id, data) in options {
            head.append(le16(id.rawValue))
            head.append(le32(UInt32(data.count)))
            head.append(data)
        }
        head.append(le16(0))
        head.append(contentsOf: Array("flyrecord\0".utf8))

        // Each CPU's pages start on a page boundary, after the table of (offset, size).
        // stat, not FileManager's attributes: FoundationEssentials gives .size as UInt64, which
        // `as? Int` would silently read as a missing size.
        let sizes = try cpuData.map { url -> UInt64 in
            var info = stat()
            guard stat(url.path, &info) == 0 else {
                throw CaptureError("\(url.path): cannot read the spool file: \(String(cString: strerror(errno)))")
            }
            return UInt64(info.st_size)
        }
        var offset = UInt64(head.count + 16 * cpuData.count)
        for size in sizes {
            offset = align(offset)
            head.append(le64(size == 0 ? 0 : offset))
            head.append(le64(size))
            offset += size
        }

        let out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
        guard out >= 0 else {
            throw CaptureError("\(path): cannot create the output file: \(String(cString: strerror(errno)))")
        }
        defer { close(out) }
        try head.withUnsafeBytes { try writeAll(out, $0, path: path) }
        var written = UInt64(head.count)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        for (url, size) in zip(cpuData, sizes) where size > 0 {
            let start = align(written)
            if start > written {
                let zeros = [UInt8](repeating: 0, count: Int(start - written))
                try zeros.withUnsafeBytes { try writeAll(out, $0, path: path) }
            }
            let input = open(url.path, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else {
                throw CaptureError("\(url.path): cannot read the spool file: \(String(cString: strerror(errno)))")
            }
            defer { close(input) }
            while true {
                let n = chunk.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                guard n >= 0 else {
                    throw CaptureError("\(url.path): cannot read the spool file: \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                try chunk.withUnsafeBytes { try writeAll(out, UnsafeRawBufferPointer(rebasing: $0[..<n]), path: path) }
            }
            written = start + size
        }
    }

    /// Writes the file in format version 7 with zstd: each metadata part in its own
    /// compressed section, the options in sections that point at them, and each CPU's pages in
    /// compressed chunks (`count`, then `compressed size, size, zstd frame` per chunk), as
    /// trace-cmd 3's `--file-version 7 --compression zstd` does (trace-cmd.dat.v7.5).
    public func writeVersion7(to path: String, cpuData: [URL], pagesPerChunk: Int = 64) throws {
        var out = Data()
        out.append(contentsOf: [0x17, 0x08, 0x44])
        out.append(contentsOf: Array("tracing".utf8))
        out.append(contentsOf: Array("7".utf8) + [0])
        out.append(0)
        out.append(UInt8(MemoryLayout<Int>.size))
        out.append(le32(UInt32(pageSize)))
        out.append(cString("zstd"))
        out.append(cString(ZstdCompressor.version))
        let firstOptionsAt = out.count
        out.append(le64(0))

        func section(_ id: UInt16, compressed: Bool, _ body: Data) -> UInt64 {
            let at = UInt64(out.count)
            out.append(le16(id))
            out.append(le16(compressed ? 1 : 0))
            out.append(le32(0))
            if compressed {
                let z = ZstdCompressor.compress(body)
                out.append(le64(UInt64(8 + z.count)))
                out.append(le32(UInt32(z.count)))
                out.append(le32(UInt32(body.count)))
                out.append(z)
            } else {
                out.append(le64(UInt64(body.count)))
                out.append(body)
            }
            return at
        }
        var header = Data(Array("header_page\0".utf8))
        header.append(le64(UInt64(headerPage.count)))
        header.append(headerPage)
        header.append(contentsOf: Array("header_event\0".utf8))
        header.append(le64(UInt64(headerEvent.count)))
        header.append(headerEvent)
        var ftrace = le32(UInt32(ftraceFormats.count))
        for f in ftraceFormats {
            ftrace.append(le64(UInt64(f.count)))
            ftrace.append(f)
        }
        var events = le32(UInt32(eventSystems.count))
        for (system, formats) in eventSystems {
            events.append(cString(system))
            events.append(le32(UInt32(formats.count)))
            for f in formats {
                events.append(le64(UInt64(f.count)))
                events.append(f)
            }
        }
        var symbols = le32(UInt32(kallsyms.count))
        symbols.append(kallsyms)
        var printk = le32(UInt32(printkFormats.count))
        printk.append(printkFormats)
        var cmdlines = le64(UInt64(savedCmdlines.count))
        cmdlines.append(savedCmdlines)
        let sections: [(UInt16, UInt64)] = [
            (16, section(16, compressed: true, header)), (17, section(17, compressed: true, ftrace)),
            (18, section(18, compressed: true, events)), (19, section(19, compressed: true, symbols)),
            (20, section(20, compressed: true, printk)), (21, section(21, compressed: true, cmdlines)),
        ]

        // CPU data: one buffer section, each CPU's chunks starting on a page boundary.
        let dataSection = UInt64(out.count)
        out.append(le16(3))
        out.append(le16(1))
        out.append(le32(0))
        let sizeAt = out.count
        out.append(le64(0))
        var cpus: [(offset: UInt64, size: UInt64)] = []
        for url in cpuData {
            let pages = try Data(contentsOf: url)
            out.append(Data(count: Int(align(UInt64(out.count))) - out.count))
            let start = UInt64(out.count)
            let chunkBytes = pagesPerChunk * pageSize
            let chunks = stride(from: 0, to: pages.count, by: chunkBytes).map {
                pages[$0..<min($0 + chunkBytes, pages.count)]
            }
            out.append(le32(UInt32(chunks.count)))
            for c in chunks {
                let z = ZstdCompressor.compress(Data(c))
                out.append(le32(UInt32(z.count)))
                out.append(le32(UInt32(c.count)))
                out.append(z)
            }
            // trace-cmd records a CPU's size without its chunk count.
            cpus.append((start, UInt64(out.count) - start - 4))
        }
        out.replaceSubrange(sizeAt..<(sizeAt + 8), with: le64(UInt64(out.count) - UInt64(sizeAt + 8)))

        // Options: the metadata options and the section offsets, then the buffer.
        var first = Data()
        for (id, data) in options {
            first.append(le16(id.rawValue))
            first.append(le32(UInt32(data.count)))
            first.append(data)
        }
        for (id, offset) in sections {
            first.append(le16(id))
            first.append(le32(8))
            first.append(le64(offset))
        }
        let nextAt = first.count + 6
        first.append(le16(0))
        first.append(le32(8))
        first.append(le64(0))
        let firstAt = section(0, compressed: false, first)
        out.replaceSubrange(firstOptionsAt..<(firstOptionsAt + 8), with: le64(firstAt))

        var buffer = le64(dataSection)
        buffer.append(cString(""))
        buffer.append(cString(Self.selectedClock(options)))
        buffer.append(le32(UInt32(pageSize)))
        buffer.append(le32(UInt32(cpus.count)))
        for (cpu, c) in cpus.enumerated() {
            buffer.append(le32(UInt32(cpu)))
            buffer.append(le64(c.offset))
            buffer.append(le64(c.size))
        }
        var second = le16(3)
        second.append(le32(UInt32(buffer.count)))
        second.append(buffer)
        second.append(le16(0))
        second.append(le32(8))
        second.append(le64(0))
        let secondAt = section(0, compressed: false, second)
        // The first options section's DONE points at the second (its body starts 16 bytes in).
        let patch = Int(firstAt) + 16 + nextAt
        out.replaceSubrange(patch..<(patch + 8), with: le64(secondAt))
        guard FileManager.default.createFile(atPath: path, contents: out) else {
            throw CaptureError("\(path): cannot create the output file: \(String(cString: strerror(errno)))")
        }
    }

    /// "local" from the trace_clock option's "[local] global ...".
    private static func selectedClock(_ options: [(Option, Data)]) -> String {
        guard let data = options.first(where: { $0.0 == .traceClock })?.1,
            let text = String(data: data.prefix { $0 != 0 }, encoding: .utf8),
            let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]")
        else { return "local" }
        return String(text[text.index(after: open)..<close])
    }

    private func align(_ v: UInt64) -> UInt64 { (v + UInt64(pageSize) - 1) / UInt64(pageSize) * UInt64(pageSize) }
}

/// A C string option value.
/// Writes all of `bytes` to `fd`, again after a short write or EINTR.
/// - Throws: `CaptureError` naming `path` with the system's reason.
private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0, errno == EINTR { continue }
        guard n > 0 else {
            throw CaptureError("\(path): cannot write the output file: \(String(cString: strerror(errno)))")
        }
        done += n
    }
}

func cString(_ s: String) -> Data { Data(Array(s.utf8) + [0]) }
func le16(_ v: UInt16) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }
func le32(_ v: UInt32) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }
func le64(_ v: UInt64) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }
