/// One report an `analyze` pass writes: its format, and its file (nil: standard output).
///
/// `--report FORMAT[=FILE]` names both at once, so that several reports from one pass need
/// no pairing of options by position. The older `--format`/`-o` pairs are read by
/// `ReportRequest.pairing(_:)` from the raw arguments, since an argument parser keeps two
/// options' values apart and their interleaving is what pairs them.
public struct ReportRequest: Sendable, Equatable {
    public var format: ReportFormat
    /// The file, or nil (also for `-`) for standard output.
    public var file: String?

    public init(format: ReportFormat, file: String?) {
        self.format = format
        self.file = file == "-" ? nil : file
    }

    /// `json`, `json=report.json`, `markdown=-`; nil for an unknown format or an empty file.
    public init?(argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard let format = ReportFormat(rawValue: String(parts[0])) else { return nil }
        if parts.count == 2 {
            guard !parts[1].isEmpty else { return nil }
            self.init(format: format, file: String(parts[1]))
        } else {
            self.init(format: format, file: nil)
        }
    }

    /// Why a set of requests cannot be written in one pass, or nil: at most one report goes to
    /// standard output.
    public static func conflict(_ requests: [ReportRequest]) -> String? {
        requests.filter { $0.file == nil }.count > 1
            ? "only one report can go to standard output: give a file for each other report" : nil
    }

    /// The `--format`/`-o` pairs of `arguments` (the command line after the subcommand), in
    /// order: an -o FILE takes the --format given since the previous -o, or else the one its
    /// name implies (nil when none does); a --format that no -o follows goes to standard
    /// output; no --format and no -o is one text report to standard output.
    /// - Throws: `ReportRequestError` when more than one report would go to standard output.
    public static func pairing(_ arguments: [String]) throws(ReportRequestError) -> [(ReportFormat?, String?)] {
        var pairs: [(ReportFormat?, String?)] = []
        var pending: ReportFormat?
        var toStdout = false
        func claimStdout() throws(ReportRequestError) {
            if toStdout {
                throw ReportRequestError(
                    "only one report can go to standard output: give an -o FILE for each other --format"
                )
            }
            toStdout = true
        }
        func flush() throws(ReportRequestError) {
            guard let f = pending else { return }
            try claimStdout()
            pairs.append((f, nil))
            pending = nil
        }
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            var value: String?
            if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") {
                value = String(arg[arg.index(after: eq)...])
            } else if i + 1 < arguments.count {
                value = arguments[i + 1]
            }
            let name = arg.split(separator: "=", maxSplits: 1).first.map(String.init) ?? arg
            if arg == "--" { break }
            switch name {
            case "-f", "--format":
                try flush()
                pending = value.flatMap(ReportFormat.init(rawValue:))
            case "-o" where value == "-", "--output" where value == "-":
                try claimStdout()
                pairs.append((pending ?? .text, value))
                pending = nil
            case "-o", "--output":
                pairs.append((pending ?? value.flatMap { ReportFormat(fileName: $0) }, value))
                pending = nil
            default: break
            }
            i += arg.contains("=") || !(["-f", "--format", "-o", "--output"].contains(name)) ? 1 : 2
        }
        try flush()
        if pairs.isEmpty { pairs.append((.text, nil)) }
        return pairs
    }
}

/// A command line whose reports cannot be written as asked.
public struct ReportRequestError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}
