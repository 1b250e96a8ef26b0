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
/// Each CPU has a reader thread (`CPUPipeReader`) that takes the CPU's full pages as they
/// fill, and the page the kernel is still writing once it has waited 50 ms (so a quiet CPU
/// does not hold back the others for long), into the CPU's `PageSpool`: in memory up to
/// `spoolKiB`, then in an unlinked file, so reading never waits for the analysis and the
/// analysis never makes the kernel overwrite events. Each `poll()` merges the CPUs' spooled
/// records by timestamp into the engine (`LiveMerge`), each only once no CPU can still deliver
/// an older one: the engine sees them in the order of a trace.dat of the same pages, tens of
/// milliseconds after the kernel wrote them.
///
/// With `recordingTo`, each reader also writes every page it spools to a spool file per CPU,
/// and `finish` assembles them into a trace.dat (as `Recorder` does): the file holds exactly
/// the pages the analysis is fed, so its events are the ones tail counted.
public final class LiveSession {
    public let instance: TraceFSInstance
    public let enabled: [String]
    public let missing: [String]
    /// The kernel's headers and formats as a trace.dat without data: gives the decoder its
    /// formats and the page walker its page layout.
    private let metadata: TraceFile
    private var pass: AnalysisPass
    public var engine: LifecycleEngine { pass.engine }
    /// The CPUs' spooled records in time order (its place is kept between polls: a poll
    /// stops at its budget, or where a CPU cannot vouch for the next record yet).
    private var merge: LiveMerge
    /// The CPUs' readers, until `finish` stops them (empty after).
    private var readers: [CPUPipeReader] = []
    /// The CPUs' spools (the streams read them; kept to count what waits in them).
    private let spools: [PageSpool]
    private let scratch: URL
    private let on: [(system: String, event: String)]
    /// Where `finish` writes the trace.dat, and the file version (6, or 7 with zstd).
    private let output: String?
    private let fileVersion: Int
    private let recordings: [URL]
    /// Each CPU's stats file as the kernel printed it when tracing stopped (empty before).
    private var finalStats: [String] = []

    /// Memory each CPU's spool holds before pages go to its file, in KiB (`tail --spool-kb`):
    /// 4 MiB, about three times the kernel's default buffer of a CPU (1,408 KiB), so that the
    /// analysis's ordinary lag (a slice of 64 Ki records, a summary, a busy machine's scheduling)
    /// costs no disk I/O; when the analysis falls behind for longer (a storm), the pages wait on
    /// disk instead. The resident set it adds is at most this times the CPUs (8 MiB here).
    public static let defaultSpoolKiB = 4096

