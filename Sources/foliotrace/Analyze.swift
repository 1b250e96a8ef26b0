import ArgumentParser
import FolioTraceKit
import Foundation

/// `foliotrace analyze TRACE`: the main job. Rebuilds every folio's life, runs the
/// detectors, prints the summary and findings; `--fail-on` makes it a CI gate.
struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Rebuild every folio's life, summarize it and report the linux-mm patterns found.",
        discussion: """
            Exit status: 0 when the trace was analyzed (and no finding reached --fail-on), 1 when \
            a finding reached the --fail-on severity, 2 when the trace could not be read or the \
            command line was wrong.
            """
    )

    @OptionGroup var input: TraceInput

    @Option(name: .shortAndLong, help: "Write the report to this file instead of standard output.")
    var output: String?

    @Option(help: "Exit 1 when a finding has this severity or a higher one: info, warning or error.")
    var failOn: Severity?

    @Flag(help: "Keep every folio generation and list them in the JSON report (memory grows with the trace).")
    var keepLifecycles = false

    func run() throws {
        let analysis = try reportingErrors {
            try TraceAnalysis(path: input.trace, options: .init(keepLifecycles: keepLifecycles))
        }
        let report: String
        switch input.format {
        case .text: report = AnalyzeText(analysis).text
        case .json: report = analyzeJSON(analysis, lifecycles: keepLifecycles).rendered() + "\n"
        }
        if let output {
            do {
                try report.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                FileHandle.standardError.write(
                    Data("foliotrace: \(output): cannot write the report: \(error.localizedDescription)\n".utf8)
                )
                throw ExitCode(2)
            }
        } else {
            print(report, terminator: "")
        }
        if let failOn, let worst = analysis.findings.map(\.severity).max(), worst >= failOn {
            let count = analysis.findings.filter { $0.severity >= failOn }.count
            FileHandle.standardError.write(
                Data("foliotrace: \(count) finding(s) at or above \(failOn.rawValue)\n".utf8)
            )
            throw ExitCode(1)
        }
    }
}

extension Severity: ExpressibleByArgument {}

