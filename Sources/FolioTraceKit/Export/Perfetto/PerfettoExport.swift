#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `foliotrace export --perfetto` and `analyze --perfetto`: the analysis as a Perfetto trace
/// that ui.perfetto.dev and trace_processor open (docs/perfetto.md).
///
/// The findings, memcgs and task names come from the analysis; everything over time comes
/// from a second pass over the trace through a lifecycle engine of its own (deterministic,
/// so its generations are the analysis's): per-memcg counters, reclaim and migrate_pages()
/// slices per task, folio tracks with their states, migration flows and the raw events.
public enum PerfettoExport {
    public struct Options: Sendable {
        /// A track for every folio generation (else only those findings name, and the folios
        /// their migrations join).
        public var allFolios: Bool
        /// At most this many folio generation tracks with `allFolios` (the findings' folios
        /// and migration targets of tracked folios always get theirs).
        public var folioLimit: Int
        /// Counter samples over the trace's span, at most (a counter is written only when
        /// its value changed).
        public var samples: Int
        /// The window of the analysis (`--since/--until`): only its records are exported.
        public var window: AnalysisScope

        public init(
            allFolios: Bool = false,
            folioLimit: Int = 10_000,
            samples: Int = 4000,
            window: AnalysisScope = .init()
        ) {
            self.allFolios = allFolios
            self.folioLimit = folioLimit
            self.samples = samples
            self.window = window
        }
    }

    /// What was written, for the command line to report.
    public struct Result: Sendable {
        public var folioTracks = 0
        /// Folio generations of the trace left without a track by `folioLimit`.
        public var foliosLeftOut: UInt64 = 0
        public var migrationFlows = 0
        public var evidenceFlows = 0
        public var ftraceEvents = 0
    }

    /// Writes the Perfetto trace of `analysis` (made from `trace`) to `output` and renames it
    /// into place.
    /// - Parameters:
    ///   - trace: the trace file the analysis read (read again here).
    /// - Throws: `FileError` when the trace cannot be read again or the file written.
    @discardableResult
    public static func write(
        _ analysis: TraceAnalysis,
        trace: String,
        options: Options = .init(),
        to output: OutputFile
    ) throws(FileError) -> Result {
        let fd = open(output.temporaryPath, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else {
            throw FileError(path: output.path, problem: "cannot write: \(String(cString: strerror(errno)))")
        }
        let writer = PerfettoWriter(fd: fd, path: output.path)
        var result: Result
        do {
            let source = try TraceSource(path: trace)
            var pass = try PerfettoPass(analysis, source: source, writer: writer, options: options)
            switch source {
            case .traceDat(let file):
                var records = try file.mergedRecords()
                try pass.run(&records)
            case .perfData(let file):
                var records = file.orderedRecords()
                try pass.run(&records)
            }
            pass.finish()
            try writer.finish()
            result = pass.result
            result.ftraceEvents = writer.ftraceEvents
        } catch let error as TraceFileError {
            close(fd)
            throw FileError(path: trace, problem: "\(error)")
        } catch let error as FileError {
            close(fd)
            throw error
        } catch {
            close(fd)
            throw FileError(path: output.path, problem: "\(error)")
        }
        close(fd)
        try output.commit()
        return result
    }
}

/// Track uuids: the kind in the top byte, an index below (uuids are global to the trace).
enum PerfettoTrack {
    static let memcgsGroup: UInt64 = 1
    static let machineGroup: UInt64 = 2
    static let findingsGroup: UInt64 = 3
    static let foliosGroup: UInt64 = 4
    static let tasksGroup: UInt64 = 5

    /// The counter group of memcg number `i` of the report; the machine is `Int(UInt32.max)`.
    static func memcg(_ i: Int) -> UInt64 { 2 << 56 | UInt64(i) << 8 }
    static func counter(_ i: Int, _ c: Int) -> UInt64 { memcg(i) | UInt64(c + 1) }
    static func thread(_ pid: Int32) -> UInt64 { 3 << 56 | UInt64(UInt32(bitPattern: pid)) }
    static func rule(_ i: Int) -> UInt64 { 4 << 56 | UInt64(i) }
    /// A folio generation's track; its state tracks are `folio(n) | state`.
    static func folio(_ n: Int) -> UInt64 { 5 << 56 | UInt64(n) << 3 }
}
