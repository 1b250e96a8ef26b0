#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The HTML report: one self-contained file (inline CSS, SVG and a few lines of script; no
/// fetches), for a desk or a CI artifact. Everything in it is aggregated (sampled series,
/// histograms, the first `listed` findings of each rule), so its size does not grow with the
/// trace: the JSON report is the place for every finding.
public struct HTMLReport {
    let a: TraceAnalysis
    let verdict: Verdict
    let stories: [FolioStory]
    /// Findings listed per rule.
    static let listed = 200
    /// memcgs drawn as their own line; the rest are summed into "other".
    static let plottedMemcgs = 7
    /// Lines of one folio's story shown inline: a pfn reused thousands of times in a long
    /// trace would otherwise make the page grow with the trace. With 200 findings a rule,
    /// 50 stories of this many lines and 256 samples a plot, the page stays well under 5 MB.
    static let storyLines = 300

    public init(_ a: TraceAnalysis, verdict: Verdict, stories: [FolioStory] = []) {
        self.a = a
        self.verdict = verdict
        self.stories = stories
    }

    public var rendered: String {
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        h += "<title>foliotrace: \(escapeXML(a.path))</title>\n<style>\(Self.style)</style>\n</head>\n"
        h += "<body data-verdict=\"\(verdict.failed ? "fail" : "pass")\">\n"
        h += header + rulesSection + plotsSection + findingsSection + storiesSection + summarySection
        h += "<script>\(Self.script)</script>\n</body>\n</html>\n"
        return h
    }

    private var header: String {
        let s = a.report.summary
        var h = "<header class=\"\(verdict.failed ? "fail" : "pass")\"><h1>foliotrace: "
        h += escapeXML(verdict.headline) + "</h1>\n<p><code>\(escapeXML(a.path))</code>: kernel "
        h += escapeXML(a.kernelRelease ?? "unknown") + ", \(a.cpus) CPUs, \(s.records) events, "
        h += "\(duration(a.span.last &- a.span.first)) of trace"
        let lost = LostEvents.total(a.lost)
        if lost > 0 { h += ", <strong>\(lost) events lost</strong>" }
        h += "</p>"
        if let scope = a.scope { h += "<p id=\"scope\">Scope: \(escapeXML(scope.description)).</p>" }
        for line in verdict.inputNotes.lines { h += "<p class=\"input-note\">\(escapeXML(line))</p>" }
        return h + "</header>\n"
    }

    private var rulesSection: String {
        var h = "<section id=\"rules\"><h2>Rules</h2>\n<table class=\"sortable\"><thead><tr>"
        h += "<th>rule</th><th>severity</th><th>findings</th>"
        if verdict.baseline != nil { h += "<th>baseline</th><th>change</th>" }
        h += "<th>gate</th></tr></thead><tbody>\n"
        for o in verdict.outcomes {
            let link = o.findings > 0 ? "<a href=\"#rule-\(o.rule.id)\">\(o.rule.id)</a>" : o.rule.id.rawValue
            h += "<tr><td><code>\(link)</code><br><small>\(escapeXML(o.rule.title))</small></td>"
            h += "<td>\(o.rule.severity.rawValue)</td><td class=\"n\">\(o.runnable ? "\(o.findings)" : "")</td>"
            if verdict.baseline != nil {
                h += "<td class=\"n\">\(o.baseline.map(String.init) ?? "")</td><td>\(o.change.rawValue)</td>"
            }
            let gate =
                !o.runnable
                ? "not checked: the trace lacks " + o.rule.lacking(o.missing)
                : (o.failed ? "FAIL: " + (o.reason ?? "") : "pass")
                    + (o.missing.isEmpty
                        ? "" : " (checked in part: the trace lacks " + o.rule.lacking(o.missing) + ")")
                    + (o.unjudgedText.map { "; " + $0 } ?? "")
                    + (o.notJudgedText.map { "; " + $0 } ?? "")
            h += "<td class=\"\(o.failed ? "fail" : "")\">\(escapeXML(gate))</td></tr>\n"
        }
        return h + "</tbody></table></section>\n"
    }

