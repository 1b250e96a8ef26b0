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

/// `foliotrace events TRACE`: what is in a file and which analyses it can feed.
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Show what a trace holds: kernel, CPUs, time span, lost events, counts per event."
    )

    @OptionGroup var input: TraceInput

    func run() throws {
        let trace = try InputTrace(input.trace)
        var summary = try trace.reading { try EventsReport(path: $0) }
        summary.file = trace.given == "-" ? trace.path : trace.given
        switch input.format {
        case .text: print(summary.text, terminator: "")
        case .json: print(summary.json)
        }
    }
}
