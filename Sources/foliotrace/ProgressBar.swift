import FolioTraceKit
import Foundation

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
        self.label = (label as NSString).lastPathComponent
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
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
        drawn = true
    }

    /// Clears the bar so the report starts on a clean line.
    func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    private static func count(_ v: Double) -> String {
        v >= 1e6 ? String(format: "%.1fM", v / 1e6) : v >= 1e3 ? String(format: "%.0fk", v / 1e3) : String(Int(v))
    }
}
