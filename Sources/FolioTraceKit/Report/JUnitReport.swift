/// The JUnit XML report: one test case per rule in one suite named after the trace, the
/// shape Jenkins, GitLab, GitHub test reporters and Buildkite read. A rule the gate failed
/// is a `<failure>` listing its first findings; a rule the trace cannot check is `<skipped>`
/// with the events it lacks.
public struct JUnitReport {
    let a: TraceAnalysis
    let verdict: Verdict
    /// Findings listed in a failure's text per rule (the JSON report has them all).
    static let listed = 20

    public init(_ a: TraceAnalysis, verdict: Verdict) {
        self.a = a
        self.verdict = verdict
    }

    public var rendered: String {
        // A damaged file that fails the gate (--fail-on-damage) is one more failed test case.
        let damageCase = verdict.damageFailed ? 1 : 0
        let failures = verdict.outcomes.filter(\.failed).count + damageCase
        let skipped = verdict.outcomes.filter { !$0.runnable && !$0.failed }.count
        let tests = verdict.outcomes.count + damageCase
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        x += "<testsuites name=\"foliotrace\" tests=\"\(tests)\" failures=\"\(failures)\""
        x += " errors=\"0\" skipped=\"\(skipped)\">\n"
        x += "  <testsuite name=\"\(attr(a.path))\" tests=\"\(tests)\" failures=\"\(failures)\""
        x += " errors=\"0\" skipped=\"\(skipped)\">\n"
        x += "    <properties>\n"
        x += "      <property name=\"kernel\" value=\"\(attr(a.kernelRelease ?? "unknown"))\"/>\n"
        x += "      <property name=\"events\" value=\"\(a.report.summary.records)\"/>\n"
        x += "      <property name=\"lost_events\" value=\"\(LostEvents.total(a.lost))\"/>\n"
        if let failOn = verdict.failOn { x += "      <property name=\"fail_on\" value=\"\(failOn.rawValue)\"/>\n" }
        if let b = verdict.baseline { x += "      <property name=\"baseline\" value=\"\(attr(b.path))\"/>\n" }
        for note in verdict.inputNotes.lines { x += "      <property name=\"input\" value=\"\(attr(note))\"/>\n" }
        x += "    </properties>\n"
        if verdict.damageFailed {
            x += "    <testcase classname=\"foliotrace.input\" name=\"damage\">\n"
            x += "      <failure message=\"the input may be incomplete (--fail-on-damage)\" type=\"damage\">"
            x += text(verdict.inputNotes.lines.joined(separator: "\n")) + "</failure>\n    </testcase>\n"
        }
        for o in verdict.outcomes {
            x += "    <testcase classname=\"foliotrace.\(o.rule.severity.rawValue)\" name=\"\(o.rule.id)\">\n"
            if o.failed {
                x += "      <failure message=\"\(attr(o.reason ?? "failed"))\" type=\"\(o.rule.severity.rawValue)\">"
                x += text(failureText(o)) + "</failure>\n"
            } else if !o.runnable {
                x += "      <skipped message=\"\(attr("the trace lacks " + o.rule.lacking(o.missing)))\"/>\n"
            }
            if o.findings > 0 || o.baseline != nil || o.notJudgedTotal > 0 || !o.unjudged.isEmpty {
                var out = "\(o.findings) finding(s): \(o.rule.title)"
                if let base = o.baseline { out += "; baseline \(base) (\(o.change.rawValue))" }
                if let gaps = o.unjudgedText { out += "; this capture " + gaps }
                if let n = o.notJudgedText { out += "; " + n }
                x += "      <system-out>\(text(out))</system-out>\n"
            }
            x += "    </testcase>\n"
        }
        return x + "  </testsuite>\n</testsuites>\n"
    }

    private func failureText(_ o: RuleOutcome) -> String {
        let top = RuleBreakdown(a, rule: o.rule.id)
        var t = "\(o.rule.title)\n\(o.rule.explainedWithThread)\n\n"
        t += "by memcg: " + top.memcgPairs.map { "\($0.label): \($0.count)" }.joined(separator: ", ") + "\n"
        for f in top.findings.prefix(Self.listed) {
            t += "pfn 0x\(hex(f.folio.pfn)) gen \(f.folio.generation) at \(seconds(f.timestamp)): \(f.message)\n"
        }
        if top.findings.count > Self.listed { t += "... \(top.findings.count - Self.listed) more\n" }
        return t
    }

    /// XML text content. XML 1.0 cannot carry other control characters, even escaped.
    private func text(_ s: String) -> String {
        let printable = String(
            String.UnicodeScalarView(
                s.unicodeScalars.map { u in
                    u.value < 0x20 && u != "\n" && u != "\t" || u.value == 0xFFFE || u.value == 0xFFFF ? "?" : u
                }
            )
        )
        return escapeXML(printable)
    }

    /// XML attribute value (quoted with ").
    private func attr(_ s: String) -> String {
        text(s).replacing("\n", with: "&#10;")
    }
}
