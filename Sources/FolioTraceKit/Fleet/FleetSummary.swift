/// What a fleet run found, folded trace by trace as results are written (small: counts per
/// rule, kernel and host, and one entry per trace with findings or unreadable).
public struct FleetSummary: Sendable {
    public struct RuleTally: Sendable {
        public var findings = 0
        /// Traces that had the rule's events, and of those, the traces with findings.
        public var runnable = 0
        public var withFindings = 0
        public var byKernel: [String: Int] = [:]
        public var byHost: [String: Int] = [:]
        /// Why the rule could not run ("lacks ...") -> traces.
        public var notRunnable: [String: Int] = [:]
    }

    public struct TraceEntry: Sendable {
        public var id: Int64
        public var path: String
        public var kernel: String?
        public var host: String?
        public var findings: [String: Int]
        public var error: String?
    }

    public var traces = 0
    public var damaged = 0
    public var events: UInt64 = 0
    /// Files under the directories that are not traces (no trace.dat or perf.data magic).
    public var skipped: Int
    public var rules: [String: RuleTally] = [:]
    public var withFindings: [TraceEntry] = []
    public var unreadable: [TraceEntry] = []
    /// An earlier run's database and each rule against it (`--baseline`), when given.
    public var baselinePath: String?
    public var comparisons: [FleetBaseline.Comparison] = []

    /// Compares the rule rates with `baseline`'s; true when a rule's share of traces with
    /// findings grew by more than `tolerancePoints` percentage points.
    public mutating func compare(with baseline: FleetBaseline, tolerancePoints: Double) -> Bool {
        baselinePath = baseline.path
        comparisons = baseline.compare(self, tolerancePoints: tolerancePoints)
        return comparisons.contains { $0.failed }
    }

    public init(skipped: Int = 0) {
        self.skipped = skipped
        for r in Rule.all { rules[r.id.rawValue] = RuleTally() }
    }

    static func name(_ s: String?) -> String { s ?? "(unknown)" }

    mutating func add(_ a: TraceAnalysis, id: Int64, origin: TraceOrigin) {
        traces += 1
        if !a.damage.isEmpty { damaged += 1 }
        events += a.report.summary.records
        var perRule: [String: Int] = [:]
        for f in a.findings { perRule[f.rule.rawValue, default: 0] += 1 }
        let kernel = a.kernelRelease ?? origin.kernel
        for c in a.coverage {
            var t = rules[c.rule.id.rawValue] ?? RuleTally()
            let n = perRule[c.rule.id.rawValue] ?? 0
            if c.runnable {
                t.runnable += 1
                if n > 0 { t.withFindings += 1 }
                t.findings += n
                t.byKernel[Self.name(kernel), default: 0] += n
                t.byHost[Self.name(origin.host), default: 0] += n
            } else {
                t.notRunnable[c.rule.lacking(c.missing), default: 0] += 1
            }
            rules[c.rule.id.rawValue] = t
        }
        if !a.findings.isEmpty {
            withFindings.append(
                TraceEntry(id: id, path: a.path, kernel: kernel, host: origin.host, findings: perRule, error: nil)
            )
        }
    }

    mutating func addUnreadable(path: String, id: Int64, error: String, origin: TraceOrigin?) {
        traces += 1
        unreadable.append(
            TraceEntry(id: id, path: path, kernel: origin?.kernel, host: origin?.host, findings: [:], error: error)
        )
    }

    /// Rules in the registry's order.
    var orderedRules: [(Rule, RuleTally)] { Rule.all.map { ($0, rules[$0.id.rawValue] ?? RuleTally()) } }
}

/// The summary's renderers: text for a terminal, JSON, Markdown for a CI job summary, HTML.
extension FleetSummary {
    public enum Format: String, CaseIterable, Sendable {
        case text, json, markdown, html
    }

    public func render(_ format: Format, database: String) -> String {
        switch format {
        case .text: return text(database: database)
        case .json: return json(database: database).rendered() + "\n"
        case .markdown: return markdown(database: database)
        case .html: return html(database: database)
        }
    }

