import Foundation

/// A fixture's `.truth.txt`: what the kernel and trace-cmd said at capture time.
struct Truth {
    let lines: [Substring]

    init(_ fixture: String) throws {
        let path = Fixtures.path(fixture.replacingOccurrences(of: ".dat", with: ".truth.txt"))
        lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    }

    /// The first line starting with `prefix`.
    func line(_ prefix: String) -> Substring? { lines.first { $0.hasPrefix(prefix) } }

    /// The unsigned integers of a line, in order.
    static func numbers(_ line: Substring) -> [UInt64] {
        line.split(whereSeparator: { !$0.isNumber }).compactMap { UInt64($0) }
    }

    /// The number following `word` in a line ("ino 1048737" -> 1048737).
    static func number(after word: String, in line: Substring) -> UInt64? {
        let words = line.split(separator: " ")
        guard let i = words.firstIndex(where: { $0 == word }), i + 1 < words.count else { return nil }
        return UInt64(words[i + 1])
    }
}