func analyzeJSON(_ a: TraceAnalysis, lifecycles: Bool = false) -> JSON {
    let s = a.report.summary
    var reasons: [(String, JSON)] = []
    for (name, c) in s.migration.byReason.sorted(by: { $0.key < $1.key }) {
        reasons.append(
            (
                name,
                .object([("calls", .uint(c.calls)), ("succeeded", .uint(c.succeeded)), ("failed", .uint(c.failed))])
            )
        )
    }
    let lists = LRUList.allCases.filter { $0 != .unknown }
    let summary: JSON = .object([
        ("events", .uint(s.records)),
        ("typed_events", .uint(s.typedEvents)),
        ("folios", .uint(s.folios)),
        ("generations", .uint(s.generations)),
        ("began_before_trace", .uint(s.beganBeforeTrace)),
        ("freed", .uint(s.freed)),
        ("ended_unseen", .uint(s.endedUnseen)),
        ("live_at_end", .uint(s.liveAtEnd)),
        (
            "lifetime_histogram_log2_ns",
            .object(
                s.lifetimeHistogram.enumerated().filter { $0.element > 0 }
                    .map { ("\($0.offset)", .uint($0.element)) }
            )
        ),
        ("lru_insertions", .object(lists.map { ($0.description, .uint(s.lruInsertions[Int($0.rawValue)])) })),
        ("activations", .uint(s.activations)),
        (
            "page_cache",
            .object([
                ("adds", .uint(s.pageCacheAdds)), ("deletes", .uint(s.pageCacheDeletes)),
                ("evictions", .uint(s.evictions)), ("refaults", .uint(s.refaults)),
            ])
        ),
        (
            "reclaim",
            .object([
                ("memcg_reclaim_passes", .uint(s.reclaim.memcgReclaimPasses)),
                ("direct_reclaim_passes", .uint(s.reclaim.directReclaimPasses)),
                ("kswapd_wakes", .uint(s.reclaim.kswapdWakes)),
                ("nr_reclaimed", .uint(s.reclaim.nrReclaimed)),
                ("shrink_inactive_scanned", .uint(s.reclaim.shrinkInactiveScanned)),
                ("shrink_inactive_reclaimed", .uint(s.reclaim.shrinkInactiveReclaimed)),
                ("activated", .uint(s.reclaim.activated)),
                ("unmap_failed", .uint(s.reclaim.unmapFailed)),
                ("written_back", .uint(s.writtenBackByReclaim)),
            ])
        ),
        ("frees_by_context", .object(s.freesByContext.sorted { $0.key < $1.key }.map { ($0.key, .uint($0.value)) })),
        (
            "migrations",
            .object([
                ("calls", .uint(s.migration.calls)), ("succeeded", .uint(s.migration.succeeded)),
                ("failed", .uint(s.migration.failed)), ("by_reason", .object(reasons)),
                ("joined", .uint(s.migration.joined)), ("restored", .uint(s.migration.restored)),
            ])
        ),
        ("charge_moves", .uint(s.chargeMoves)),
        ("lost_events", .uint(a.lost.reduce(0) { $0 + $1.counted })),
        ("lost_events_per_cpu", .array(a.lost.map { .uint($0.counted) })),
        ("generations_crossing_lost_events", .uint(s.generationsCrossingLoss)),
    ])
    let memcgs: JSON = .array(
        a.report.memcgs.map { m in
            .object([
                ("id", .uint(m.id)), ("path", .optional(m.path)),
                ("generations", .uint(m.generations)), ("pages_charged", .uint(m.pagesCharged)),
                ("pages_reclaimed", .uint(m.pagesReclaimed)), ("pages_refaulted", .uint(m.pagesRefaulted)),
                ("pages_moved_in", .uint(m.pagesMovedIn)), ("pages_moved_out", .uint(m.pagesMovedOut)),
                ("pages_live_at_end", .uint(m.pagesLiveAtEnd)),
                ("page_cache_pages_at_end", .uint(m.pageCachePagesAtEnd)),
            ])
        }
    )
    var report: [(String, JSON)] = [
        ("file", .string(a.path)), ("kernel", .optional(a.kernelRelease)), ("cpus", .int(Int64(a.cpus))),
        ("summary", summary), ("memcgs", memcgs), ("findings", .array(a.findings.map(findingJSON))),
        (
            "coverage",
            .array(
                a.coverage.map { c in
                    .object([
                        ("rule", .string(c.rule.id)), ("runnable", .bool(c.runnable)),
                        ("missing", .array(c.missing.map(JSON.string))),
                    ])
                }
            )
        ),
    ]
    if lifecycles {
        let all = (a.report.generations + a.report.live).sorted { ($0.pfn, $0.generation) < ($1.pfn, $1.generation) }
        report.append(("generations", .array(all.map { generationJSON($0, steps: nil, tasks: a.report.tasks) })))
    }
    return .object(report)
}

/// The text form of `analyze`.
struct AnalyzeText {
    let a: TraceAnalysis
    init(_ a: TraceAnalysis) { self.a = a }

