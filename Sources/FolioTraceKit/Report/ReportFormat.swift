/// The report formats of `analyze`, one model (`TraceAnalysis` + `Verdict`) each.
public enum ReportFormat: String, CaseIterable, Sendable {
    case text, json, markdown, html, junit, jsonl

    /// The format a file name implies (`report.md` -> markdown), nil when none does.
    public init?(fileName: String) {
        guard let dot = fileName.lastIndex(of: ".") else { return nil }
        switch fileName[fileName.index(after: dot)...].lowercased() {
        case "txt", "text": self = .text
        case "json": self = .json
        case "jsonl", "ndjson": self = .jsonl
        case "md", "markdown": self = .markdown
        case "html", "htm": self = .html
        case "xml", "junit": self = .junit
        default: return nil
        }
    }

    /// Renders the report.
    /// - Parameters:
    ///   - lifecycles: list every kept generation (JSON, `--keep-lifecycles`).
    ///   - stories: the steps of the findings' folios, shown inline (HTML).
    ///   - traceID: the trace id of every JSON line (`TraceID.of(path:)` when nil).
    public func render(
        _ a: TraceAnalysis,
        verdict: Verdict,
        lifecycles: Bool = false,
        stories: [FolioStory] = [],
        traceID: Int64? = nil
    ) -> String {
        switch self {
        case .text: return TextReport(a, verdict: verdict).rendered
        case .json: return JSONReport.render(a, verdict: verdict, lifecycles: lifecycles).rendered() + "\n"
        case .markdown: return MarkdownReport(a, verdict: verdict).rendered
        case .html: return HTMLReport(a, verdict: verdict, stories: stories).rendered
        case .junit: return JUnitReport(a, verdict: verdict).rendered
        case .jsonl:
            return JSONLinesReport.render(
                a,
                traceID: traceID ?? TraceID.of(path: a.path),
                origin: TraceOrigin(path: a.path) ?? TraceOrigin(),
                lifecycles: lifecycles
            )
        }
    }
}

/// Pads on the left to `width` columns (numbers in text tables).
func padLeft(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }

/// A duration in the largest whole unit: 3ms, 12s.
func duration(_ ns: UInt64) -> String {
    switch ns {
    case ..<1_000: return "\(ns)ns"
    case ..<1_000_000: return "\(ns / 1_000)us"
    case ..<1_000_000_000: return "\(ns / 1_000_000)ms"
    default: return "\(ns / 1_000_000_000)s"
    }
}

/// A trace timestamp as seconds with microseconds, as `trace-cmd report` prints it.
func seconds(_ ns: UInt64) -> String {
    let frac = String(ns % 1_000_000_000 / 1000)
    return "\(ns / 1_000_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
}

func hex(_ v: UInt64) -> String { String(v, radix: 16) }
