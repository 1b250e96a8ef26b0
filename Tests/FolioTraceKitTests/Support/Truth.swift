import Foundation

/// A fixture's `.truth.txt`: what the kernel and trace-cmd said at capture time.
struct Truth {
    let lines: [Substring]

    init(_ fixture: String) throws {
        // x.dat and x.perf.data -> x.truth.txt
        let path = Fixtures.path(
            fixture.hasSuffix(".perf.data")
                ? String(fixture.dropLast(".perf.data".count)) + ".truth.txt"
                : fixture.replacingOccurrences(of: ".dat", with: ".truth.txt")
        )
        lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    }

    /// The first line starting with `prefix`.
    func line(_ prefix: String) -> Substring? { lines.first { $0.hasPrefix(prefix) } }

    /// The unsigned integers of a line, in order.
    static func numbers(_ line: Substring) -> [UInt64] {
        line.split(whereSeparator: { !$0.isNumber }).compactMap { UInt64($0) }
    }

    /// A memory.stat block: the "key value" pairs after the line starting with `header`, up
    /// to the next "--" line (one pair a line, or many on a line). With `exact`, the header is
    /// the whole line ("-- A memory.stat after", not "-- A memory.stat after reading ...").
    func memoryStat(_ header: String, exact: Bool = false) -> [String: UInt64] {
        guard let start = lines.firstIndex(where: { exact ? $0 == header : $0.hasPrefix(header) }) else {
            return [:]
        }
        var out: [String: UInt64] = [:]
        for line in lines[(start + 1)...] {
            if line.hasPrefix("--") { break }
            let words = line.split(separator: " ")
            var i = 0
            while i + 1 < words.count {
                if let v = UInt64(words[i + 1]), UInt64(words[i]) == nil {
                    out[String(words[i])] = v
                    i += 2
                } else {
                    i += 1
                }
            }
        }
        return out
    }

    /// The number following `word` in a line ("ino 1048737" -> 1048737, "pid 25575:" -> 25575).
    static func number(after word: String, in line: Substring) -> UInt64? {
        let words = line.split(separator: " ")
        guard let i = words.firstIndex(where: { $0 == word }), i + 1 < words.count else { return nil }
        return UInt64(words[i + 1].prefix { $0.isNumber })
    }
}