    // MARK: plots

    private var plotsSection: String {
        var h = "<section id=\"plots\"><h2>Over time</h2>\n"
        h += SVGPlot.lines(
            id: "plot-lru",
            title: "Pages on LRU lists per memcg (folios the trace saw inserted)",
            yLabel: "pages",
            series: memcgSeries(\.lruPages)
        )
        h += SVGPlot.lines(
            id: "plot-pagecache",
            title: "Page-cache pages per memcg (folios the trace saw added)",
            yLabel: "pages",
            series: memcgSeries(\.pageCachePages)
        )
        h += SVGPlot.lines(
            id: "plot-migrations",
            title: "Folios migrated, by reason (cumulative)",
            yLabel: "folios",
            series: migrationSeries
        )
        h += SVGPlot.ticks(
            id: "plot-findings",
            title: "Findings on the trace's timeline",
            rows: verdict.outcomes.filter { $0.findings > 0 }.map { o in
                (o.rule.id.rawValue, a.findings.lazy.filter { $0.rule == o.rule.id }.map { self.x($0.timestamp) })
            },
            span: (0, x(a.span.last))
        )
        let hist = a.report.summary.lifetimeHistogram.enumerated().filter { $0.element > 0 }
        h += SVGPlot.bars(
            id: "plot-lifetimes",
            title: "Folio lifetimes (allocation to free, power-of-two buckets)",
            yLabel: "folios",
            bars: hist.map { (duration(1 << UInt64($0.offset)), Double($0.element)) }
        )
        return h + "</section>\n"
    }

    /// Seconds since the first record.
    private func x(_ ts: UInt64) -> Double { Double(ts &- a.span.first) / 1e9 }

    private func memcgSeries(_ value: KeyPath<PageCensus, UInt64>) -> [SVGPlot.Series] {
        let samples = a.timeline.samples
        var peak: [UInt64: UInt64] = [:]
        for s in samples { for (m, c) in s.memcgs { peak[m] = max(peak[m] ?? 0, c[keyPath: value]) } }
        let shown = peak.filter { $0.value > 0 }.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
            .prefix(Self.plottedMemcgs).map(\.key)
        var series = shown.map { m in
            SVGPlot.Series(
                name: memcgName(m),
                points: samples.map { (x($0.timestamp), Double($0.memcgs[m]?[keyPath: value] ?? 0)) }
            )
        }
        let rest = Set(peak.filter { $0.value > 0 }.keys).subtracting(shown)
        if !rest.isEmpty {
            series.append(
                SVGPlot.Series(
                    name: "other memcgs",
                    points: samples.map { s in
                        (x(s.timestamp), Double(rest.reduce(0) { $0 + (s.memcgs[$1]?[keyPath: value] ?? 0) }))
                    }
                )
            )
        }
        return series
    }

    private var migrationSeries: [SVGPlot.Series] {
        let reasons = Set(a.timeline.samples.flatMap(\.migrated.keys)).sorted()
        return reasons.map { r in
            SVGPlot.Series(name: r, points: a.timeline.samples.map { (x($0.timestamp), Double($0.migrated[r] ?? 0)) })
        }
    }

    private func memcgName(_ id: UInt64) -> String {
        guard id != 0 else { return "not attributed to a memcg" }
        guard let path = a.report.tasks.cgroupPaths[id] else { return "memcg \(id)" }
        // Container paths are long hashes: the last two components name the memcg.
        let parts = path.split(separator: "/")
        return "memcg \(id) " + (parts.count > 2 ? ".../" + parts.suffix(2).joined(separator: "/") : path)
    }

    // MARK: findings and stories

