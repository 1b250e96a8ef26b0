import ArgumentParser
import FolioTraceKit

/// `foliotrace folio PFN TRACE`: one pfn's whole story, every generation.
struct Folio: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "folio",
        abstract: "Show the story of one pfn: every generation, each step with time, CPU, task and memcg."
    )

    @Argument(help: "The pfn, hex (0x1a2b) or decimal. A tail pfn shows its folio.")
    var pfn: String

    @OptionGroup var input: TraceInput

    var pfnValue: UInt64? {
        pfn.lowercased().hasPrefix("0x") ? UInt64(pfn.dropFirst(2), radix: 16) : UInt64(pfn)
    }

    func validate() throws {
        guard pfnValue != nil else { throw ValidationError("'\(pfn)' is not a pfn: give it in hex (0x...) or decimal") }
    }

    func run() throws {
        let target = pfnValue!
        let trace = try InputTrace(input.trace)
        let analysis = try trace.reading { try TraceAnalysis(path: $0, options: .init(watch: [target])) }
        let story = FolioStory(pfn: target, analysis: analysis)
        switch input.format {
        case .text: print(story.text, terminator: "")
        case .json: print(story.json.rendered())
        }
    }
}