    private var headline: String {
        "\(traces) traces (\(traces - unreadable.count) analyzed, \(damaged) damaged, \(unreadable.count) unreadable), "
            + "\(events) events, \(withFindings.count) with findings"
            + (skipped > 0 ? "; \(skipped) other files skipped" : "")
    }

    private static func breakdown(_ counts: [String: Int]) -> String {
        counts.filter { $0.value > 0 }.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    func text(database: String) -> String {
        var t = "foliotrace fleet: \(headline)\ndatabase: \(database)\n\nfindings per rule\n"
        for (rule, tally) in orderedRules {
            t += "  \(rule.id.rawValue) (\(rule.severity.rawValue)): "
            t += "\(tally.findings) findings in \(tally.withFindings)"
            t += " of \(tally.runnable) traces that could run it\n"
            let kernels = Self.breakdown(tally.byKernel)
            if !kernels.isEmpty { t += "    by kernel: \(kernels)\n" }
            let hosts = Self.breakdown(tally.byHost)
            if !hosts.isEmpty { t += "    by host: \(hosts)\n" }
            for (why, n) in tally.notRunnable.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
                t += "    could not run on \(n) traces: lacks \(why)\n"
            }
        }
        if !withFindings.isEmpty {
            t += "\ntraces with findings\n"
            for e in withFindings.prefix(50) {
                t += "  \(e.path) (\(Self.name(e.kernel)), \(Self.name(e.host))): \(Self.breakdown(e.findings))\n"
            }
            if withFindings.count > 50 {
                t += "  ... \(withFindings.count - 50) more: SELECT path FROM traces WHERE findings > 0\n"
            }
        }
        if !unreadable.isEmpty {
            t += "\nunreadable files\n"
            for e in unreadable { t += "  \(e.path): \(e.error ?? "")\n" }
        }
        if let baselinePath {
            t +=
                "\nagainst \(baselinePath) (share of the traces that could run the rule with findings; findings per trace)\n"
            for c in comparisons {
                t +=
                    "  \(c.rule): \(Self.percent(c.now.share)) (was \(c.before.map { Self.percent($0.share) } ?? "-")), "
                t += "\(Self.decimal(c.now.perTrace)) (was \(c.before.map { Self.decimal($0.perTrace) } ?? "-"))"
                t += c.failed ? "  FAILED: grew\n" : "\n"
            }
        }
        return t
    }

    static func percent(_ v: Double) -> String { decimal(v * 100) + "%" }

    /// One decimal, without Foundation.
    static func decimal(_ v: Double) -> String {
        let tenths = Int((v * 10).rounded())
        return "\(tenths / 10).\(abs(tenths % 10))"
    }