    private var findingsSection: String {
        let found = verdict.outcomes.filter { $0.findings > 0 }
        guard !found.isEmpty else { return "" }
        var h = "<section id=\"findings\"><h2>Findings</h2>\n"
        let told = Set(stories.map(\.pfn))
        for o in found {
            let top = RuleBreakdown(a, rule: o.rule.id)
            h += "<article id=\"rule-\(o.rule.id)\"><h3><code>\(o.rule.id)</code> [\(o.rule.severity.rawValue)]: "
            h += "\(o.findings) — \(escapeXML(o.rule.title))</h3>\n<p>\(escapeXML(o.rule.explainedWithThread))</p>\n"
            let context = (a.ruleContext[o.rule.id] ?? []).filter { $0.1 > 0 }
            if !context.isEmpty {
                h += "<ul>" + context.map { "<li>\(escapeXML($0.0)): \($0.1)</li>" }.joined() + "</ul>\n"
            }
            h += "<p>By memcg: " + top.memcgPairs.map { "\(escapeXML($0.label)): \($0.count)" }.joined(separator: ", ")
            if !top.inodes.isEmpty {
                h += "; by inode: " + top.inodes.map { "\($0.inode): \($0.count)" }.joined(separator: ", ")
            }
            h += "</p>\n<table class=\"sortable findings\"><thead><tr><th>time (s)</th><th>pfn</th><th>gen</th>"
            h += "<th>order</th><th>inode</th><th>index</th><th>memcg</th><th>other memcg</th><th>what</th>"
            h += "<th>evidence</th></tr></thead><tbody>\n"
            for f in top.findings.prefix(Self.listed) {
                let pfn = "0x" + hex(f.folio.pfn)
                let cell = told.contains(f.folio.pfn) ? "<a href=\"#folio-\(pfn)\">\(pfn)</a>" : pfn
                h += "<tr><td class=\"n\">\(seconds(f.timestamp))</td><td><code>\(cell)</code></td>"
                h += "<td class=\"n\">\(f.folio.generation)</td><td class=\"n\">\(f.folio.order)</td>"
                h += "<td class=\"n\">\(f.folio.filePage.map { "\($0.inode)" } ?? "")</td>"
                h += "<td class=\"n\">\(f.folio.filePage.map { "\($0.index)" } ?? "")</td>"
                h += "<td class=\"n\">\(f.memcg.map(String.init) ?? "")</td>"
                h += "<td class=\"n\">\(f.otherMemcg.map(String.init) ?? "")</td>"
                h += "<td>\(escapeXML(f.message))</td><td><small>"
                h += f.evidence.map { "\(escapeXML($0.event)) cpu \($0.cpu) \(seconds($0.timestamp))" }
                    .joined(separator: "<br>")
                h += "</small></td></tr>\n"
            }
            h += "</tbody></table>\n"
            if o.findings > Self.listed {
                h += "<p>\(o.findings - Self.listed) more: <code>--format json</code> lists every finding.</p>\n"
            }
            h += "</article>\n"
        }
        return h + "</section>\n"
    }

    private var storiesSection: String {
        guard !stories.isEmpty else { return "" }
        var h = "<section id=\"folios\"><h2>Folio stories</h2>\n"
        h += "<p>Every step the trace shows for the folios of the first findings.</p>\n"
        for s in stories {
            h += "<details class=\"story\" id=\"folio-0x\(hex(s.pfn))\"><summary>pfn 0x\(hex(s.pfn)): "
            h += "\(s.generations.count) generation(s)</summary><pre>"
            let lines = s.text.split(separator: "\n", omittingEmptySubsequences: false)
            h += escapeXML(lines.prefix(Self.storyLines).joined(separator: "\n"))
            if lines.count > Self.storyLines {
                h +=
                    "\n... \(lines.count - Self.storyLines) more lines: foliotrace folio 0x\(hex(s.pfn)) \(escapeXML(a.path))"
            }
            h += "</pre></details>\n"
        }
        return h + "</section>\n"
    }

