import CTraceFS

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

/// The event sets `record` and `tail` enable.
public enum Preset: String, CaseIterable, Sendable {
    case mm, memcg, rmap, all

    /// "system:event", or "system:*" for every event of the system this kernel has.
    public var events: [String] {
        let lifecycle = [
            "kmem:mm_page_alloc", "kmem:mm_page_free", "kmem:mm_page_free_batched", "pagemap:*",
            "filemap:mm_filemap_add_to_page_cache", "filemap:mm_filemap_delete_from_page_cache",
            "cgroup:cgroup_attach_task", "cgroup:cgroup_mkdir", "cgroup:cgroup_rmdir", "exceptions:page_fault_user",
        ]
        switch self {
        case .mm:
            return lifecycle + [
                "vmscan:*", "migrate:*", "thp:*", "compaction:mm_compaction_begin", "compaction:mm_compaction_end",
            ]
        case .memcg: return lifecycle + ["memcg:*", "vmscan:*"]
        case .rmap: return lifecycle + ["migrate:*"]
        case .all: return Array(Set(Preset.mm.events + Preset.memcg.events + Preset.rmap.events)).sorted()
        }
    }
}

/// A live capture into our own tracefs instance, streamed to a trace.dat.
///
/// Each CPU's `trace_pipe_raw` has its own reader thread that splices the full pages into
/// that CPU's spool file (`CPUSplicer`), as trace-cmd record's per-CPU recorders do: no copy
/// through user space, many pages a call, and one CPU's burst never waits for another's
/// reader or for a busy machine to schedule one loop that serves them all. At the end the
/// remaining partial pages are flushed and the trace.dat is assembled.
public final class Recorder {
    public struct Result: Sendable {
        public var pagesPerCPU: [Int]
        /// Events the ring buffer overwrote or dropped, per CPU (its `stats`: overrun + dropped).
        public var lostPerCPU: [UInt64]
        public var enabled: [String]
        /// Requested events this kernel does not have or refused.
        public var missing: [String]
    }

    public let output: String
    private let instance: TraceFSInstance
    private let cpus: Int
    private let pageSize: Int
    private var enabled: [(system: String, event: String)] = []
    private var missing: [String] = []
    private let spool: URL

    /// Creates the instance and enables `events` ("system:event" or "system:*").
    /// 6, or 7 for zstd-compressed sections and CPU data.
    public var fileVersion = 6

    public init(output: String, events: [String], bufferKiB: Int?) throws(CaptureError) {
        self.output = output
        instance = try TraceFSInstance()
        cpus = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        spool = FileManager.default.temporaryDirectory.appendingPathComponent("foliotrace-record-\(getpid())")
        if let bufferKiB { try instance.setBufferSize(kib: bufferKiB) }
        instance.write("tracing_on", "0")
        (enabled, missing) = instance.enable(events)
        guard !enabled.isEmpty else {
            instance.destroy()
            throw CaptureError("none of the requested events exists on this kernel: \(missing.joined(separator: ", "))")
        }
    }

    deinit { instance.destroy() }

    /// The instance's name in tracefs.
    public var instanceName: String { instance.name }
    public var missingEvents: [String] { missing }

    /// Records until `stop()` says so (checked about every 20 ms), then writes the file and
    /// removes the instance. `started` runs once tracing is on (start the workload there).
    public func record(started: () throws -> Void, stop: () -> Bool) throws -> Result {
        defer {
            instance.destroy()
            try? FileManager.default.removeItem(at: spool)
        }
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        var files: [URL] = []
        var fds: [Int32] = []
        var readers: [OpaquePointer?] = []
        defer {
            for r in readers { tracefs_cpu_close(r) }
            for fd in fds { close(fd) }
        }
        for cpu in 0..<cpus {
            let url = spool.appendingPathComponent("cpu\(cpu)")
            files.append(url)
            fds.append(open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600))
            readers.append(tracefs_cpu_open(instance.pointer, Int32(cpu), true))
        }
        let page = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { page.deallocate() }
        var pages = [Int](repeating: 0, count: cpus)
        /// The partial pages left once tracing is off, each padded to a whole page: the
        /// file's CPU data is a sequence of pages.
        func flush(_ cpu: Int) throws -> Bool {
            guard let reader = readers[cpu] else { return false }
            let n = tracefs_cpu_flush(reader, page)
            guard n > 0 else { return false }
            if Int(n) < pageSize { memset(page + Int(n), 0, pageSize - Int(n)) }
            guard Glibc.write(fds[cpu], page, pageSize) == pageSize else {
                throw CaptureError(
                    "cannot write the spool file \(files[cpu].path): \(String(cString: strerror(errno)))"
                )
            }
            pages[cpu] += 1
            return true
        }

