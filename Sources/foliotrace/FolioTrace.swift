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

@main
struct FolioTrace: ParsableCommand {
    /// Runs the command; usage errors exit 2 like input errors (ArgumentParser's default is
    /// 64), so CI scripts see 0 = clean, 1 = findings (later), 2 = could not analyze.
    /// Standard output is flushed and checked before the process exits: a report that could
    /// not be written exits 2 (see `Streams`). Usage errors are one line like the others.
    static func main() {
        Streams.prepare()
        do {
            var command = try subcommandAlone() ?? parseAsRoot()
            try command.run()
            Streams.finishStandardOutput()
        } catch {
            Streams.finishStandardOutput()
            let code = exitCode(for: error)
            if code == .validationFailure {
                let message = message(for: error).split(whereSeparator: \.isNewline).joined(separator: "; ")
                Streams.error(path: nil, message + " (see foliotrace help)")
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "foliotrace",
        abstract: "Folio lifecycles and linux-mm patterns from real kernel traces.",
        discussion:
            "Reads trace-cmd trace.dat files (versions 6 and 7, compressed or not) and perf.data files of perf record -e TRACEPOINT (plain, -z or pipe mode).",
        version: BuildInfo.current.line,
        // Each subcommand names itself (`commandName:`): without it ArgumentParser derives
        // each name it compares from the type's through `String(describing:)` and runtime
        // conformance lookups, 5 M of the 35 M instructions of a short run (docs/performance.md).
        subcommands: [Analyze.self, Folio.self, Events.self, Export.self, Fleet.self, Record.self, Tail.self]
    )
}

extension FolioTrace {
    /// `foliotrace SUBCOMMAND ARGS...` parsed by the subcommand's own parser, or nil for
    /// anything else (help, version, completion scripts, no subcommand, a usage error), which
    /// the root parser then handles as it always does, with the full command name in its
    /// messages. The root parser reflects over every subcommand's options before it looks at
    /// the one named (completion and passthrough checks): 15 M instructions of a 44 M run on a
    /// small trace, where the subcommand's own parse costs about a fifth of that
    /// (docs/performance.md). A parse that fails here is parsed again by the root, so errors
    /// read the same either way.
    static func subcommandAlone(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> ParsableCommand? {
        guard let name = arguments.first,
            let command = configuration.subcommands.first(where: { $0.configuration.commandName == name })
        else { return nil }
        let rest = Array(arguments.dropFirst())
        let handledByRoot: Set<String> = [
            "-h", "--help", "-help", "--version", "--generate-completion-script", "--experimental-dump-help",
        ]
        guard !rest.contains(where: { handledByRoot.contains($0) || $0.hasPrefix("--generate-completion-script=") })
        else { return nil }
        return try? command.parse(rest)
    }
}

/// The output formats a command can print.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// The trace a command reads and how it prints: shared by every command that reads one.
struct TraceInput: ParsableArguments {
    @Argument(help: ArgumentHelp(traceHelp, valueName: "trace"))
    var trace: String

    @Option(
        name: .shortAndLong,
        help: "Output format: \(OutputFormat.allCases.map(\.rawValue).joined(separator: ", "))."
    )
    var format: OutputFormat = .text
}

/// How every command describes the trace it reads.
let traceHelp =
    "A trace.dat (version 6 or 7) or perf.data file; - reads one from standard input (a pipe), as does a FIFO."
