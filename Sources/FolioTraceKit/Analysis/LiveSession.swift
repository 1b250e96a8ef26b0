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

/// Live analysis: our tracefs instance read as it fills, fed to the same decoder, lifecycle
/// engine and detectors as a trace.dat.
///
/// A reader thread takes each CPU's full pages as they fill, and the page the kernel is still
/// writing once it has waited 50 ms (so a quiet CPU does not hold back the others for long);
/// each `poll()` merges the CPUs' queued records by timestamp into the engine. Records of a
/// quiet CPU can land in a later poll with a timestamp older than the last one handled: the
/// engine sees them up to that long late, the price of not reading a page per event.
///
/// With `recordingTo`, the reader thread also writes every page it reads to a spool file per
/// CPU, and `finish` assembles them into a trace.dat (as `Recorder` does): the file holds
/// exactly the pages the analysis is fed, so its events are the ones tail counted.
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
    private let on: [(system: String, event: String)]
    /// Where `finish` writes the trace.dat, and the file version (6, or 7 with zstd).
    private let output: String?
    private let fileVersion: Int
    private let spools: [URL]
    /// Each CPU's stats file as the kernel printed it when tracing stopped (empty before).
    private var finalStats: [String] = []

    /// Creates the instance, enables `events` and starts reading.
    /// - Parameters:
    ///   - recordingTo: a trace.dat to write at `finish` with every page read (the caller's
    ///     temporary file: `OutputFile` renames it into place).
    ///   - fileVersion: that file's version, 6 or 7 (zstd).
    public init(events: [String], bufferKiB: Int?, recordingTo output: String? = nil, fileVersion: Int = 6) throws {
        instance = try TraceFSInstance()
        if let bufferKiB { try instance.setBufferSize(kib: bufferKiB) }
        instance.write("tracing_on", "0")
        let (on, off) = instance.enable(events)
        guard !on.isEmpty else {
            instance.destroy()
            throw CaptureError("none of the requested events exists on this kernel: \(off.joined(separator: ", "))")
        }
        self.on = on
        self.output = output
        self.fileVersion = fileVersion
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
        spools = output == nil ? [] : (0..<cpus).map { dir.appendingPathComponent("spool-cpu\($0)") }
        var spoolFiles: [Int32] = []
        for url in spools {
            let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                for f in spoolFiles { Glibc.close(f) }
                instance.destroy()
                throw CaptureError("cannot create the spool file \(url.path): \(reason)")
            }
            spoolFiles.append(fd)
        }
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
            instance: traced,
            readers: (0..<cpus).map { tracefs_cpu_open(traced.pointer, Int32($0), true) },
            queues: pageQueues,
            spools: spoolFiles,
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

    /// Events read but never analyzed (those of `backlogPages`), once `finish` has run.
    public private(set) var unanalyzedEvents: UInt64 = 0

    /// Pages the recording holds, once `finish` wrote it (0 without one).
    public private(set) var recordedPages = 0

    /// `finish` without its error (idempotent; `deinit` calls it).
    public func close(catchUp: Double = 20) { try? finish(catchUp: catchUp) }

    /// Stops tracing, reads what the ring buffers still hold, keeps each CPU's stats (the
    /// losses as the kernel counts them), writes the recording if there is one, handles what
    /// is left for at most `catchUp` seconds, and removes the instance (idempotent). What the
    /// analysis did not reach by then stays counted in `backlogPages`: a stop is prompt however
    /// far behind the analysis ran, and says so.
    /// - Throws: `CaptureError` when the recording could not be written (a spool write or the
    ///   trace.dat failed); the analysis and the teardown are done all the same.
    public func finish(catchUp: Double = 20) throws {
        guard let live = reader else { return }
        defer { try? FileManager.default.removeItem(at: scratch) }
        instance.write("tracing_on", "0")
        live.stop()
        live.drain(everything: true)
        // Tracing is off and the buffers are empty: the counts are final.
        finalStats = streams.indices.map { instance.read("per_cpu/cpu\($0)/stats") ?? "" }
        var failure: Error? = live.closeSpools()
        recordedPages = live.spooledPages
        if failure == nil, let output {
            do {
                try TraceDatWriter.writeCapture(
                    of: instance,
                    enabled: on,
                    cpuStats: finalStats,
                    cpuData: spools,
                    version: fileVersion,
                    to: output
                )
            } catch {
                failure = error
            }
        }
        for url in spools { unlink(url.path) }
        let deadline = Date().addingTimeInterval(catchUp)
        while Date() < deadline, (try? poll()) ?? 0 > 0 {}
        backlogPages = live.queuedPages
        // The records in what is left, counted without analysis (a walk of the pages): with
        // `events`, every event read, as the recording holds them.
        var left = UInt64(heads.reduce(0) { $0 + ($1 == nil ? 0 : 1) })
        for i in streams.indices {
            do {
                while try streams[i].next() != nil { left += 1 }
            } catch {}
        }
        heads = Array(repeating: nil, count: streams.count)
        unanalyzedEvents = left
        live.closeReaders()
        reader = nil
        instance.destroy()
        if let failure { throw failure }
    }

    /// Feeds the records the reader thread has queued to the engine, merged by time, up to
    /// `budget` of them and until `deadline` at the latest; returns the records handled. The
    /// budget and the deadline keep a poll short when events come faster than the analysis
    /// handles them, so the caller still prints, checks its signals and stops on time; what is
    /// left waits in the spools for the next poll. A count alone was not enough: 64 Ki
    /// records took longer than tail's 0.5 s interval on a loaded machine (a debug build beside
    /// two others' test runs), and its summaries came late and fewer.
    @discardableResult
    public func poll(budget: Int = 1 << 16, until deadline: Date? = nil) throws -> Int {
        // A CPU that had nothing last time may have something now.
        for i in streams.indices where heads[i] == nil { heads[i] = try streams[i].next() }
        var handled = 0
        while handled < budget, let best = MergedStream.earliest(heads), let r = heads[best] {
            pass.handle(r)
            handled += 1
            heads[best] = try streams[best].next()
            // The clock is read once every 1024 records (a few hundred microseconds of work).
            if handled & 1023 == 0, let deadline, Date() >= deadline { break }
        }
        backlogPages = reader?.queuedPages ?? backlogPages
        return handled
    }

    /// Findings detected since the last call, each handed out once (`DetectorSet.drainNew`),
    /// without those of rules the session cannot run: as in `analyze`, a rule whose events are
    /// not enabled reports nothing, whatever its detector saw (its verdicts would rest on
    /// events the instance does not record).
    public func newFindings() -> [Finding] {
        pass.detectors.drainNew().filter { !unrunnable.contains($0.rule) }
    }

    /// The rules the enabled events and probes cannot run (fixed for the session: what is
    /// enabled does not change, and a live pass counts enabled events as present).
    public private(set) lazy var unrunnable: Set<RuleID> = Set(pass.coverage.filter { !$0.runnable }.map(\.rule.id))

    /// Events lost so far, per CPU as the kernel counts them (its stats: overrun plus dropped
    /// events; once stopped, the counts kept at the stop), or the missed-events marks of the
    /// pages analyzed where those say more.
    public var lostEvents: UInt64 {
        var lost: UInt64 = 0
        for cpu in streams.indices {
            // After the stop the instance is gone (and a read would go to the top-level buffer).
            let stats =
                reader == nil
                ? (cpu < finalStats.count ? finalStats[cpu] : "") : instance.read("per_cpu/cpu\(cpu)/stats") ?? ""
            lost &+= max(CPUStats.lost(stats), streams[cpu].lost.counted)
        }
        return lost
    }

    /// cgroup paths the engine has learned (from cgroup events).
    public var cgroupPaths: [UInt64: String] { engine.tasks.cgroupPaths }
}