        instance.write("trace", "")
        instance.write("tracing_on", "1")
        let splicers = (0..<cpus).map { CPUSplicer(cpu: $0, reader: readers[$0], spool: fds[$0], pageSize: pageSize) }
        for s in splicers { s.start() }
        var stopped = false
        defer { if !stopped { for s in splicers { s.stop() } } }
        try started()
        while !stop() { usleep(20_000) }
        instance.write("tracing_on", "0")
        for s in splicers { s.stop() }
        stopped = true
        for (cpu, s) in splicers.enumerated() {
            if let failure = s.failure {
                throw CaptureError("cannot keep CPU \(cpu)'s events in \(files[cpu].path): \(failure)")
            }
            // What the threads left (full pages written since their last visit), then the
            // partial pages.
            while s.spliceOnce() {}
            if let failure = s.failure {
                throw CaptureError("cannot keep CPU \(cpu)'s events in \(files[cpu].path): \(failure)")
            }
            guard s.bytes % pageSize == 0 else {
                throw CaptureError(
                    "CPU \(cpu)'s spool \(files[cpu].path) took \(s.bytes) bytes, not whole pages of \(pageSize)"
                )
            }
            pages[cpu] = s.bytes / pageSize
            while try flush(cpu) {}
        }
        // Tracing is off and the buffers are read: the counts are final, read once for the
        // result and the file's cpustat options.
        let stats = (0..<cpus).map { instance.read("per_cpu/cpu\($0)/stats") ?? "" }
        let lost = stats.map(CPUStats.lost)
        try TraceDatWriter.writeCapture(
            of: instance,
            enabled: enabled,
            cpuStats: stats,
            cpuData: files,
            version: fileVersion,
            to: output
        )
        return Result(
            pagesPerCPU: pages,
            lostPerCPU: lost,
            enabled: enabled.map { "\($0.system):\($0.event)" },
            missing: missing
        )
    }

}

/// A CPU's ring-buffer statistics as the kernel counts them (`per_cpu/cpuN/stats`).
public enum CPUStats {
    /// Events the ring buffer lost: `overrun` (overwritten before they were read) plus
    /// `dropped events` (refused when the buffer was full and not overwriting).
    public static func lost(_ stats: String) -> UInt64 {
        var lost: UInt64 = 0
        for line in stats.split(separator: "\n") where line.hasPrefix("overrun:") || line.hasPrefix("dropped events:") {
            lost &+= UInt64(line.split(separator: " ").last ?? "") ?? 0
        }
        return lost
    }

    /// Bytes of events in the buffer not yet read (the `bytes:` line of the stats file's
    /// text); `Int.max` when the kernel does not say, so a reader reads on. Reads the bytes
    /// where they are, without a String: `tail`'s readers ask this at every turn.
    static func unreadBytes(_ stats: UnsafeRawBufferPointer) -> Int {
        number(after: "bytes:", in: stats)?.whole ?? Int.max
    }

    /// The trace clock when the kernel printed the stats, in nanoseconds (the `now ts:` line:
    /// `tracing_stats_read` reads the buffer's clock for it and prints it in microseconds);
    /// nil when the line is not there, which the kernel does for a clock that does not count
    /// nanoseconds (`counter`, `x86-tsc`).
    static func now(_ stats: UnsafeRawBufferPointer) -> UInt64? {
        guard let (seconds, nanoseconds) = number(after: "now ts:", in: stats), seconds < 1 << 33 else { return nil }
        return UInt64(seconds) * 1_000_000_000 + UInt64(nanoseconds)
    }

    /// The number after `key` where a line starts with it: its whole part, and its fraction
    /// (the digits after a `.`) as nanoseconds, as libtracefs reads these lines; nil when no
    /// line starts with `key` or no digit follows it.
    private static func number(
        after key: StaticString,
        in stats: UnsafeRawBufferPointer
    ) -> (whole: Int, nanoseconds: Int)? {
        let length = key.utf8CodeUnitCount
        let zero = UInt8(ascii: "0")
        func isDigit(_ i: Int) -> Bool { i < stats.count && stats[i] >= zero && stats[i] <= zero + 9 }
        var line = 0
        while line + length <= stats.count {
            var matches = true
            for i in 0..<length where stats[line + i] != key.utf8Start[i] {
                matches = false
                break
            }
            var i = line
            if matches {
                i += length
                while i < stats.count, stats[i] == UInt8(ascii: " ") { i += 1 }
                var whole = 0
                var digits = 0
                while isDigit(i), digits < 18 {
                    whole = whole * 10 + Int(stats[i] - zero)
                    digits += 1
                    i += 1
                }
                guard digits > 0 else { return nil }
                var nanoseconds = 0
                var scale = 100_000_000
                if i < stats.count, stats[i] == UInt8(ascii: ".") {
                    i += 1
                    while isDigit(i) {
                        nanoseconds += Int(stats[i] - zero) * scale
                        scale /= 10
                        i += 1
                    }
                }
                return (whole, nanoseconds)
            }
            while i < stats.count, stats[i] != UInt8(ascii: "\n") { i += 1 }
            line = i + 1
        }
        return nil
    }
}

