#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A time-ordered stream of raw records: what the decoder and the engine consume.
///
/// Code that loops over records is generic over this protocol, so each input format gets its
/// own specialized loop with no dynamic dispatch per record.
public protocol RecordStream {
    /// The next record, or nil at the end. Its payload is valid until the next call.
    mutating func next() throws(TraceFileError) -> RawRecord?
    /// Events lost per CPU so far (complete once the stream has ended).
    var lostEvents: [LostEvents] { get }
    /// How much of the file's record data has been read, 0...1 (for progress bars).
    var fractionRead: Double { get }
    /// What was found damaged in the record data so far, one sentence each (complete once the
    /// stream has ended): the records around it may be missing.
    var damageNotes: [String] { get }
}

extension MergedStream: RecordStream {}

/// An input trace, opened by what its first bytes say it is.
public enum TraceSource {
    case traceDat(TraceFile)
    case perfData(PerfFile)

    /// Opens `path` as a perf.data when it starts with perf's magic, else as a trace.dat
    /// (which reports a bad magic for anything else).
    /// - Throws: `TraceFileError` naming the file and the problem.
    public init(path: String) throws(TraceFileError) {
        if TraceSource.startsWithPerfMagic(path) {
            self = .perfData(try PerfFile(path: path))
        } else {
            self = .traceDat(try TraceFile(path: path))
        }
    }

    private static func startsWithPerfMagic(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic: UInt64 = 0
        guard read(fd, &magic, 8) == 8 else { return false }
        return magic == PerfFile.magic || magic == PerfFile.magicVersion1 || magic == PerfFile.magic.byteSwapped
    }

    public var path: String {
        switch self {
        case .traceDat(let f): return f.path
        case .perfData(let p): return p.path
        }
    }

    /// The event formats the capture carries.
    public var tracing: TracingData {
        switch self {
        case .traceDat(let f): return f.tracing
        case .perfData(let p): return p.tracing
        }
    }

    /// The kernel release of the traced machine, when the file says.
    public var kernelRelease: String? {
        switch self {
        case .traceDat(let f): return f.options.kernelRelease
        case .perfData(let p): return p.kernelRelease
        }
    }

    /// `uname -m` of the traced machine, when the file says (trace.dat's uname option,
    /// perf.data's ARCH feature).
    public var machine: String? {
        switch self {
        case .traceDat(let f): return f.options.machine
        case .perfData(let p): return p.features.arch
        }
    }

    /// CPUs of the capture: trace.dat's per-CPU buffers, perf.data's NRCPUS feature.
    public var cpuCount: Int {
        switch self {
        case .traceDat(let f): return f.cpuBuffers.count
        case .perfData(let p): return p.cpuCount
        }
    }

    /// pid -> comm known before the records are read (saved_cmdlines, or perf's COMM records
    /// outside compressed data).
    public var savedCommands: [Int32: String] {
        switch self {
        case .traceDat(let f): return f.savedCommands()
        case .perfData(let p): return p.commands
        }
    }

    /// cgroup id -> path recorded at capture time (`foliotrace record`'s trace.dat option;
    /// perf records none).
    public var cgroupPaths: [UInt64: String] {
        switch self {
        case .traceDat(let f): return f.options.cgroupPaths
        case .perfData: return [:]
        }
    }

    /// Why the file's timestamps are not nanoseconds, when they are not: the `counter` and
    /// `x86-tsc` clocks are counts, which trace-cmd prints as such unless a TSC2NSEC option
    /// gives the conversion (extract_trace_clock(), TRACECMD_FL_IN_USECS); `uptime` is
    /// jiffies in USER_HZ ticks, which trace-cmd prints as if they were nanoseconds.
    public var clockNote: String? {
        guard case .traceDat(let f) = self, let clock = f.options.traceClock,
            ["counter", "uptime", "x86-tsc"].contains(clock), f.options.tsc2nsec == nil
        else { return nil }
        return "timestamps are \(clock) counts, not nanoseconds (the file has no TSC2NSEC option): "
            + "times and lifetimes are these counts read as nanoseconds"
    }

    /// The CPUs of the traced machine, where the file says (trace.dat's CPUCOUNT option):
    /// a version-7 file keeps buffers only for the CPUs that had data.
    public var machineCPUs: Int? {
        guard case .traceDat(let f) = self, let n = f.options.cpuCount, n > 0, n <= TraceLimits.cpus else { return nil }
        return n
    }

    /// The CPU number of each per-CPU entry (`cpuCount` of them): trace.dat's buffers in file
    /// order, perf.data's CPUs by number.
    public var cpuIDs: [Int] {
        switch self {
        case .traceDat(let f): return f.cpuBuffers.map(\.cpu)
        case .perfData(let p): return Array(0..<p.cpuCount)
        }
    }

    /// What is damaged in the file's metadata (its records' damage is the stream's).
    public var damage: [String] {
        switch self {
        case .traceDat(let f): return f.damage
        case .perfData: return []
        }
    }
}