    var text: String {
        let s = a.report.summary
        var t = "\(a.path): kernel \(a.kernelRelease ?? "unknown"), \(a.cpus) CPUs, \(s.records) events\n\n"
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
        let lost = a.lost.reduce(0) { $0 + $1.counted }
        let uncounted = a.lost.reduce(0) { $0 + $1.uncountedPages }
        if lost > 0 || uncounted > 0 {
            t += "lost events  \(lost)" + (uncounted > 0 ? " (+\(uncounted) pages with uncounted losses)" : "")
            t += ": \(s.generationsCrossingLoss) generations were live across a loss and may miss steps\n"
        }
        if !a.report.memcgs.isEmpty {
            t += "\nmemcgs (pages)\n"
            t +=
                pad("id", 8) + pad("charged", 9) + pad("reclaimed", 10) + pad("refaulted", 10) + pad("moved in", 9)
                + pad("moved out", 10) + pad("live", 7) + "  path\n"
            for m in a.report.memcgs {
                t +=
                    pad("\(m.id)", 8) + pad("\(m.pagesCharged)", 9) + pad("\(m.pagesReclaimed)", 10)
                    + pad("\(m.pagesRefaulted)", 10) + pad("\(m.pagesMovedIn)", 9) + pad("\(m.pagesMovedOut)", 10)
                    + pad("\(m.pagesLiveAtEnd)", 7) + "  " + (m.path ?? "(no cgroup event names it)") + "\n"
            }
        }
        t += findingsText(a)
        return t
    }

    private func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }

    private func duration(_ ns: UInt64) -> String {
        switch ns {
        case ..<1_000: return "\(ns)ns"
        case ..<1_000_000: return "\(ns / 1_000)us"
        case ..<1_000_000_000: return "\(ns / 1_000_000)ms"
        default: return "\(ns / 1_000_000_000)s"
        }
    }
}

/// A finding in the JSON shape the detectors issue fixes.
func findingJSON(_ f: Finding) -> JSON {
    .object([
        ("rule", .string(f.rule)), ("severity", .string(f.severity.rawValue)),
        ("pfn", .uint(f.folio.pfn)), ("generation", .uint(UInt64(f.folio.generation))),
        ("order", .uint(UInt64(f.folio.order))),
        ("inode", .optional(f.folio.filePage?.inode)), ("index", .optional(f.folio.filePage?.index)),
        ("memcg", .optional(f.memcg)), ("other_memcg", .optional(f.otherMemcg)),
        ("ts", .uint(f.timestamp)), ("message", .string(f.message)),
        (
            "evidence",
            .array(
                f.evidence.map { e in
                    .object([
                        ("event", .string(e.event)), ("cpu", .int(Int64(e.cpu))), ("ts", .uint(e.timestamp)),
                        ("pid", .int(Int64(e.pid))),
                    ])
                }
            )
        ),
    ])
}

/// The findings section of `analyze`'s text: per rule, what it means, how many, where.
func findingsText(_ a: TraceAnalysis) -> String {
    var t = "\nfindings\n"
    for c in a.coverage {
        let rule = c.rule
        let found = a.findings.filter { $0.rule == rule.id }
        t += "\n  \(rule.id) [\(rule.severity.rawValue)]: "
        guard c.runnable else {
            t += "not checked: the trace lacks \(c.missing.joined(separator: ", "))\n"
            continue
        }
        t += found.isEmpty ? "none\n" : "\(found.count) (\(rule.title))\n"
        for (label, n) in a.ruleContext[rule.id] ?? [] where n > 0 { t += "    \(label): \(n)\n" }
        guard !found.isEmpty else { continue }
        t += wrap(rule.explanation, indent: "    ")
        var byMemcg: [String: Int] = [:]
        var byInode: [UInt64: Int] = [:]
        for f in found {
            byMemcg["\(f.memcg.map(String.init) ?? "?") -> \(f.otherMemcg.map(String.init) ?? "?")", default: 0] += 1
            if let ino = f.folio.filePage?.inode { byInode[ino, default: 0] += 1 }
        }
        t +=
            "    by memcg: "
            + byMemcg.sorted { $0.value > $1.value }.prefix(5).map { "\($0.key): \($0.value)" }
            .joined(separator: ", ") + "\n"
        if !byInode.isEmpty {
            t +=
                "    by inode: "
                + byInode.sorted { $0.value > $1.value }.prefix(5).map { "\($0.key): \($0.value)" }
                .joined(separator: ", ") + "\n"
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