/// The thread that drains the kernel's per-CPU ring buffers into `LivePages` queues as fast as
/// they fill, so that the analysis, however far behind, never makes the kernel overwrite
/// events: back-pressure goes to the queues in memory, never to the ring buffer.
private final class LiveReader: @unchecked Sendable {
    private let instance: TraceFSInstance
    private let readers: [OpaquePointer?]
    private let queues: [LivePages]
    /// When each CPU's page in progress was last taken (monotonic seconds).
    private var lastPartial: [Double]
    /// How long a CPU's events may wait in a page the kernel has not filled: a partial page
    /// costs a whole page in the queue and the recording, so one is taken at most this often
    /// (full pages are taken as soon as they are there).
    static let partialPageInterval = 0.05
    /// A file per CPU that every page read is written to, whole (empty: no recording).
    private var spools: [Int32]
    private let pageSize: Int
    private let page: UnsafeMutableRawPointer
    /// The first spool write that failed; the recording stops there, the analysis goes on.
    private var spoolError: CaptureError?
    private var spooled = 0
    private let thread = PollingThread()

    init(instance: TraceFSInstance, readers: [OpaquePointer?], queues: [LivePages], spools: [Int32], pageSize: Int) {
        self.instance = instance
        lastPartial = Array(repeating: 0, count: readers.count)
        self.readers = readers
        self.queues = queues
        self.spools = spools
        self.pageSize = pageSize
        page = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: pageSize)
    }

    deinit {
        page.deallocate()
        for fd in spools { close(fd) }
    }

    func start() {
        // Sleep only when every CPU was empty: a burst is read back to back.
        thread.start(name: "foliotrace-reader", idleMicroseconds: 1_000) { [self] in drain() == 0 ? .idle : .worked }
    }

    /// Asks the thread to stop and waits for it.
    func stop() { thread.stop() }

    /// Reads each CPU's full pages, and the page the kernel is still writing once that has
    /// waited `partialPageInterval` (everything, partial pages included, with `everything`);
    /// returns the pages read.
    ///
    /// A read of `trace_pipe_raw` hands out the page in progress however little it holds:
    /// read as fast as this loop runs, a busy CPU's pages held 15 events instead of about 100
    /// (83,264 pages for 1.2 million events in 5 s here), each a syscall, a copy and a whole
    /// page in the queue and the recording. So, as `Recorder` does, only the pages before the
    /// one in progress are read while the stats file says they are there.
    @discardableResult
    func drain(everything: Bool = false) -> Int {
        var pages = 0
        let now = monotonicSeconds()
        for (cpu, reader) in readers.enumerated() {
            guard let reader else { continue }
            var wanted = Int.max
            if !everything {
                let unread = CPUStats.unreadBytes(instance.read("per_cpu/cpu\(cpu)/stats") ?? "")
                guard unread > 0 else { continue }
                // Every full page but the one the kernel is writing (at most 256 a visit, so
                // no CPU waits long), or that one too once it has waited long enough.
                let full = min(unread / pageSize, 257)
                wanted = full > 1 ? full - 1 : full
                if wanted == 0, now - lastPartial[cpu] >= Self.partialPageInterval { wanted = 1 }
            }
            var n = 0
            while n < wanted {
                let read = tracefs_cpu_read(reader, page, true)
                guard read > 0 else { break }
                queues[cpu].push(page, bytes: Int(read))
                if !spools.isEmpty { spool(cpu, bytes: Int(read)) }
                n += 1
            }
            if n > 0 { lastPartial[cpu] = now }
            pages += n
        }
        return pages
    }

    private func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Writes the page just read to the CPU's spool, whole (the file's CPU data is a
    /// sequence of pages; a partial page's rest is zeros, as the kernel leaves it).
    private func spool(_ cpu: Int, bytes: Int) {
        guard spoolError == nil else { return }
        if bytes < pageSize { memset(page + bytes, 0, pageSize - bytes) }
        var done = 0
        while done < pageSize {
            let n = write(spools[cpu], page + done, pageSize - done)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                spoolError = CaptureError("cannot write the recording's spool: \(String(cString: strerror(errno)))")
                return
            }
            done += n
        }
        spooled += 1
    }

    /// Pages written to the spools (read it after `stop`: the thread counts without a lock).
    var spooledPages: Int { spooled }

    /// Closes the spools (after `stop` and the last `drain`); returns the first write error.
    func closeSpools() -> CaptureError? {
        for fd in spools where close(fd) != 0 && spoolError == nil {
            spoolError = CaptureError("cannot write the recording's spool: \(String(cString: strerror(errno)))")
        }
        spools = []
        return spoolError
    }

    /// Pages waiting in the queues.
    var queuedPages: Int { queues.reduce(0) { $0 + $1.count } }

    func closeReaders() {
        for r in readers { tracefs_cpu_close(r) }
    }
}
