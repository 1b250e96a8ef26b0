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

/// `foliotrace export TRACE --sqlite FILE`: the whole analysis as SQL tables.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write every folio generation, migration, memcg, task and finding to an SQLite database.",
        discussion: """
            The schema is in docs/export-schema.sql (it loads unchanged into PostgreSQL); \
            docs/export.md has example queries. The database is written under a temporary name \
            beside FILE and renamed over it once complete, so a failure leaves the file that was \
            there. FILE may not be the trace (or a link to it), nor a device, directory or FIFO; \
            when another run writes FILE while this one runs, this one says so, exits 2 and \
            leaves the other's database in place.
            """
    )

    @Argument(help: ArgumentHelp(traceHelp, valueName: "trace"))
    var trace: String

    @Option(help: "The SQLite database to write.")
    var sqlite: String

    @Flag(help: "Also write every step of every folio (the `steps` table; memory and size grow with the trace).")
    var steps = false

    @Flag(help: "No progress bar, even on a terminal.")
    var quiet = false

    func run() throws {
        let output = try reportingErrors { try OutputFile(path: sqlite, inputs: [trace == "-" ? "/dev/stdin" : trace]) }
        let input = try InputTrace(trace)
        let bar = quiet ? nil : ProgressBar(label: trace)
        let analysis = try input.reading {
            try TraceAnalysis(
                path: $0,
                options: .init(keepLifecycles: true, allSteps: steps),
                progress: bar?.update
            )
        }
        bar?.finish()
        try reportingErrors { try SQLiteExport.write(analysis, to: output) }
    }
}
