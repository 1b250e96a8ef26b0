import CTraceFS
import Dispatch
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

/// Live analysis: our tracefs instance read as it fills, fed to the same decoder, lifecycle
/// engine and detectors as a trace.dat.
///
/// Each `poll()` reads every page each CPU has (partial pages included, so a quiet CPU does
/// not hold back the others), then merges the CPUs' new records by timestamp into the engine.
/// Records written while a poll reads can land in the next poll with a timestamp a little
/// older than the last one handled: the engine sees them a few microseconds late, which is
/// the price of not waiting for every CPU's page to fill.
public final class LiveSession {
    public let instance: TraceFSInstance
    public let enabled: [String]
    public let missing: [String]
    /// The kernel's headers and formats as a trace.dat without data: gives the decoder its
    /// formats and the page walker its page layout.
    private let metadata: TraceFile
    private var pass: AnalysisPass
    public var engine: LifecycleEngine { pass.engine }
    private var streams: [CPUStream]
    /// Each CPU's next record, taken from its stream and not yet handled (kept between polls:
    /// a poll stops at its budget, not when every stream is empty).
    private var heads: [RawRecord?]
    private var reader: LiveReader?
    private let scratch: URL

    public init(events: [String], bufferKiB: Int?) throws {
        instance = try TraceFSInstance()
        if let bufferKiB { try instance.setBufferSize(kib: bufferKiB) }
        instance.write("tracing_on", "0")
        let (on, off) = instance.enable(events)
        guard !on.isEmpty else {
            instance.destroy()
            throw CaptureError("none of the requested events exists on this kernel: \(off.joined(separator: ", "))")
        }
        enabled = on.map { "\($0.system):\($0.event)" }
        missing = off
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
        let size = Int(sysconf(Int32(_SC_PAGESIZE)))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("foliotrace-tail-\(getpid())")
        scratch = dir
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var w = TraceDatWriter(describing: instance, enabled: on, cpus: cpus)
        w.kallsyms = Data()
        let empty = (0..<cpus).map { dir.appendingPathComponent("cpu\($0)") }
        for url in empty { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        let headers = dir.appendingPathComponent("headers.dat").path
        try w.write(to: headers, cpuData: empty)
        metadata = try TraceFile(path: headers)
        pass = AnalysisPass(
            decoder: try EventDecoder(catalog: try EventCatalog(file: metadata), path: headers),
            savedCommands: metadata.savedCommands(),
            cgroupPaths: CgroupPaths.scan(),
            enabled: Set(enabled)
        )
        let pageQueues = (0..<cpus).map { _ in LivePages(pageSize: size) }
        let file = metadata
        streams = (0..<cpus).map { CPUStream(live: pageQueues[$0], cpu: $0, file: file) }
        heads = Array(repeating: nil, count: cpus)
        let traced = instance
        let live = LiveReader(
            readers: (0..<cpus).map { tracefs_cpu_open(traced.pointer, Int32($0), true) },
            queues: pageQueues,
            pageSize: size
        )
        reader = live
        instance.write("trace", "")
        instance.write("tracing_on", "1")
        live.start()
    }

    deinit { close() }

    /// Pages read from the kernel that the analysis has not reached yet (the spools' length):
    /// how far behind the analysis runs, and after `close` what it never analyzed.
    public private(set) var backlogPages = 0

    /// Stops tracing, handles what is left for at most `catchUp` seconds, and removes the
    /// instance (idempotent). What the analysis did not reach by then stays counted in
    /// `backlogPages`: a stop is prompt however far behind the analysis ran, and says so.
    public func close(catchUp: Double = 20) {
        guard let live = reader else { return }
        instance.write("tracing_on", "0")
        live.stop()
        live.drain()
        let deadline = Date().addingTimeInterval(catchUp)
        while Date() < deadline, (try? poll()) ?? 0 > 0 {}
        backlogPages = live.queuedPages
        live.closeReaders()
        reader = nil
        instance.destroy()
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Feeds the records the reader thread has queued to the engine, merged by time, up to
    /// `budget` of them; returns the records handled. The budget keeps a poll short when events
    /// come faster than the analysis handles them, so the caller still prints, checks its
    /// signals and stops on time; what is left waits in the spools for the next poll.
    @discardableResult
    public func poll(budget: Int = 1 << 16) throws -> Int {
        // A CPU that had nothing last time may have something now.
        for i in streams.indices where heads[i] == nil { heads[i] = try streams[i].next() }
        var handled = 0
        while handled < budget, let best = MergedStream.earliest(heads), let r = heads[best] {
            pass.handle(r)
            handled += 1
            heads[best] = try streams[best].next()
        }
        backlogPages = reader?.queuedPages ?? backlogPages
        return handled
    }

    /// Findings detected since the last call, each handed out once (`DetectorSet.drainNew`).
    public func newFindings() -> [Finding] { pass.detectors.drainNew() }

    /// Events lost so far: the ring buffer's missed-events marks plus its overrun counts.
    public var lostEvents: UInt64 {
        let marked = streams.reduce(0) { $0 &+ $1.lost.counted }
        var overrun: UInt64 = 0
        for cpu in streams.indices {
            for line in (instance.read("per_cpu/cpu\(cpu)/stats") ?? "").split(separator: "\n")
            where line.hasPrefix("overrun:") || line.hasPrefix("dropped events:") {
                overrun &+= UInt64(line.split(separator: " ").last ?? "") ?? 0
            }
        }
        return max(marked, overrun)
    }

    /// cgroup paths the engine has learned (from cgroup events).
    public var cgroupPaths: [UInt64: String] { engine.tasks.cgroupPaths }
}

/// The thread that drains the kernel's per-CPU ring buffers into `LivePages` queues as fast as
/// they fill, so that the analysis, however far behind, never makes the kernel overwrite
/// events: back-pressure goes to the queues in memory, never to the ring buffer.
private final class LiveReader: @unchecked Sendable {
    private let readers: [OpaquePointer?]
    private let queues: [LivePages]
    private let page: UnsafeMutableRawPointer
    private let lock = Lock()
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)
    private var running = false

    init(readers: [OpaquePointer?], queues: [LivePages], pageSize: Int) {
        self.readers = readers
        self.queues = queues
        page = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
    }

    deinit { page.deallocate() }

    func start() {
        running = true
        startThread(name: "foliotrace-reader") { [self] in
            while !shouldStop() {
                // Sleep only when every CPU was empty: a burst is read back to back.
                if drain() == 0 { usleep(1_000) }
            }
            finished.signal()
        }
    }

    private func shouldStop() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    /// Asks the thread to stop and waits for it.
    func stop() {
        guard running else { return }
        lock.lock()
        stopping = true
        lock.unlock()
        finished.wait()
        running = false
    }

    /// Reads every page each CPU has now (partial pages too); returns the pages read.
    @discardableResult
    func drain() -> Int {
        var pages = 0
        for (cpu, reader) in readers.enumerated() {
            guard let reader else { continue }
            while true {
                let n = tracefs_cpu_read(reader, page, true)
                guard n > 0 else { break }
                queues[cpu].push(page, bytes: Int(n))
                pages += 1
            }
        }
        return pages
    }

    /// Pages waiting in the queues.
    var queuedPages: Int { queues.reduce(0) { $0 + $1.count } }

    func closeReaders() {
        for r in readers { tracefs_cpu_close(r) }
    }
}
