/// `analyze --format jsonl`: the analysis as JSON lines, one object a line, for tools that
/// gather many traces (`foliotrace fleet`, spark/foliotrace_fleet.py, jq, DuckDB's
/// read_json). The shape is `docs/jsonl.schema.json`; every line has a `type` ("trace",
/// "finding", "memcg", "generation") and the `trace_id` that joins it to its trace line.
/// The trace line comes first; `schema_version` is in it.
public enum JSONLinesReport {
    public static let schemaVersion = 1

    /// A trace read as far as it is sound: "ok", or "damaged" when parts of it could not be
    /// read (findings may be incomplete); "unreadable" for a file that could not be analyzed.
    public enum Status: String, Sendable {
        case ok, damaged, unreadable
    }

    /// Every line of the analysis, in order: the trace, its findings, its memcgs, and with
    /// `lifecycles` every kept generation.
    public static func lines(
        _ a: TraceAnalysis,
        traceID: Int64,
        origin: TraceOrigin,
        lifecycles: Bool = false
    ) -> [JSON] {
        var out = [traceLine(a, traceID: traceID, origin: origin)]
        let head: [(String, JSON)] = [("type", .string("finding")), ("trace_id", .int(traceID))]
        for f in a.findings {
            guard case .object(let fields) = JSONReport.findingJSON(f) else { continue }
            out.append(.object(head + fields))
        }
        for m in a.report.memcgs {
            out.append(
                .object([
                    ("type", .string("memcg")), ("trace_id", .int(traceID)),
                    ("id", .uint(m.id)), ("path", .optional(m.path)),
                    ("generations", .uint(m.generations)), ("pages_charged", .uint(m.pagesCharged)),
                    ("pages_reclaimed", .uint(m.pagesReclaimed)), ("pages_refaulted", .uint(m.pagesRefaulted)),
                    ("pages_moved_in", .uint(m.pagesMovedIn)), ("pages_moved_out", .uint(m.pagesMovedOut)),
                    ("pages_live_at_end", .uint(m.pagesLiveAtEnd)),
                    ("page_cache_pages_at_end", .uint(m.pageCachePagesAtEnd)),
                ])
            )
        }
        if lifecycles {
            let all = (a.report.generations + a.report.live).sorted {
                ($0.pfn, $0.generation) < ($1.pfn, $1.generation)
            }
            let gen: [(String, JSON)] = [("type", .string("generation")), ("trace_id", .int(traceID))]
            for g in all {
                guard case .object(let fields) = generationJSON(g, steps: nil, tasks: a.report.tasks) else { continue }
                out.append(.object(gen + fields))
            }
        }
        return out
    }

    /// The lines as text, each ending with a newline.
    public static func render(
        _ a: TraceAnalysis,
        traceID: Int64,
        origin: TraceOrigin,
        lifecycles: Bool = false
    ) -> String {
        var text = ""
        for line in lines(a, traceID: traceID, origin: origin, lifecycles: lifecycles) {
            text += line.compact
            text += "\n"
        }
        return text
    }

    /// The trace's line: where it came from, how much it held, whether it was whole, and per
    /// rule whether it could run (what it lacks) and its findings.
    public static func traceLine(_ a: TraceAnalysis, traceID: Int64, origin: TraceOrigin) -> JSON {
        var perRule: [String: Int] = [:]
        for f in a.findings { perRule[f.rule.rawValue, default: 0] += 1 }
        let rules: [JSON] = a.coverage.map { c in
            .object([
                ("rule", .string(c.rule.id.rawValue)), ("severity", .string(c.rule.severity.rawValue)),
                ("runnable", .bool(c.runnable)), ("missing", .array(c.missing.map(JSON.string))),
                ("lacking", c.missing.isEmpty ? .null : .string(c.rule.lacking(c.missing))),
                ("findings", .int(Int64(perRule[c.rule.id.rawValue] ?? 0))),
            ])
        }
        let status: Status = a.damage.isEmpty ? .ok : .damaged
        return .object([
            ("type", .string("trace")), ("schema_version", .int(Int64(schemaVersion))), ("trace_id", .int(traceID)),
            ("file", .string(a.path)), ("format", .optional(origin.format)), ("host", .optional(origin.host)),
            ("kernel", .optional(a.kernelRelease ?? origin.kernel)), ("recorder", .optional(origin.recorder)),
            ("cpus", .int(Int64(a.cpus))), ("events", .uint(a.report.summary.records)),
            ("memory_events", .uint(a.memoryEvents)), ("lost_events", .uint(LostEvents.total(a.lost))),
            ("first_ts", .uint(a.span.first)), ("last_ts", .uint(a.span.last)),
            ("status", .string(status.rawValue)), ("error", .null),
            ("damage", .array(a.damage.map(JSON.string))), ("findings", .int(Int64(a.findings.count))),
            ("rules", .array(rules)),
        ])
    }

    /// The line of a file that could not be analyzed: its path, the reason, and what of its
    /// origin is known.
    public static func unreadableLine(path: String, traceID: Int64, error: String, origin: TraceOrigin? = nil) -> JSON {
        .object([
            ("type", .string("trace")), ("schema_version", .int(Int64(schemaVersion))), ("trace_id", .int(traceID)),
            ("file", .string(path)), ("format", .optional(origin?.format)), ("host", .optional(origin?.host)),
            ("kernel", .optional(origin?.kernel)), ("recorder", .optional(origin?.recorder)),
            ("cpus", .null), ("events", .null), ("memory_events", .null), ("lost_events", .null),
            ("first_ts", .null), ("last_ts", .null),
            ("status", .string(Status.unreadable.rawValue)), ("error", .string(error)),
            ("damage", .array([])), ("findings", .null), ("rules", .array([])),
        ])
    }
}
