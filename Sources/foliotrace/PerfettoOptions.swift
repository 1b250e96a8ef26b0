import ArgumentParser
import FolioTraceKit

/// The options of a Perfetto output (`export --perfetto`, `analyze --perfetto`), and its
/// writing.
struct PerfettoOptions: ParsableArguments {
    @Flag(help: "With --perfetto: a track for every folio generation, not only those the findings name.")
    var allFolios = false

    @Option(help: ArgumentHelp("With --all-folios: at most this many folio tracks.", valueName: "n"))
    var folioLimit = 10_000

    func validate() throws {
        if folioLimit < 0 { throw ValidationError("--folio-limit \(folioLimit): give a count of 0 or more") }
    }

    /// Writes the Perfetto trace of `analysis` (a second pass over the trace), and says on
    /// stderr when the folio limit left generations out.
    func write(
        _ analysis: TraceAnalysis,
        input: InputTrace,
        window: AnalysisScope = .init(),
        to output: OutputFile
    ) throws {
        let options = PerfettoExport.Options(allFolios: allFolios, folioLimit: folioLimit, window: window)
        let result = try input.reading { try PerfettoExport.write(analysis, trace: $0, options: options, to: output) }
        if result.foliosLeftOut > 0 {
            Streams.error(
                path: output.path,
                "\(result.foliosLeftOut) folio generations have no track (--folio-limit \(folioLimit)): raise it to see them"
            )
        }
    }
}
