#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `foliotrace fleet`: many traces analyzed on one machine into one SQLite database.
///
/// A bounded pool of `jobs` worker threads each takes the next trace, analyzes it whole and
/// hands a compact result (the analysis without lifecycles, unless asked) to one writer, this
/// thread, which inserts it into the database in one transaction and folds it into the
/// summary. Workers wait while `jobs` results are waiting to be written, so at most about
/// 2 x `jobs` analyses are in memory whatever the number of traces. A file that cannot be
/// analyzed becomes a `traces` row with its error; it never stops the run.
public enum FleetRun {
    /// What the pool hands the writer for one trace.
    enum Outcome: Sendable {
        case analyzed(TraceAnalysis, TraceOrigin)
        case unreadable(String, TraceOrigin?)
    }

    /// How far the run has come, for progress bars.
    public struct Progress: Sendable {
        public var done: Int
        public var total: Int
        public var unreadable: Int
        /// Of the traces' bytes, those done plus the running ones' read fractions.
        public var fraction: Double
        public var events: UInt64
    }

    /// The traces under `paths`: a file given by name is taken whatever it holds (it is
    /// listed as unreadable when it is no trace); a directory is searched recursively, each
    /// one's files in path order, for files that start with trace.dat's or perf.data's magic.
    /// - Returns: the traces in that order (the fleet's trace ids are their positions, from
    ///   1) and the number of files under the directories that are not traces.
    public static func findTraces(_ paths: [String]) -> (traces: [String], skipped: Int) {
        var traces: [String] = []
        var seen = Set<String>()
        var skipped = 0
        for path in paths {
            guard isDirectory(path) else {
                if seen.insert(path).inserted { traces.append(path) }
                continue
            }
            let base = path.hasSuffix("/") ? String(path.dropLast()) : path
            for relative in files(under: base).sorted() {
                let file = base + "/" + relative
                guard TraceMagic.kind(ofFileAt: file) != nil else {
                    skipped += 1
                    continue
                }
                if seen.insert(file).inserted { traces.append(file) }
            }
        }
        return (traces, skipped)
    }

    static func isDirectory(_ path: String) -> Bool {
        var s = stat()
        return stat(path, &s) == 0 && s.st_mode & S_IFMT == S_IFDIR
    }

