import ArgumentParser
import FolioTraceKit

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

/// `foliotrace analyze TRACE`: the main job. Rebuilds every folio's life, runs the
/// detectors, writes one or more reports; `--fail-on` and `--baseline` make it a CI gate.
struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract:
            "Rebuild every folio's life, summarize it and report the linux-mm patterns found.",
        discussion: """
            Several reports from one pass: --report FORMAT=FILE for each (`--report \
            json=r.json --report markdown=r.md`; FORMAT alone or FORMAT=- for standard output). \
            Or pair each --format with an -o FILE in order \
            (`--format json -o r.json --format markdown -o r.md`); an -o FILE without its own \
            --format takes the format from its extension (.txt .json .md .html .xml); one \
            --format without a file, or with -o -, goes to standard output.

            A report file is written beside its target under a temporary name and renamed \
            into place once complete: a failure leaves the file that was there. A target that \
            is an input (the trace, the baseline, a link to either) or exists and is not a \
            regular file (a device, a directory, a FIFO) is refused, as is a file another run \
            wrote while this one ran.

            Exit status: 0 when the trace was analyzed and the gate passed, 1 when the gate \
            failed (a finding reached --fail-on, or with --baseline a rule's count grew beyond \
            --tolerance), 2 when the trace or baseline could not be read or the command line \
            was wrong.
            """
    )

    @Argument(help: ArgumentHelp(traceHelp, valueName: "trace"))
    var trace: String

    @Option(
        name: .shortAndLong,
        help: "Report format: \(ReportFormat.allCases.map(\.rawValue).joined(separator: ", ")). Repeatable."
    )
    var format: [ReportFormat] = []

    @Option(name: .shortAndLong, help: "Write a report to this file, - for standard output (repeatable; see below).")
    var output: [String] = []

    @Option(help: "Fail (exit 1) when a finding has this severity or a higher one: info, warning or error.")
    var failOn: Severity?

    @Option(help: "An earlier JSON report: fail only on new findings or counts grown beyond --tolerance.")
    var baseline: String?

    @Option(help: "With --baseline: how much a rule's count may grow, in findings (5) or percent (10%).")
    var tolerance: String = "0"

    @Option(
        help: ArgumentHelp(
            "Only the events from this time on: seconds as trace-cmd report prints them (3.667611), a count with a unit (250ms), or +T from the first event.",
            valueName: "time"
        )
    )
    var since: TraceTime?

    @Option(help: ArgumentHelp("Only the events up to this time (as --since).", valueName: "time"))
    var until: TraceTime?

    @Option(
        help:
            "Only the findings and memcg rows of this memcg and its children: its path as reports print it (/A), its cgroup directory, or its id."
    )
    var memcg: String?

    @Option(help: "Only the findings whose evidence names this task.")
    var pid: Int32?

    @Flag(help: "Fail (exit 1) when a rule cannot run because the trace lacks its events.")
    var requireRules = false

    @Flag(
        help:
            "Fail (exit 1) when the file is damaged (cut, or with parts that cannot be read) or cannot show that it is whole (pipe-mode perf.data)."
    )
    var failOnDamage = false

    @Flag(help: "Keep every folio generation and list them in the JSON report (memory grows with the trace).")
    var keepLifecycles = false

    @Flag(help: "No progress bar, even on a terminal.")
    var quiet = false

    @Option(help: "Also write a Perfetto trace of the analysis to this file (docs/perfetto.md).")
    var perfetto: String?

    @OptionGroup var perfettoOptions: PerfettoOptions

    @Option(
        help: ArgumentHelp(
            "A report as FORMAT or FORMAT=FILE (json=r.json, markdown=-), repeatable; instead of --format/-o.",
            valueName: "format[=file]"
        )
    )
    var report: [ReportRequest] = []

    @Option(help: "With --format jsonl: the trace id of every line (default: a hash of the trace's path).")
    var traceId: Int64?

    /// The reports to write, in command-line order: the --report values, or else the
    /// --format/-o pairs (`ReportRequest.pairing`).
    func requests() throws -> [ReportRequest] {
        if !report.isEmpty {
            if !format.isEmpty || !output.isEmpty {
                throw ValidationError("give the reports as --report FORMAT[=FILE] or as --format/-o, not both")
            }
            if let conflict = ReportRequest.conflict(report) { throw ValidationError(conflict) }
            return report
        }
        let pairs: [(ReportFormat?, String?)]
        do {
            pairs = try ReportRequest.pairing(Array(CommandLine.arguments.dropFirst()))
        } catch {
            throw ValidationError(error.description)
        }
        if pairs.filter({ $0.1 != nil }).count != output.count {
            throw ValidationError("write each -o FILE and --format NAME as two words (-o report.md, not -oreport.md)")
        }
        return try pairs.map { format, file in
            guard let format else {
                throw ValidationError(
                    "\(file ?? "-"): cannot tell the report format from the name: give --format for it"
                )
            }
            return ReportRequest(format: format, file: file)
        }
    }

    func validate() throws {
        _ = try requests()
        if let since, let until, since.fromStart == until.fromStart, since.nanoseconds > until.nanoseconds {
            throw ValidationError("--since comes after --until: the window is empty")
        }
        if Tolerance(tolerance) == nil {
            throw ValidationError("--tolerance \(tolerance): give a number of findings (5) or a percentage (10%)")
        }
    }

    func run() throws {
        let wanted = try requests().map { ($0.format, $0.file) }
        // Every report file is checked (and its temporary file made) before the long pass.
        let inputs = [trace == "-" ? "/dev/stdin" : trace] + (baseline.map { [$0] } ?? [])
        var outputs: [String: OutputFile] = [:]
        for case (_, let file?) in wanted {
            let output = try reportingErrors { try OutputFile(path: file, inputs: inputs) }
            if let other = outputs.values.first(where: { $0.isSameTarget(as: output) }) {
                Streams.error(path: file, "is given twice as -o (also as \(other.path)): one report a file")
                throw ExitCode(2)
            }
            outputs[file] = output
        }
        let perfettoOutput = try reportingErrors {
            try perfetto.map { (p) throws(FileError) in try OutputFile(path: p, inputs: inputs) }
        }
        if let p = perfettoOutput, let other = outputs.values.first(where: { $0.isSameTarget(as: p) }) {
            Streams.error(path: p.path, "is given as both --perfetto and -o (\(other.path)): one output a file")
            throw ExitCode(2)
        }
        let base = try reportingErrors { try baseline.map { (p) throws(FileError) in try Baseline(path: p) } }
        let input = try InputTrace(trace)
        let bar = quiet ? nil : ProgressBar(label: trace)
        let scope = AnalysisScope(since: since, until: until, memcg: memcg, pid: pid)
        let whole = try input.reading {
            try TraceAnalysis(
                path: $0,
                options: .init(keepLifecycles: keepLifecycles),
                window: scope,
                progress: bar?.update
            )
        }
        bar?.finish()
        let analysis: TraceAnalysis
        do {
            analysis = try whole.narrowed(to: scope)
        } catch {
            Streams.error(path: input.displayName, "--memcg \(error)")
            throw ExitCode(2)
        }
        let verdict = Verdict(
            analysis,
            failOn: failOn,
            baseline: base,
            tolerance: Tolerance(tolerance)!,
            requireRules: requireRules,
            failOnDamage: failOnDamage
        )
        let stories = wanted.contains { $0.0 == .html } ? try findingStories(analysis, input: input) : []
        for (format, file) in wanted {
            let report = format.render(
                analysis,
                verdict: verdict,
                lifecycles: keepLifecycles,
                stories: stories,
                traceID: traceId
            )
            guard let file, let output = outputs[file] else {
                print(report, terminator: "")
                continue
            }
            try reportingErrors { try output.write(report) }
        }
        if let perfettoOutput {
            let window = AnalysisScope(since: since, until: until)
            try perfettoOptions.write(analysis, input: input, window: window, to: perfettoOutput)
        }
        if verdict.failed {
            for outcome in verdict.outcomes where outcome.failed {
                Streams.error(path: nil, "\(outcome.rule.id): \(outcome.reason ?? "failed")")
            }
            if verdict.damageFailed {
                Streams.error(path: input.displayName, "the input may be incomplete (--fail-on-damage)")
            }
            throw ExitCode(1)
        }
    }

    /// The steps of the first findings' folios, for the HTML report: a second pass that
    /// watches only those pfns (the first pass cannot know them in advance).
    private func findingStories(_ analysis: TraceAnalysis, input: InputTrace) throws -> [FolioStory] {
        var pfns: [UInt64] = []
        var seen = Set<UInt64>()
        for f in analysis.findings where seen.insert(f.folio.pfn).inserted {
            pfns.append(f.folio.pfn)
            if pfns.count == 50 { break }
        }
        guard !pfns.isEmpty else { return [] }
        let window = AnalysisScope(since: since, until: until)
        let watched = try input.reading { try TraceAnalysis(path: $0, options: .init(watch: seen), window: window) }
        return pfns.map { FolioStory(pfn: $0, analysis: watched) }
    }
}

extension Severity: ExpressibleByArgument {}
extension TraceTime: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}
extension ReportFormat: ExpressibleByArgument {}
extension ReportRequest: ExpressibleByArgument {}