    private var summarySection: String {
        var h = "<section id=\"summary\"><h2>Summary</h2>\n<pre>"
        // The text report's summary lines, without its findings section.
        let text = TextReport(a, verdict: verdict).rendered
        h += escapeXML(String(text.split(separator: "\nfindings\n", maxSplits: 1).first ?? ""))
        h += "</pre>\n"
        if !a.report.memcgs.isEmpty {
            h += "<table class=\"sortable\" id=\"memcgs\"><thead><tr><th>memcg</th><th>path</th><th>charged</th>"
            h += "<th>reclaimed</th><th>refaulted</th><th>moved in</th><th>moved out</th><th>live at end</th>"
            h += "<th>page cache at end</th></tr></thead><tbody>\n"
            for m in a.report.memcgs {
                h += "<tr><td class=\"n\">\(m.id)</td><td>\(escapeXML(m.path ?? ""))</td>"
                for v in [
                    m.pagesCharged, m.pagesReclaimed, m.pagesRefaulted, m.pagesMovedIn, m.pagesMovedOut,
                    m.pagesLiveAtEnd, m.pageCachePagesAtEnd,
                ] {
                    h += "<td class=\"n\">\(v)</td>"
                }
                h += "</tr>\n"
            }
            h += "</tbody></table>\n"
        }
        return h + "</section>\n"
    }

    static let style = """
        body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 16px;color:#222}
        header{border-left:6px solid #2a2;padding:4px 12px;margin:12px 0}header.fail{border-color:#c22}
        h1{font-size:20px;margin:6px 0}h2{font-size:17px;border-bottom:1px solid #ddd}h3{font-size:15px}
        table{border-collapse:collapse;margin:8px 0;font-size:13px}
        th,td{border:1px solid #ddd;padding:3px 6px;vertical-align:top}
        th{background:#f4f4f4;cursor:pointer;user-select:none}th.asc:after{content:" ▲"}th.desc:after{content:" ▼"}
        td.n{text-align:right;font-variant-numeric:tabular-nums}td.fail{color:#c22;font-weight:600}
        figure{margin:12px 0}figcaption{font-weight:600}svg.plot{max-width:100%;height:auto}
        ul.legend{list-style:none;padding:0;margin:2px 0 0 64px;font-size:12px}
        ul.legend li{display:inline-block;margin-right:14px}
        ul.legend span{display:inline-block;width:10px;height:10px;margin-right:4px}
        pre{background:#f8f8f8;padding:8px;overflow-x:auto;font-size:12px}
        details.story{margin:4px 0}details.story[open]{background:#fffbe6}
        """

    /// Sorts a table by the clicked column (numbers as numbers), opens a story when a link
    /// points at it, and marks the page ready (the browser test reads that mark).
    static let script = """
        (function(){
        var t0=performance.now();
        function key(td){var s=td.textContent.trim();var n=parseFloat(s.replace(/^0x/,''));
        if(/^0x[0-9a-f]+$/i.test(s))n=parseInt(s,16);return isNaN(n)?s.toLowerCase():n;}
        document.querySelectorAll('table.sortable').forEach(function(table){
        table.querySelectorAll('th').forEach(function(th,col){th.addEventListener('click',function(){
        var asc=!th.classList.contains('asc');table.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc');});
        th.classList.add(asc?'asc':'desc');var body=table.tBodies[0];
        var rows=Array.prototype.slice.call(body.rows);rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
        if(typeof x!==typeof y){x=String(x);y=String(y);}return (x<y?-1:x>y?1:0)*(asc?1:-1);});
        rows.forEach(function(r){body.appendChild(r);});});});});
        function openStory(){var id=location.hash.slice(1);var d=id&&document.getElementById(id);
        if(d&&d.tagName==='DETAILS')d.open=true;}
        window.addEventListener('hashchange',openStory);openStory();
        document.body.dataset.plots=document.querySelectorAll('svg.plot').length;
        document.body.dataset.renderMs=Math.round(performance.now()-t0);
        document.body.dataset.ready='1';
        })();
        """
}