    /// Where the spools' files go: `$TMPDIR`, or `/var/tmp`, which is on disk where `/tmp` is
    /// often a tmpfs (a backlog there would be held in memory again).
    public static var spoolDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["TMPDIR"], !dir.isEmpty { return dir }
        return "/var/tmp"
    }

    /// Creates the instance, enables `events` and starts reading.
    /// - Parameters:
    ///   - recordingTo: a trace.dat to write at `finish` with every page read (the caller's
    ///     temporary file: `OutputFile` renames it into place).
    ///   - fileVersion: that file's version, 6 or 7 (zstd).
    ///   - spoolKiB: memory each CPU's spool holds before its pages go to disk (rounded down
    ///     to whole pages; 0: every page goes through the file).
    ///   - spoolDirectory: where the spools' unlinked files are made.
    public init(
        events: [String],
        bufferKiB: Int?,
        recordingTo output: String? = nil,
        fileVersion: Int = 6,
        spoolKiB: Int = LiveSession.defaultSpoolKiB,
        spoolDirectory: String = LiveSession.spoolDirectory
    ) throws {
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
        recordings = output == nil ? [] : (0..<cpus).map { dir.appendingPathComponent("spool-cpu\($0)") }
        var recordingFiles: [Int32] = []
        for url in recordings {
            let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                for f in recordingFiles { Glibc.close(f) }
                instance.destroy()
                throw CaptureError("cannot create the spool file \(url.path): \(reason)")
            }
            recordingFiles.append(fd)
        }
        do {
            spools = try (0..<cpus).map { _ in
                try PageSpool(pageSize: size, memoryPages: max(spoolKiB, 0) * 1024 / size, directory: spoolDirectory)
            }
        } catch {
            for f in recordingFiles { Glibc.close(f) }
            instance.destroy()
            throw CaptureError("\(error) (set TMPDIR to a directory on disk that can be written)")
        }
        metadata = try TraceFile(path: headers)
        pass = AnalysisPass(
            decoder: try EventDecoder(catalog: try EventCatalog(file: metadata), path: headers),
            savedCommands: metadata.savedCommands(),
            cgroupPaths: CgroupPaths.scan(),
            enabled: Set(enabled)
        )
        let file = metadata
        merge = LiveMerge(
            streams: (0..<cpus).map { [spools] in CPUStream(live: spools[$0], cpu: $0, file: file) },
            spools: spools
        )
        let traced = instance
        readers = (0..<cpus).map { [spools] cpu in
            CPUPipeReader(
                instance: traced,
                cpu: cpu,
                spool: spools[cpu],
                recording: recordingFiles.isEmpty ? -1 : recordingFiles[cpu]
            )
        }
        instance.write("trace", "")
        instance.write("tracing_on", "1")
        for r in readers { r.start() }
    }

    deinit { close() }

    /// Pages read from the kernel that the analysis has not reached yet (the spools' length):
    /// how far behind the analysis runs, and after `close` what it never analyzed.
    public private(set) var backlogPages = 0

    /// Events read but never analyzed (those of `backlogPages`), once `finish` has run.
    public private(set) var unanalyzedEvents: UInt64 = 0

    /// Pages the recording holds, once `finish` wrote it (0 without one).
    public private(set) var recordedPages = 0

    /// Pages that waited in the spools' files on disk so far (their memory was full).
    public var spilledPages: Int { spools.reduce(0) { $0 + $1.spilledPages } }

    /// Each CPU whose spool refused a page (its file could not be written: a full disk), with
    /// the first error: its reader waited meanwhile, and what the kernel overwrote is in
    /// `lostEvents`. Read it after `finish`.
    public private(set) var spoolRefusals: [(cpu: Int, error: String)] = []

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
        guard !readers.isEmpty else { return }
        defer { try? FileManager.default.removeItem(at: scratch) }
        instance.write("tracing_on", "0")
        for r in readers { r.stop() }
        for r in readers { r.drainAll() }
        // Everything is spooled: nothing older than what the spools hold can come.
        for s in spools { s.markComplete(through: .max) }
        // Tracing is off and the buffers are empty: the counts are final.
        finalStats = spools.indices.map { instance.read("per_cpu/cpu\($0)/stats") ?? "" }
        var failure: Error? = nil
        for r in readers {
            if let e = r.closeRecording(), failure == nil { failure = e }
            if let e = r.spoolRefusal { spoolRefusals.append((r.cpu, e.description)) }
        }
        recordedPages = readers.reduce(0) { $0 + $1.recordedPages }
        if failure == nil, let output {
            do {
                try TraceDatWriter.writeCapture(
                    of: instance,
                    enabled: on,
                    cpuStats: finalStats,
                    cpuData: recordings,
                    version: fileVersion,
                    to: output
                )
            } catch {
                failure = error
            }
        }
        for url in recordings { unlink(url.path) }
        let deadline = Date().addingTimeInterval(catchUp)
        while Date() < deadline, (try? poll()) ?? 0 > 0 {}
        backlogPages = spools.reduce(0) { $0 + $1.count }
        // The records in what is left, counted without analysis (a walk of the pages): with
        // `events`, every event read, as the recording holds them.
        unanalyzedEvents = merge.countRemaining()
        for r in readers { r.close() }
        readers = []
        instance.destroy()
        if let failure { throw failure }
    }

    /// Feeds the records the reader threads have spooled to the engine, merged by time, up to
    /// `budget` of them and until `deadline` at the latest, and while every CPU vouches for
    /// the next one (`LiveMerge`); returns the records handled. The
    /// budget and the deadline keep a poll short when events come faster than the analysis
    /// handles them, so the caller still prints, checks its signals and stops on time; what is
    /// left waits in the spools for the next poll. A count alone was not enough: 64 Ki
    /// records took longer than tail's 0.5 s interval on a loaded machine (a debug build beside
    /// two others' test runs), and its summaries came late and fewer.
    @discardableResult
    public func poll(budget: Int = 1 << 16, until deadline: Date? = nil) throws -> Int {
        var handled = 0
        while handled < budget, let r = try merge.next() {
            pass.handle(r)
            handled += 1
            // The clock is read once every 1024 records (a few hundred microseconds of work).
            if handled & 1023 == 0, let deadline, Date() >= deadline { break }
        }
        if !readers.isEmpty { backlogPages = spools.reduce(0) { $0 + $1.count } }
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
        for cpu in spools.indices {
            // After the stop the instance is gone (and a read would go to the top-level buffer).
            let stats =
                readers.isEmpty
                ? (cpu < finalStats.count ? finalStats[cpu] : "") : instance.read("per_cpu/cpu\(cpu)/stats") ?? ""
            lost &+= max(CPUStats.lost(stats), merge.streams[cpu].lost.counted)
        }
        return lost
    }

    /// Records handed to the engine after a later one: 0 unless a CPU's clock could not be
    /// read or a writer was held up past `CPUPipeReader.completionAllowance` (`LiveMerge`).
    /// The lifecycles of their folios may be wrong; a report says so.
    public var lateRecords: UInt64 { merge.lateRecords }

    /// cgroup paths the engine has learned (from cgroup events).
    public var cgroupPaths: [UInt64: String] { engine.tasks.cgroupPaths }
}
