import ArgumentParser
import FolioTraceKit
import Foundation

@main
struct FolioTrace: ParsableCommand {
    /// Runs the command; usage errors exit 2 like input errors (ArgumentParser's default is
    /// 64), so CI scripts see 0 = clean, 1 = findings (later), 2 = could not analyze.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "foliotrace",
        abstract: "Folio lifecycles and linux-mm patterns from real kernel traces.",
        discussion:
            "Reads trace-cmd trace.dat files (versions 6 and 7, compressed or not) and perf.data files of perf record -e TRACEPOINT (plain, -z or pipe mode).",
        subcommands: [Analyze.self, Folio.self, Events.self, Export.self, Record.self, Tail.self]
    )
}

/// The output formats a command can print.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// The trace a command reads and how it prints: shared by every command that reads one.
struct TraceInput: ParsableArguments {
    @Argument(help: "A trace.dat file (version 6 or 7) or a perf.data file.")
    var trace: String

    @Option(
        name: .shortAndLong,
        help: "Output format: \(OutputFormat.allCases.map(\.rawValue).joined(separator: ", "))."
    )
    var format: OutputFormat = .text
}

/// Runs `body`, turning a trace error into one line on stderr and exit status 2.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as TraceFileError {
        FileHandle.standardError.write(Data("foliotrace: \(error)\n".utf8))
        throw ExitCode(2)
    } catch let error as ReportInputError {
        FileHandle.standardError.write(Data("foliotrace: \(error)\n".utf8))
        throw ExitCode(2)
    }
}
