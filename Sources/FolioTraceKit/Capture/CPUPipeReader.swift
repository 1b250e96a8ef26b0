import CTraceFS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One CPU's reader for `tail`: a thread that moves the pages of the CPU's `trace_pipe_raw`
/// into that CPU's `PageSpool` (and, with `tail -o`, into its recording spool file) until
/// stopped, as `CPUSplicer` does for `record`.
///
/// A thread a CPU, because one thread serving every CPU made each CPU wait for the others'
/// reads: a burst on one CPU was drained only as fast as that loop came round, and on a busy
/// machine the loop itself waited to be scheduled. Nothing here waits for the analysis: the
/// spool takes every page (in memory, then on disk), so back-pressure goes to the spool,
/// never to the kernel's buffer. A reader does wait for the spool's file once the memory part
/// is full: the kernel may throttle those writes during a page-cache storm (its dirty-page
/// limits), and meanwhile the ring buffer fills (docs/performance.md, live storms).
///
/// Full pages are taken as soon as they are there, the page the kernel is still writing only
/// once the CPU has given no page for `partialPageInterval`: a read of `trace_pipe_raw` hands
/// out the page in progress however little it holds, and read as fast as the loop runs, a
/// busy CPU's pages held 15 events instead of about 100 (83,264 pages for 1.2 million events
/// in 5 s here), each a syscall, a copy and a whole page in the spool and the recording. How
/// many bytes are unread comes from the CPU's `stats` file, kept open and read at offset 0
/// (the kernel prints it anew for each read) into a buffer of the reader's: a turn allocates
/// nothing. Reads, not splice: splice takes only pages the writer has left
/// (`ring_buffer_read_page(..., full)`), and refuses a page once a read took part of it, so
/// the page in progress could not be taken without stalling the splices that follow.
///
/// Each time the stats say nothing is unread, the reader tells the spool how far its CPU's
/// events are complete (`PageSpool.markComplete`), from the clock the same stats print: so
/// `LiveMerge` knows when a CPU with nothing spooled has nothing older to come either.
final class CPUPipeReader: @unchecked Sendable {
    let cpu: Int
    /// The pages read and not yet analyzed.
    let spool: PageSpool
    /// How long a CPU's events may wait in a page the kernel has not filled: a partial page
    /// costs a whole page in the spool and the recording, so one is taken at most this often.
    static let partialPageInterval = 0.05
    /// Pages read in one turn at most before the stats are read again.
    static let pagesPerTurn = 256
    /// How far before the stats' clock a CPU's events count as complete when none is unread,
    /// in nanoseconds. An event's time is taken when its space is reserved, before it is
    /// written and committed; the writer may take interrupts meanwhile (whose events nest), or,
    /// in a guest, lose its CPU to the host. The stats' clock is also read on the reader's CPU
    /// (the `local` clock is per CPU) and rounded to a microsecond. 10 ms is far beyond all of
    /// these, and delays `tail`'s view by no more than that; an event later still is counted
    /// (`LiveMerge.lateRecords`), not hidden.
    static let completionAllowance: UInt64 = 10_000_000

    private var reader: OpaquePointer?
    private var stats: Int32
    private let statsText: UnsafeMutableRawBufferPointer
    private let pageSize: Int
    private let page: UnsafeMutableRawPointer
    /// Bytes of `page` read from the kernel and not yet in the spool (it refused them: a full
    /// disk). The thread reads nothing more until the spool takes them.
    private var held = 0
    /// When this CPU last gave a page (monotonic seconds).
    private var lastPage = 0.0
    /// The recording's spool file (-1: no recording): every page the spool took, whole.
    private var recording: Int32
    private let thread = PollingThread()

    /// Pages written to the recording (read it after `stop`: the thread counts without a lock).
    private(set) var recordedPages = 0
    /// The first recording write that failed; the recording stops there, the analysis goes on.
    private(set) var recordingError: CaptureError?
    /// The first time the spool refused a page, if it did: reading waited until it took it,
    /// and what the kernel overwrote meanwhile is in its losses.
    private(set) var spoolRefusal: PageSpoolError?

    /// - Parameters:
    ///   - instance: the instance whose CPU `cpu` is read.
    ///   - spool: where the pages go.
    ///   - recording: a file each page is also written to, whole, once the spool took it (-1:
    ///     none); the reader closes it (`closeRecording`).
    init(instance: TraceFSInstance, cpu: Int, spool: PageSpool, recording: Int32) {
        self.cpu = cpu
        self.spool = spool
        self.recording = recording
        pageSize = spool.pageSize
        reader = tracefs_cpu_open(instance.pointer, Int32(cpu), true)
        stats = open(instance.path("per_cpu/cpu\(cpu)/stats"), O_RDONLY | O_CLOEXEC)
        statsText = .allocate(byteCount: 1024, alignment: 8)
        page = .allocate(byteCount: pageSize, alignment: pageSize)
    }

    deinit {
        close()
        statsText.deallocate()
        page.deallocate()
    }

