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

/// `foliotrace export TRACE --sqlite FILE`: the whole analysis as SQL tables;
/// `--perfetto FILE`: as a Perfetto trace.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract:
            "Write every folio generation, migration, memcg, task and finding to an SQLite database, or a Perfetto trace.",
        discussion: """
            The schema is in docs/export-schema.sql (it loads unchanged into PostgreSQL); \
            docs/export.md has example queries. The database is written under a temporary name \
            beside FILE and renamed over it once complete, so a failure leaves the file that was \
            there. FILE may not be the trace (or a link to it), nor a device, directory or FIFO; \
            when another run writes FILE while this one runs, this one says so, exits 2 and \
            leaves the other's database in place. --perfetto writes a Perfetto trace for \
            ui.perfetto.dev (docs/perfetto.md).
            """
    )

    @Argument(help: ArgumentHelp(traceHelp, valueName: "trace"))
    var trace: String

    @Option(help: "The SQLite database to write.")
    var sqlite: String?

    @Option(help: "The Perfetto trace to write (docs/perfetto.md).")
    var perfetto: String?

    @OptionGroup var perfettoOptions: PerfettoOptions

    @Flag(help: "Also write every step of every folio (the `steps` table; memory and size grow with the trace).")
    var steps = false

    @Flag(help: "No progress bar, even on a terminal.")
    var quiet = false

    func validate() throws {
        if sqlite == nil, perfetto == nil { throw ValidationError("give --sqlite FILE, --perfetto FILE or both") }
    }

    func run() throws {
        let inputs = [trace == "-" ? "/dev/stdin" : trace]
        let output = try reportingErrors {
            try sqlite.map { (p) throws(FileError) in try OutputFile(path: p, inputs: inputs) }
        }
        let perfettoOutput = try reportingErrors {
            try perfetto.map { (p) throws(FileError) in try OutputFile(path: p, inputs: inputs) }
        }
        if let output, let perfettoOutput, output.isSameTarget(as: perfettoOutput) {
            Streams.error(path: perfettoOutput.path, "is given as both --sqlite and --perfetto: one output a file")
            throw ExitCode(2)
        }
        let input = try InputTrace(trace)
        let bar = quiet ? nil : ProgressBar(label: trace)
        let analysis = try input.reading {
            try TraceAnalysis(
                path: $0,
                options: .init(keepLifecycles: sqlite != nil, allSteps: steps),
                progress: bar?.update
            )
        }
        bar?.finish()
        if let output { try reportingErrors { try SQLiteExport.write(analysis, to: output) } }
        if let perfettoOutput { try perfettoOptions.write(analysis, input: input, to: perfettoOutput) }
    }
}
