/// The Markdown report, sized for a CI job summary (GitHub's `$GITHUB_STEP_SUMMARY`, GitLab
/// and Gitea render the same tables): the verdict first, then one row per rule, then what
/// the findings concern, then the summary. Tables have few columns and prose is wrapped, so
/// no line makes a reviewer scroll sideways.
public struct MarkdownReport {
    let a: TraceAnalysis
    let verdict: Verdict

    public init(_ a: TraceAnalysis, verdict: Verdict) {
        self.a = a
        self.verdict = verdict
    }

    public var rendered: String {
        let s = a.report.summary
        let icon = verdict.failed ? "❌" : a.findings.isEmpty ? "✅" : "⚠️"
        var m = "## foliotrace: \(icon) \(escape(verdict.headline))\n\n"
        m += "`\(a.path)`: kernel \(a.kernelRelease ?? "unknown"), \(a.cpus) CPUs, \(s.records) events"
        m += ", \(duration(a.span.last &- a.span.first)) of trace\n\n"
        if let scope = a.scope { m += "Scope: \(escape(scope.description)).\n\n" }
        for line in verdict.inputNotes.lines { m += "> \(escape(line))\n>\n" }
        if !verdict.inputNotes.lines.isEmpty { m += "\n" }
        m += rulesTable
        for o in verdict.outcomes where o.findings > 0 { m += ruleSection(o) }
        m += summaryTable
        m += memcgTable
        return m
    }

    private var rulesTable: String {
        let withBaseline = verdict.baseline != nil
        var m = "### Rules\n\n"
        m +=
            withBaseline
            ? "| rule | severity | findings | baseline | gate |\n|---|---|--:|--:|---|\n"
            : "| rule | severity | findings | gate |\n|---|---|--:|---|\n"
        for o in verdict.outcomes {
            let gate: String
            // A group of alternatives ("a|b") as "`a` or `b`": a bare pipe would split the cell.
            let lacks = o.rule.lacking(o.missing) {
                $0.split(separator: "|").map { "`\($0)`" }.joined(separator: " or ")
            }
            if !o.runnable {
                gate = "not checked: lacks " + lacks
            } else {
                gate =
                    (o.failed ? "❌ \(escape(o.reason ?? "failed"))" : "✅")
                    + (lacks.isEmpty ? "" : " (in part: lacks \(lacks))")
                    + (o.unjudgedText.map { "; " + escape($0) } ?? "")
                    + (o.notJudgedText.map { "; " + escape($0) } ?? "")
            }
            m += "| `\(o.rule.id)` | \(o.rule.severity.rawValue) | \(o.runnable ? "\(o.findings)" : "–") |"
            if withBaseline { m += " \(o.baseline.map(String.init) ?? "–") (\(o.change.rawValue)) |" }
            m += " \(gate) |\n"
        }
        return m + "\n"
    }

    private func ruleSection(_ o: RuleOutcome) -> String {
        let top = RuleBreakdown(a, rule: o.rule.id)
        var m = "### `\(o.rule.id)`: \(escape(o.rule.title))\n\n"
        m += wrap(escape(o.rule.explainedWithThread), indent: "")
        m += "\n"
        let context = (a.ruleContext[o.rule.id] ?? []).filter { $0.1 > 0 }
        if !context.isEmpty {
            m += "| count | value |\n|---|--:|\n"
            for (label, n) in context { m += "| \(escape(label)) | \(n) |\n" }
            m += "\n"
        }
        m += "| memcg → other memcg | findings |\n|---|--:|\n"
        for p in top.memcgPairs { m += "| \(p.label.replacing("->", with: "→")) | \(p.count) |\n" }
        if !top.inodes.isEmpty {
            m += "\n| inode | findings |\n|---|--:|\n"
            for i in top.inodes { m += "| \(i.inode) | \(i.count) |\n" }
        }
        if let f = top.findings.first {
            m += "\nFirst: pfn `0x\(hex(f.folio.pfn))` generation \(f.folio.generation) at \(seconds(f.timestamp)): "
            m += escape(f.message) + "\n"
        }
        return m + "\n"
    }

    private var summaryTable: String {
        let s = a.report.summary
        let lost = LostEvents.total(a.lost)
        var rows: [(String, String)] = [
            ("folios (pfns)", "\(s.folios)"),
            ("generations", "\(s.generations) (\(s.beganBeforeTrace) began before the trace)"),
            ("freed / live at end", "\(s.freed) / \(s.liveAtEnd)"),
            ("page cache adds / deletes", "\(s.pageCacheAdds) / \(s.pageCacheDeletes)"),
            ("evicted by reclaim / refaulted", "\(s.evictions) / \(s.refaults)"),
            ("LRU activations", "\(s.activations)"),
            (
                "reclaim passes (memcg / direct)",
                "\(s.reclaim.memcgReclaimPasses) / \(s.reclaim.directReclaimPasses)"
            ),
            (
                "shrink_inactive scanned / reclaimed",
                "\(s.reclaim.shrinkInactiveScanned) / \(s.reclaim.shrinkInactiveReclaimed)"
            ),
            ("migrations succeeded / failed", "\(s.migration.succeeded) / \(s.migration.failed)"),
            ("charge moves", "\(s.chargeMoves)"),
            ("lost events", "\(lost)"),
        ]
        if lost > 0 { rows.append(("generations live across a loss", "\(s.generationsCrossingLoss)")) }
        var m = "<details><summary>Summary</summary>\n\n| | |\n|---|--:|\n"
        for (k, v) in rows { m += "| \(k) | \(v) |\n" }
        return m + "\n</details>\n\n"
    }

    private var memcgTable: String {
        guard !a.report.memcgs.isEmpty else { return "" }
        var m = "<details><summary>Memcgs (pages)</summary>\n\n"
        m += "| memcg | path | charged | reclaimed | refaulted | moved in/out | live |\n"
        m += "|--:|---|--:|--:|--:|--:|--:|\n"
        for c in a.report.memcgs {
            m += "| \(c.id) | \(c.path.map { "`\($0)`" } ?? "–") | \(c.pagesCharged) | \(c.pagesReclaimed) |"
            m += " \(c.pagesRefaulted) | \(c.pagesMovedIn)/\(c.pagesMovedOut) | \(c.pagesLiveAtEnd) |\n"
        }
        return m + "\n</details>\n"
    }

    /// Keeps trace-provided text from breaking a table or becoming markup.
    private func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "|", "*", "_", "`", "<", ">", "[", "]": out += "\\\(c)"
            default: out.append(c)
            }
        }
        return out
    }
}