extension TraceDatWriter {
    /// Writes the trace.dat of a capture from `instance` (`record`, and `tail -o`): its
    /// metadata, each CPU's `stats` as a cpustat option (as trace-cmd writes them, so
    /// `trace-cmd report --stat` shows the kernel's losses), the cgroup paths, the enabled
    /// events, the stat item names, and each CPU's pages from `cpuData`.
    static func writeCapture(
        of instance: TraceFSInstance,
        enabled: [(system: String, event: String)],
        cpuStats: [String],
        cpuData: [URL],
        version: Int,
        to output: String
    ) throws {
        var w = TraceDatWriter(describing: instance, enabled: enabled, cpus: cpuData.count)
        for (cpu, stats) in cpuStats.enumerated() {
            w.options.append((.cpuStat, cString("CPU: \(cpu)\n" + stats)))
        }
        let table = CgroupPaths.scan().sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        w.options.append((Option.cgroupPaths, cString(table.joined(separator: "\n"))))
        let on = enabled.map { "\($0.system):\($0.event)" }
        w.options.append((Option.enabledEvents, cString(on.joined(separator: "\n"))))
        if let btf = try? BTF() {
            let items = StatItems.enums.flatMap { e in btf.enumerators(of: e).map { "\(e) \($0.name) \($0.value)" } }
            w.options.append((Option.statItems, cString(items.joined(separator: "\n"))))
        }
        if version == 7 {
            try w.writeVersion7(to: output, cpuData: cpuData)
        } else {
            try w.write(to: output, cpuData: cpuData)
        }
    }
}

/// The whole of a procfs or tracefs file. These report a size of 0 and hand out a page per
/// read(2), so reading "the file's size" or once gets the first 4 KiB at most: an event
/// format longer than that (mm_page_alloc's gfp flag table) would be cut.
public func readWhole(_ path: String) -> Data {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return Data() }
    defer { close(fd) }
    var out = Data()
    var buffer = [UInt8](repeating: 0, count: 64 << 10)
    while true {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out.append(contentsOf: buffer[0..<n])
    }
    return out
}

/// The names of the stat items memcg tracepoints (6.13+) print as numbers: `mod_memcg_state`
/// and `mod_memcg_lruvec_state` take a node_stat_item or memcg_stat_item, and
/// `count_memcg_events` a vm_event_item. The values change with every kernel build's
/// config, so `record` stores the capturing kernel's, from its BTF.
public enum StatItems {
    public static let enums = ["node_stat_item", "memcg_stat_item", "vm_event_item"]
}

/// One CPU's reader for `record`: a thread that splices full pages from the CPU's
/// `trace_pipe_raw` into its spool file until stopped.
///
/// `tracefs_cpu_write()` splices through a pipe of 16 pages (libtracefs's default pipe size),
/// and the kernel's splice hands out only pages the writer has left
/// (`tracing_buffers_splice_read()` -> `ring_buffer_read_page(..., full)`), so the spool
/// holds whole pages; the page in progress is flushed at the end. A nonblocking call finds
/// nothing when no page is full: the thread then sleeps 2 ms, which at the kernel's default
/// 1.4 MiB a CPU leaves the buffer far from full at any event rate a CPU sustains.
final class CPUSplicer: @unchecked Sendable {
    let cpu: Int
    private let reader: OpaquePointer?
    private let spool: Int32
    private let pageSize: Int
    private let thread = PollingThread()
    /// Bytes spliced into the spool: whole pages. Read once the thread has stopped.
    private(set) var bytes = 0
    /// Why the spool could not take a page, when it could not (errno's text).
    private(set) var failure: String?

    init(cpu: Int, reader: OpaquePointer?, spool: Int32, pageSize: Int) {
        self.cpu = cpu
        self.reader = reader
        self.spool = spool
        self.pageSize = pageSize
    }

    func start() {
        guard reader != nil else { return }
        thread.start(name: "foliotrace-cpu\(cpu)", idleMicroseconds: 2_000) { [self] in
            spliceOnce() ? .worked : failure == nil ? .idle : .done
        }
    }

    /// Asks the thread to stop and waits for it; after this, only the caller's thread calls
    /// `spliceOnce()`.
    func stop() { thread.stop() }

    /// Splices what full pages are waiting; whether it moved any. Sets `failure` on an error
    /// other than "nothing to read yet".
    @discardableResult
    func spliceOnce() -> Bool {
        guard let reader, failure == nil else { return false }
        let n = tracefs_cpu_write(reader, spool, true)
        if n > 0 {
            bytes += Int(n)
            return true
        }
        if n < 0, errno != EAGAIN, errno != EINTR {
            failure = String(cString: strerror(errno))
        }
        return false
    }
}
