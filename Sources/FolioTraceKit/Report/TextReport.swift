/// The text form of `analyze`: for a terminal, 100 columns.
public struct TextReport {
    let a: TraceAnalysis
    let verdict: Verdict

    public init(_ a: TraceAnalysis, verdict: Verdict) {
        self.a = a
        self.verdict = verdict
    }

    public var rendered: String {
        let s = a.report.summary
        // "0 CPUs" for a v7 file whose 16 CPUs recorded nothing read as a file about nothing.
        var cpus = "\(a.cpus) CPUs"
        if let machine = a.machineCPUs, machine != a.cpus { cpus = "\(a.cpus) of \(machine) CPUs with data" }
        var t = "\(a.path): kernel \(a.kernelRelease ?? "unknown"), \(cpus), \(s.records) events"
        if a.otherSamples > 0 { t += " (and \(a.otherSamples) samples of other events, not modelled)" }
        t += "\n"
        t += verdict.headline + "\n"
        if let scope = a.scope { t += "scope: " + scope.description + "\n" }
        for line in verdict.inputNotes.lines { t += line + "\n" }
        t += "\n"
        t +=
            "folios       \(s.folios) pfns, \(s.generations) generations (\(s.beganBeforeTrace) began before the trace), "
        t += "\(s.freed) freed, \(s.liveAtEnd) live at the end"
        if s.endedUnseen > 0 { t += ", \(s.endedUnseen) ended without a free in the trace" }
        t += "\n"
        let hist = s.lifetimeHistogram.enumerated().filter { $0.element > 0 }
        if !hist.isEmpty {
            t +=
                "lifetimes    "
                + hist.map { "\(duration(1 << UInt64($0.offset))):\($0.element)" }.joined(separator: " ") + "\n"
        }
        let lists = LRUList.allCases.filter { $0 != .unknown }
        t +=
            "lru          insertions "
            + lists.map { "\($0)=\(s.lruInsertions[Int($0.rawValue)])" }.joined(separator: " ")
        t += ", activations \(s.activations)\n"
        t +=
            "page cache   \(s.pageCacheAdds) adds, \(s.pageCacheDeletes) deletes (\(s.evictions) by reclaim), \(s.refaults) refaults\n"
        t +=
            "reclaim      memcg \(s.reclaim.memcgReclaimPasses) passes, direct \(s.reclaim.directReclaimPasses), kswapd wakes \(s.reclaim.kswapdWakes); "
        t += "scanned \(s.reclaim.shrinkInactiveScanned), reclaimed \(s.reclaim.shrinkInactiveReclaimed), "
        t +=
            "activated \(s.reclaim.activated), unmap failed \(s.reclaim.unmapFailed), written back \(s.writtenBackByReclaim)\n"
        if !s.freesByContext.isEmpty {
            t +=
                "frees        "
                + s.freesByContext.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                + "\n"
        }
        t +=
            "migrations   \(s.migration.calls) migrate_pages calls, \(s.migration.succeeded) succeeded, \(s.migration.failed) failed"
        if !s.migration.byReason.isEmpty {
            t +=
                " ("
                + s.migration.byReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.calls)" }.joined(
                    separator: ", "
                ) + ")"
        }
        t += "; \(s.migration.joined) folios joined old -> new, \(s.migration.restored) entries restored\n"
        if s.chargeMoves > 0 { t += "charge moves \(s.chargeMoves)\n" }
        let lost = LostEvents.total(a.lost)
        let uncounted = LostEvents.totalUncountedPages(a.lost)
        if lost > 0 || uncounted > 0 {
            t += "lost events  \(lost)" + (uncounted > 0 ? " (+\(uncounted) pages with uncounted losses)" : "")
            t += ": \(s.generationsCrossingLoss) generations were live across a loss and may miss steps\n"
        }
        if !a.report.memcgs.isEmpty {
            t += "\nmemcgs (pages)\n"
            t +=
                padLeft("id", 8) + padLeft("charged", 9) + padLeft("reclaimed", 10) + padLeft("refaulted", 10)
                + padLeft("moved in", 9)
                + padLeft("moved out", 10) + padLeft("live", 7) + "  path\n"
            for m in a.report.memcgs {
                t +=
                    padLeft("\(m.id)", 8) + padLeft("\(m.pagesCharged)", 9) + padLeft("\(m.pagesReclaimed)", 10)
                    + padLeft("\(m.pagesRefaulted)", 10) + padLeft("\(m.pagesMovedIn)", 9)
                    + padLeft("\(m.pagesMovedOut)", 10)
                    + padLeft("\(m.pagesLiveAtEnd)", 7) + "  " + (m.path ?? "(no cgroup event names it)") + "\n"
            }
        }
        t += findingsText(a, verdict)
        return t
    }
}

/// The findings section of `analyze`'s text: per rule, what it means, how many, where.
func findingsText(_ a: TraceAnalysis, _ verdict: Verdict) -> String {
    var t = "\nfindings\n"
    for c in verdict.outcomes {
        let rule = c.rule
        let top = RuleBreakdown(a, rule: rule.id)
        let found = top.findings
        t += "\n  \(rule.id) [\(rule.severity.rawValue)]: "
        guard c.runnable else {
            t += "not checked: the trace lacks \(rule.lacking(c.missing))\n"
            continue
        }
        t += found.isEmpty ? "none" : "\(found.count) (\(rule.title))"
        if let base = c.baseline { t += "; baseline \(base) (\(c.change.rawValue))" }
        t += c.failed ? " FAILED\n" : "\n"
        if !c.missing.isEmpty { t += "    checked in part: the trace lacks \(rule.lacking(c.missing))\n" }
        if let gaps = c.unjudgedText { t += "    this capture \(gaps)\n" }
        for (label, n) in a.ruleContext[rule.id] ?? [] where n > 0 { t += "    \(label): \(n)\n" }
        guard !found.isEmpty else { continue }
        t += wrap(rule.explainedWithThread, indent: "    ")
        t += "    by memcg: " + top.memcgPairs.map { "\($0.label): \($0.count)" }.joined(separator: ", ") + "\n"
        if !top.inodes.isEmpty {
            t += "    by inode: " + top.inodes.map { "\($0.inode): \($0.count)" }.joined(separator: ", ") + "\n"
        }
        for f in found.prefix(3) {
            t += "    pfn 0x\(String(f.folio.pfn, radix: 16)) gen \(f.folio.generation): \(f.message)\n"
            for e in f.evidence { t += "      \(e.event) cpu \(e.cpu) ts \(e.timestamp) pid \(e.pid)\n" }
        }
        if found.count > 3 { t += "    ... \(found.count - 3) more (--format json lists them all)\n" }
    }
    return t
}

/// Wraps a paragraph to 100 columns.
func wrap(_ text: String, indent: String) -> String {
    var out = ""
    var line = indent
    for word in text.split(separator: " ") {
        if line.count + word.count + 1 > 100, line != indent {
            out += line + "\n"
            line = indent
        }
        line += (line == indent ? "" : " ") + word
    }
    return out + line + "\n"
}
