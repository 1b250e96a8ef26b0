import ArgumentParser
import FolioTraceKit
import Foundation

/// `foliotrace export TRACE --sqlite FILE`: the whole analysis as SQL tables.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write every folio generation, migration, memcg, task and finding to an SQLite database.",
        discussion: """
            The schema is in docs/export-schema.sql (it loads unchanged into PostgreSQL); \
            docs/export.md has example queries. The file is replaced if it exists.
            """
    )

    @Argument(help: "A trace.dat file (version 6 or 7).")
    var trace: String

    @Option(help: "The SQLite database to write.")
    var sqlite: String

    @Flag(help: "Also write every step of every folio (the `steps` table; memory and size grow with the trace).")
    var steps = false

    @Flag(help: "No progress bar, even on a terminal.")
    var quiet = false

    func run() throws {
        let bar = quiet ? nil : ProgressBar(label: trace)
        let analysis = try reportingErrors {
            try TraceAnalysis(
                path: trace,
                options: .init(keepLifecycles: true, allSteps: steps),
                progress: bar?.update
            )
        }
        bar?.finish()
        do {
            try SQLiteExport.write(analysis, to: sqlite)
        } catch {
            FileHandle.standardError.write(Data("foliotrace: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