    func start() {
        guard reader != nil else {
            // Nothing will be read from this CPU: nothing to wait for.
            spool.markComplete(through: .max)
            return
        }
        // Sleep only when the CPU had nothing: a burst is read back to back. 1 ms, as tail's
        // one reader slept: at any rate a CPU sustains, 1 ms fills far less than the kernel's
        // default 1,408 KiB buffer.
        thread.start(name: "foliotrace-cpu\(cpu)", idleMicroseconds: 1_000) { [self] in turn() ? .worked : .idle }
    }

    /// Asks the thread to stop and waits for it; after this, only the caller's thread reads.
    func stop() { thread.stop() }

    /// Reads this CPU's full pages, and the page in progress once it has waited long enough;
    /// whether it read any.
    private func turn() -> Bool {
        guard held == 0 || spoolHeld() else { return false }
        let (unread, now) = readStats()
        guard let now else {
            // Without the clock (stats that cannot be read, a clock in counts rather than
            // nanoseconds) the merge cannot know when to wait for this CPU: it takes records
            // as they come, and counts those that come late.
            spool.markComplete(through: .max)
            return unread > 0 && readPages(unread: unread)
        }
        guard unread > 0 else {
            // Every event reserved before `now`, less the allowance, is in the spool.
            spool.markComplete(through: now > Self.completionAllowance ? now - Self.completionAllowance : 0)
            return false
        }
        return readPages(unread: unread)
    }

    /// Reads the full pages of `unread` bytes, and the page in progress once it has waited
    /// long enough; whether it read any.
    private func readPages(unread: Int) -> Bool {
        // Every full page but the one the kernel is writing, or that one too once it has
        // waited long enough. (`bytes` counts event bytes, fewer than a page's size: a CPU
        // with `pageSize` of them unread has a full page.)
        let full = min(unread / pageSize, Self.pagesPerTurn + 1)
        var wanted = full > 1 ? full - 1 : full
        let now = monotonicSeconds()
        if wanted == 0, now - lastPage >= Self.partialPageInterval { wanted = 1 }
        var n = 0
        while n < wanted {
            let read = tracefs_cpu_read(reader, page, true)
            guard read > 0 else { break }
            held = Int(read)
            n += 1
            guard spoolHeld() else { break }
        }
        if n > 0 { lastPage = now }
        return n > 0
    }

    /// Everything the ring buffer still holds, partial pages included (once the thread has
    /// stopped and tracing is off). Stops early only if the spool refuses a page.
    func drainAll() {
        guard reader != nil else { return }
        while held == 0 || spoolHeld() {
            let read = tracefs_cpu_read(reader, page, true)
            guard read > 0 else { return }
            held = Int(read)
        }
    }

    /// Pushes the page in hand to the spool and then to the recording; false when the spool
    /// refused it (kept in hand for the next turn).
    private func spoolHeld() -> Bool {
        // A page the kernel did not fill ends in zeros, in the spool and the recording alike.
        if held < pageSize { memset(page + held, 0, pageSize - held) }
        do {
            try spool.push(page, bytes: pageSize)
        } catch {
            if spoolRefusal == nil { spoolRefusal = error }
            return false
        }
        held = 0
        if recording >= 0, recordingError == nil { record() }
        return true
    }

    /// Writes the page just spooled to the recording, whole (the file's CPU data is a sequence
    /// of pages).
    private func record() {
        var done = 0
        while done < pageSize {
            let n = write(recording, page + done, pageSize - done)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                recordingError = CaptureError(
                    "cannot write the recording's spool: \(String(cString: strerror(n == 0 ? ENOSPC : errno)))"
                )
                return
            }
            done += n
        }
        recordedPages += 1
    }

    /// From the CPU's stats: the event bytes written and not yet read (`Int.max` when the
    /// file cannot be read, so that the reader reads on), and the trace clock when the kernel
    /// printed them (nil when it cannot be read).
    private func readStats() -> (unread: Int, now: UInt64?) {
        guard stats >= 0 else { return (Int.max, nil) }
        let n = pread(stats, statsText.baseAddress, statsText.count, 0)
        guard n > 0 else { return (Int.max, nil) }
        let text = UnsafeRawBufferPointer(rebasing: statsText[0..<n])
        return (CPUStats.unreadBytes(text), CPUStats.now(text))
    }

    private func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Closes the recording (after `stop` and `drainAll`); returns the first write error.
    func closeRecording() -> CaptureError? {
        if recording >= 0, Glibc.close(recording) != 0, recordingError == nil {
            recordingError = CaptureError("cannot write the recording's spool: \(String(cString: strerror(errno)))")
        }
        recording = -1
        return recordingError
    }

    /// Stops the thread and releases the CPU's files (idempotent).
    func close() {
        stop()
        _ = closeRecording()
        if let reader { tracefs_cpu_close(reader) }
        reader = nil
        if stats >= 0 { Glibc.close(stats) }
        stats = -1
    }
}
