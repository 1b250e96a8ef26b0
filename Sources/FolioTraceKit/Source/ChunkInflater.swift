#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One chunk of a compressed CPU's data (trace.dat v7: zstd frames or zlib streams), inflated
/// on another core while the chunk before it is read.
///
/// Decompression is a third of `foliotrace events` on a zstd file and its records cannot be
/// read before it, but the next chunk's can be inflated while this one's are: each CPU's
/// `PageSupply` keeps one chunk in flight on the inflater's thread (`ChunkInflater`), and
/// waits for it only when it gets there. The bytes, and any problem, are those of the same
/// call made in line, so every result is the single-threaded pass's; only when and where the
/// inflation happens changes. `FOLIOTRACE_SERIAL=1` (or a machine with one core) inflates
/// every chunk in line, as before.
final class InflatingChunk {
    /// The chunk's index in its CPU's table.
    var index: Int { job.index }
    /// Where it is inflated: its first `size` bytes (the buffer may be longer, reused).
    var buffer: OwnedBytes { job.buffer }
    private let job: ChunkInflater.Job

    /// Starts inflating `compressed` (its claimed size `size`), which points into `file`'s
    /// map, into `buffer`.
    init(
        index: Int,
        compressed: UnsafeRawBufferPointer,
        size: Int,
        into buffer: OwnedBytes,
        compression: Compression,
        file: TraceFile
    ) {
        job = ChunkInflater.Job(
            index: index,
            compressed: compressed,
            size: size,
            buffer: buffer,
            compression: compression,
            owner: file
        )
        ChunkInflater.shared.submit(job)
    }

    /// A reader that lets go of the chunk before it gets there (a window's end, an error)
    /// takes it off the queue, so nothing inflates it for nobody.
    deinit { ChunkInflater.shared.withdraw(job) }

    /// Waits for the inflation to end, or inflates the chunk here if the inflater has not
    /// started it (busy with other CPUs' chunks, or without a thread).
    /// - Returns: its problem, if it failed (the chunk's pages are then skipped).
    func wait() -> TraceProblem? { ChunkInflater.shared.wait(for: job) }

    /// What `PageSupply` does with one chunk, in line or here: the size claim checked, then
    /// the bytes inflated into the first `size` bytes of `buffer`.
    static func inflate(
        _ compressed: UnsafeRawBufferPointer,
        size: Int,
        into buffer: OwnedBytes,
        index: Int,
        _ compression: Compression
    ) throws(TraceProblem) {
        try compression.checkClaim(compressed, size: size, what: "CPU data chunk \(index)")
        try compression.uncompress(
            compressed,
            into: UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[0..<size]),
            what: "CPU data chunk \(index)"
        )
    }

    /// Whether chunks are inflated ahead: more than one core online, no `FOLIOTRACE_SERIAL=1`
    /// in the environment, and room for a thread under an address-space limit (`Parallelism`).
    static let ahead = !Parallelism.serial && Parallelism.cores > 1 && Parallelism.threadsFit
}

/// The thread that inflates chunks ahead for every compressed CPU of the process: one thread,
/// started at the first chunk and kept, with a queue of chunks in the order they were asked.
///
/// Not libdispatch's global queue, which it replaces: when libdispatch cannot start a worker
/// thread (a `ulimit -v` too small for another thread's stack), it retries in
/// `_dispatch_temporary_resource_shortage` forever, and the reader waiting for the chunk hung
/// (`foliotrace events` of a v7 file under `ulimit -v 40000`). Here nothing waits for a thread
/// that may never run: a reader that reaches a chunk still queued takes it back and inflates
/// it in line, so without a thread (`pthread_create` failed: every chunk then) or with the
/// thread busy on other CPUs' chunks, the pass goes on at the in-line pass's pace, and the
/// result is the same bytes either way.
final class ChunkInflater: @unchecked Sendable {
    /// One chunk to inflate. Its fields are set before it is queued and read by whoever runs
    /// it; `problem` is written by that one, and read by the reader after the hand-over under
    /// the inflater's mutex (`wait(for:)`).
    final class Job: @unchecked Sendable {
        enum State {
            /// In the queue: the thread or the reader may take it.
            case queued
            /// Taken by the thread or the reader, not yet done.
            case running
            /// Inflated (or failed), or withdrawn.
            case done
        }

