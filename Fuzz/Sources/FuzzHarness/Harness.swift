import FolioTraceKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One fuzz input run through the path `foliotrace events` and `foliotrace analyze` take.
///
/// The readers map a path, so the input is written to a file first: a new file each time (the
/// old name is unlinked, never truncated), so that a map some object still holds never loses
/// its pages. Any `TraceFileError` is a correct answer to a bad input; a trap, an ASan report,
/// a timeout or an allocation past libFuzzer's `-malloc_limit_mb` is a finding.
public enum Harness {
    /// Which reader a target exercises.
    public enum Reader: Sendable {
        case traceDat, perfData
    }

    /// Runs one input; always returns 0 (libFuzzer's "keep going").
    public static func run(_ data: UnsafePointer<UInt8>, _ size: Int, reader: Reader) -> CInt {
        guard let path = write(data, size) else { return 0 }
        defer { unlink(path) }
        do {
            let source: TraceSource
            switch reader {
            case .traceDat: source = .traceDat(try TraceFile(path: path))
            case .perfData: source = .perfData(try PerfFile(path: path))
            }
            try exercise(source)
        } catch {
            // A clean refusal: what bad input should get.
        }
        return 0
    }

    /// `events` (the inventory) and `analyze` (engine, detectors, every report format).
    private static func exercise(_ source: TraceSource) throws(TraceFileError) {
        let catalog = try source.catalog()
        let decoder = try EventDecoder(catalog: catalog, path: source.path)
        let inventory = try TraceInventory(source: source, decoder: decoder)
        _ = inventory.total
        let analysis = try TraceAnalysis(source: source, options: .init(keepLifecycles: true))
        let verdict = Verdict(analysis, failOn: .info)
        for format in ReportFormat.allCases {
            _ = format.render(analysis, verdict: verdict, lifecycles: true).utf8.count
        }
    }

    /// The input as a file of its own, or nil when it cannot be written.
    private static func write(_ data: UnsafePointer<UInt8>, _ size: Int) -> String? {
        let dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        let path = "\(dir)/foliotrace-fuzz-\(getpid())"
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var done = 0
        while done < size {
            let n = Glibc.write(fd, data + done, size - done)
            if n <= 0 { return nil }
            done += n
        }
        return path
    }
}
