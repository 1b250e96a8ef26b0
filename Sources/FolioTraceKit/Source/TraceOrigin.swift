#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a trace came from, as the file itself says: its format, the traced machine's host
/// name and kernel release, and the program that recorded it. What `analyze --format jsonl`
/// and `foliotrace fleet` put in a trace's row; nil where the file does not say.
public struct TraceOrigin: Sendable, Equatable {
    /// "trace.dat" or "perf.data".
    public var format: String?
    /// The traced machine's host name (trace.dat's uname option, perf.data's HOSTNAME).
    public var host: String?
    /// `uname -r` of the traced kernel.
    public var kernel: String?
    /// "trace-cmd 3.1.6", "foliotrace", "perf 6.1.158".
    public var recorder: String?

    public init(format: String? = nil, host: String? = nil, kernel: String? = nil, recorder: String? = nil) {
        self.format = format
        self.host = host
        self.kernel = kernel
        self.recorder = recorder
    }

    /// What an opened trace says about its origin.
    public init(_ source: TraceSource) {
        switch source {
        case .traceDat(let f):
            format = "trace.dat"
            // uname -a as trace-cmd stores it: "sysname nodename release version... machine".
            let words = f.options.uname?.split(separator: " ") ?? []
            host = words.count >= 3 ? String(words[1]) : nil
            recorder = f.options.traceCmdVersion.flatMap(Self.recorder(traceCmdVersion:))
        case .perfData(let p):
            format = "perf.data"
            host = p.features.hostname
            recorder = p.features.perfVersion.map { "perf " + $0 }
        }
        kernel = source.kernelRelease
    }

    /// Opens `path` only to read its origin: nil when it cannot be opened as a trace.
    public init?(path: String) {
        guard let source = try? TraceSource(path: path) else { return nil }
        self.init(source)
    }

    /// The VERSION option: trace-cmd writes "3.1.6 not-a-git-repo" (its version and git
    /// hash), `foliotrace record` writes "foliotrace".
    static func recorder(traceCmdVersion v: String) -> String? {
        guard let first = v.split(separator: " ").first else { return nil }
        return first.first?.isNumber == true ? "trace-cmd " + first : String(first)
    }
}

/// The id of a trace in JSON lines and SQL rows: a number that joins a trace's rows.
public enum TraceID {
    /// The default id of a trace read from `path`: FNV-1a of the path as given, cut to 53
    /// bits so that every JSON reader (JavaScript's doubles included) reads it exactly. Runs
    /// over many traces (`foliotrace fleet`, the Spark job) number them 1...N instead.
    public static func of(path: String) -> Int64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in path.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return Int64(h & (1 << 53 - 1))
    }
}

/// Finds traces by what their first bytes say (trace.dat's or perf.data's magic), not by
/// their names.
public enum TraceMagic {
    /// "trace.dat", "perf.data", or nil for any other file.
    public static func kind(ofFileAt path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 10)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, 10) }
        if n >= 10, Array(bytes[0..<10]) == TracingData.magic { return "trace.dat" }
        guard n >= 8 else { return nil }
        let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        if word == PerfFile.magic || word == PerfFile.magicVersion1 || word == PerfFile.magic.byteSwapped {
            return "perf.data"
        }
        return nil
    }
}
