/// What is wrong with an input trace, said in one line that names the file.
///
/// Every failure to open or read a trace ends up here, so that the command line can print
/// `foliotrace: FILE: problem` and exit non-zero instead of crashing.
public struct TraceFileError: Error, CustomStringConvertible, Equatable {
    /// The path of the file the problem was found in.
    public var path: String
    /// The problem, as a short phrase without the path.
    public var problem: Problem

    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    /// One line of at most `MessageText.limit` characters, file bytes escaped.
    public var description: String { MessageText.oneLine("\(path): \(problem)") }

    public enum Problem: Equatable, CustomStringConvertible, Sendable {
        case cannotOpen(String)
        case notATrace
        case unsupportedVersion(String)
        case truncated(String)
        case corrupt(String)
        case decompression(String)
        case eventFormat(event: String, detail: String)
        case missingField(event: String, field: String)
        /// A perf.data that foliotrace cannot read: an old header, a feature or layout.
        case unsupportedPerf(String)
        /// A perf.data that recorded no tracepoint event (`perf record -e cycles`).
        case noTracepoints
        /// A perf.data whose tracepoint events produced no sample.
        case noTracepointSamples

        public var description: String {
            switch self {
            case .cannotOpen(let why): return "cannot open: \(why)"
            case .notATrace: return "not a trace-cmd trace.dat or perf.data file (bad magic)"
            case .unsupportedVersion(let v):
                return "unsupported trace.dat version \(v) (foliotrace reads versions 6 and 7)"
            case .truncated(let what): return "truncated: \(what)"
            case .corrupt(let what): return "corrupt: \(what)"
            case .decompression(let what): return "cannot decompress \(what)"
            case .eventFormat(let event, let detail): return "event \(event): bad format: \(detail)"
            case .missingField(let event, let field):
                return "event \(event): its format lacks the field '\(field)' that foliotrace needs"
            case .unsupportedPerf(let what): return "unsupported perf.data: \(what)"
            case .noTracepoints:
                return "perf.data holds no tracepoint events (record with perf record -e SYSTEM:EVENT)"
            case .noTracepointSamples: return "perf.data holds no tracepoint samples"
            }
        }
    }
}

/// Makes text that came from a file fit in a one-line message, the one escaping every message
/// uses: printable ASCII as is, every other byte (control characters, the UTF-8 bytes of
/// other characters, the U+FFFD that undecodable bytes became) as `\xNN`, cut to a bounded
/// length with "...". Escaping twice changes nothing, so layers need not know what the ones
/// below did.
public enum MessageText {
    public static let limit = 300

    /// Printable ASCII as is; every other byte as `\xNN`.
    public static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte >= 0x20, byte < 0x7f {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }

    /// `escaped(text)`, at most `limit` characters (never cut inside a `\xNN`), never empty.
    public static func oneLine(_ text: String, limit: Int = limit) -> String {
        let e = escaped(text)
        guard e.count > limit else { return e.isEmpty ? "(no detail)" : e }
        return endCut(e, to: limit)
    }

    /// Escaped `text` cut to `count` characters with `...` at its end; a `\xNN` cut in two
    /// would read as other bytes, so its start goes too.
    static func endCut(_ text: String, to count: Int) -> String {
        guard count > 3 else { return String(repeating: ".", count: max(count, 0)) }
        var kept = String(text.prefix(count - 3))
        if let slash = kept.suffix(3).lastIndex(of: "\\") { kept = String(kept[..<slash]) }
        return kept + "..."
    }
}

/// A problem found by code that does not know the file's path; `TraceFile` adds the path.
struct TraceProblem: Error {
    var problem: TraceFileError.Problem
    init(_ problem: TraceFileError.Problem) { self.problem = problem }
}
