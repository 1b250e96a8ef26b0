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

/// `foliotrace fleet PATH...`: every trace under the paths analyzed in parallel into one
/// SQLite database, and a summary of the fleet.
struct Fleet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Analyze every trace under the paths in parallel into one SQLite database and summarize the fleet.",
        discussion: """
            Directories are searched recursively for trace.dat and perf.data files, told apart \
            by their first bytes, not their names; a file given by name is always taken. Traces \
            get ids 1...N in that order (each directory's files sorted by path). The database \
            has the tables of `export` (docs/export-schema.sql) with a trace_id on every row, \
            and a `traces` table with one row a file, an unreadable one with its error \
            (docs/fleet.md). A file that cannot be read is listed, never fatal: the exit status \
            is 0 once the database is written, 2 when it cannot be (or the baseline cannot be \
            read), and 1 when with --baseline a rule's share of traces with findings grew by \
            more than --tolerance percentage points.
            """
    )

    @Argument(help: ArgumentHelp("Trace files and directories of traces.", valueName: "path"))
    var paths: [String]

    @Option(name: .shortAndLong, help: "The SQLite database to write.")
    var output: String

    @Option(help: "Traces analyzed at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(
        name: .shortAndLong,
        help: "Summary format: \(FleetSummary.Format.allCases.map(\.rawValue).joined(separator: ", "))."
    )
    var format: FleetSummary.Format = .text

    @Flag(help: "Also write every folio generation and migration (memory per trace and size grow with the traces).")
    var keepLifecycles = false

    @Flag(help: "No progress bar, even on a terminal.")
    var quiet = false

    @Option(
        help: "An earlier fleet database: compare each rule's share of traces with findings and its findings per trace."
    )
    var baseline: String?

    @Option(help: "With --baseline: how many percentage points a rule's share of traces with findings may grow.")
    var tolerance: Double = 0

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs \(jobs): give at least 1") }
        if tolerance < 0 { throw ValidationError("--tolerance \(tolerance): give 0 or more percentage points") }
    }

    func run() throws {
        let (traces, skipped) = FleetRun.findTraces(paths)
        if traces.isEmpty {
            Streams.error(
                path: nil,
                "no trace.dat or perf.data under \(paths.joined(separator: " ")) (\(skipped) other files)"
            )
            throw ExitCode(2)
        }
        let out = try reportingErrors { try OutputFile(path: output, inputs: traces + (baseline.map { [$0] } ?? [])) }
        let old = try reportingErrors {
            try baseline.map { (p) throws(FileError) in try FleetBaseline(path: p) }
        }
        let bar = quiet ? nil : FleetProgressBar()
        var summary = try reportingErrors {
            try FleetRun.run(
                traces: traces,
                skipped: skipped,
                output: out,
                jobs: jobs,
                keepLifecycles: keepLifecycles,
                progress: bar?.update
            )
        }
        bar?.finish()
        let failed = old.map { summary.compare(with: $0, tolerancePoints: tolerance) } ?? false
        print(summary.render(format, database: output), terminator: "")
        if failed {
            for c in summary.comparisons where c.failed {
                Streams.error(path: nil, "\(c.rule): more traces with findings than in \(baseline ?? "the baseline")")
            }
            throw ExitCode(1)
        }
    }
}

extension FleetSummary.Format: ExpressibleByArgument {}

/// The fleet's progress on standard error, on a terminal only: traces done, bytes read.
final class FleetProgressBar {
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init?() {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
    }

    func update(_ p: FleetRun.Progress) {
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.2 || p.done == p.total else { return }
        lastDraw = now
        let width = 30
        let filled = Int(p.fraction * Double(width))
        var line = "\rfleet [" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        line += "] \(p.done)/\(p.total) traces"
        if p.unreadable > 0 { line += ", \(p.unreadable) unreadable" }
        let elapsed = now.timeIntervalSince(start)
        line += ", \(p.events) events"
        if p.fraction > 0.01 { line += ", \(Int((elapsed / p.fraction - elapsed).rounded())) s left" }
        Streams.writeStandardError(line + "\u{1B}[K")
        drawn = true
    }

    func finish() {
        if drawn { Streams.writeStandardError("\r\u{1B}[K") }
    }
}