    /// The regular files under `dir` (links to files included, linked directories not
    /// followed), as paths relative to it.
    static func files(under dir: String, prefix: String = "") -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let full = dir + "/" + name
            var l = stat()
            guard lstat(full, &l) == 0 else { continue }
            if l.st_mode & S_IFMT == S_IFDIR {
                out += files(under: full, prefix: prefix + name + "/")
                continue
            }
            var s = stat()
            if stat(full, &s) == 0, s.st_mode & S_IFMT == S_IFREG { out.append(prefix + name) }
        }
        return out
    }

    static func size(_ path: String) -> Double {
        var s = stat()
        return stat(path, &s) == 0 ? Double(s.st_size) : 0
    }

    /// Analyzes `traces` with `jobs` workers and writes every result into a new SQLite
    /// database at `output` (the export's schema, `SQLiteExport.schema`, trace ids 1...N in
    /// the order of `traces`), renamed into place at the end.
    /// - Parameter progress: called on this thread as traces finish, and a few times a second.
    /// - Throws: `FileError` when the database cannot be written; an unreadable trace
    ///   is a row, not an error.
    public static func run(
        traces: [String],
        skipped: Int = 0,
        output: OutputFile,
        jobs: Int,
        keepLifecycles: Bool = false,
        progress: ((Progress) -> Void)? = nil
    ) throws(FileError) -> FleetSummary {
        let pool = Pool(traces: traces, capacity: max(1, jobs))
        for _ in 0..<max(1, min(jobs, traces.count)) {
            startThread(name: "foliotrace-fleet") { pool.work(keepLifecycles: keepLifecycles) }
        }
        var summary = FleetSummary(skipped: skipped)
        do {
            let db = try SQLiteDatabase(creating: output.temporaryPath, path: output.path)
            // A fresh file, written once and thrown away on failure: no journal.
            try db.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            try db.execute(SQLiteExport.schema)
            var done = 0
            var events: UInt64 = 0
            while done < traces.count {
                guard let (index, outcome) = pool.next(timeout: 0.2) else {
                    progress?(pool.progress(done: done, unreadable: summary.unreadable.count, events: events))
                    continue
                }
                let id = Int64(index + 1)
                try db.execute("BEGIN;")
                switch outcome {
                case .analyzed(let a, let origin):
                    let line = JSONLinesReport.traceLine(a, traceID: id, origin: origin)
                    try SQLiteExport.insertTrace(db, line)
                    try SQLiteExport.fill(db, from: a, traceID: id)
                    summary.add(a, id: id, origin: origin)
                    events += a.report.summary.records
                case .unreadable(let error, let origin):
                    let line = JSONLinesReport.unreadableLine(
                        path: traces[index],
                        traceID: id,
                        error: error,
                        origin: origin
                    )
                    try SQLiteExport.insertTrace(db, line)
                    summary.addUnreadable(path: traces[index], id: id, error: error, origin: origin)
                }
                try db.execute("COMMIT;")
                done += 1
                progress?(pool.progress(done: done, unreadable: summary.unreadable.count, events: events))
            }
            try db.close()
            try output.commit()
        } catch {
            pool.cancel()
            throw error
        }
        return summary
    }

    /// One trace analyzed, or why it could not be: the error is the problem without the path.
    static func analyze(_ path: String, keepLifecycles: Bool, progress: @escaping (Double) -> Void) -> Outcome {
        do {
            let source = try TraceSource(path: path)
            let origin = TraceOrigin(source)
            let a = try TraceAnalysis(
                source: source,
                options: .init(keepLifecycles: keepLifecycles),
                progress: { progress($0.fraction) }
            )
            return .analyzed(a, origin)
        } catch {
            return .unreadable(MessageText.oneLine("\(error.problem)"), TraceOrigin(path: path))
        }
    }

    /// The work list, the results waiting for the writer, and the running traces' progress,
    /// under one lock.
    final class Pool: @unchecked Sendable {
        private let condition = Condition()
        private let traces: [String]
        private let sizes: [Double]
        private let totalSize: Double
        private let capacity: Int
        private var nextIndex = 0
        private var results: [(Int, Outcome)] = []
        private var running: [Int: Double] = [:]
        private var doneSize = 0.0
        private var cancelled = false

        init(traces: [String], capacity: Int) {
            self.traces = traces
            self.capacity = capacity
            sizes = traces.map(FleetRun.size)
            totalSize = max(sizes.reduce(0, +), 1)
        }

        /// A worker's loop: take a trace, analyze it, wait for room, hand the result over.
        func work(keepLifecycles: Bool) {
            while true {
                condition.lock()
                guard !cancelled, nextIndex < traces.count else {
                    condition.unlock()
                    return
                }
                let index = nextIndex
                nextIndex += 1
                running[index] = 0
                condition.unlock()
                let outcome = FleetRun.analyze(traces[index], keepLifecycles: keepLifecycles) { [self] f in
                    condition.lock()
                    running[index] = f
                    condition.unlock()
                }
                condition.lock()
                while results.count >= capacity && !cancelled { condition.wait() }
                running[index] = nil
                doneSize += sizes[index]
                results.append((index, outcome))
                condition.broadcast()
                condition.unlock()
            }
        }

        /// The next finished trace, or nil after `timeout` seconds without one.
        func next(timeout: Double) -> (Int, Outcome)? {
            condition.lock()
            defer { condition.unlock() }
            let deadline = Condition.deadline(after: timeout)
            while results.isEmpty {
                if !condition.wait(until: deadline) { return nil }
            }
            let r = results.removeFirst()
            condition.broadcast()
            return r
        }

        func progress(done: Int, unreadable: Int, events: UInt64) -> Progress {
            condition.lock()
            defer { condition.unlock() }
            let partial = running.reduce(0.0) { $0 + $1.value * sizes[$1.key] }
            return Progress(
                done: done,
                total: traces.count,
                unreadable: unreadable,
                fraction: min(1, (doneSize + partial) / totalSize),
                events: events
            )
        }

        /// Stops handing out traces and wakes waiting workers (the writer failed).
        func cancel() {
            condition.lock()
            cancelled = true
            results.removeAll()
            condition.broadcast()
            condition.unlock()
        }
    }
}

/// A mutex with a condition variable (pthread), for the pool's hand-off: what Foundation's
/// `NSCondition` gives, without Foundation (the core links none, see `Lock`).
final class Condition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func wait() { pthread_cond_wait(cond, mutex) }
    func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits until signalled or `deadline` (CLOCK_REALTIME); false when the deadline passed.
    func wait(until deadline: timespec) -> Bool {
        var d = deadline
        return pthread_cond_timedwait(cond, mutex, &d) != ETIMEDOUT
    }

    static func deadline(after seconds: Double) -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let ns = Int(now.tv_nsec) + Int(seconds * 1e9)
        return timespec(tv_sec: now.tv_sec + ns / 1_000_000_000, tv_nsec: ns % 1_000_000_000)
    }
}
