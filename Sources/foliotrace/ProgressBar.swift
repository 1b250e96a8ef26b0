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

/// A one-line progress bar on standard error, redrawn in place at most five times a second,
/// and only when standard error is a terminal: CI logs and pipes get nothing.
final class ProgressBar {
    private let label: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    /// nil when standard error is not a terminal.
    init?(label: String) {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        self.label = label.split(separator: "/").last.map(String.init) ?? label
    }

    func update(_ p: TraceAnalysis.Progress) {
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.2 else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let fraction = min(max(p.fraction, 0), 1)
        let width = 30
        let filled = Int(fraction * Double(width))
        var line = "\r\(label) [" + String(repeating: "#", count: filled)
        line += String(repeating: " ", count: width - filled) + "] \(Int(fraction * 100))%"
        line += "  \(Self.count(Double(p.records))) events, \(Self.count(Double(p.records) / max(elapsed, 1e-3)))/s"
        if fraction > 0.01 { line += ", \(Int((elapsed / fraction - elapsed).rounded())) s left" }
        Streams.writeStandardError(line + "\u{1B}[K")
        drawn = true
    }

    /// Clears the bar so the report starts on a clean line.
    func finish() {
        if drawn { Streams.writeStandardError("\r\u{1B}[K") }
    }

    private static func count(_ v: Double) -> String {
        if v >= 1e6 { return cFormat("%.1fM", v / 1e6) }
        return v >= 1e3 ? cFormat("%.0fk", v / 1e3) : String(Int(v))
    }
}