    func json(database: String) -> JSON {
        let counts = { (c: [String: Int]) -> JSON in
            .object(c.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) })
        }
        let entry = { (e: TraceEntry) -> JSON in
            .object([
                ("trace_id", .int(e.id)), ("file", .string(e.path)), ("kernel", .optional(e.kernel)),
                ("host", .optional(e.host)), ("findings", counts(e.findings)), ("error", .optional(e.error)),
            ])
        }
        return .object([
            ("database", .string(database)), ("traces", .int(Int64(traces))),
            ("analyzed", .int(Int64(traces - unreadable.count))), ("damaged", .int(Int64(damaged))),
            ("unreadable", .int(Int64(unreadable.count))), ("skipped", .int(Int64(skipped))),
            ("events", .uint(events)),
            (
                "rules",
                .array(
                    orderedRules.map { rule, t in
                        .object([
                            ("rule", .string(rule.id.rawValue)), ("severity", .string(rule.severity.rawValue)),
                            ("findings", .int(Int64(t.findings))), ("runnable_traces", .int(Int64(t.runnable))),
                            ("traces_with_findings", .int(Int64(t.withFindings))),
                            ("by_kernel", counts(t.byKernel)), ("by_host", counts(t.byHost)),
                            ("not_runnable", counts(t.notRunnable)),
                        ])
                    }
                )
            ),
            ("traces_with_findings", .array(withFindings.map(entry))),
            ("unreadable_files", .array(unreadable.map(entry))),
            ("baseline", .optional(baselinePath)),
            (
                "against_baseline",
                .array(
                    comparisons.map { c in
                        let rates = { (r: FleetBaseline.Rates) -> JSON in
                            .object([
                                ("runnable_traces", .int(Int64(r.runnable))),
                                ("traces_with_findings", .int(Int64(r.withFindings))),
                                ("findings", .int(Int64(r.findings))),
                            ])
                        }
                        return .object([
                            ("rule", .string(c.rule)), ("now", rates(c.now)),
                            ("baseline", c.before.map(rates) ?? .null), ("failed", .bool(c.failed)),
                        ])
                    }
                )
            ),
        ])
    }

    func markdown(database: String) -> String {
        var t = "## foliotrace fleet\n\n\(headline). Database: `\(database)`.\n\n"
        t += "| rule | severity | findings | traces with findings | could run | by kernel | by host |\n"
        t += "|---|---|---:|---:|---:|---|---|\n"
        for (rule, tally) in orderedRules {
            t += "| `\(rule.id.rawValue)` | \(rule.severity.rawValue) | \(tally.findings) | \(tally.withFindings) | "
            t += "\(tally.runnable) | \(Self.breakdown(tally.byKernel)) | \(Self.breakdown(tally.byHost)) |\n"
        }
        let missing = orderedRules.flatMap { rule, tally in
            tally.notRunnable.sorted { $0.key < $1.key }.map {
                "- `\(rule.id.rawValue)` could not run on \($0.value) traces: lacks \($0.key)\n"
            }
        }
        if !missing.isEmpty { t += "\n" + missing.joined() }
        if !unreadable.isEmpty {
            t += "\n### Unreadable files\n\n"
            for e in unreadable { t += "- `\(e.path)`: \(e.error ?? "")\n" }
        }
        if let baselinePath {
            t +=
                "\n### Against `\(baselinePath)`\n\n| rule | traces with findings | before | findings per trace | before | |\n"
            t += "|---|---:|---:|---:|---:|---|\n"
            for c in comparisons {
                t +=
                    "| `\(c.rule)` | \(Self.percent(c.now.share)) | \(c.before.map { Self.percent($0.share) } ?? "-") | "
                t += "\(Self.decimal(c.now.perTrace)) | \(c.before.map { Self.decimal($0.perTrace) } ?? "-") | "
                t += (c.failed ? "❌ grew" : "✅") + " |\n"
            }
        }
        return t
    }

    func html(database: String) -> String {
        let e = escapeXML
        var t = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>foliotrace fleet</title>"
        t += "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        t += "padding:2px 6px}</style></head><body>\n<h1>foliotrace fleet</h1>\n<p>\(e(headline)). Database: "
        t += "<code>\(e(database))</code>.</p>\n<table><tr><th>rule</th><th>severity</th><th>findings</th>"
        t +=
            "<th>traces with findings</th><th>could run</th><th>by kernel</th><th>by host</th><th>could not run</th></tr>\n"
        for (rule, tally) in orderedRules {
            let why = tally.notRunnable.sorted { $0.key < $1.key }.map { "\($0.value): lacks \($0.key)" }
            t += "<tr><td><code>\(e(rule.id.rawValue))</code></td><td>\(rule.severity.rawValue)</td>"
            t += "<td>\(tally.findings)</td>"
            t += "<td>\(tally.withFindings)</td><td>\(tally.runnable)</td><td>\(e(Self.breakdown(tally.byKernel)))</td>"
            t += "<td>\(e(Self.breakdown(tally.byHost)))</td><td>\(e(why.joined(separator: "; ")))</td></tr>\n"
        }
        t += "</table>\n"
        if !unreadable.isEmpty {
            t += "<h2>Unreadable files</h2>\n<ul>\n"
            for u in unreadable { t += "<li><code>\(e(u.path))</code>: \(e(u.error ?? ""))</li>\n" }
            t += "</ul>\n"
        }
        return t + "</body></html>\n"
    }
}