        let index: Int
        let buffer: OwnedBytes
        let size: Int
        let compression: Compression
        /// Points into the map that `owner` (the `TraceFile`) holds, which the job keeps alive
        /// until it has run: a reader that stops early may let go of the file first.
        let compressed: UnsafeRawBufferPointer
        let owner: AnyObject
        var problem: TraceProblem?
        /// Under the inflater's mutex.
        var state = State.queued

        init(
            index: Int,
            compressed: UnsafeRawBufferPointer,
            size: Int,
            buffer: OwnedBytes,
            compression: Compression,
            owner: AnyObject
        ) {
            self.index = index
            self.compressed = compressed
            self.size = size
            self.buffer = buffer
            self.compression = compression
            self.owner = owner
        }

        func run() {
            do throws(TraceProblem) {
                try InflatingChunk.inflate(compressed, size: size, into: buffer, index: index, compression)
            } catch {
                problem = error
            }
        }
    }

    static let shared = ChunkInflater()

    private enum Thread {
        case notStarted
        case running
        /// `pthread_create` failed: every chunk is inflated by its reader.
        case unavailable
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Signalled when a job is queued (the thread waits on it) and when one is done (readers).
    private let queued = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let finished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Jobs not yet taken, oldest first: at most one a compressed CPU.
    private var queue: [Job] = []
    private var thread = Thread.notStarted

    /// Starts the thread's loop; 0, or the `pthread_create` error (tests fail it).
    private let start: (@escaping @Sendable () -> Void) -> Int32

    init(start: @escaping (@escaping @Sendable () -> Void) -> Int32 = { startThread(name: "foliotrace-zip", $0) }) {
        self.start = start
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(queued, nil)
        pthread_cond_init(finished, nil)
    }

    deinit {
        pthread_cond_destroy(finished)
        pthread_cond_destroy(queued)
        pthread_mutex_destroy(mutex)
        finished.deallocate()
        queued.deallocate()
        mutex.deallocate()
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Queues `job`, starting the thread if it has not been tried.
    func submit(_ job: Job) {
        locked {
            queue.append(job)
            if case .notStarted = thread {
                thread = start({ [self] in work() }) == 0 ? .running : .unavailable
            }
            pthread_cond_signal(queued)
        }
    }

    /// Waits for `job` to be done, running it on this thread if nobody has taken it (or
    /// again, if it failed there).
    /// - Returns: its problem, if it failed.
    func wait(for job: Job) -> TraceProblem? {
        let take: Bool = locked {
            if case .queued = job.state {
                remove(job)
                job.state = .running
                return true
            }
            while job.state != .done { pthread_cond_wait(finished, mutex) }
            return false
        }
        if take || job.problem != nil {
            // A chunk the thread could not inflate is inflated again here: a damaged one fails
            // the same way, and one that failed for want of memory (zstd's context, under a
            // `ulimit -v` that the thread's own stack tightened) gives what the in-line pass
            // gives.
            job.problem = nil
            job.run()
            if take { locked { job.state = .done } }
        }
        return job.problem
    }

    /// Takes `job` off the queue if it is still there (its reader no longer wants it).
    func withdraw(_ job: Job) {
        locked {
            if case .queued = job.state {
                remove(job)
                job.state = .done
            }
        }
    }

    /// Jobs waiting in the queue (for tests).
    var queuedCount: Int { locked { queue.count } }

    private func remove(_ job: Job) {
        if let i = queue.firstIndex(where: { $0 === job }) { queue.remove(at: i) }
    }

    /// The thread's loop: the oldest queued job, run, then the next; it never ends.
    private func work() {
        while true {
            let job: Job = locked {
                while queue.isEmpty { pthread_cond_wait(queued, mutex) }
                let job = queue.removeFirst()
                job.state = .running
                return job
            }
            job.run()
            locked {
                job.state = .done
                pthread_cond_broadcast(finished)
            }
        }
    }
}
